"""The network's description: a dataclass here, rows of `models` and `layers` in the database."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

from sqlglot import exp

from .db import Database
from .errors import SqlnetError
from .names import DEFAULT_MODEL
from .queries import column, model_keys, query, table
from .seeded import chain

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "tanh", "softmax", "relu", "leaky_relu")
LOSSES = ("half_sse", "mse", "cross_entropy", "bce")
# The output activation a loss implies, where it implies one.
LOSS_OUTPUT = {"cross_entropy": "softmax", "bce": "sigmoid"}
MAX_SEED = 2**31 - 2
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "inv", "cosine")
# The optimizer state each optimizer keeps per parameter, named as PyTorch names it.
STATE = {"sgd": (), "momentum": ("momentum_buffer",), "nesterov": ("momentum_buffer",),
         "rmsprop": ("square_avg",), "adam": ("exp_avg", "exp_avg_sq"),
         "adamw": ("exp_avg", "exp_avg_sq")}


@dataclass
class Controls:
    """How a model is trained beyond lr and batches; one column of `models` each.

    The defaults are PyTorch's, except where noted.
    """

    optimizer: str = "sgd"            # sgd, momentum, nesterov, rmsprop, adam or adamw
    momentum: float = 0.9             # momentum and nesterov (scikit-learn's default)
    alpha: float = 0.99               # rmsprop's smoothing constant
    beta1: float = 0.9                # adam(w): decay of the first moment
    beta2: float = 0.999              # adam(w): decay of the second moment
    eps: float = 1e-8                 # rmsprop, adam(w): added to the denominator
    weight_decay: float = 0.0         # L2: coupled (sgd ... adam), decoupled for adamw
    l1: float = 0.0                   # L1 penalty l1·Σ|p|, part of the loss
    clip_norm: float | None = None    # clip the gradient's global norm to this
    lr_schedule: str = "constant"     # constant, step, exponential, inv or cosine
    gamma: float = 0.1                # step, exponential, inv (MADlib's default)
    step_size: int = 10               # step: epochs between decays
    power: float = 0.5                # inv: lr·(1 + gamma·epoch)^−power (MADlib's default)
    dropout: float = 0.0              # probability of dropping a hidden unit in training
    standardize: bool = False         # inputs scaled to mean 0, std 1 (stored in `standardization`)
    patience: int | None = None       # early stopping: epochs without improvement
    min_delta: float = 0.0            # early stopping: the least improvement that counts
    class_weight: str | None = None   # cross_entropy: 'balanced' or 'label=weight,...'

    def check(self) -> "Controls":
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("lr schedule", self.lr_schedule, SCHEDULES)
        for name in ("weight_decay", "l1", "eps", "min_delta"):
            if not getattr(self, name) >= 0:
                raise SqlnetError(f"--{_flag(name)} must be 0 or more, got {getattr(self, name)}")
        for name in ("momentum", "alpha", "beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise SqlnetError(f"--{_flag(name)} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise SqlnetError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise SqlnetError(f"--clip-norm must be positive, got {self.clip_norm}")
        if not self.gamma > 0 or not self.power >= 0:
            raise SqlnetError("--gamma must be positive and --power 0 or more")
        if self.step_size < 1:
            raise SqlnetError(f"--step-size must be 1 or more, got {self.step_size}")
        if self.patience is not None and self.patience < 1:
            raise SqlnetError(f"--patience must be 1 or more, got {self.patience}")
        return self

    @property
    def state(self) -> tuple[str, ...]:
        return STATE[self.optimizer]


def _flag(name: str) -> str:
    return name.replace("_", "-")


CONTROLS = [f.name for f in dataclasses.fields(Controls)]


@dataclass
class Network:
    """A fully connected network: widths[0] inputs, widths[-1] outputs."""

    widths: list[int]                   # units per layer, inputs first: [4, 20, 3]
    activation: str = "relu"            # every hidden layer's activation
    output_activation: str | None = None  # None: what the loss implies, else identity
    loss: str = "mse"                   # half_sse, mse, cross_entropy or bce
    lr: float = 0.1                     # SGD step size
    seed: int = 0                       # initial weights and shuffle order
    batch_size: int = 32                # 0 is the full batch
    shuffle: bool = True                # reshuffle every epoch (else file order)
    model: int = 0                      # the model key every table carries
    controls: Controls = field(default_factory=Controls)  # optimizer, schedule, regularization
    activations: list[str] = field(default_factory=list)  # per layer, filled by check()

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def task(self) -> str:
        return {"cross_entropy": "classification", "bce": "binary"}.get(self.loss, "regression")

    def check(self) -> "Network":
        """Validate the settings; fill in the output activation and the per-layer list."""
        if len(self.widths) < 2:
            raise SqlnetError("--layers needs at least an input and an output width, e.g. 4,3")
        if any(w < 1 for w in self.widths):
            raise SqlnetError(f"every layer width must be at least 1, got {_widths(self.widths)}")
        _choice("loss", self.loss, LOSSES)
        _choice("activation", self.activation, ACTIVATIONS)
        implied = LOSS_OUTPUT.get(self.loss)
        out = self.output_activation or implied or "identity"
        _choice("output activation", out, OUTPUT_ACTIVATIONS)
        if implied and out != implied:
            raise SqlnetError(f"loss {self.loss} needs output activation {implied}, not {out}")
        if out == "softmax" and self.loss != "cross_entropy":
            raise SqlnetError("a softmax output goes with loss cross_entropy")
        if not self.lr > 0:
            raise SqlnetError(f"the learning rate must be positive, got {self.lr}")
        if self.batch_size < 0:
            raise SqlnetError(f"the batch size must be 0 (full batch) or more, got {self.batch_size}")
        if not 0 <= self.seed <= MAX_SEED:
            raise SqlnetError(f"the seed must be between 0 and {MAX_SEED}, got {self.seed}")
        self.controls.check()
        self.output_activation = out
        self.activations = [self.activation] * (self.depth - 1) + [out]
        return self


def _widths(widths: list[int]) -> str:
    return ",".join(map(str, widths))


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SqlnetError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def create(db: Database, net: Network) -> Network:
    """Store a new network's description and its seeded initial weights."""
    return create_all(db, [net])[0]


