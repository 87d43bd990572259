"""predict and evaluate: the forward phase over a whole data set, in one query each.

``evaluate(db, Source("iris_test.csv"), ["species"])`` gives a dict such as
``{'rows': 30, 'loss': 0.16, 'accuracy': 0.97}``.
"""
from __future__ import annotations

from sqlglot import exp

from . import many
from . import model as M
from .data import Source, load
from .db import MODEL_TABLES, Database
from .errors import SqlnetError
from .phases import forward, scores, with_ctes
from .queries import column, number, query, table, temporary_tables
from .prepare import standardize


def _prepare(db: Database, source: Source, with_targets: bool, targets: list[str] | None = None):
    net = M.load(db)
    features, stored = M.feature_names(db, net.model), M.target_names(db, net.model)
    if not features:
        raise SqlnetError("the model has not been trained yet: it has no feature names")
    if targets and targets != stored:
        raise SqlnetError(f"the model predicts {','.join(stored)}, not {','.join(targets)}")
    load(db, source, features, stored if with_targets else None, net.model, net.task)
    group, models = many.stored_groups(db)
    if group is not None:    # each row to its group's model
        many.route_rows(db, group, source, local=False, targets=with_targets)
    standardize(db, net)
    return net, stored


def _outputs(net: M.Network) -> list:
    return forward(net, "loaded_rows", "loaded_inputs")


def predict(db: Database, source: Source, into: str | None = None, keep: list[str] | None = None,
            replace: bool = False) -> tuple[list[str], list[tuple] | int]:
    """Column names and rows of the predictions, one row per data row, in file order.

    With into, the predictions go into a new table of that name instead, built by one
    CREATE TABLE ... AS over the forward pass in one transaction (see :func:`predict_into`),
    and the second value is the number of rows written.
    """
    if into is not None:
        return predict_into(db, source, into, keep, replace)
    if keep or replace:
        raise SqlnetError("--keep and --replace go with --into TABLE")
    net, targets = _prepare(db, source, with_targets=False)
    body = _answers(net, targets).order_by(exp.column("row", "p"))
    cursor = db.run(with_ctes(body, _outputs(net)), batch=0)
    return [d[0] for d in cursor.description], cursor.fetchall()


def _answers(net: M.Network, targets: list[str]) -> exp.Select:
    """The answers by data row, as p: the class and its probability, or a column per target."""
    if net.task == "classification":
        answers = exp.select("row", "prediction", "probability").from_(
            exp.paren(query("predicted_class", out=table(f"a{net.depth}"))).as_("p"))
    else:
        answers = _units(net, targets)
    return exp.select(*[column(n, "p") for n in answers.named_selects]).from_(
        answers.subquery("p"))


def _units(net: M.Network, names: list[str]) -> exp.Select:
    """The output units by data row, unit k as the column names[k]."""
    out = table(f"a{net.depth}")
    select = exp.select(exp.column("row", "a")).from_(out.copy().as_("a")).group_by(
        exp.column("row", "a"))
    for k, name in enumerate(names):
        unit = query("output_column", col=number(k), out=out).expressions[0].this
        select = select.select(exp.alias_(unit, name, quoted=True), copy=False)
    return select


# The columns of a classifier's predictions table besides the kept ones: the row, the
# answer, then each class's probability as PROBABILITY + its label.
PROBABILITY = "probability_"


def predict_into(db: Database, source: Source, into: str, keep: list[str] | None = None,
                 replace: bool = False) -> tuple[list[str], int]:
    """The predictions as a new table `into` of the user's schema, computed by SQL (one
    CREATE TABLE ... AS over the forward pass, in one transaction): `row` (the data row,
    from 0, as predict numbers it), the source's columns named in keep (a key to join on),
    then the class, its probability and each class's probability (``probability_<label>``),
    or a column per target. An existing table is refused unless replace. Returns the
    table's column names and its number of rows.

    ``predict_into(db, Source("iris_test.csv"), "scored", keep=["id"])``
    """
    keep = list(keep or [])
    _check_into(db, into, replace)
    with db.transaction():
        net, targets = _prepare(db, source, with_targets=False)
        answers = _answers(net, targets)
        if net.task == "classification":
            answers = _with_probabilities(db, net, answers)
        if keep:
            answers = _kept(db, source, keep, answers)
        body = with_ctes(answers.order_by(column("row", "p")), _outputs(net))
        db.run(exp.Create(this=db.user_table(into), kind="TABLE", replace=replace,
                          expression=body), batch=0)
        n = db.scalar(exp.select(exp.Count(this=exp.Star())).from_(db.user_table(into)))
    return answers.named_selects, n


