"""The worked examples of the four seed documents, run in SQL and shown step by step.

Each example sets the document's weights with plain SQL inserts, loads its data as a
table, trains as the document does, and prints the intermediates from `last_step`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from . import model as M
from .data import Source
from .db import Database, create_table
from .predict import evaluate
from .train import Settings, train


@dataclass
class Example:
    title: str
    document: str
    widths: list[int]
    activations: tuple[str, str]        # hidden, output
    loss: str
    lr: float
    X: list[list[float]]
    Y: list[list[float]]
    layers: list[tuple[list[list[float]], list[float]]]  # (W, b) per layer
    batch_size: int = 0
    epochs: int = 1
    notes: list[str] = field(default_factory=list)


EXAMPLES = {
    "tinyml": Example(
        title="2-2-2, relu hidden, identity output, half_sse, lr 0.1 (tinyml's backpropagation)",
        document="003_*", widths=[2, 2, 2], activations=("relu", "identity"), loss="half_sse",
        lr=0.1, X=[[0.25, 0.65]], Y=[[0.99, 0.01]],
        layers=[([[0.20, 0.25], [0.30, 0.35]], [0.30, 0.30]),
                ([[0.50, 0.55], [0.60, 0.65]], [0.20, 0.20])],
        notes=["The document prints outputs 0.8265 and 0.88325, loss 0.39465, hidden gradient "
               "[0.3985375, 0.4695125] and loss 0.2384542802724947 after the step.",
               "Its text gives b1 = 0.40, but its code (and this example) starts from 0.30."]),
    "sql": Example(
        title="3-2-3, relu hidden, linear output, half squared error, lr 0.1 (ML in SQL, part 8)",
        document="000_*", widths=[3, 2, 3], activations=("relu", "identity"), loss="half_sse",
        lr=0.1, X=[[1, 3, 5]], Y=[[290, 399, 505]],
        layers=[([[2, 3], [4, 5], [6, 7]], [6, 6]), ([[1, 2, 3], [4, 5, 6]], [5, 5, 5])],
        notes=["The post keeps one bias per edge; summed per unit they are these node biases.",
               "A bias per edge moves the unit's total bias fan_in times as far per step as one "
               "bias per unit does: this example follows the usual bias per unit."]),
    "sigmoid": Example(
        title="4-1-1, sigmoid layers, no biases, sum of squares (Handwriting a neural net, part 8)",
        document="001_*", widths=[4, 1, 1], activations=("sigmoid", "sigmoid"), loss="half_sse",
        lr=6.0, X=[[.4, .8, .4, .3], [1, .2, .4, .3], [.3, .4, .5, .4]], Y=[[1], [.85], [.4]],
        layers=[([[.25], [1], [.25], [1]], [0]), ([[.5]], [0])],
        notes=["The document's loss is Σ_samples (y − ŷ)² with the full gradient as the step: "
               "that is half_sse (a batch mean of ½(ŷ − y)²) with lr = 2·3 = 6.",
               "Its derivative applies the sigmoid twice (σ(ŷ)(1 − σ(ŷ)) instead of ŷ(1 − ŷ)), "
               "so its new weights (W2 = 0.66591155) differ from the correct ones below.",
               "It has no biases; sqlnet's biases start at 0 and do not change the first step's "
               "weights."]),
    "julia": Example(
        title="1-1-1 linear network learning f(x) = 5x + 3, per-sample SGD (Backpropagation in Julia)",
        document="002_*", widths=[1, 1, 1], activations=("identity", "identity"), loss="half_sse",
        lr=0.003, X=[[x] for x in range(13)], Y=[[5 * x + 3] for x in range(13)],
        layers=[([[1.15]], [0.0]), ([[0.35]], [0.0])], batch_size=1, epochs=154,
        notes=["The document does not state its learning rate; 0.003 is used here.",
               "Its printed error is (y − ŷ)² of the epoch's last sample before its update: "
               "twice the half_sse loss in training_log."]),
}


def setup(db: Database, ex: Example) -> None:
    """The document's network and data in the database, before any training."""
    net = M.Network(widths=ex.widths, activation=ex.activations[0],
                    output_activation=ex.activations[1], loss=ex.loss, lr=ex.lr,
                    batch_size=ex.batch_size, shuffle=False)
    with db.transaction():
        M.create(db, net)
        for layer, (W, b) in enumerate(ex.layers, start=1):
            M.set_layer(db, layer, W, b)
        cols = [f"x{i}" for i in range(len(ex.X[0]))] + [f"y{i}" for i in range(len(ex.Y[0]))]
        create_table(db, "example_data", cols, [x + y for x, y in zip(ex.X, ex.Y)])


