"""`sqlnet trace`: one sample's way through the network, layer by layer.

The sample goes through the same forward, error and backward phases as a training step
(sqlnet.phases), alone in its batch, on temporary tables: the model is only read (the CLI
opens the database read-only), so nothing of it changes. What comes back is the step's
tape: Z, A, Δ and the gradients ∂L/∂W, ∂L/∂b that this sample alone would give.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from . import many
from . import model as M
from .data import Source, load
from .db import Database
from .errors import SqlnetError
from .phases import backward, error, forward, tape, with_ctes
from .prepare import standardize
from .queries import query


@dataclass
class Layer:
    layer: int
    fan_in: int
    fan_out: int
    activation: str
    z: list[float] = field(default_factory=list)           # per unit
    a: list[float] = field(default_factory=list)
    delta: list[float] = field(default_factory=list)
    gradient: list[list[float]] = field(default_factory=list)  # fan_in × fan_out, ∂L/∂W
    bias_gradient: list[float] = field(default_factory=list)   # ∂L/∂b


@dataclass
class Trace:
    row: int
    features: list[str]
    inputs: list[float]
    targets: list[str]
    loss: float
    layers: list[Layer]


def trace(db: Database, source: Source, row: int, model: int = 0) -> Trace:
    """Run the phases on data row ``row`` (0-based, in file order; long data: the row
    number its cells give) of source, alone."""
    net = M.load(db, model)
    features, targets = M.feature_names(db, model), M.target_names(db, model)
    if not features:
        raise SqlnetError("the model has not been trained yet: it has no feature names")
    loaded = load(db, source, features, targets, model, net.task)
    group, _ = many.stored_groups(db)
    if group is not None:    # the row goes to its group's model
        many.route_rows(db, group, source, local=False)
    standardize(db, net)     # with --standardize, the inputs as training saw them
    if source.long and not db.scalar(query("cells_has_row"), row=row):
        raise SqlnetError(f"--row {row} is not a row number of {source}")
    if not source.long and not 0 <= row < loaded.rows:
        raise SqlnetError(f"--row must be between 0 and {loaded.rows - 1} "
                          f"({source} has {loaded.rows} data rows), got {row}")
    for name in ("trace_rows", "trace_inputs", "trace_targets"):
        db.run(query(name), row=row)
    ctes = forward(net, "trace_rows", "trace_inputs") + error(net, "trace_targets") + backward(net)
    body = with_ctes(exp.select("kind", "layer", "row", "col", "value")
                     .from_(exp.paren(tape(net, with_update=False)).as_("t")), ctes)
    return _collect(db, net, row, features, targets, db.rows(body, batch=0))


def _collect(db, net, row, features, targets, tape_rows) -> Trace:
    layers = [Layer(l, net.widths[l - 1], net.widths[l], net.activations[l - 1],
                    z=[0.0] * net.widths[l], a=[0.0] * net.widths[l], delta=[0.0] * net.widths[l],
                    gradient=[[0.0] * net.widths[l] for _ in range(net.widths[l - 1])],
                    bias_gradient=[0.0] * net.widths[l]) for l in range(1, net.depth + 1)]
    loss = None
    for kind, layer, r, col, value in tape_rows:
        L = layers[layer - 1]
        if kind == "loss":
            loss = value
        elif kind == "gradient":
            if r == -1:
                L.bias_gradient[col] = value
            else:
                L.gradient[r][col] = value
        else:
            getattr(L, {"z": "z", "activation": "a", "delta": "delta"}[kind])[col] = value
    inputs = [0.0] * net.widths[0]  # zeros are not stored
    for col, value in db.sql("SELECT col, value FROM trace_inputs").fetchall():
        inputs[col] = value
    return Trace(row, features, inputs, targets, loss, layers)


def report(t: Trace, fmt: str = "table") -> str:
    """The trace as text: the inputs, then per layer its units and its gradient."""
    from .show import render_rows
    head = "# " if fmt == "csv" else ""
    parts = [f"{head}sample {t.row}: loss {t.loss:.6g}",
             render_rows(["unit", "feature", "input"],
                         [(i, n, v) for i, (n, v) in enumerate(zip(t.features, t.inputs))], fmt)]
    for L in t.layers:
        parts += ["", f"{head}layer {L.layer} ({L.fan_in} → {L.fan_out}, {L.activation}): "
                      "Z, A = f(Z) and Δ = ∂L/∂Z per unit",
                  render_rows(["unit", "z", "activation", "delta"],
                              [(u, L.z[u], L.a[u], L.delta[u]) for u in range(L.fan_out)], fmt),
                  "", f"{head}layer {L.layer}: ∂L/∂W (one row per unit below) and ∂L/∂b (bias)",
                  render_rows(["from"] + [f"unit {u}" for u in range(L.fan_out)],
                              [(r, *g) for r, g in enumerate(L.gradient)]
                              + [("bias", *L.bias_gradient)], fmt)]
    return "\n".join(parts)
