"""DuckDB, the embedded default: the dialect sql/ is written in, so nothing is rewritten."""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from typing import TYPE_CHECKING

import duckdb

from ..errors import SqlnetError
from ..names import schema_identifier
from .base import Engine, by_name

if TYPE_CHECKING:
    from sqlglot import exp


class DuckDB(Engine):
    kind = dialect = "duckdb"
    errors = (duckdb.Error,)
    rowid = True

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str | None = None):
        self.con, self.path = con, path
        self.user_schema = con.execute("SELECT current_schema()").fetchone()[0]

    @classmethod
    def open(cls, path: str, read_only: bool = False) -> "DuckDB":
        return cls(_connect(path, read_only), path)

    def statements(self, tree: exp.Expression) -> list[tuple[str, list]]:
        from ..queries import params_of
        from .rewrites import positions_named
        # nothing is rewritten, and rendering copies the tree: no copy to name ? slots in.
        # DuckDB binds $name itself: the text keeps the names.
        tree = positions_named(tree, copy=False)
        return [(tree.sql(dialect="duckdb"), sorted(params_of(tree)))]

    def call(self, sql: str, keys: list, params: dict | list):
        if keys and isinstance(keys[0], str):  # a list's ? slots are named by position
            named = by_name(params)
            return self.con.execute(sql, {k: named[k] for k in keys})
        return self.con.execute(sql, list(params) if keys else [])

    def execute(self, sql: str, params):
        return self.con.execute(sql, params)

    def run_text(self, sql: str, params) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params or [])

    def executemany(self, tree: exp.Expression, rows: list[list]) -> None:
        self.con.executemany(tree.sql(dialect="duckdb"), rows)

    def tables(self, schema: str) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
            " AND table_catalog = current_database()", [schema]).fetchall()}

    def schemas_holding(self, table: str) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = ?"
            " AND table_catalog = current_database()", [table]).fetchall()}

    def use_schema(self, *schemas: str) -> None:
        """Unqualified names resolve in these schemas first (DuckDB then still searches the
        default schema, main); new tables go to the first."""
        path = ",".join(map(schema_identifier, schemas))
        self.con.execute("SET search_path = '" + path.replace("'", "''") + "'")

    def create_schema(self, schema: str) -> None:
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_identifier(schema)}")

    def drop_schema(self, schema: str) -> None:
        self.con.execute(f"DROP SCHEMA {schema_identifier(schema)} CASCADE")

    def columns(self, table: str) -> list[tuple[str, str]]:
        rows = self.con.execute(
            "SELECT database_name = 'temp', column_name, data_type FROM duckdb_columns() "
            "WHERE table_name = ? AND (database_name = 'temp' OR (database_name = "
            "current_database() AND schema_name = current_schema())) ORDER BY column_index",
            [table]).fetchall()
        temp = any(r[0] for r in rows)    # a temporary table hides a table of the same name
        return [(r[1], r[2]) for r in rows if r[0] == temp]

    def stage_file(self, path: str, parquet: bool) -> None:
        from ..queries import query
        self.con.execute(query("stage_parquet" if parquet else "stage_csv").sql("duckdb"),
                         {"path": path})

    @contextlib.contextmanager
    def registered(self, name: str, columns: dict):
        self.con.complete()  # a half-read result would block register
        self.con.register(name, columns)
        try:
            yield name
        finally:
            self.con.unregister(name)

    @contextlib.contextmanager
    def threads(self, n: int):
        from ..queries import query
        old = self.con.execute("SELECT current_setting('threads')").fetchone()[0]
        self.con.execute(query("set_threads").sql("duckdb"), {"n": n})
        try:
            yield
        finally:
            self.con.execute(query("set_threads").sql("duckdb"), {"n": int(old)})

    @contextlib.contextmanager
    def optimizers_off(self, names: str):
        if not names:
            yield
            return
        from ..queries import query
        old = self.con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
        both = ",".join(n for n in (old, names) if n)
        self.con.execute(query("set_disabled_optimizers").sql("duckdb"), {"names": both})
        try:
            yield
        finally:
            self.con.execute(query("set_disabled_optimizers").sql("duckdb"), {"names": old})

    def snapshot(self, path: str, tables: list[str]) -> None:
        """Written beside the target and renamed over it, so a reader sees a whole epoch or
        the one before, never half of one."""
        from sqlglot import exp

        from ..queries import query, table
        tmp = f"{path}.tmp"
        for p in (tmp, tmp + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        self.con.execute(query("attach_snapshot").sql("duckdb"), {"path": tmp})
        schema = self.con.execute("SELECT current_schema()").fetchone()[0]
        in_snapshot = exp.Table(this=exp.to_identifier(schema, quoted=True),
                                db=exp.to_identifier("snapshot"))
        try:
            self.con.execute(query("snapshot_schema", schema=in_snapshot).sql("duckdb"))
            for name in tables:
                target = exp.Table(this=exp.to_identifier(name, quoted=True),
                                   db=exp.to_identifier(schema, quoted=True),
                                   catalog=exp.to_identifier("snapshot"))
                self.con.execute(query("copy_to_snapshot", source=table(name),
                                       target=target).sql("duckdb"))
        finally:
            self.con.execute("DETACH snapshot")
        os.replace(tmp, path)

    def close(self) -> None:
        self.con.close()



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
        raise SqlnetError(f"cannot open {path} as a DuckDB database: {first_line(e)}") from None


def first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
