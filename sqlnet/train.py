"""The training loop: epochs of batches, each step one transaction of four statements.

For example, ``train(Database("iris.duckdb"), Source("iris_train.csv"), ["species"],
settings=Settings(hidden=[16], epochs=50))`` creates and trains a classifier.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from . import model as M
from .data import Loaded, Source, load, stage
from .db import Database
from .errors import SqlnetError
from .phases import step as step_statement
from .queries import column, query
from .seeded import chain


@dataclass
class Settings:
    """What `sqlnet train` was asked for; None keeps what the model has stored."""

    epochs: int = 10                 # passes over the data
    lr: float | None = None          # SGD step size
    batch_size: int | None = None    # 0: full batch; 1: per sample
    seed: int | None = None          # initial weights and shuffle order
    shuffle: bool | None = None      # False keeps file order
    hidden: list[int] = field(default_factory=list)  # a new model's hidden widths
    activation: str = "relu"         # a new model's hidden activation
    output_activation: str | None = None
    loss: str | None = None          # a new model's loss (default: inferred from the target)


@dataclass
class Report:
    run: int
    epochs: int
    steps: int
    rows: int
    seconds: float
    loss: float | None


def train(db: Database, source: Source, targets: list[str], features: list[str] | None = None,
          settings: Settings | None = None, quiet: bool = True, out: TextIO | None = None) -> Report:
    """Train the database's model (creating it if there is none) on source.

    Progress lines (unless quiet) go to out, by default the current stderr.
    """
    s = settings or Settings()
    out = out or sys.stderr
    if s.epochs < 0:
        raise SqlnetError(f"--epochs must be 0 or more, got {s.epochs}")
    with db.transaction():
        net, loaded = _prepare(db, source, targets, features, s)
        run = _start_run(db, net, source, s.epochs)
    return _loop(db, net, run, s.epochs, loaded.rows, quiet, out)


def _prepare(db: Database, source: Source, targets: list[str], features: list[str] | None,
             s: Settings) -> tuple[M.Network, Loaded]:
    if not targets:
        raise SqlnetError("--target names no column")
    net = _existing(db, source, targets, features, s) if db.has_model() else \
        _new(db, source, targets, features, s)
    loaded = load(db, source, _names(db, "feature_names", net.model), targets, net.model,
                  net.task, learn_classes=True)
    if net.task == "classification":
        n = db.sql("SELECT COUNT(*) FROM classes WHERE model = ?", [net.model]).fetchone()[0]
        if n != net.widths[-1]:
            raise SqlnetError(f"the data has {n} classes but the output layer has "
                              f"{net.widths[-1]} units")
    for name in ("clear_train_rows", "clear_train_inputs", "clear_train_targets"):
        db.run(query(name), model=net.model)
    for name in ("store_train_rows", "store_train_inputs", "store_train_targets"):
        db.run(query(name))
    return net, loaded


def _existing(db, source, targets, features, s: Settings) -> M.Network:
    net = M.load(db)
    stored_t = _names(db, "target_names", net.model)
    if stored_t and targets != stored_t:
        raise SqlnetError(f"the model was trained on target {','.join(stored_t)}, "
                          f"not {','.join(targets)}")
    stored_f = _names(db, "feature_names", net.model)
    if features and features != stored_f:
        raise SqlnetError(f"the model's features are {','.join(stored_f)}; "
                          f"--features asks for {','.join(features)}")
    if not stored_f:  # made by `sqlnet init`: the data names the features now
        types = stage(db, source)
        _store_names(db, net.model, _features(types, targets, features), targets)
    net = M.replace(net, **{k: getattr(s, k) for k in ("lr", "batch_size", "seed", "shuffle")
                            if getattr(s, k) is not None})
    if len(_names(db, "feature_names", net.model)) != net.widths[0]:
        raise SqlnetError(f"the data has {len(_names(db, 'feature_names', net.model))} features "
                          f"but the model's first layer takes {net.widths[0]}")
    M.Network.check(M.replace(net))
    M.save_settings(db, net)
    return net


def _new(db, source, targets, features, s: Settings) -> M.Network:
    types = stage(db, source)
    feats = _features(types, targets, features)
    for t in targets:
        if t not in types:
            raise SqlnetError(f"{source} has no target column {t!r}")
    loss = s.loss or ("cross_entropy" if len(targets) == 1 and
                      not types[targets[0]].startswith(("TINYINT", "SMALLINT", "INTEGER", "BIGINT",
                                                        "FLOAT", "DOUBLE", "DECIMAL"))
                      else "mse")
    if loss == "cross_entropy":
        if len(targets) != 1:
            raise SqlnetError("cross_entropy takes one target column, the class labels")
        outputs = db.scalar(query("class_count", label=column(targets[0], "s")))
    else:
        outputs = len(targets)
    net = M.Network(widths=[len(feats), *s.hidden, outputs], activation=s.activation,
                    output_activation=s.output_activation, loss=loss,
                    lr=0.1 if s.lr is None else s.lr,
                    batch_size=32 if s.batch_size is None else s.batch_size,
                    seed=0 if s.seed is None else s.seed,
                    shuffle=True if s.shuffle is None else s.shuffle)
    M.create(db, net)
    _store_names(db, net.model, feats, targets)
    return net


def _features(types: dict[str, str], targets: list[str], features: list[str] | None) -> list[str]:
    feats = features or [c for c in types if c not in targets]
    if not feats:
        raise SqlnetError("the data has no feature columns besides the target")
    return feats


def _store_names(db: Database, model: int, features: list[str], targets: list[str]) -> None:
    db.sql("DELETE FROM feature_names WHERE model = ?", [model])
    db.sql("DELETE FROM target_names WHERE model = ?", [model])
    db.con.executemany("INSERT INTO feature_names VALUES (?, ?, ?)",
                       [[model, i, n] for i, n in enumerate(features)])
    db.con.executemany("INSERT INTO target_names VALUES (?, ?, ?)",
                       [[model, i, n] for i, n in enumerate(targets)])


def _names(db: Database, which: str, model: int) -> list[str]:
    sql = {"feature_names": "SELECT name FROM feature_names WHERE model = ? ORDER BY col",
           "target_names": "SELECT name FROM target_names WHERE model = ? ORDER BY col"}[which]
    return [r[0] for r in db.sql(sql, [model]).fetchall()]


def _start_run(db: Database, net: M.Network, source: Source, epochs: int) -> int:
    run = db.sql("SELECT COALESCE(MAX(run), 0) + 1 FROM runs WHERE model = ?",
                 [net.model]).fetchone()[0]
    db.sql("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
           [net.model, run, str(source), epochs, net.batch_size, net.lr])
    return run


class Statements:
    """A run's statements, composed and parsed once."""

    def __init__(self, net: M.Network):
        key = chain("m.seed * 1000003 + $epoch", "t.row")
        self.epoch = [query("epoch_rows", key=key), query("epoch_inputs"), query("epoch_targets")]
        self.batches = query("batch_count")
        self.step = step_statement(net)
        self.update = [query("sgd_weights"), query("sgd_biases")]
        self.log = query("log_step")


