"""`sqlnet plot`: the training curves (and the weights' spread) as a PNG, with matplotlib.

The curves come from `training_log`: the mean loss and learning rate per epoch, each step's
loss faintly behind, and the validation loss (``eval_loss`` of training_log, written by
training with --validation-data or --validation-split) when there is one.
"""
from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from . import model as M
from .db import Database
from .errors import SqlnetError
from .queries import column, query, render, table

def validation_query(db: Database) -> exp.Select:
    """The per-epoch validation loss (training_log.eval_loss; none without validation data)."""
    return _per_epoch("training_log", "eval_loss")


def _per_epoch(source: str, name: str) -> exp.Select:
    mean = exp.alias_(exp.Avg(this=column(name)), "loss")
    return (exp.select(column("epoch"), mean).from_(table(source))
            .where(exp.Not(this=exp.Is(this=column(name), expression=exp.Null())))
            .group_by(column("epoch")).order_by(column("epoch")))


def curves(db: Database, model: int = 0) -> dict[str, tuple[list, list]]:
    """Every series the plot draws, as (x, y) lists: what the tests compare with SQL."""
    epochs = db.rows(query("loss_per_epoch"), model=model)
    steps = db.rows(query("step_losses"), model=model)
    out = {"loss": ([r[0] for r in epochs], [r[1] for r in epochs]),
           "step loss": ([float(r[0]) for r in steps], [r[1] for r in steps]),
           "learning rate": ([r[0] for r in epochs], [r[2] for r in epochs])}
    rows = db.sql(render(validation_query(db))).fetchall()
    if rows:
        out["validation loss"] = ([r[0] for r in rows], [r[1] for r in rows])
    return out


def weight_values(db: Database, model: int = 0) -> dict[int, list[float]]:
    """Each layer's weights, for the histograms."""
    net = M.load(db, model)
    return {layer: [r[0] for r in db.rows(query("layer_weights"), model=model, layer=layer)]
            for layer in range(1, net.depth + 1)}


def plot(db: Database, out: str, weights: bool = False, model: int = 0) -> dict:
    """Draw the curves (and with weights, a histogram per layer) to the PNG file out."""
    plt = _pyplot()
    net = M.load(db, model)
    series = curves(db, model)
    if not series["loss"][0] and not weights:
        raise SqlnetError("the model has not been trained yet: its training_log is empty "
                          "(plot --weights draws its weights alone)")
    folder = Path(out).resolve().parent
    if not folder.is_dir():
        raise SqlnetError(f"cannot write {out}: directory {folder} does not exist")
    layers = weight_values(db, model) if weights else {}
    cols = max(2, len(layers))
    fig = plt.figure(figsize=(5 * cols, 8 if weights else 4), dpi=100)
    try:
        grid = fig.add_gridspec(2 if weights else 1, cols)
        _losses(fig.add_subplot(grid[0, :cols // 2]), series, net)
        _rates(fig.add_subplot(grid[0, cols // 2:]), series)
        for i, (layer, values) in enumerate(layers.items()):
            ax = fig.add_subplot(grid[1, i])
            ax.hist(values, bins=30, color="tab:purple")
            ax.set_title(f"layer {layer} weights ({net.widths[layer - 1]}×{net.widths[layer]}, "
                         f"{net.activations[layer - 1]})")
        fig.tight_layout()
        fig.savefig(out)
    finally:
        plt.close(fig)
    drawn = [k for k in series if series[k][0]] + [f"layer {k} weights" for k in layers]
    return {"series": drawn, "size": (int(fig.bbox.width), int(fig.bbox.height))}


def _losses(ax, series: dict, net: M.Network) -> None:
    xs, ys = series["step loss"]
    ax.plot(xs, ys, color="tab:blue", alpha=0.25, linewidth=0.8, label="step loss")
    xs, ys = series["loss"]
    ax.plot(xs, ys, color="tab:blue", marker="o", markersize=3, label="training loss (epoch mean)")
    if "validation loss" in series:
        xs, ys = series["validation loss"]
        ax.plot(xs, ys, color="tab:orange", marker="o", markersize=3, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({net.loss})")
    ax.set_title("loss per epoch")
    ax.legend()


def _rates(ax, series: dict) -> None:
    xs, ys = series["learning rate"]
    ax.plot(xs, ys, color="tab:green", marker="o", markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate per epoch")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SqlnetError("plot needs matplotlib: pip install 'sqlnet[plot]'") from None
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    return plt
