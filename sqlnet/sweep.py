"""Hyperparameter sweeps: the cross product of settings, trained together in SQL.

``sweep(db, Source("iris_train.csv"), ["species"], Grid(lr=[0.01, 0.1], hidden=[[16], [64]],
seed=[0, 1]))`` trains 8 models, numbered from 1, in one pass (a pass per depth), and writes
a leaderboard to ``sweep_results``. With ``keep_best`` the best model is copied to model 0,
the database's model, which predict and evaluate use.
"""
from __future__ import annotations

import dataclasses
import itertools
import sys
from dataclasses import dataclass, field
from typing import TextIO

from . import many
from . import model as M
from . import prepare as P
from . import train as T
from .data import Source, load
from .db import Database
from .errors import SqlnetError
from .queries import model_keys, query, table


@dataclass
class Grid:
    """The values to try; every combination becomes a model."""

    lr: list[float] = field(default_factory=lambda: [0.1])
    hidden: list[list[int]] = field(default_factory=lambda: [[]])
    seed: list[int] = field(default_factory=lambda: [0])
    batch_size: list[int] = field(default_factory=lambda: [32])

    def settings(self) -> list[tuple[float, list[int], int, int]]:
        return list(itertools.product(self.lr, self.hidden, self.seed, self.batch_size))


def sweep(db: Database, source: Source, targets: list[str], grid: Grid,
          base: T.Settings | None = None, features: list[str] | None = None,
          keep_best: bool = False, quiet: bool = True, out: TextIO | None = None) -> list[tuple]:
    """Train every setting of grid; return the leaderboard rows, best first."""
    base = base or T.Settings()
    out = out or sys.stderr
    if db.has_model():
        raise SqlnetError("a sweep trains into a new database; this one holds a model already")
    if base.validation and base.validation.source is None:
        base.validation.check()
    combos = grid.settings()
    by_depth: dict[int, list[int]] = {}
    for k, (_, hidden, _, _) in enumerate(combos, start=1):
        by_depth.setdefault(len(hidden), []).append(k)
    for models in by_depth.values():
        _pass(db, source, targets, features, base, {k: combos[k - 1] for k in models}, quiet, out)
    all_models = [k for ks in by_depth.values() for k in ks]
    number = db.scalar(query("next_sweep"))
    with db.transaction():
        db.run(query("leaderboard", models=model_keys(all_models)), sweep=number)
        board = db.rows(query("show_leaderboard"), sweep=number)
        if keep_best:
            _keep(db, board[0][1])
    return board


def _pass(db, source, targets, features, base: T.Settings, combos: dict, quiet, out) -> None:
    """Create, load and train the models of one depth together."""
    models = list(combos)
    with db.transaction():
        types = P.columns(db, source)  # staged once for every model of the pass
        nets = P.new_models(db, source, targets, features,
                            {k: _settings(base, combos[k]) for k in models}, types)
        net = nets[0]
        load(db, source, M.feature_names(db, net.model), targets, net.model, net.task,
             learn_classes=True, staged=True)
        many.copy_names(db, models, names=False)    # new_models stored the names
        many.replicate(db, models)
        for name in ("clear_all_train_rows", "clear_all_train_inputs", "clear_all_train_targets",
                     "clear_all_valid_rows", "clear_all_valid_inputs", "clear_all_valid_targets"):
            db.run(query(name))
        v = base.validation
        P.hold_out(db, combos[models[0]][2], v.split if v else None)
        P.fit_standardization(db, net, fit=True)
        P.store_valid(db, table("held_out"))
        for name in ("drop_held_out", "drop_held_out_inputs", "drop_held_out_targets"):
            db.run(query(name))
        P.class_weights(db, net)
        for name in ("store_train_rows", "store_train_inputs", "store_train_targets"):
            db.run(query(name))
        if v and v.source:
            load(db, v.source, M.feature_names(db, net.model), targets, net.model, net.task)
            many.replicate(db, models)
            P.fit_standardization(db, net, fit=False)
            P.store_valid(db, table("loaded_rows"))
        P.reset_state(db, net, None, models)
        run = T._start_run(db, net, source, base.epochs, models=models)
    plan = T._plan(db, net, run)
    big = max(nets, key=lambda n: T.Chunks.work(n, min(n.batch_size or plan.rows, plan.rows)))
    with T.threads(db, T.thread_count(base.threads, big, plan.rows)):
        T._loop(db, net, plan, quiet, out)


def _settings(base: T.Settings, combo) -> T.Settings:
    lr, hidden, seed, batch_size = combo
    return dataclasses.replace(base, lr=lr, hidden=hidden, seed=seed, batch_size=batch_size)


def _keep(db: Database, best: int) -> None:
    """Copy the best model to model 0, the database's model."""
    for name in ("keep_model", "keep_layers", "keep_weights", "keep_biases", "keep_features",
                 "keep_targets", "keep_classes", "keep_runs", "keep_log"):
        db.run(query(name), best=best)
