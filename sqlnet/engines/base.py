"""What every engine offers the driver, and the syntax-tree rewrites engines share.

An engine runs statements given as sqlglot trees in DuckDB's dialect (the dialect of sql/):
:meth:`Engine.statements` rewrites a tree for the engine and renders it, maybe as several
statements (PostgreSQL replaces a table in four); :meth:`Engine.execute` runs one with its
bound parameters.
"""
from __future__ import annotations

import contextlib
import re
from typing import Any

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
        return [self.render(t) for t in self.rewrite(positions_named(tree))]

    def render(self, tree: exp.Expression) -> tuple[str, list]:
        """Text with positional slots (%s or ?) and the key of each slot, in text order."""
        tree, keys = _slots(tree)
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
    def tables(self) -> set[str]:
        raise NotImplementedError

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


def positions_named(tree: exp.Expression, copy: bool = True) -> exp.Expression:
    """Each ? named by its position in the statement as written, before a rewrite moves it
    (in a copy; without copy, a tree with no ? is returned itself)."""
    if not copy and not any(not p.this for p in tree.find_all(exp.Placeholder)):
        return tree
    tree = tree.copy()
    for i, p in enumerate([p for p in tree.find_all(exp.Placeholder, bfs=False) if not p.this]):
        p.set("this", f"sqlnet_pos_{i}")
    return tree


def by_name(params: dict | list) -> dict:
    """Parameters by name; a list's values named by position, as positions_named names ? slots."""
    if isinstance(params, dict):
        return params
    return {f"sqlnet_pos_{i}": v for i, v in enumerate(params)}


def _slots(tree: exp.Expression) -> tuple[exp.Expression, list]:
    """Replace each placeholder by a marker the renderer leaves alone, so that slots can be
    put back in the order they appear in the text (which a rewrite may have changed)."""
    tree, keys = positions_named(tree), []
    for p in list(tree.find_all(exp.Placeholder, bfs=False)):
        keys.append(p.name)
        p.replace(exp.Var(this=f"__sqlnet_param_{len(keys) - 1}__"))
    return tree, keys


# --- rewrites the engines other than DuckDB share ------------------------------------------

def finite(tree: exp.Expression) -> exp.Expression:
    """isfinite(x) as |x| < ∞: NaN compares above every number on PostgreSQL and Spark."""
    def swap(node):
        if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite" or \
                type(node).__name__ == "IsFinite":
            x = node.expressions[0] if isinstance(node, exp.Anonymous) else node.this
            inf = exp.cast(exp.Literal.string("Infinity"), "DOUBLE")
            return exp.paren(exp.LT(this=exp.Abs(this=x.copy()), expression=inf))
        return node
    return tree.transform(swap, copy=False)


def aliased(tree: exp.Expression) -> exp.Expression:
    """Every subquery in a FROM or JOIN named: PostgreSQL and Spark require it."""
    n = 0
    for t in list(tree.find_all(exp.Table)):  # a :placeholder filled by a query
        if isinstance(t.this, (exp.Paren, exp.Subquery)) and isinstance(t.this.this, exp.Query):
            sub = exp.Subquery(this=t.this.this.copy())
            if t.alias:
                sub.set("alias", t.args["alias"].copy())
            t.replace(sub)
    for node in list(tree.find_all(exp.Subquery, exp.Paren)):
        if not isinstance(node.parent, (exp.From, exp.Join)) or node.alias:
            continue
        if isinstance(node, exp.Paren):
            if not isinstance(node.this, exp.Query):
                continue
            node = node.replace(exp.Subquery(this=node.this.copy()))
        n += 1
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"sqlnet_q{n}")))
    return tree


def doubles(tree: exp.Expression) -> exp.Expression:
    """A literal with a decimal point as a DOUBLE, as DuckDB's arithmetic treats it (PostgreSQL
    would compute in NUMERIC, Spark in DECIMAL of limited scale)."""
    def swap(node):
        if isinstance(node, exp.Literal) and not node.is_string and \
                re.search(r"[.eE]", node.this) and not isinstance(node.parent, exp.Cast):
            return exp.cast(node.copy(), "DOUBLE")
        return node
    return tree.transform(swap, copy=False)


def row_numbers(tree: exp.Expression) -> exp.Expression:
    """DuckDB's rowid of the staging table as the sqlnet_row column staging carries here."""
    def swap(node):
        if isinstance(node, exp.Column) and node.name.lower() == "rowid" and not node.args.get("quoted"):
            return exp.column("sqlnet_row", table=node.table or None)
        return node
    return tree.transform(swap, copy=False)


def star_replace(tree: exp.Expression, columns) -> exp.Expression:
    """SELECT * REPLACE (e AS c) FROM t as the explicit column list of t."""
    for select in list(tree.find_all(exp.Select)):
        for star in [e for e in select.expressions if isinstance(e, exp.Star) and e.args.get("replace")]:
            source = (select.args.get("from_") or select.args.get("from")).this
            swaps = {e.alias: e for e in star.args["replace"]}
            listed = [swaps[c].copy() if c in swaps else exp.column(c, quoted=True)
                      for c, _ in columns(source.name)]
            select.set("expressions", [x for e in select.expressions
                                       for x in (listed if e is star else [e])])
    return tree


def unpivot(tree: exp.Expression, lateral) -> exp.Expression:
    """DuckDB's UNPIVOT of sql/data.sql's staged_numbers, whose source is a SELECT of the row
    number and of columns named by position ("0", "1", ...), as a join of each source row
    with its (name, value) pairs: lateral(source_alias, names) builds that join's right side."""
    for piv in list(tree.find_all(exp.Pivot)):
        if not piv.args.get("unpivot"):
            continue
        inner = next(s for s in piv.this.find_all(exp.Select)
                     if not any(isinstance(e, exp.Star) for e in s.expressions))
        names = [e.alias_or_name for e in inner.expressions if e.alias_or_name != "row"]
        pairs = lateral("src", names)
        select = exp.select("src.row", "v.name", "v.value").from_(
            exp.paren(inner.copy()).as_("src"))
        select.append("joins", pairs) if isinstance(pairs, exp.Join) else select.append("laterals", pairs)
        piv.replace(select)
    return tree
