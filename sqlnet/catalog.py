"""The models a database holds, each in a schema of its own: list them, drop one.

``models(db)`` gives a row per model, as ``sqlnet models`` prints them::

    name    task            layers  models  rows  runs  last_loss  last_trained
    iris    classification  4,16,3  1       120   1     0.193384   2026-12-02 16:40:01
"""
from __future__ import annotations

from .db import Database
from .errors import SqlnetError
from .queries import query

COLUMNS = ["name", "task", "layers", "models", "rows", "runs", "last_loss", "last_trained"]


def models(db: Database) -> list[tuple]:
    """A row per model of the database (COLUMNS), by name."""
    current = db.model_name
    try:
        return [_summary(db, name) for name in db.model_names()]
    finally:
        db.use_model(current)


def _summary(db: Database, name: str) -> tuple:
    db.use_model(name)
    first, task = db.sql("SELECT model, task FROM models ORDER BY model LIMIT 1").fetchone()
    layers = db.sql("SELECT fan_in, fan_out FROM layers WHERE model = ? ORDER BY layer",
                    [first]).fetchall()
    widths = ",".join(map(str, [layers[0][0], *(out for _, out in layers)])) if layers else ""
    return (name, task, widths, *db.rows(query("model_summary"), model=first)[0])


def drop(db: Database, name: str) -> None:
    """Remove model name (its schema and everything in it), and nothing else."""
    if name not in db.model_names():
        raise SqlnetError(f"the database holds no model {name!r}; `sqlnet models` lists them")
    db.use_model(name)
    if not db.engine.claim(name):
        raise SqlnetError(f"model {name!r} is being trained by another process; "
                          "stop it (or let it finish) first")
    if db.legacy:            # a model of schema version 2 first leaves the user's schema
        with db.transaction():
            db.create_schema()
    db.engine.drop_schema(name)  # one statement: all or nothing by itself
    db.use_model(name)
