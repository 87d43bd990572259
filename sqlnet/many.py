"""Many models in one pass: one per group of the data (``--group-by``), or one per setting
of a sweep. They share every statement of a step: each table's ``model`` key keeps them
apart, and their settings are rows of ``models`` that the phases join.

Each model's rows are numbered from 0 in file order, as if they were its own file, so a
model trained in a pass has exactly the weights it would have if trained alone.
"""
from __future__ import annotations

import dataclasses

from . import model as M
from .db import Database
from .errors import SqlnetError
from .queries import column, model_keys, query


def group_values(db: Database, name: str, source) -> list[str]:
    """The sorted distinct values of the staged group column; refuses empty cells."""
    wide(source)
    group = column(name, "s")
    n, first = db.rows(query("null_groups", group=group))[0]
    if n:
        raise SqlnetError(f"group column {name!r} of {source} has {n} empty cell(s), "
                          f"the first in data row {first + 1}")
    return [v for _, v in db.rows(query("group_values", group=group))]


def create_group_models(db: Database, net: M.Network, name: str, values: list[str]) -> list[int]:
    """Model k for the k-th group value: the same architecture and settings as model 0."""
    M.create_all(db, [dataclasses.replace(net, model=k) for k in range(1, len(values))])
    db.insert("model_groups", ["model", "group_column", "value"],
              [[k, name, value] for k, value in enumerate(values)])
    return list(range(len(values)))


def stored_groups(db: Database) -> tuple[str | None, list[int]]:
    """The group column of a database's models and their keys (None: one model)."""
    rows = db.sql("SELECT model, group_column FROM model_groups ORDER BY model").fetchall()
    return (rows[0][1], [r[0] for r in rows]) if rows else (None, [0])


def route_rows(db: Database, name: str, source, local: bool, targets: bool = True) -> None:
    """Send each loaded row to its group's model: numbered within its group (training) or
    kept in file order (prediction)."""
    wide(source)
    group = column(name, "s")
    unknown = [r[0] for r in db.rows(query("unknown_groups", group=group))]
    if unknown:
        raise SqlnetError(f"column {name!r} of {source} has group(s) no model was trained for: "
                          f"{', '.join(map(repr, unknown))}")
    db.run(query("row_models", group=group))
    _fan_out(db, local, targets)


def wide(source) -> None:
    if source.long:
        raise SqlnetError(f"{source} is long data, which has no group column: models by group "
                          "read wide data")


def replicate(db: Database, models: list[int]) -> None:
    """Every model of the pass gets model 0's rows sent to it (a sweep: the same data)."""
    db.run(query("sweep_models", models=model_keys(models)))
    _fan_out(db, local=True)


def _fan_out(db: Database, local: bool, targets: bool = True) -> None:
    for name in ("fan_out_rows", "fan_out_inputs", "fan_out_targets")[:3 if targets else 2]:
        db.run(query(name), local=local)


def copy_names(db: Database, models: list[int], names: bool = True) -> None:
    """The first model's feature names, target names (unless names is False) and classes,
    for every other model of the pass."""
    for name in ("copy_names", "copy_targets", "copy_classes")[0 if names else 2:]:
        db.run(query(name, models=model_keys(models)), first=models[0])
