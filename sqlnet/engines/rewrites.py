"""The rewrites of a statement's syntax tree that engines share, each a small function (as
sqlglot's transforms are): naming ? slots by position, then what PostgreSQL and Spark SQL
need that DuckDB, the dialect of sql/, does not. Each engine lists the ones it uses.
"""
from __future__ import annotations

import re

from sqlglot import exp


def positions_named(tree: exp.Expression, copy: bool = True) -> exp.Expression:
    """Each ? named by its position in the statement as written, before a rewrite moves it
    (in a copy; without copy, a tree with no ? is returned itself)."""
    if not copy and not any(not p.this for p in tree.find_all(exp.Placeholder)):
        return tree
    tree = tree.copy()
    for i, p in enumerate([p for p in tree.find_all(exp.Placeholder, bfs=False) if not p.this]):
        p.set("this", f"sqlnet_pos_{i}")
    return tree


def slots(tree: exp.Expression) -> tuple[exp.Expression, list]:
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
