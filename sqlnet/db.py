"""One DuckDB connection and the few ways sqlnet talks to it.

The library accepts a path or an open connection, as sqlite-utils does::

    db = Database("model.duckdb")            # or Database(duckdb.connect())
    db.run(query("row_count"))
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from .errors import SqlnetError
from .queries import params_of, query, render

SCHEMA_VERSION = "2"
SCHEMA = ["meta", "models", "layers", "weights", "biases", "feature_names", "target_names",
          "classes", "train_rows", "train_inputs", "train_targets", "runs", "training_log",
          "last_step", "optimizer_state", "valid_rows", "valid_inputs", "valid_targets",
          "best_weights", "weight_history", "standardization", "class_weights", "model_groups",
          "sweep_results", "training_info"]
MODEL_TABLES = ["sqlnet_meta", *SCHEMA[1:]]
VIEWS = ["training_info"]  # of MODEL_TABLES, those that are views over the others


class Database:
    """A DuckDB database that holds (or will hold) sqlnet models."""

    def __init__(self, target: str | Path | duckdb.DuckDBPyConnection, read_only: bool = False):
        if isinstance(target, duckdb.DuckDBPyConnection):
            self.con, self.path = target, None
        else:
            self.path = str(target)
            self.con = _connect(self.path, read_only)
        self._rendered: dict[int, tuple[exp.Expression, str, set[str]]] = {}

    def run(self, tree: exp.Expression, **params: Any) -> duckdb.DuckDBPyConnection:
        """Run a statement's syntax tree with its bound parameters."""
        sql, names = self._render(tree)
        missing = names - set(params)
        if missing:
            raise KeyError(f"no value for ${', $'.join(sorted(missing))}")
        return self.con.execute(sql, {k: params[k] for k in names})

    def _render(self, tree: exp.Expression) -> tuple[str, set[str]]:
        # Trees built once per run are rendered once; the cache holds them by identity.
        # keeping the tree in the cache keeps its id from being reused.
        if id(tree) not in self._rendered:
            self._rendered[id(tree)] = (tree, render(tree), params_of(tree))
        _, sql, names = self._rendered[id(tree)]
        return sql, names

    def rows(self, tree: exp.Expression, **params: Any) -> list[tuple]:
        return self.run(tree, **params).fetchall()

    def scalar(self, tree: exp.Expression, **params: Any) -> Any:
        row = self.run(tree, **params).fetchone()
        return row[0] if row else None

    def sql(self, text: str, params: list | dict | None = None) -> duckdb.DuckDBPyConnection:
        """Run SQL text the user wrote (``sqlnet sql``), or a fixed statement."""
        return self.con.execute(text, params or [])

    @contextlib.contextmanager
    def transaction(self):
        """All or nothing: a failure rolls every statement of the block back."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    @contextlib.contextmanager
    def registered(self, name: str, columns: dict):
        """numpy columns readable by SQL as the view ``name``, through DuckDB's scan (no
        Python loop over rows), for the length of the block."""
        self.con.complete()  # a half-read result would block register
        self.con.register(name, columns)
        try:
            yield name
        finally:
            self.con.unregister(name)

    def tables(self) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            " AND table_catalog = current_database()").fetchall()}

    def has_model(self) -> bool:
        t = self.tables()
        return "sqlnet_meta" in t and "models" in t and bool(
            self.con.execute("SELECT COUNT(*) FROM models").fetchone()[0])

    def create_schema(self) -> None:
        """Create the model tables, refusing to adopt a user's tables of the same names."""
        existing = self.tables()
        if "sqlnet_meta" not in existing:
            clash = sorted(set(MODEL_TABLES) & existing)
            if clash:
                raise SqlnetError(f"the database already has tables named {', '.join(clash)} "
                                  "that sqlnet did not make; use another database file")
        upgrade = "sqlnet_meta" in existing and self._version() != SCHEMA_VERSION
        for name in SCHEMA:
            if upgrade:  # the view training_info comes after the tables it reads
                self._add_missing_columns(query(name))
            self.run(query(name))
        self.con.execute("DELETE FROM sqlnet_meta WHERE key = 'schema_version'")
        self.con.execute("INSERT INTO sqlnet_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

    def _version(self) -> str | None:
        row = self.con.execute("SELECT value FROM sqlnet_meta WHERE key = 'schema_version'").fetchone()
        return row[0] if row else None

    def _add_missing_columns(self, create: exp.Expression) -> None:
        """Upgrade a table an older sqlnet made: add the columns its CREATE has and it lacks."""
        if not isinstance(create.this, exp.Schema) or create.this.this.name not in self.tables():
            return
        for column in create.this.expressions:
            add = column.copy()
            add.set("exists", True)
            self.run(exp.Alter(this=create.this.this.copy(), kind="TABLE", actions=[add]))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    if path != ":memory:":
        p = Path(path)
        if not p.parent.exists():
            raise SqlnetError(f"cannot create {path}: directory {p.parent} does not exist")
        if p.is_dir():
            raise SqlnetError(f"{path} is a directory, not a database file")
        if p.exists() and not read_only and not os.access(p, os.W_OK):
            raise SqlnetError(f"{path} is read-only; this command writes to the database")
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.Error as e:
        held = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(e))
        if held:
            raise SqlnetError(
                f"{path} is in use by process {held.group(2)} ({held.group(1)}), probably a "
                "running `sqlnet train`; wait for it to finish, or read the --snapshot file "
                "it writes after every epoch") from None
        raise SqlnetError(f"cannot open {path} as a DuckDB database: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def create_table(db: Database, name: str, columns: list[str], rows: list[list[float]]) -> None:
    """A new table of DOUBLE columns holding rows: names quoted by sqlglot, values bound."""
    from .queries import render, table
    schema = exp.Schema(this=table(name), expressions=[
        exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=exp.DataType.build("DOUBLE"))
        for c in columns])
    db.sql(render(exp.Create(this=schema, kind="TABLE", replace=True)))
    values = exp.Values(expressions=[exp.Tuple(expressions=[exp.Placeholder() for _ in columns])])
    db.con.executemany(render(exp.insert(values, table(name))), rows)