def _loop(db: Database, net: M.Network, run: int, epochs: int, rows: int,
          quiet: bool, out: TextIO) -> Report:
    st = Statements(net)
    epoch0, step = db.rows(query("last_position"), model=net.model)[0]
    start, shown = time.perf_counter(), 0.0
    reorder = net.shuffle and net.batch_size != 0  # else every epoch has the same batches
    for epoch in range(epoch0 + 1, epoch0 + epochs + 1):
        if reorder or epoch == epoch0 + 1:
            for tree in st.epoch:
                db.run(tree, epoch=epoch)
            batches = db.scalar(st.batches)
        for batch in range(batches):
            step += 1
            _step(db, st, batch, run=run, epoch=epoch, step=step)
        now = time.perf_counter()
        if not quiet and (now - shown > 1.0 or epoch == epoch0 + epochs):
            shown = now
            _progress(db, net, out, epoch, epoch0 + epochs, (epoch - epoch0) * rows / (now - start))
    if epochs:
        db.run(query("clear_last_step"))
        db.run(query("keep_last_step"))
    loss = db.scalar(query("epoch_loss"), model=net.model, epoch=epoch0 + epochs)
    return Report(run, epochs, step, rows, time.perf_counter() - start, loss)


def _step(db: Database, st: Statements, batch: int, **where: int) -> None:
    """One optimizer step: forward, error and backward in one statement, then the update."""
    t0 = time.perf_counter()
    with db.transaction():
        db.run(st.step, batch=batch)
        for tree in st.update:
            db.run(tree)
        db.run(st.log, batch=batch, wall_ms=(time.perf_counter() - t0) * 1000, **where)


def _progress(db, net, out, epoch, last, rate) -> None:
    loss = db.scalar(query("epoch_loss"), model=net.model, epoch=epoch)
    print(f"epoch {epoch}/{last}  loss {loss:.6g}  {rate:,.0f} samples/s", file=out)
