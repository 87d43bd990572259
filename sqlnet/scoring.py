"""Scoring SQL that runs without sqlnet: the model as one SQL object, its numbers inlined.

``export(db, "score.sql")`` writes a file that defines, in a database with no sqlnet table,

- on DuckDB, a table macro of a table's name: ``SELECT * FROM score('customers')`` gives every
  row of customers with its answer;
- on PostgreSQL and Spark, a function of one sample's feature values, used with a lateral
  join: ``SELECT c.*, s.* FROM customers AS c CROSS JOIN LATERAL score(c.a, c.b) AS s``.

With ``long=True`` it reads long data: the macro a table of (row, col, value) cells, giving
``row`` and the answer; the function a sample's cells as two lists, their column names and
their values. The answer is predict's: ``prediction``, ``probability`` and a
``probability_<class>`` per class for a classifier, a column per target otherwise.

The statements are sql/scoring.sql's, written in DuckDB's dialect and transpiled for the other
engines; each scores one sample as a chain of one-row SELECTs, a column per unit.

>>> literal(0.1), literal(-2.5e-07), literal(0.0), literal(123.0), literal(1e300)
('1.0e-01', '-2.5e-07', '0.0e+00', '1.23e+02', '1.0e+300')
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlglot import exp

from . import many
from . import model as M
from .db import Database
from .engines import KINDS, transpile
from .errors import SqlnetError
from .phases import with_ctes
from .queries import DIALECT, column, expression, query, string, substitute, table

NAME = "score"           # the SQL object's name
INPUT = "sqlnet_input"   # the DuckDB macro's alias for the row (or sample) being scored


@dataclass
class Scored:
    """What a scoring object computes: the model's numbers and names, and its kind of input."""

    net: M.Network
    params: list                   # every layer's (W as fan_in lists of fan_out, b)
    features: list[str]
    outputs: list[str]             # after prediction and probability, for a classifier
    classes: list[tuple[int, str]]
    standardization: list[tuple[float, float]]   # each feature's (mean, std), or none
    long: bool


def literal(value: float) -> str:
    """A float64 as a literal with an exponent, which every engine reads as a double, exactly:
    the shortest digits that read back as value (Python's repr)."""
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}e{exponent + len(text) - 1:+03d}"


def export(db: Database, path: str, dialect: str | None = None, long: bool = False,
           model: int = 0) -> str:
    """Write the database's model to path as scoring SQL for dialect (default, and returned:
    the database's own engine); with long, the SQL object reads long data."""
    dialect = dialect or db.kind
    if dialect not in KINDS:
        raise SqlnetError(f"unknown dialect {dialect!r}: duckdb, postgres or spark")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise SqlnetError(f"cannot write {path}: directory {folder} does not exist")
    text = render(describe(db, model, long), dialect)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise SqlnetError(f"cannot write {path}: {e.strerror or e}") from None
    return dialect


def describe(db: Database, model: int = 0, long: bool = False) -> Scored:
    """The stored model's numbers and names; refuses what a file of one model cannot score."""
    group, _ = many.stored_groups(db)
    if group is not None:
        raise SqlnetError(f"the database holds one model per {group!r}; scoring SQL is written "
                          "for a database of one model")
    net = M.load(db, model)
    features = M.feature_names(db, model)
    if not features:
        raise SqlnetError("the model has not been trained yet: it has no feature names")
    classes = db.sql("SELECT class, label FROM classes WHERE model = ? ORDER BY class",
                     [model]).fetchall() if net.task == "classification" else []
    stats = db.sql("SELECT mean, std FROM standardization WHERE model = ? ORDER BY col",
                   [model]).fetchall() if net.controls.standardize else []
    outputs = [f"probability_{label}" for _, label in classes] or M.target_names(db, model)
    return Scored(net, M.parameters(db, model), features, outputs, classes, stats, long)


def render(scored: Scored, dialect: str) -> str:
    """The file's text: a comment on how to use it, then the statement that creates the object."""
    if dialect == "duckdb":
        text = macro(scored).sql(dialect="duckdb", pretty=True)
    else:
        text = function(scored, dialect)
    return header(scored, dialect) + text + ";\n"