def targets(ex: Example) -> list[str]:
    return [f"y{i}" for i in range(len(ex.Y[0]))]


def run_example(db: Database, ex: Example, out: TextIO = sys.stdout) -> None:
    """Set up, train as the document does, and print every intermediate."""
    setup(db, ex)
    src = Source(table="example_data", own=True)
    say = lambda *a: print(*a, file=out)  # noqa: E731
    say(f"# {ex.title}\n# from seed document {ex.document}")
    for note in ex.notes:
        say(f"# {note}")
    _params(db, say, "weights before the step")
    train(db, src, targets(ex), settings=Settings(epochs=ex.epochs), quiet=True)
    if ex.epochs == 1:
        _tape(db, say)
    else:
        _epochs(db, say, len(ex.X))
    _params(db, say, "weights after training")
    say(f"\nloss afterwards: {evaluate(db, src, targets(ex))['loss']!r}")


def _matrix(rows: list[tuple]) -> list[list[float]]:
    cells = {(r, c): v for r, c, v in rows}
    R = 1 + max(r for r, _ in cells)
    C = 1 + max(c for _, c in cells)
    return [[cells.get((r, c), 0.0) for c in range(C)] for r in range(R)]


def _show(say, title: str, M_: list[list[float]]) -> None:
    say(f"\n{title}")
    for row in M_:
        say("  [" + ", ".join(f"{v:.10g}" for v in row) + "]")


def _params(db: Database, say, title: str) -> None:
    say(f"\n## {title}")
    for layer, (W, b) in enumerate(M.parameters(db), start=1):
        _show(say, f"W{layer} (row: unit below, col: unit of layer {layer})", W)
        _show(say, f"b{layer}", [b])


def _tape(db: Database, say) -> None:
    say("\n## the step, as the tables of last_step")
    depth = db.sql("SELECT MAX(layer) FROM layers").fetchone()[0]
    get = lambda kind, layer: db.sql(  # noqa: E731
        "SELECT row, col, value FROM last_step WHERE kind = ? AND layer = ?", [kind, layer]).fetchall()
    for layer in range(1, depth + 1):
        _show(say, f"Z{layer} = A{layer - 1}·W{layer} + b{layer}  (kind 'z', one row per sample)",
              _matrix(get("z", layer)))
        _show(say, f"A{layer} = f(Z{layer})  (kind 'activation')", _matrix(get("activation", layer)))
    say(f"\nloss: {db.sql('SELECT value FROM last_step WHERE kind = ?', ['loss']).fetchone()[0]!r}")
    for layer in range(depth, 0, -1):
        _show(say, f"Δ{layer} = ∂L/∂Z{layer}  (kind 'delta')", _matrix(get("delta", layer)))
    for layer in range(depth, 0, -1):
        g = get("gradient", layer)
        _show(say, f"∂L/∂W{layer} = A{layer - 1}ᵀ·Δ{layer}  (kind 'gradient', row ≥ 0)",
              _matrix([r for r in g if r[0] >= 0]))
        _show(say, f"∂L/∂b{layer}  (kind 'gradient', row −1)",
              [[v for _, _, v in sorted((r for r in g if r[0] < 0), key=lambda r: r[1])]])


def _epochs(db: Database, say, per_epoch: int) -> None:
    say("\n## error of each epoch's last sample, (y − ŷ)² = 2 × its half_sse loss")
    rows = db.sql("SELECT epoch, 2 * loss FROM training_log WHERE step % ? = 0 ORDER BY epoch",
                  [per_epoch]).fetchall()
    shown = rows if len(rows) <= 7 else rows[:4] + [None] + rows[-3:]
    for row in shown:
        say("  ..." if row is None else f"  epoch {row[0]:3d}: error = {row[1]:.3e}")