def _check_into(db: Database, into: str, replace: bool) -> None:
    """--into names a new table of the user's (or, with replace, one to replace), never one of
    sqlnet's own (its model tables, its temporary ones, or a name beginning sqlnet_)."""
    if not into:
        raise SqlnetError("--into needs a table name")
    own = {n.lower() for n in (*MODEL_TABLES, *temporary_tables())}
    if into.lower() in own or into.lower().startswith("sqlnet_"):
        raise SqlnetError(f"--into {into}: that is a table of sqlnet's own; name another")
    have, name = db.user_tables(), into
    if db.kind != "postgres":    # (DuckDB's and Spark's names ignore case, quoted or not)
        have, name = {n.lower() for n in have}, into.lower()
    if name in have and not replace:
        raise SqlnetError(f"--into {into}: the database has that table already; "
                          "--replace replaces it")


def _with_probabilities(db: Database, net: M.Network, answers: exp.Select) -> exp.Select:
    """A classifier's answers with each class's probability after them, joined by data row."""
    labels = [r[0] for r in db.rows(query("class_labels"), model=net.model)]
    names = [PROBABILITY + label for label in labels]
    _unique(names, "two classes' probability columns")
    return answers.select(*[column(n, "q") for n in names]).join(
        _units(net, names).subquery("q"),
        on=exp.EQ(this=column("row", "q"), expression=column("row", "p")))


def _kept(db: Database, source: Source, keep: list[str], answers: exp.Select) -> exp.Select:
    """The answers with the source's columns keep after `row`, joined by data row."""
    if source.long:
        raise SqlnetError("--keep copies columns of wide data; long data's key is its row")
    have = [c for c, _ in db.columns("staging")]
    missing = [c for c in keep if c not in have]
    if missing:
        listed = ", ".join(have) if len(have) <= 12 else f"{len(have)} columns"
        raise SqlnetError(f"--keep: {source} has no column {', '.join(map(repr, missing))} "
                          f"(it has {listed})")
    _unique([*answers.named_selects, *keep], "--keep: the predictions table's columns")
    kept = query("kept_columns").select(*[column(c, "s") for c in keep])
    picks = answers.expressions
    answers.set("expressions", [picks[0], *[column(c, "k") for c in keep], *picks[1:]])
    return answers.join(kept.subquery("k"), on=exp.EQ(
        this=column("sqlnet_data_row", "k"), expression=column("row", "p")))


def _unique(names: list[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:  # as DuckDB and Spark compare names: without case
        if name.lower() in seen:
            raise SqlnetError(f"{what} would have {seen[name.lower()]!r} and {name!r} both")
        seen[name.lower()] = name


def evaluate(db: Database, source: Source, targets: list[str]) -> dict[str, float]:
    """The model's loss on source, and accuracy (classifiers) or MSE and MAE (regression).

    With one model per group, each row is scored by its group's model and the numbers are
    means over all rows.
    """
    net, _ = _prepare(db, source, with_targets=True, targets=targets)
    per_model = db.rows(scores(net, "loaded_rows", "loaded_inputs", "loaded_targets"), batch=0)
    n = sum(r[5] for r in per_model)
    out = {"rows": db.scalar(query("row_count_loaded")),
           "loss": sum(r[1] * r[5] for r in per_model) / n}
    names = ["mse", "mae"] if net.task == "regression" else ["accuracy"]
    for name in names:
        k = {"accuracy": 2, "mse": 3, "mae": 4}[name]
        out[name] = sum(r[k] * r[5] for r in per_model) / n
    return out
