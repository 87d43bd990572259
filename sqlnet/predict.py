"""predict and evaluate: the forward phase over a whole data set, in one query each.

``evaluate(db, Source("iris_test.csv"), ["species"])`` gives a dict such as
``{'rows': 30, 'loss': 0.16, 'accuracy': 0.97}``.
"""
from __future__ import annotations

from sqlglot import exp

from . import many
from . import model as M
from .data import Source, load
from .db import Database
from .errors import SqlnetError
from .phases import forward, scores, with_ctes
from .queries import number, query, table
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


def predict(db: Database, source: Source) -> tuple[list[str], list[tuple]]:
    """Column names and rows of the predictions, one row per data row, in file order."""
    net, targets = _prepare(db, source, with_targets=False)
    out = table(f"a{net.depth}")
    if net.task == "classification":
        body = exp.select("row", "prediction", "probability").from_(
            exp.paren(query("predicted_class", out=out)).as_("p")).order_by("row")
    else:
        body = exp.select(exp.column("row", "a")).from_(out.copy().as_("a")).group_by(
            exp.column("row", "a")).order_by(exp.column("row", "a"))
        for k, name in enumerate(targets):
            pick = query("output_column", col=number(k), out=out).expressions[0].this
            body = body.select(exp.alias_(pick, name, quoted=True), copy=False)
    cursor = db.run(with_ctes(body, _outputs(net)), batch=0)
    return [d[0] for d in cursor.description], cursor.fetchall()


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
