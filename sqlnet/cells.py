"""Long data in: a file or table of (row, col, value) cells, one sample per row number.

An absent cell is a zero, so sparse data (bag-of-words counts, one-hot codes, 50,000
columns) keeps only its non-zeros, the way sqlnet itself keeps inputs. ``col`` names a
feature or a target; a new model's features are the names that are no target, sorted
(whole numbers numerically, first). The loaded tables are the wide loader's
(loaded_rows, loaded_inputs, loaded_targets), with the row numbers as given.
"""
from __future__ import annotations

from sqlglot import exp

from .data import INTEGER, NUMERIC, Loaded, Source, stage
from .db import Database
from .errors import SqlnetError
from .queries import query

COLUMNS = ("row", "col", "value")


def stage_cells(db: Database, source: Source) -> None:
    """Stage the cells as staged_cells(row, name, value), refusing what cannot be used."""
    types = stage(db, source)
    if any(c not in types for c in COLUMNS):
        have = ", ".join(types) if len(types) <= 12 else f"{len(types)} columns"
        raise SqlnetError(f"long data has columns row, col and value; {source} has {have}")
    if not types["row"].startswith(INTEGER):
        raise SqlnetError(f"column 'row' of {source} must hold whole row numbers, not {types['row']}")
    if not types["value"].startswith(NUMERIC):
        raise SqlnetError(f"column 'value' of {source} is not numeric ({types['value']})")
    db.run(query("cells_typed"))
    for what, n, first in db.rows(query("cells_bad")):
        if n:
            raise SqlnetError(_bad(source, what, n, first))
    dup = db.rows(query("cells_duplicate"))
    if dup:
        row, name, n = dup[0]
        raise SqlnetError(f"{source} has {n} cells for row {row}, col {name!r}; "
                          "long data has one cell per row and col")


def _bad(source: Source, what: str, n: int, first) -> str:
    return {"row": f"column 'row' of {source} has {n} empty or negative row number(s)",
            "col": f"column 'col' of {source} has {n} empty cell(s), the first in row {first}",
            "value": f"column 'value' of {source} has {n} empty, NaN or infinite cell(s), "
                     f"the first in row {first}"}[what]


def names(db: Database) -> list[str]:
    """The staged cells' column names: whole numbers first, in numeric order, then the
    others in text order."""
    found = [r[0] for r in db.rows(query("cells_names"))]
    return sorted(found, key=lambda n: (0, int(n), "") if n.isdigit() else (1, 0, n))


def columns(db: Database, source: Source) -> dict[str, str]:
    """Stage the source and return its names as a wide source's columns and types."""
    stage_cells(db, source)
    return {name: "DOUBLE" for name in names(db)}


def class_count(db: Database, target: str) -> int:
    db.run(query("cells_labels"), target=target)
    return db.scalar(query("cells_class_count"))


def load(db: Database, source: Source, features: list[str], targets: list[str] | None,
         model: int, task: str, learn_classes: bool, staged: bool = False) -> Loaded:
    """The cells as loaded_rows, loaded_inputs and loaded_targets (see the module's doc);
    staged: stage_cells has staged them already."""
    if not staged:
        stage_cells(db, source)
    db.run(query("cells_rows"), model=model)
    db.run(query("cells_inputs"), model=model)
    if targets:
        _targets(db, source, targets, model, task, learn_classes)
    return Loaded(db.scalar(query("row_count_loaded")), features, targets or [])


def _targets(db, source, targets, model, task, learn_classes) -> None:
    if task != "classification":
        db.run(query("cells_numeric_targets"), model=model)
        if task == "binary":
            n, first = db.rows(query("cells_out_of_unit_range"))[0]
            if n:
                raise SqlnetError(f"bce targets must lie in [0, 1]; {source} has {n} outside, "
                                  f"the first in row {first}")
        return
    db.run(query("cells_labels"), target=targets[0])
    if learn_classes and not db.scalar(query("stored_class_count"), model=model):
        db.run(query("store_classes", new_classes=exp.paren(query("cells_new_classes"))), model=model)
    unknown = [r[0] for r in db.rows(query("cells_unknown_labels"), model=model)]
    if unknown:
        raise SqlnetError(f"target {targets[0]!r} of {source} has labels the model has no "
                          f"class for: {', '.join(map(repr, unknown))}")
    db.run(query("cells_class_targets"), model=model)
