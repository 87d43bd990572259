"""The SQL of sqlnet: the named statements of ``sql/*.sql``, each parsed by sqlglot when
first used.

Every statement in those files is headed ``-- name: NAME``. :func:`query` returns a copy
of its syntax tree with the ``:placeholders`` filled in through sqlglot, never by string
formatting; ``$name`` values stay bound parameters.

>>> query("gradient", acts=table("a1"), delta=table("delta2")).sql("duckdb", comments=False)[:40]
'SELECT a.model, a.col AS row, d.col, SUM'
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"  # the dialect the sql/ files are written in
_HEADER = re.compile(r"^-- name: *(\S+) *$", re.MULTILINE)


def sql_dir() -> Path:
    """Where the .sql files are: inside the installed package, or the checkout's sql/."""
    packaged = Path(__file__).parent / "sql"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sql"


@functools.cache
def _texts() -> dict[str, str]:
    """Every named statement of every sql/ file, as text: the files split at their headers."""
    found: dict[str, str] = {}
    for path in sorted(sql_dir().glob("*.sql")):
        parts = _HEADER.split(path.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2]):
            if name in found:
                raise ValueError(f"statement {name!r} is named twice in sql/")
            found[name] = body
    return found


@functools.cache
def parsed(name: str) -> exp.Expression:
    """Statement ``name``, parsed the first time it is asked for (a command parses only
    the statements it runs); callers copy it before changing it."""
    return sqlglot.parse_one(_texts()[name], dialect=DIALECT)


class _Statements(Mapping[str, exp.Expression]):
    """Every named statement by name, each parsed when first looked up."""

    def __getitem__(self, name: str) -> exp.Expression:
        return parsed(name)

    def __contains__(self, name: object) -> bool:  # without parsing it
        return name in _texts()

    def __iter__(self) -> Iterator[str]:
        return iter(_texts())

    def __len__(self) -> int:
        return len(_texts())


def statements() -> Mapping[str, exp.Expression]:
    """Every named statement of every sql/ file, each parsed when first looked up."""
    return _Statements()


_TEMPORARY = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+TABLE\s+(\w+)",
                        re.IGNORECASE)


@functools.cache
def temporary_tables() -> frozenset[str]:
    """The temporary tables the sql/ statements create (staging, loaded_rows, ...), found
    in their text without parsing them: names a user's table must not take."""
    return frozenset(m.group(1) for text in _texts().values() for m in _TEMPORARY.finditer(text))


def query(name: str, **fill: exp.Expression) -> exp.Expression:
    """A copy of statement ``name`` with its ``:placeholders`` replaced by ``fill``."""
    tree = parsed(name).copy()
    return exp.replace_placeholders(tree, **fill) if fill else tree


def params_of(tree: exp.Expression) -> set[str]:
    """The bound parameters a statement still has: its placeholders left unfilled.

    sqlglot parses ``:name`` and ``$name`` alike; the sql/ files write ``:name`` for what
    the driver fills in and ``$name`` for what is bound at run time.
    """
    return {p.name for p in tree.find_all(exp.Placeholder) if p.this}


def table(name: str) -> exp.Table:
    """A quoted table name: user names reach SQL only through this (or :func:`column`)."""
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def column(name: str, of: str | None = None) -> exp.Column:
    """A quoted column name, optionally qualified by a table alias."""
    return exp.column(exp.to_identifier(name, quoted=True),
                      table=exp.to_identifier(of) if of else None)


def model_keys(models: list[int]) -> exp.Expression:
    """The model keys as a one-column subquery ``(SELECT model FROM (VALUES ...))``, to fill a
    ``:models`` placeholder (driver-chosen integers, never user data)."""
    values = exp.Values(expressions=[exp.Tuple(expressions=[number(m)]) for m in models],
                        alias=exp.TableAlias(this=exp.to_identifier("v"),
                                             columns=[exp.to_identifier("model")]))
    return exp.paren(exp.select("model").from_(values))


def number(value: float | int) -> exp.Literal:
    """A literal for a number the driver itself chose (a layer index, never user data)."""
    return exp.Literal.number(value)


def string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def expression(name: str, alias: str) -> exp.Expression:
    """The expression named ``alias`` in statement ``name``'s SELECT list."""
    for e in parsed(name).expressions:
        if e.alias_or_name == alias:
            return e.this.copy() if isinstance(e, exp.Alias) else e.copy()
    raise KeyError(f"{name} has no {alias}")


def substitute(tree: exp.Expression, **columns: exp.Expression) -> exp.Expression:
    """Replace bare column references (``z``, ``a``) by the given expressions."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in columns:
            return columns[node.name].copy()
        return node
    return tree.copy().transform(swap)


def render(tree: exp.Expression, dialect: str = DIALECT, comments: bool = False) -> str:
    """SQL text for an engine; the sql/ files' comments only when asked (for reading)."""
    return tree.sql(dialect=dialect, comments=comments)


def quoted(name: str, dialect: str = DIALECT) -> str:
    """A name as a quoted identifier, for the few statements an engine writes itself."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)