def create_all(db: Database, nets: list[Network]) -> list[Network]:
    """Store new networks (a sweep's, or one per group) and their seeded initial weights:
    a statement per table for them all, not a set of statements per model (except the
    weights, a statement a model: see _init_weights)."""
    if not nets:
        return nets
    for net in nets:
        net.check()
    db.create_schema()
    models = model_keys([net.model for net in nets])
    for name in ("models", "layers", "weights", "biases"):
        db.run(query("forget_models", table=table(name), models=models))
    db.insert("models", ["model", "task", "loss", "lr", "seed", "batch_size", "shuffle",
                         "created_at", *CONTROLS],
              [[net.model, net.task, net.loss, net.lr, net.seed, net.batch_size, net.shuffle,
                exp.CurrentTimestamp(), *(getattr(net.controls, n) for n in CONTROLS)]
               for net in nets])
    db.insert("layers", ["model", "layer", "fan_in", "fan_out", "activation"],
              [[net.model, i, net.widths[i - 1], net.widths[i], act]
               for net in nets for i, act in enumerate(net.activations, start=1)])
    for net in nets:  # a statement a model: see _init_weights
        db.run(_init_weights(), model=net.model, max_width=max(net.widths))
    db.run(query("init_biases", models=models), max_width=max(w for n in nets for w in n.widths))
    return nets


@functools.cache
def _init_weights() -> exp.Expression:
    """init_weights, composed once per process. It runs once per model, not for all the
    models at once: the order its rows are stored in (the join's) sets the order of a
    step's sums, so one statement for all would change results in their last bits."""
    return init_weights_query()


def init_weights_query() -> exp.Expression:
    """init_weights with its draw u = mix(mix(mix(seed·1009 + layer) + row) + col)."""
    return query("init_weights", u=chain("m.seed * 1009 + l.layer", "r.row", "c.col"))