# --- one sample's answer ------------------------------------------------------------------

def answer(scored: Scored, inputs: list[exp.Expression]) -> exp.Query:
    """The answer of one sample whose inputs are given: an expression per feature (wide), or
    the lists of its cells' names and values (long); exactly one row."""
    net = scored.net
    ctes = _long_layer(scored, *inputs) if scored.long else \
        [("a0", _inputs(scored, inputs)), ("z1", _linear(scored.params[0], "a0"))]
    ctes += _activation(net, 1)
    for layer in range(2, net.depth + 1):
        ctes.append((f"z{layer}", _linear(scored.params[layer - 1], f"a{layer - 1}")))
        ctes += _activation(net, layer)
    out = table(f"a{net.depth}")
    if scored.classes:
        ctes.append(("top", query("score_top", a=out, top=_greatest("a", len(scored.classes)))))
        tree = _classes(scored, table("top"))
    else:
        tree = per_unit(query("score_outputs_answer", a=out), [{}] * len(scored.outputs),
                        scored.outputs)
    return plain(with_ctes(tree, ctes, only=set()))


def per_unit(tree: exp.Select, fills: list[dict], names: list[str] | None = None) -> exp.Select:
    """tree with its last column, u, repeated once per unit: the k-th with fills[k] in its
    placeholders, reading column u{k} where it reads u, named u{k} (or names[k])."""
    last = tree.expressions[-1]
    units = []
    for k, fill in enumerate(fills):
        e = last.this.copy().transform(      # before the fills, which may name a column u
            lambda n, k=k: exp.column(f"u{k}", table=n.table) if isinstance(n, exp.Column)
            and n.name == "u" else n, copy=False)
        e = exp.replace_placeholders(e, **fill)
        units.append(exp.alias_(e, names[k] if names else f"u{k}", quoted=names is not None))
    tree.set("expressions", [*tree.expressions[:-1], *units])
    return tree


def _inputs(scored: Scored, values: list[exp.Expression]) -> exp.Select:
    """a0: the wide sample's features (standardized as predict scales them), and ok."""
    ok = _balanced([exp.Not(this=exp.Is(this=v.copy(), expression=exp.Null())) for v in values],
                   exp.And)
    if scored.standardization:
        fills = [{"x": v, "mean": _number(m), "std": _number(s)}
                 for v, (m, s) in zip(values, scored.standardization)]
        return per_unit(query("score_inputs_standardized", ok=ok), fills)
    return per_unit(query("score_inputs", ok=ok), [{"x": v} for v in values])


def _linear(params: tuple, below: str) -> exp.Select:
    """zˡ: each unit's bias plus its weights times the columns of the layer below."""
    W, b = params
    fills = [{"b": _number(b[k]), "products": _balanced(
        [exp.Mul(this=_number(W[i][k]), expression=column(f"u{i}", "l")) for i in range(len(W))])}
        for k in range(len(b))]
    return per_unit(query("score_linear", below=table(below)), fills)


def _balanced(terms: list[exp.Expression], op=exp.Add) -> exp.Expression:
    """terms joined by op pairwise, a tree of depth log n (engines limit an expression's depth)."""
    while len(terms) > 1:
        terms = [exp.Paren(this=op(this=a, expression=b)) if b is not None else a
                 for a, b in zip(terms[::2], [*terms[1::2], None])]
    return terms[0]


def _greatest(alias: str, n: int) -> exp.Expression:
    """The largest of columns u0 ... u{n-1} of alias."""
    units = [column(f"u{k}", alias) for k in range(n)]
    return exp.Greatest(this=units[0], expressions=units[1:]) if n > 1 else units[0]


def _activation(net: M.Network, layer: int) -> list[tuple[str, exp.Expression]]:
    """aˡ from zˡ: activations.sql's f unit by unit, or the output layer's softmax."""
    width, act, z = net.widths[layer], net.activations[layer - 1], table(f"z{layer}")
    if act != "softmax" or layer < net.depth:
        f = substitute(expression(act, "f"), z=exp.column("u", "z"))
        return [(f"a{layer}", per_unit(query("score_activate", z=z, f=f), [{}] * width))]
    return [(f"t{layer}", query("score_softmax_top", z=z, top=_greatest("z", width))),
            (f"e{layer}", per_unit(query("score_softmax_exp", t=table(f"t{layer}")), [{}] * width)),
            (f"s{layer}", query("score_softmax_sum", e=table(f"e{layer}"), sum=_balanced(
                [column(f"u{k}", "e") for k in range(width)]))),
            (f"a{layer}", per_unit(query("score_softmax", e=table(f"s{layer}")), [{}] * width))]


