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
from .names import DEFAULT_MODEL, model_name
from .queries import DIALECT, params_of, query

SCHEMA_VERSION = "3"  # 3: a model's tables in a schema of its own (2: in the user's schema)
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
    directory Spark keeps its tables in, ``warehouse``).

    It works on one named model, whose tables live in a schema of the same name (a
    namespace on Spark), first on the search path; the user's own schema is only read,
    except where a command is asked to write a table there (``predict --into``)."""

    def __init__(self, target, read_only: bool = False, warehouse: str | None = None,
                 model: str | None = None):
        name = model_name(model or DEFAULT_MODEL)
        self.engine: Engine = engines.connect(
            str(target) if isinstance(target, Path) else target, read_only, warehouse)
        self.kind = self.engine.kind
        self.path = getattr(self.engine, "path", None)
        self.con = getattr(self.engine, "con", None)
        self._rendered: dict[int, tuple[exp.Expression, list, set[str]]] = {}
        self._parsed: dict[str, exp.Expression] = {}
        self._depth = 0           # nested transaction() blocks
        self.use_model(name)

    # --- the model's schema -----------------------------------------------------------
    def use_model(self, name: str) -> None:
        """Work on model name from now on: its schema first on the search path."""
        self.model_name = name
        self.schema = self._find_schema()

    def _find_schema(self) -> str | None:
        """Where the model's tables are: its own schema; for the default model of a
        database of schema version 2, the user's schema until its next write; None when
        the model does not exist yet."""
        holding = self.engine.schemas_holding("sqlnet_meta")
        user = self.engine.user_schema
        if self.model_name in holding:
            self.engine.use_schema(self.model_name)
            return self.model_name
        self.engine.use_schema(user)
        if self.model_name == DEFAULT_MODEL and user in holding:
            return user
        return None

    def claim(self) -> None:
        """Refuse to train the model while another process trains it (PostgreSQL)."""
        if not self.engine.claim(self.model_name):
            raise SqlnetError(f"model {self.model_name!r} is being trained by another process")

    @property
    def legacy(self) -> bool:
        """The model's tables are still in the user's schema (schema version 2)."""
        return self.schema is not None and self.schema == self.engine.user_schema

    def model_names(self) -> list[str]:
        """The models this database holds (the default one first if it is still in the
        user's schema)."""
        holding = self.engine.schemas_holding("sqlnet_meta")
        names = sorted(holding - {self.engine.user_schema})
        if self.engine.user_schema in holding and DEFAULT_MODEL not in holding:
            names.insert(0, DEFAULT_MODEL)
        return names

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
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            self.engine.rollback()
            self.schema = self._find_schema()  # a schema made in the block is gone
            raise
        self._depth -= 1
        self.engine.commit()

    @contextlib.contextmanager
    def _atomic(self):
        """A transaction, unless the caller's block already is one."""
        if self._depth:
            yield self
        else:
            with self.transaction():
                yield self

    def registered(self, name: str, columns: dict):
        """numpy columns readable by SQL as the table ``name`` for the length of the block
        (DuckDB scans them in place; the other engines get a temporary table)."""
        return self.engine.registered(name, columns)

    def tables(self) -> set[str]:
        """The tables (and views) of the model's schema."""
        return self.engine.tables(self.schema) if self.schema else set()

    @contextlib.contextmanager
    def users_path(self):
        """For the block, unqualified names are looked up in the model's schema, then in
        the user's, as in ``sqlnet sql`` (sqlnet's own statements look in the model's only):
        for a user's ``--query``."""
        if not self.schema or self.legacy:
            yield self
            return
        self.engine.use_schema(self.schema, self.engine.user_schema)
        try:
            yield self
        finally:
            self.engine.use_schema(self.schema)

    def user_tables(self) -> set[str]:
        """The tables (and views) of the user's own schema, which sqlnet only reads (and
        writes only where asked to, as ``predict --into``)."""
        found = self.engine.tables(self.engine.user_schema)
        return found - set(MODEL_TABLES) if self.legacy else found

    def user_table(self, name: str) -> exp.Table:
        """A table of the user's own schema, by its name (quoted by sqlglot)."""
        return _in_schema(name, self.engine.user_schema)

    def columns(self, table_name: str) -> list[tuple[str, str]]:
        """A table's columns and their types, named as DuckDB names types."""
        return self.engine.columns(table_name)

    def has_model(self) -> bool:
        t = self.tables()
        return "sqlnet_meta" in t and "models" in t and bool(
            self.sql("SELECT COUNT(*) FROM models").fetchone()[0])

    def create_schema(self) -> None:
        """Create the model's schema and tables (a model of an older sqlnet gains the newer
        tables and columns, and moves out of the user's schema)."""
        if self.schema is None:
            self._claim_schema()
        elif self.legacy:
            with self._atomic():
                self._move_out_of_user_schema()
        existing = self.tables()
        if set(MODEL_TABLES) <= existing and self._version() == SCHEMA_VERSION:
            return  # (a sweep creates its models one after the other)
        upgrade = "sqlnet_meta" in existing and self._version() != SCHEMA_VERSION
        for name in SCHEMA:
            if upgrade:  # the view training_info comes after the tables it reads
                self._add_missing_columns(query(name))
            self.run(query(name))
        if self._version() != SCHEMA_VERSION:
            self.sql("DELETE FROM sqlnet_meta WHERE key = 'schema_version'")
            self.sql("INSERT INTO sqlnet_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

    def _claim_schema(self) -> None:
        """The model's own schema: new, or one the user made for it and left empty."""
        name = self.model_name
        if name == self.engine.user_schema:
            raise SqlnetError(f"the model cannot be named {name!r}: that is the database's "
                              "own schema; choose another --model")
        theirs = self.engine.tables(name)
        if theirs:
            raise SqlnetError(f"the database has a schema {name!r} holding tables sqlnet did "
                              f"not make ({', '.join(sorted(theirs)[:3])}); choose another --model")
        self.engine.create_schema(name)
        self.engine.use_schema(name)
        self.schema = name

    def _move_out_of_user_schema(self) -> None:
        """A model of schema version 2 moves from the user's schema into its own: its
        tables are made anew there, their rows copied, the old ones dropped."""
        from .queries import column, table
        old, kept = self.engine.user_schema, self.tables()
        self.schema = None
        if self.kind == "spark":   # its tables are files: the catalog moves, not the rows
            self.engine.move_namespace(old, self.model_name)
            self.schema = self.model_name
            return
        self._claim_schema()
        for name in SCHEMA:
            self.run(query(name))
        for name in MODEL_TABLES:
            if name in kept and name not in VIEWS:
                mine = {c for c, _ in self.columns(name)}
                cols = [c for c, _ in self._user_columns(name) if c in mine]
                select = exp.select(*map(column, cols)).from_(_in_schema(name, old))
                self.run(exp.insert(select, table(name), columns=[
                    exp.to_identifier(c, quoted=True) for c in cols]))
        for name in [*VIEWS, *(n for n in MODEL_TABLES if n not in VIEWS)]:
            if name in kept:
                kind = "VIEW" if name in VIEWS else "TABLE"
                self.run(exp.Drop(tables=[_in_schema(name, old)], kind=kind))

    def _user_columns(self, name: str) -> list[tuple[str, str]]:
        self.engine.use_schema(self.engine.user_schema)
        try:
            return self.columns(name)
        finally:
            self.engine.use_schema(self.schema)

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


def _in_schema(name: str, schema: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True),
                     db=exp.to_identifier(schema, quoted=True))


def create_table(db: Database, name: str, columns: list[str], rows: list[list[float]]) -> None:
    """A new table of DOUBLE columns holding rows: names quoted by sqlglot, values bound."""
    from .queries import table
    schema = exp.Schema(this=table(name), expressions=[
        exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=exp.DataType.build("DOUBLE"))
        for c in columns])
    db.run(exp.Create(this=schema, kind="TABLE", replace=True))
    values = exp.Values(expressions=[exp.Tuple(expressions=[exp.Placeholder() for _ in columns])])
    db.executemany(exp.insert(values, table(name)), rows)
