"""What every engine offers the driver, and the syntax-tree rewrites engines share.

An engine runs statements given as sqlglot trees in DuckDB's dialect (the dialect of sql/):
:meth:`Engine.statements` rewrites a tree for the engine and renders it, maybe as several
statements (PostgreSQL replaces a table in four); :meth:`Engine.execute` runs one with its
bound parameters. The rewrites themselves are in :mod:`sqlnet.engines.rewrites`, imported
where a tree is rendered: connecting and running a user's text (``sqlnet sql``) do without
sqlglot.
"""
from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

Params = dict[str, Any]
_SLOT = re.compile(r"__sqlnet_param_(\d+)__")


class Result:
    """Rows already fetched, read as a DB-API cursor is (Spark's, and empty results)."""

    def __init__(self, rows: list[tuple], names: list[str] | None = None):
        self._rows, self._at = rows, 0
        self.description = [(n, None, None, None, None, None, None) for n in names] \
            if names else None

    def fetchall(self) -> list[tuple]:
        rows, self._at = self._rows[self._at:], len(self._rows)
        return rows

    def fetchone(self) -> tuple | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchmany(self, n: int) -> list[tuple]:
        rows = self._rows[self._at:self._at + n]
        self._at += len(rows)
        return rows


class Engine:
    """One connection to one engine. Subclasses fill in how their engine does each thing."""

    kind = "duckdb"          # duckdb, postgres or spark: the CLI's and sqlglot's name
    dialect = "duckdb"
    errors: tuple[type[BaseException], ...] = ()   # the engine's own exception types
    overflow: tuple[type[BaseException], ...] = ()  # raised where DuckDB's doubles become ±∞
    cacheable = True         # whether a tree's rendering may be kept for the next run
    rowid = False            # whether tables have DuckDB's rowid (else staging has sqlnet_row)

    # --- statements -------------------------------------------------------------------
    def rewrite(self, tree: exp.Expression) -> list[exp.Expression]:
        """The statements that do what tree does, on this engine (DuckDB: tree itself)."""
        return [tree]

    def statements(self, tree: exp.Expression) -> list[tuple[str, list]]:
        """SQL text for each statement of the rewritten tree, with the order of its
        parameter slots: a name ($name) or a position (? in text, counted from 0)."""
        from .rewrites import positions_named
        return [self.render(t) for t in self.rewrite(positions_named(tree))]

    def render(self, tree: exp.Expression) -> tuple[str, list]:
        """Text with positional slots (%s or ?) and the key of each slot, in text order."""
        from .rewrites import slots
        tree, keys = slots(tree)
        text = tree.sql(dialect=self.dialect, comments=False)
        order = [keys[int(i)] for i in _SLOT.findall(text)]
        return _SLOT.sub(self.slot, self._escape(text)), order

    slot = "?"

    def _escape(self, text: str) -> str:
        return text

    def call(self, sql: str, keys: list, params: dict | list) -> Any:
        """Run one rendered statement, taking its slots' values from params (by name or
        position)."""
        return self.execute(sql, [by_name(params)[k] for k in keys])

    def execute(self, sql: str, params: list) -> Any:
        """Run one rendered statement with its parameters in slot order; returns a cursor."""
        raise NotImplementedError

    def run_text(self, sql: str, params: list):
        """SQL a user wrote in the engine's own dialect, as it is."""
        return self.execute(sql, params)

    def executemany(self, tree: exp.Expression, rows: list[list]) -> None:
        """An INSERT ... VALUES (?, ...) for many rows."""
        for sql, keys in self.statements(tree):
            for row in rows:
                self.execute(sql, [by_name(list(row))[k] for k in keys])

    # --- transactions -----------------------------------------------------------------
    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION", [])

    def commit(self) -> None:
        self.execute("COMMIT", [])

    def rollback(self) -> None:
        self.execute("ROLLBACK", [])

    # --- the catalog ------------------------------------------------------------------
    user_schema = "main"     # the schema (Spark: database) the connection started in

    def tables(self, schema: str) -> set[str]:
        """The tables and views of a schema."""
        raise NotImplementedError

    def schemas_holding(self, table: str) -> set[str]:
        """The schemas that have a table of this name."""
        raise NotImplementedError

    def use_schema(self, *schemas: str) -> None:
        """Unqualified names are looked up in these schemas; new tables go to the first."""
        raise NotImplementedError

    def create_schema(self, schema: str) -> None:
        raise NotImplementedError

    def drop_schema(self, schema: str) -> None:
        """The schema and everything in it."""
        raise NotImplementedError

    def claim(self, schema: str) -> bool:
        """Whether this connection may write the model of this schema: not while another
        process trains it. (A DuckDB file has one writer at a time anyway; Spark cannot tell.)"""
        return True

    def columns(self, table: str) -> list[tuple[str, str]]:
        """A table's columns and their types, in DuckDB's type names (DOUBLE, BIGINT, ...)."""
        raise NotImplementedError

    # --- data in ----------------------------------------------------------------------
    def stage_file(self, path: str, parquet: bool) -> None:
        """The file as the temporary table staging, its rows numbered in file order by
        rowid (DuckDB) or sqlnet_row (the others)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def registered(self, name: str, columns: dict):
        """numpy columns readable by SQL as the table name, for the length of the block."""
        raise NotImplementedError
        yield

    @contextlib.contextmanager
    def threads(self, n: int):
        """Run the block on n threads, where the engine lets a connection choose."""
        yield

    def plan_step(self) -> None:
        """Inside a step's transaction, before its statements: the planner settings they
        run with, where an engine needs some (PostgreSQL)."""

    @contextlib.contextmanager
    def optimizers_off(self, names: str):
        """Run the block with these optimizer passes off, where the engine has them (DuckDB)."""
        yield

    def snapshot(self, path: str, tables: list[str]) -> None:
        from ..errors import SqlnetError
        raise SqlnetError(f"--snapshot writes a DuckDB file from a DuckDB database; on {self.kind} "
                          "other sessions can read the model's tables while training runs")

    def close(self) -> None:
        pass


def by_name(params: dict | list) -> dict:
    """Parameters by name; a list's values named by position, as positions_named names ? slots."""
    if isinstance(params, dict):
        return params
    return {f"sqlnet_pos_{i}": v for i, v in enumerate(params)}