def _classes(scored: Scored, top: exp.Table) -> exp.Select:
    """A classifier's answer: the first class of the highest probability, that probability,
    then each class's."""
    labels = [{"label": string(label)} for _, label in scored.classes]
    whens = [e.this.args["ifs"][0] for e in per_unit(query("score_class"), labels).expressions]
    tree = query("score_classes_answer", a=top, prediction=exp.Case(ifs=whens))
    return per_unit(tree, [{}] * len(labels), scored.outputs)


def _long_layer(scored: Scored, cols: exp.Expression, vals: exp.Expression) -> list:
    """score_cells, score_weights (layer 1's weights by feature name) and z1, summed over the
    cells."""
    W, b = scored.params[0]
    stats = scored.standardization
    names = ["name", *(["mean", "std"] if stats else []), *[f"u{k}" for k in range(len(b))]]
    rows = [(string(f), *[_number(v) for v in (stats[i] if stats else ())],
             *[_number(w) for w in W[i]]) for i, f in enumerate(scored.features)]
    weights = exp.select("*").from_(exp.values(rows, alias="w", columns=names))
    if stats:
        absent = [sum(W[i][k] * ((0.0 - m) / s) for i, (m, s) in enumerate(stats))
                  for k in range(len(b))]
        z1 = per_unit(query("score_cells_linear_standardized"),
                      [{"b": _number(b[k]), "absent": _number(absent[k])} for k in range(len(b))])
    else:
        z1 = per_unit(query("score_cells_linear"), [{"b": _number(v)} for v in b])
    return [("score_cells", query("score_cells", cols=cols, vals=vals)),
            ("score_weights", weights), ("z1", z1)]


def _number(value: float) -> exp.Expression:
    """A literal of value as literal() writes it (sqlglot's own would drop a negative's exponent)."""
    text = literal(value)
    if text.startswith("-"):
        return exp.Neg(this=exp.Literal(this=text[1:], is_string=False))
    return exp.Literal(this=text, is_string=False)


def plain(tree: exp.Expression) -> exp.Expression:
    """tree without the sql/ files' comments (the file's header says what it holds)."""
    for node in tree.walk():
        node.comments = None
    return tree


# --- the objects --------------------------------------------------------------------------

def macro(scored: Scored) -> exp.Create:
    """DuckDB: a table macro of a table's name (see the module's doc)."""
    if scored.long:
        inputs = [column("cols", INPUT), column("vals", INPUT)]
        body = query("score_macro_cells", scored=answer(scored, inputs))
    else:
        inputs = [column(f, INPUT) for f in scored.features]
        body = query("score_macro_wide", scored=answer(scored, inputs))
    tree = query("score_macro")
    tree.this.set("this", table(NAME))
    tree.set("expression", body)
    return plain(tree)


def function(scored: Scored, dialect: str) -> str:
    """PostgreSQL and Spark: a function of one sample (see the module's doc)."""
    params = arguments(scored)
    # an argument named as the function's own (a column has precedence over an argument)
    body = answer(scored, [column(n, NAME) for n, _ in params])
    tree = plain(query("score_function"))
    tree.this.set("this", table(NAME))
    tree.this.set("expressions", _declared(params))
    tree.find(exp.ReturnsProperty).this.set("expressions", _declared(columns(scored)))
    if dialect == "spark":
        tree.set("expression", exp.Return(this=body))
        return transpile(tree, "spark", pretty=True)[0]
    text = transpile(body, "postgres", pretty=True)[0]
    tree.set("expression", exp.Heredoc(this=f"\n{text}\n", tag=exp.Var(this=_tag(text))))
    props = tree.args["properties"]
    props.append("expressions", exp.LanguageProperty(this=exp.Var(this="sql")))
    props.append("expressions", exp.StabilityProperty(this=string("IMMUTABLE")))
    return tree.sql(dialect="postgres")