def load(db: Database, model: int = 0) -> Network:
    """The network stored in the database under key ``model``."""
    if not db.has_model():
        where = db.path or "the database"
        if db.model_name != DEFAULT_MODEL:
            raise SqlnetError(f"{where} holds no model {db.model_name!r}; `sqlnet models` "
                              "lists those it holds")
        raise SqlnetError(f"{where} holds no sqlnet model; create one with `sqlnet init` "
                          "or `sqlnet train ... --hidden`")
    row = db.sql("SELECT loss, lr, seed, batch_size, shuffle FROM models WHERE model = ?",
                 [model]).fetchone()
    if row is None:
        hint = "; a sweep's database gets one with `sqlnet sweep ... --keep-best`" if model == 0 else ""
        raise SqlnetError(f"the database holds no model {model}{hint}")
    in_table = {name for name, _ in db.columns("models")}  # asked once, not once per control
    have = [n for n in CONTROLS if n in in_table]
    stored = db.rows(exp.select(*map(column, have)).from_(table("models")).where(_this_model()),
                     model=model)[0] if have else ()  # version 1 has none until `train` upgrades it
    layers = db.sql("SELECT fan_in, fan_out, activation FROM layers WHERE model = ? "
                    "ORDER BY layer", [model]).fetchall()
    widths = [layers[0][0]] + [fan_out for _, fan_out, _ in layers]
    acts = [a for _, _, a in layers]
    net = Network(widths=widths, activation=acts[0] if len(acts) > 1 else "relu",
                  output_activation=acts[-1], loss=row[0], lr=row[1], seed=row[2],
                  batch_size=row[3], shuffle=row[4], model=model,
                  controls=Controls(**dict(zip(have, stored))))
    net.activations = acts
    return net


def save_settings(db: Database, net: Network) -> None:
    """Store the training settings a run was given (lr, batch size, seed, shuffle, controls)."""
    db.sql("UPDATE models SET lr = ?, seed = ?, batch_size = ?, shuffle = ? WHERE model = ?",
           [net.lr, net.seed, net.batch_size, net.shuffle, net.model])
    values = {n: getattr(net.controls, n) for n in CONTROLS}
    db.run(exp.update(table("models"), {n: exp.Placeholder(this=n) for n in CONTROLS},
                      where=_this_model()), model=net.model, **values)


def _this_model() -> exp.Expression:
    return exp.EQ(this=column("model"), expression=exp.Placeholder(this="model"))


def replace(net: Network, **changes) -> Network:
    return dataclasses.replace(net, **changes)


def feature_names(db: Database, model: int = 0) -> list[str]:
    """The model's input columns, in the order of layer 1's weight rows."""
    return [r[0] for r in db.sql("SELECT name FROM feature_names WHERE model = ? ORDER BY col",
                                 [model]).fetchall()]


def target_names(db: Database, model: int = 0) -> list[str]:
    """The model's target columns."""
    return [r[0] for r in db.sql("SELECT name FROM target_names WHERE model = ? ORDER BY col",
                                 [model]).fetchall()]


def set_layer(db: Database, layer: int, weights: list[list[float]], biases: list[float],
              model: int = 0) -> None:
    """Overwrite a layer's weights (fan_in rows of fan_out) and biases with given numbers.

    The same as a user's own UPDATE of the tables; sqlnet's worked examples start this way.
    """
    db.sql("DELETE FROM weights WHERE model = ? AND layer = ?", [model, layer])
    db.sql("DELETE FROM biases WHERE model = ? AND layer = ?", [model, layer])
    db.executemany("INSERT INTO weights VALUES (?, ?, ?, ?, ?)",
                       [[model, layer, r, c, float(v)] for r, row in enumerate(weights)
                        for c, v in enumerate(row)])
    db.executemany("INSERT INTO biases VALUES (?, ?, ?, ?)",
                       [[model, layer, c, float(v)] for c, v in enumerate(biases)])


def parameters(db: Database, model: int = 0) -> list[tuple[list[list[float]], list[float]]]:
    """Every layer's (weights, biases) as nested lists, for export and for tests."""
    out = []
    for layer, fan_in, fan_out in db.sql("SELECT layer, fan_in, fan_out FROM layers "
                                         "WHERE model = ? ORDER BY layer", [model]).fetchall():
        W = [[0.0] * fan_out for _ in range(fan_in)]
        for r, c, v in db.sql("SELECT row, col, value FROM weights WHERE model = ? AND layer = ?",
                              [model, layer]).fetchall():
            W[r][c] = v
        b = [0.0] * fan_out
        for c, v in db.sql("SELECT col, value FROM biases WHERE model = ? AND layer = ?",
                           [model, layer]).fetchall():
            b[c] = v
        out.append((W, b))
    return out
