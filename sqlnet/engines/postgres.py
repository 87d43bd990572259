"""PostgreSQL (15 and later) through psycopg 3.

What sqlglot does not translate, rewritten here on the syntax tree:
- ``CREATE OR REPLACE TABLE`` does not exist: the new table is built under another name,
  then swapped in (drop, rename) in the same transaction, and ANALYZEd, since PostgreSQL
  never analyzes temporary tables by itself;
- ``isfinite`` of a double, ``ANY_VALUE`` (15), ``SELECT * REPLACE`` and DuckDB's ``rowid``
  and ``UNPIVOT``;
- decimal literals are DOUBLE, as in DuckDB's arithmetic (PostgreSQL would use NUMERIC).
Parameters are bound by psycopg (``%s``); a literal ``%`` is doubled for it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

import duckdb
import psycopg
from sqlglot import exp

from ..errors import SqlnetError
from ..queries import quoted
from . import base, rewrites
from .base import Engine

TYPES = {"double precision": "DOUBLE", "real": "FLOAT", "integer": "INTEGER", "bigint": "BIGINT",
         "smallint": "SMALLINT", "boolean": "BOOLEAN", "numeric": "DECIMAL", "text": "VARCHAR",
         "character varying": "VARCHAR", "timestamp without time zone": "TIMESTAMP"}


class Postgres(Engine):
    kind = dialect = "postgres"
    errors = (psycopg.Error,)
    overflow = (psycopg.errors.NumericValueOutOfRange,)   # e.g. EXP of a diverged logit
    slot = "%s"

    def __init__(self, url: str):
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as e:
            raise SqlnetError(f"cannot connect to {_safe(url)}: {base_line(e)}") from None
        self.url = url
        self.user_schema = self.con.execute("SELECT COALESCE(current_schema(), 'public')").fetchone()[0]
        self.user_path = self.con.execute("SHOW search_path").fetchone()[0]

    def _escape(self, text: str) -> str:
        return text.replace("%", "%%")

    def plan_step(self) -> None:
        # Without statistics for the step's CTEs, PostgreSQL planned the hidden delta
        # Δˡ = Δˡ⁺¹·Wˡ⁺¹ᵀ as a nested loop scanning the weights once per row of Δˡ⁺¹
        # (benchmarks/NOTES.md §5); hash joins instead, for this transaction only.
        self.execute("SET LOCAL enable_nestloop = off", [])

    def rewrite(self, tree: exp.Expression) -> list[exp.Expression]:
        tree = rewrites.unpivot(tree, _values)
        tree = rewrites.star_replace(tree, self.columns)
        tree = rewrites.row_numbers(rewrites.doubles(rewrites.finite(rewrites.aliased(tree))))
        tree = tree.transform(_any_value, copy=False)
        if isinstance(tree, exp.Create) and tree.args.get("replace") and tree.kind == "TABLE":
            return _replace_table(tree)
        return [tree]

    def call(self, sql: str, keys: list, params: dict | list):
        # The rendered text has each literal % doubled (_escape); psycopg undoubles them only
        # when it is given parameters, even none (a user's --query may hold a % operator).
        cur = self.con.cursor()
        cur.execute(sql, [base.by_name(params)[k] for k in keys])
        return cur

    def execute(self, sql: str, params: list):
        cur = self.con.cursor()
        cur.execute(sql, params or None)
        return cur

    def executemany(self, tree: exp.Expression, rows: list[list]) -> None:
        for sql, keys in self.statements(tree):
            with self.con.cursor() as cur:
                cur.executemany(sql, [[base.by_name(list(r))[k] for k in keys] for r in rows])

    def tables(self, schema: str) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [schema]).fetchall()}

    def schemas_holding(self, table: str) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            [table]).fetchall()}

    def use_schema(self, *schemas: str) -> None:
        """Unqualified names resolve in these schemas only (and pg_temp, pg_catalog); new
        tables go to the first. The user's own path follows when the user's schema is named."""
        path = [quoted(s, "postgres") for s in schemas]
        if self.user_schema in schemas:
            path = path[:schemas.index(self.user_schema)] + [self.user_path]
        self.execute(f"SET search_path TO {', '.join(path)}", [])

    def claim(self, schema: str) -> bool:
        """A session-level advisory lock on the model's name, held until the connection
        closes: a training run takes it, and a second run or a drop of the model fails."""
        return self.con.execute("SELECT pg_try_advisory_lock(hashtext('sqlnet'), hashtext(%s))",
                                [schema]).fetchone()[0]

    def create_schema(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema, 'postgres')}", [])

    def drop_schema(self, schema: str) -> None:
        self.execute(f"DROP SCHEMA {quoted(schema, 'postgres')} CASCADE", [])

    def columns(self, table: str) -> list[tuple[str, str]]:
        rows = self.con.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum", [quoted(table, "postgres")]).fetchall()
        return [(n, _type(t)) for n, t in rows if n != "sqlnet_row"]

    def stage_file(self, path: str, parquet: bool) -> None:
        """The file's columns and types as DuckDB's reader sees them; its rows copied in by
        COPY, numbered in file order."""
        file = exp.Literal.string(path).sql("duckdb")
        reader = f"read_parquet({file})" if parquet else f"read_csv({file}, header = true)"
        with duckdb.connect() as local:
            local.execute(f"CREATE VIEW f AS SELECT * FROM {reader}")
            names = [(r[0], r[1]) for r in local.execute("DESCRIBE f").fetchall()]
            with tempfile.TemporaryDirectory() as d:
                plain = os.path.join(d, "rows.csv")
                local.execute(f"COPY f TO {exp.Literal.string(plain).sql('duckdb')} (HEADER false)")
                self._copy_in(names, plain)

    def _copy_in(self, names: list[tuple[str, str]], plain: str) -> None:
        cols = ", ".join(f"{quoted(n, 'postgres')} {_pg_type(t)}" for n, t in names)
        self.execute("DROP TABLE IF EXISTS staging", [])
        self.execute(f"CREATE TEMP TABLE staging ({cols}, sqlnet_row BIGINT "
                     "GENERATED ALWAYS AS IDENTITY)", [])
        listed = ", ".join(quoted(n, "postgres") for n, _ in names)
        with self.con.cursor() as cur, open(plain, "rb") as f:
            with cur.copy(f"COPY staging ({listed}) FROM STDIN WITH (FORMAT csv)") as copy:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
        self.execute("ANALYZE staging", [])

    @contextlib.contextmanager
    def registered(self, name: str, columns: dict):
        names = list(columns)
        rows = zip(*(columns[n].tolist() if hasattr(columns[n], "tolist") else columns[n]
                     for n in names))
        self.execute(f"DROP TABLE IF EXISTS {quoted(name, 'postgres')}", [])
        kinds = [_pg_type("BIGINT" if str(getattr(columns[n], "dtype", "")).startswith("int")
                          else "DOUBLE") for n in names]
        self.execute(f"CREATE TEMP TABLE {quoted(name, 'postgres')} (" + ", ".join(
            f"{quoted(n, 'postgres')} {k}" for n, k in zip(names, kinds)) + ")", [])
        with self.con.cursor() as cur:
            with cur.copy(f"COPY {quoted(name, 'postgres')} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        try:
            yield name
        finally:
            self.execute(f"DROP TABLE IF EXISTS {quoted(name, 'postgres')}", [])

    def close(self) -> None:
        self.con.close()


def _replace_table(create: exp.Create) -> list[exp.Expression]:
    """CREATE OR REPLACE [TEMP] TABLE t AS q: build t's new version, drop t, rename, analyze."""
    target = create.this.this if isinstance(create.this, exp.Schema) else create.this
    name = target.name
    fresh = create.copy()
    fresh.set("replace", False)
    new = exp.Table(this=exp.to_identifier(f"{name}__sqlnet_new", quoted=True))
    if isinstance(fresh.this, exp.Schema):
        fresh.this.set("this", new)
    else:
        fresh.set("this", new)
    old = exp.Table(this=exp.to_identifier(name, quoted=True))
    return [exp.Drop(tables=[new.copy()], kind="TABLE", exists=True), fresh,
            exp.Drop(tables=[old.copy()], kind="TABLE", exists=True),
            exp.Alter(this=new.copy(), kind="TABLE",
                      actions=[exp.AlterRename(this=exp.Table(this=exp.to_identifier(name, quoted=True)))]),
            exp.Command(this="ANALYZE", expression=exp.Literal.string(f" {old.sql('postgres')}"))]


def _values(alias: str, names: list[str]) -> exp.Join:
    rows = [exp.Tuple(expressions=[exp.Literal.string(n), exp.column(n, alias, quoted=True)])
            for n in names]
    lateral = exp.Lateral(this=exp.paren(exp.Values(expressions=rows)),
                          alias=exp.TableAlias(this=exp.to_identifier("v"),
                                               columns=[exp.to_identifier("name"),
                                                        exp.to_identifier("value")]))
    return exp.Join(this=lateral, kind="CROSS")


def _any_value(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.AnyValue):
        return exp.Max(this=node.this.copy())
    return node


def _type(pg: str) -> str:
    return TYPES.get(pg, TYPES.get(pg.split("(")[0], pg.upper()))


def _pg_type(duck: str) -> str:
    if duck.startswith("DECIMAL") or duck in ("DOUBLE", "FLOAT", "REAL"):
        return "DOUBLE PRECISION"
    if duck in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"):
        return "BIGINT"
    if duck in ("HUGEINT", "UBIGINT"):
        return "NUMERIC"
    if duck == "BOOLEAN":
        return "BOOLEAN"
    return "TEXT"


def _safe(url: str) -> str:
    """The URL without its password."""
    import re
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", url)


def base_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__

