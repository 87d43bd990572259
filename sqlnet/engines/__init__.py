"""The engines sqlnet runs on: DuckDB (embedded, the default), PostgreSQL and Spark SQL.

Every statement is written once, in DuckDB's dialect (sql/*.sql). An engine turns its syntax
tree into what it runs: its own rewrites of the tree (the few things sqlglot does not
translate), then sqlglot's rendering in the engine's dialect. The driver, the phases and
the CLI call only what :class:`~sqlnet.engines.base.Engine` offers.

>>> kind_of("postgresql://me@localhost:5432/models"), kind_of("spark:local[2]"), kind_of("a.duckdb")
('postgres', 'spark', 'duckdb')
"""
from __future__ import annotations

from .base import Engine, Result  # noqa: F401

KINDS = ("duckdb", "postgres", "spark")


def errors() -> tuple[type[BaseException], ...]:
    """The exception types of the engines loaded so far: what a failed statement raises."""
    import sys
    found: list[type[BaseException]] = []
    if "duckdb" in sys.modules:
        found.append(sys.modules["duckdb"].Error)
    if "psycopg" in sys.modules:
        found.append(sys.modules["psycopg"].Error)
    if "pyspark" in sys.modules:
        from pyspark.errors import PySparkException
        from py4j.protocol import Py4JError
        found += [PySparkException, Py4JError]
    return tuple(found)


def kind_of(target: str) -> str:
    """Which engine a DB argument names: a PostgreSQL URL, spark:MASTER, or a DuckDB file."""
    if target.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if target.startswith("spark:"):
        return "spark"
    return "duckdb"


def transpile(tree, kind: str, pretty: bool = False) -> list[str]:
    """The statements an engine runs for tree, as text (``sqlnet phases --dialect``): the
    engine's rewrites, then sqlglot's rendering; parameters stay $name (or :name)."""
    from . import rewrites
    if kind == "duckdb":
        return [tree.sql(dialect="duckdb", pretty=pretty, comments=pretty)]
    if kind == "postgres":
        from .postgres import Postgres as cls
    else:
        from .spark import Spark as cls
    engine = cls.__new__(cls)           # rewrites need no connection (nor a catalog here)
    engine.columns = _no_catalog
    out = []
    for t in engine.rewrite(rewrites.positions_named(tree)):
        if kind == "spark":
            t = engine.as_select(t)
        out.append(t.sql(dialect=cls.dialect, pretty=pretty, comments=pretty))
    return out


def _no_catalog(table: str) -> list[tuple[str, str]]:
    """sqlnet's own tables' columns, as sql/schema.sql declares them."""
    from sqlglot import exp

    from ..queries import statements
    create = statements().get(table)
    if not (isinstance(create, exp.Create) and isinstance(create.this, exp.Schema)):
        raise ValueError(f"listing this statement needs the columns of {table}")
    return [(c.name, c.args["kind"].sql("duckdb")) for c in create.this.expressions]


def connect(target, read_only: bool = False, warehouse: str | None = None) -> Engine:
    """The engine for a DB argument (or an open DuckDB connection)."""
    if not isinstance(target, str):
        from .duck import DuckDB
        return DuckDB(target)
    kind = kind_of(target)
    if kind == "postgres":
        from .postgres import Postgres
        return Postgres(target)
    if kind == "spark":
        from .spark import Spark
        return Spark(target[len("spark:"):], warehouse)
    from .duck import DuckDB
    return DuckDB.open(target, read_only)
