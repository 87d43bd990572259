"""One database connection, on any engine, and the few ways sqlnet talks to it.

The library accepts a path or an open connection, as sqlite-utils does::

    db = Database("model.duckdb")            # or Database(duckdb.connect()),
    db = Database("postgresql://me@host/db")  # or Database("spark:local[2]", warehouse="w")
    db.run(query("row_count"))
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from . import engines
from .engines import Engine
from .errors import SqlnetError
from .queries import DIALECT, params_of, query

SCHEMA_VERSION = "2"
SCHEMA = ["meta", "models", "layers", "weights", "biases", "feature_names", "target_names",
          "classes", "train_rows", "train_inputs", "train_targets", "runs", "training_log",
          "last_step", "optimizer_state", "valid_rows", "valid_inputs", "valid_targets",
          "best_weights", "weight_history", "standardization", "class_weights", "model_groups",
          "sweep_results", "training_info"]
MODEL_TABLES = ["sqlnet_meta", *SCHEMA[1:]]
VIEWS = ["training_info"]  # of MODEL_TABLES, those that are views over the others


class Database:
    """A database that holds (or will hold) sqlnet models, on any engine: a DuckDB file (or
    an open DuckDB connection), a ``postgresql://`` URL, or ``spark:MASTER`` (with the
    directory Spark keeps its tables in, ``warehouse``)."""

    def __init__(self, target, read_only: bool = False, warehouse: str | None = None):
        self.engine: Engine = engines.connect(
            str(target) if isinstance(target, Path) else target, read_only, warehouse)
        self.kind = self.engine.kind
        self.path = getattr(self.engine, "path", None)
        self.con = getattr(self.engine, "con", None)
        self._rendered: dict[int, tuple[exp.Expression, list, set[str]]] = {}
        self._parsed: dict[str, exp.Expression] = {}

    def run(self, tree: exp.Expression, **params: Any):
        """Run a statement's syntax tree with its bound parameters."""
        statements, names = self._render(tree)
        missing = names - set(params)
        if missing:
            raise KeyError(f"no value for ${', $'.join(sorted(missing))}")
        return self._call(statements, params)

    def _call(self, statements: list, params):
        result = None
        for sql, keys in statements:
            result = self.engine.call(sql, keys, params)
        return result

    def _render(self, tree: exp.Expression) -> tuple[list, set[str]]:
        # Trees built once per run are rendered once; the cache holds them by identity.
        # keeping the tree in the cache keeps its id from being reused.
        if not self.engine.cacheable:
            return self.engine.statements(tree), params_of(tree)
        if id(tree) not in self._rendered:
            self._rendered[id(tree)] = (tree, self.engine.statements(tree), params_of(tree))
        _, statements, names = self._rendered[id(tree)]
        return statements, names

    def rows(self, tree: exp.Expression, **params: Any) -> list[tuple]:
        return self.run(tree, **params).fetchall()

    def scalar(self, tree: exp.Expression, **params: Any) -> Any:
        row = self.run(tree, **params).fetchone()
        return row[0] if row else None

    def sql(self, text: str, params: list | None = None):
        """Run a fixed statement of sqlnet's, written in DuckDB's dialect with ``?`` slots."""
        if self.kind == "duckdb":
            return self.con.execute(text, params or [])
        if text not in self._parsed:
            self._parsed[text] = sqlglot.parse_one(text, dialect=DIALECT)
        statements, _ = self._render(self._parsed[text])
        return self._call(statements, list(params or []))

    def insert(self, table_name: str, columns: list[str], rows: list[list]) -> None:
        """One INSERT of many rows, where executemany runs a statement a row: a VALUES list
        of ? slots bound to the rows' values in order (a value that is a syntax tree, such
        as CURRENT_TIMESTAMP, goes in as it is)::

            db.insert("target_names", ["model", "col", "name"], [[1, 0, "y"], [2, 0, "y"]])
        """
        from .queries import table
        params = [v for row in rows for v in row if not isinstance(v, exp.Expression)]
        values = exp.Values(expressions=[exp.Tuple(expressions=[
            v if isinstance(v, exp.Expression) else exp.Placeholder() for v in row]) for row in rows])
        tree = exp.insert(values, table(table_name),
                          columns=[exp.to_identifier(c, quoted=True) for c in columns])
        self._call(self.engine.statements(tree), params)  # a tree of its own: not cached

    def executemany(self, statement: str | exp.Expression, rows: list[list]) -> None:
        """One INSERT (DuckDB's dialect, ``?`` slots) for many rows."""
        if isinstance(statement, str):
            statement = sqlglot.parse_one(statement, dialect=DIALECT)
        self.engine.executemany(statement, rows)

    @contextlib.contextmanager
    def transaction(self):
        """All or nothing: a failure rolls every statement of the block back."""
        self.engine.begin()
        try:
            yield self
        except BaseException:
            self.engine.rollback()
            raise
        self.engine.commit()

    def registered(self, name: str, columns: dict):
        """numpy columns readable by SQL as the table ``name`` for the length of the block
        (DuckDB scans them in place; the other engines get a temporary table)."""
        return self.engine.registered(name, columns)

    def tables(self) -> set[str]:
        return self.engine.tables()

    def user_tables(self) -> set[str]:
        """The tables (and views) of the user's own schema, which sqlnet only reads (and
        writes only where asked to, as ``predict --into``)."""
        return self.engine.tables()

    def user_table(self, name: str) -> exp.Table:
        """A table of the user's own schema, by its name (quoted by sqlglot)."""
        from .queries import table
        return table(name)

    def columns(self, table_name: str) -> list[tuple[str, str]]:
        """A table's columns and their types, named as DuckDB names types."""
        return self.engine.columns(table_name)

    def has_model(self) -> bool:
        t = self.tables()
        return "sqlnet_meta" in t and "models" in t and bool(
            self.sql("SELECT COUNT(*) FROM models").fetchone()[0])

    def create_schema(self) -> None:
        """Create the model tables, refusing to adopt a user's tables of the same names."""
        existing = self.tables()
        if set(MODEL_TABLES) <= existing and self._version() == SCHEMA_VERSION:
            return  # (a sweep creates its models one after the other)
        if "sqlnet_meta" not in existing:
            clash = sorted(set(MODEL_TABLES) & existing)
            if clash:
                raise SqlnetError(f"the database already has tables named {', '.join(clash)} "
                                  "that sqlnet did not make; use another database")
        upgrade = "sqlnet_meta" in existing and self._version() != SCHEMA_VERSION
        for name in SCHEMA:
            if upgrade:  # the view training_info comes after the tables it reads
                self._add_missing_columns(query(name))
            self.run(query(name))
        if self._version() != SCHEMA_VERSION:
            self.sql("DELETE FROM sqlnet_meta WHERE key = 'schema_version'")
            self.sql("INSERT INTO sqlnet_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

    def _version(self) -> str | None:
        row = self.sql("SELECT value FROM sqlnet_meta WHERE key = 'schema_version'").fetchone()
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
        self.engine.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def create_table(db: Database, name: str, columns: list[str], rows: list[list[float]]) -> None:
    """A new table of DOUBLE columns holding rows: names quoted by sqlglot, values bound."""
    from .queries import table
    schema = exp.Schema(this=table(name), expressions=[
        exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=exp.DataType.build("DOUBLE"))
        for c in columns])
    db.run(exp.Create(this=schema, kind="TABLE", replace=True))
    values = exp.Values(expressions=[exp.Tuple(expressions=[exp.Placeholder() for _ in columns])])
    db.executemany(exp.insert(values, table(name)), rows)