def _declared(names: list[tuple[str, str]]) -> list[exp.ColumnDef]:
    return [exp.ColumnDef(this=exp.to_identifier(n, quoted=True),
                          kind=exp.DataType.build(t, dialect=DIALECT)) for n, t in names]


def _tag(text: str) -> str:
    """A dollar-quote tag that the body does not contain."""
    n = 0
    while f"$sqlnet{n or ''}$" in text:
        n += 1
    return f"sqlnet{n or ''}"


def arguments(scored: Scored) -> list[tuple[str, str]]:
    """The function's arguments and their types: the features (named after them, unless an
    output has the name), or a long sample's column names and values."""
    taken = {n.lower() for n, _ in columns(scored)}
    if scored.long:
        return [(_free(n, taken), t) for n, t in (("cols", "VARCHAR[]"), ("vals", "DOUBLE[]"))]
    return [(_free(f, taken, f"x{i + 1}"), "DOUBLE") for i, f in enumerate(scored.features)]


def _free(name: str, taken: set[str], other: str | None = None) -> str:
    """name, or another where it is taken (names compared as the engines do, case aside)."""
    while name.lower() in taken:
        name, other = other or f"arg_{name}", None
    taken.add(name.lower())
    return name


def columns(scored: Scored) -> list[tuple[str, str]]:
    """The answer's columns and their types."""
    first = [("prediction", "VARCHAR"), ("probability", "DOUBLE")] if scored.classes else []
    return first + [(n, "DOUBLE") for n in scored.outputs]


def header(scored: Scored, dialect: str) -> str:
    """The file's opening comment: what it defines and how to call it."""
    net = scored.net
    kind = "a classifier" if scored.classes else "a regressor"
    lines = [f"sqlnet scoring SQL for {dialect}: {kind}, layers "
             f"{','.join(map(str, net.widths))} ({', '.join(net.activations)}); it needs no "
             "sqlnet table.",
             *(_usage_macro if dialect == "duckdb" else _usage_function)(scored, dialect)]
    return "".join(f"-- {line}\n" for line in lines)


def _usage_macro(scored: Scored, dialect: str) -> list[str]:
    outputs = ", ".join(_shown(n, dialect) for n, _ in columns(scored))
    if scored.long:
        return [f"{NAME}(table_name): every sample (row) of a table of (row, col, value) cells, "
                f"with row, {outputs}", f"e.g. SELECT * FROM {NAME}('my_cells');"]
    return [f"{NAME}(table_name): every row of the table, with {outputs}",
            f"e.g. SELECT * FROM {NAME}('my_table');"]


def _usage_function(scored: Scored, dialect: str) -> list[str]:
    outputs = ", ".join(_shown(n, dialect) for n, _ in columns(scored))
    args = [_shown(n, dialect) for n, _ in arguments(scored)]
    lines = [f"{NAME}({', '.join(args)}) returns one row: {outputs}"]
    if scored.long:
        cols, vals = args
        lines += [f"{cols}, {vals}: a sample's cells, their column names and their values, e.g.",
                  f"SELECT d.row, s.* FROM (SELECT row, array_agg(col) AS {cols}, array_agg(value) "
                  f"AS {vals} FROM my_cells GROUP BY row) AS d CROSS JOIN LATERAL "
                  f"{NAME}(d.{cols}, d.{vals}) AS s;"]
        return lines
    features = [_shown(f, dialect) for f in scored.features]
    lines += [f"{a} is feature {f}" for a, f in zip(args, features) if a != f]
    return lines + [f"e.g. SELECT t.*, s.* FROM my_table AS t CROSS JOIN LATERAL "
                    f"{NAME}({', '.join('t.' + f for f in features)}) AS s;"]


def _shown(name: str, dialect: str) -> str:
    """A name as SQL would quote it, on one line (it goes into a comment)."""
    text = exp.to_identifier(name, quoted=True).sql(dialect=dialect)
    return text.replace("\n", " ").replace("\r", " ")
