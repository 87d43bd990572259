"""The training loop: epochs of batches, each step one transaction of four statements.

For example, ``train(Database("iris.duckdb"), Source("iris_train.csv"), ["species"],
settings=Settings(hidden=[16], epochs=50))`` creates and trains a classifier.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from sqlglot import exp

from . import many
from . import model as M
from .data import Loaded, Source, load, stage
from .db import Database
from .errors import SqlnetError
from .phases import scores
from .progress import Progress
from .phases import step as step_statement
from .queries import column, query, table
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
    threads: int = 1                 # DuckDB threads; 1 gives the same bits on every run
    controls: dict = field(default_factory=dict)  # Controls fields to set (optimizer, ...)
    validation: "Validation | None" = None  # data scored after every epoch
    keep_history: bool = False       # keep every epoch's weights in weight_history
    group_by: str | None = None      # one model per distinct value of this column


@dataclass
class Validation:
    """Validation data: a file or table (source), or a seeded share of the training rows."""

    source: Source | None = None
    split: float | None = None       # e.g. 0.1 holds out a tenth of the training rows

    def check(self) -> "Validation":
        if self.split is not None and not 0 < self.split < 1:
            raise SqlnetError(f"--validation-split must be between 0 and 1, got {self.split}")
        return self


@dataclass
class Report:
    run: int
    epochs: int
    steps: int
    rows: int
    seconds: float
    loss: float | None
    stopped: str = "completed"       # or early_stopping


def train(db: Database, source: Source, targets: list[str], features: list[str] | None = None,
          settings: Settings | None = None, quiet: bool = True, out: TextIO | None = None,
          snapshot: str | None = None) -> Report:
    """Train the database's model (creating it if there is none) on source.

    Progress lines (unless quiet) go to out, by default the current stderr.
    """
    s = settings or Settings()
    out = out or sys.stderr
    if s.epochs < 0:
        raise SqlnetError(f"--epochs must be 0 or more, got {s.epochs}")
    if s.threads < 1:
        raise SqlnetError(f"--threads must be 1 or more, got {s.threads}")
    with db.transaction():
        net, _ = _prepare(db, source, targets, features, s)
        run = _start_run(db, net, source, s.epochs, s.keep_history)
    with threads(db, s.threads):
        return _loop(db, net, _plan(db, net, run), quiet, out, snapshot)


@contextlib.contextmanager
def threads(db: Database, n: int):
    """Run the block on n DuckDB threads.

    With more than one, the branches of a UNION ALL and the parts of a GROUP BY may meet in
    a different order on every run, and floating-point sums then differ in the last bit;
    on one thread a run is reproducible bit for bit (and can be resumed exactly).
    """
    if n < 1:
        raise SqlnetError(f"--threads must be 1 or more, got {n}")
    old = db.sql("SELECT current_setting('threads')").fetchone()[0]
    db.run(query("set_threads"), n=n)
    try:
        yield
    finally:
        db.run(query("set_threads"), n=int(old))


def _prepare(db: Database, source: Source, targets: list[str], features: list[str] | None,
             s: Settings) -> tuple[M.Network, Loaded]:
    if not targets:
        raise SqlnetError("--target names no column")
    old = M.load(db).controls if db.has_model() else None
    net = _existing(db, source, targets, features, s) if old else \
        _new(db, source, targets, features, s)
    models = _group_models(db, net, source, s, new=old is None)
    for m in models:
        _reset_state(db, dataclasses.replace(net, model=m), old)
    loaded = load(db, source, M.feature_names(db, net.model), targets, net.model,
                  net.task, learn_classes=True)
    if len(models) > 1:
        if old is None:
            many.copy_names(db, models)
        many.route_rows(db, s.group_by, source, local=True)
    if net.task == "classification":
        n = db.sql("SELECT COUNT(*) FROM classes WHERE model = ?", [net.model]).fetchone()[0]
        if n != net.widths[-1]:
            raise SqlnetError(f"the data has {n} classes but the output layer has "
                              f"{net.widths[-1]} units")
    v = s.validation.check() if s.validation else None
    if s.controls.get("patience") and v is None and s.epochs > 0:
        raise SqlnetError("--patience needs validation data: --validation-data FILE or "
                          "--validation-split F")
    _hold_out(db, net.seed, v.split if v else None)
    _standardize(db, net, fit=True)
    for name in ("clear_valid_rows", "clear_valid_inputs", "clear_valid_targets"):
        db.run(query(name), model=net.model)
    _store_valid(db, table("held_out"))
    for name in ("drop_held_out", "drop_held_out_inputs", "drop_held_out_targets"):
        db.run(query(name))
    if loaded.rows and not db.scalar(query("row_count_loaded")):
        raise SqlnetError("--validation-split leaves no training rows")
    _class_weights(db, net)
    for name in ("clear_train_rows", "clear_train_inputs", "clear_train_targets"):
        for m in models:
            db.run(query(name), model=m)
    for name in ("store_train_rows", "store_train_inputs", "store_train_targets"):
        db.run(query(name))
    if v and v.source:
        load(db, v.source, M.feature_names(db, net.model), targets, net.model, net.task)
        if len(models) > 1:
            many.route_rows(db, s.group_by, v.source, local=True)
        _standardize(db, net, fit=False)
        _store_valid(db, table("loaded_rows"))
    return net, loaded


def _group_models(db: Database, net: M.Network, source: Source, s: Settings,
                  new: bool) -> list[int]:
    """The models of this pass: one per group of the data with --group-by (created with the
    model), else the database's model."""
    column, models = many.stored_groups(db)
    if s.group_by is None:
        if column is not None:
            raise SqlnetError(f"the database holds one model per {column!r}; train it with "
                              f"--group-by {column}")
        return models
    if not new:
        if column != s.group_by:
            raise SqlnetError(f"the database's model was not trained --group-by {s.group_by}")
        for m in models[1:]:    # a warm start's settings apply to every group's model
            M.save_settings(db, dataclasses.replace(net, model=m))
        return models
    return many.create_group_models(db, net, s.group_by, many.group_values(db, s.group_by, source))


def _hold_out(db: Database, seed: int, share: float | None) -> None:
    """The rows --validation-split holds out, chosen by the `mix` hash of (seed, row)."""
    if share is None:
        db.run(query("no_held_out"))
    else:
        db.run(query("held_out", key=chain("$seed * 1000037 + 7", "r.row")), share=share, seed=seed)


def _store_valid(db: Database, rows: exp.Expression) -> None:
    for name in ("store_valid_rows", "store_valid_inputs", "store_valid_targets"):
        db.run(query(name, rows=rows))


def standardize(db: Database, net: M.Network) -> None:
    """Scale loaded_inputs with the model's stored statistics (predict and evaluate)."""
    if net.controls.standardize:
        db.run(query("standardized_inputs"))


def _standardize(db: Database, net: M.Network, fit: bool) -> None:
    """--standardize: statistics from the first standardized run's training rows (a warm
    start keeps them, since the weights were learned for them), then the loaded inputs scaled."""
    if not net.controls.standardize:
        db.run(query("clear_standardization"), model=net.model)
        return
    if fit and not db.scalar(query("standardization_count"), model=net.model):
        db.run(query("train_part"))
        db.run(query("store_standardization"))
    db.run(query("standardized_inputs"))


def _class_weights(db: Database, net: M.Network) -> None:
    """--class-weight: 'balanced' from the training targets, or label=weight pairs."""
    spec = net.controls.class_weight
    if spec is None or net.task != "classification":
        if spec is not None:
            raise SqlnetError("--class-weight goes with loss cross_entropy")
        return
    db.run(query("clear_class_weights"), model=net.model)
    if spec == "balanced":
        db.run(query("balanced_class_weights"), model=net.model)
        return
    labels = {r[0] for r in db.rows(query("class_labels"), model=net.model)}
    db.run(query("unit_class_weights"), model=net.model)
    for label, weight in _weight_pairs(spec):
        if label not in labels:
            raise SqlnetError(f"--class-weight names {label!r}, which is not a class of the model")
        db.run(query("set_class_weight"), model=net.model, label=label, weight=weight)


def _weight_pairs(spec: str) -> list[tuple[str, float]]:
    pairs = []
    for part in spec.split(","):
        label, sep, weight = part.rpartition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not value >= 0:
            raise SqlnetError(f"--class-weight takes 'balanced' or label=weight pairs with "
                              f"weights ≥ 0, e.g. 'a=1,b=5'; got {spec!r}")
        pairs.append((label, value))
    return pairs


def _existing(db, source, targets, features, s: Settings) -> M.Network:
    db.create_schema()  # a database of an older sqlnet gains the newer tables and columns
    net = M.load(db)
    stored_t = M.target_names(db, net.model)
    if stored_t and targets != stored_t:
        raise SqlnetError(f"the model was trained on target {','.join(stored_t)}, "
                          f"not {','.join(targets)}")
    stored_f = M.feature_names(db, net.model)
    if features and features != stored_f:
        raise SqlnetError(f"the model's features are {','.join(stored_f)}; "
                          f"--features asks for {','.join(features)}")
    if not stored_f:  # made by `sqlnet init`: the data names the features now
        types = stage(db, source)
        _store_names(db, net.model, _features(types, targets, features), targets)
    net = M.replace(net, **{k: getattr(s, k) for k in ("lr", "batch_size", "seed", "shuffle")
                            if getattr(s, k) is not None},
                    controls=controls(net.controls, s.controls))
    n = len(M.feature_names(db, net.model))
    if n != net.widths[0]:
        raise SqlnetError(f"the data has {n} features but the model's first layer takes "
                          f"{net.widths[0]}")
    M.replace(net).check()
    M.save_settings(db, net)
    return net


def _new(db, source, targets, features, s: Settings, model: int = 0) -> M.Network:
    types = stage(db, source)
    if s.group_by is not None and s.group_by not in types:
        raise SqlnetError(f"{source} has no group column {s.group_by!r}")
    feats = _features(types, targets + ([s.group_by] if s.group_by else []), features)
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
                    shuffle=True if s.shuffle is None else s.shuffle,
                    controls=controls(None, s.controls), model=model)
    M.create(db, net)
    _store_names(db, net.model, feats, targets)
    return net


def controls(old: M.Controls | None, given: dict) -> M.Controls:
    """The stored controls with the given ones set. AdamW's weight decay defaults to 0.01, as
    in PyTorch, when the optimizer becomes adamw without a --weight-decay."""
    unknown = set(given) - set(M.CONTROLS)
    if unknown:
        raise SqlnetError(f"unknown training control(s): {', '.join(sorted(unknown))}")
    new = M.Controls(**{**dataclasses.asdict(old or M.Controls()), **given})
    if new.optimizer == "adamw" and "weight_decay" not in given and \
            (old is None or old.optimizer != "adamw"):
        new.weight_decay = 0.01
    return new.check()


def _reset_state(db: Database, net: M.Network, old: M.Controls | None) -> None:
    """Start the optimizer from zero state when it is new; keep its state when it is not."""
    have = db.scalar(query("state_rows"), model=net.model)
    if old is not None and old.optimizer == net.controls.optimizer and have:
        return
    db.run(query("clear_state"), model=net.model)
    for name in net.controls.state:
        db.run(query("init_state"), model=net.model, name=name)
    if net.controls.state:
        db.run(query("init_steps"), model=net.model)


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


def _start_run(db: Database, net: M.Network, source: Source, epochs: int,
               keep_history: bool = False, models: list[int] | None = None) -> int:
    run = db.sql("SELECT COALESCE(MAX(run), 0) + 1 FROM runs WHERE model = ?",
                 [net.model]).fetchone()[0]
    first = db.rows(query("last_position"), model=net.model)[0][0] + 1
    for m in models or many.stored_groups(db)[1]:
        db.sql("INSERT INTO runs (model, run, source, first_epoch, epochs, batch_size, lr, "
               "started_at, keep_history) VALUES (?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP, ?)",
               [m, run, str(source), first, epochs, net.batch_size, net.lr, keep_history])
    db.run(query("clear_run_best"))
    return run


@dataclass
class Plan:
    """Where a run starts (or resumes) and where it ends."""

    run: int
    first: int          # the run's first epoch
    epoch: int          # the first epoch to work on
    batch: int          # the first batch of that epoch
    step: int           # the last step done so far
    last_epoch: int     # the run's final epoch
    rows: int


def _plan(db: Database, net: M.Network, run: int) -> Plan:
    first, epochs = db.sql("SELECT first_epoch, epochs FROM runs WHERE model = ? AND run = ?",
                           [net.model, run]).fetchone()
    epoch, step, done = db.rows(query("run_position"), model=net.model, run=run)[0]
    rows = db.sql("SELECT COUNT(*) FROM train_rows").fetchone()[0]
    return Plan(run, first, epoch or first, done, step, first + epochs - 1, rows)


def resume(db: Database, quiet: bool = True, out: TextIO | None = None,
           snapshot: str | None = None, n_threads: int = 1) -> Report:
    """Continue the model's last run where it stopped (after a kill, a crash or Ctrl-C).

    The run's settings, data and shuffle order are all in the database, so the finished run
    has the same weights, bit for bit, as one that was never interrupted.
    """
    net = M.load(db)
    row = db.sql("SELECT run, finished_at FROM runs WHERE model = ? ORDER BY run DESC LIMIT 1",
                 [net.model]).fetchone()
    if row is None:
        raise SqlnetError("the model has no training run to resume")
    if row[1] is not None:
        raise SqlnetError(f"run {row[0]} finished at {row[1]:%Y-%m-%d %H:%M:%S}; "
                          "there is nothing to resume")
    with threads(db, n_threads):
        return _loop(db, net, _plan(db, net, row[0]), quiet, out or sys.stderr, snapshot)


class Statements:
    """A run's statements, composed and parsed once. ``Statements(net)`` is what a plain run
    executes; :meth:`for_run` adds what the run asked for (validation, history)."""

    def __init__(self, net: M.Network, validate: bool = False):
        key = chain("m.seed * 1000003 + $epoch", "t.row")
        self.epoch = [query("epoch_rows", key=key), query("epoch_inputs"), query("epoch_targets")]
        self.batches = query("batch_count")
        self.step = step_statement(net)
        self.check = query("step_check")
        self.update = [query("apply_weights"), query("apply_biases")]
        if net.controls.state:
            self.update.append(query("apply_state"))
        self.log = query("log_step")
        self.validate = validation_statement(net) if validate else None
        self.history = False    # keep every epoch's weights
        self.many = False       # more than one model in the pass

    @classmethod
    def for_run(cls, db: Database, net: M.Network, run: int) -> "Statements":
        st = cls(net, validate=bool(db.scalar(query("valid_count"), model=net.model)))
        st.history = bool(db.scalar(query("run_keeps_history"), model=net.model, run=run))
        st.many = db.scalar(query("pass_models")) > 1
        return st


def validation_statement(net: M.Network) -> exp.Expression:
    """The validation loss and metric after a step, written to that step's training_log row."""
    return query("log_validation", scores=exp.paren(
        scores(net, "eval_rows", "eval_inputs", "eval_targets")))


class Interrupted(Exception):
    """Ctrl-C arrived; training stopped at a step boundary."""


def _loop(db: Database, net: M.Network, plan: Plan, quiet: bool, out: TextIO,
          snapshot: str | None = None) -> Report:
    st = Statements.for_run(db, net, plan.run)
    if st.validate:
        for name in ("eval_rows", "eval_inputs", "eval_targets"):
            db.run(query(name))
    step, start, stopped = plan.step, time.perf_counter(), None
    reorder = net.shuffle and net.batch_size != 0  # else every epoch has the same batches
    progress = Progress(out, quiet, plan.epoch, plan.last_epoch)
    with _sigint() as stop, contextlib.closing(progress):
        for epoch in range(plan.epoch, plan.last_epoch + 1):
            if reorder or epoch == plan.epoch or stopped:
                for tree in st.epoch:
                    db.run(tree, epoch=epoch, run=plan.run)
                batches = db.scalar(st.batches)
                stopped = None
            progress.epoch_started(epoch, batches, plan.batch if epoch == plan.epoch else 0)
            for batch in range(plan.batch if epoch == plan.epoch else 0, batches):
                if stop():
                    raise Interrupted(f"interrupted before epoch {epoch}, batch {batch + 1} "
                                      f"(run {plan.run}, {step} steps done)")
                step += 1
                stopped = _step(db, st, net, plan, batch, epoch, step, last=batch == batches - 1)
                progress.stepped()
            if snapshot:
                save_snapshot(db, snapshot)
            progress.epoch_done(epoch, None if quiet else db.scalar(query("epoch_loss"), epoch=epoch),
                                (epoch - plan.epoch + 1) * plan.rows,
                                force=epoch == plan.last_epoch or bool(stopped))
            if stopped == "some_stopped" and not quiet:
                print(f"early stopping after epoch {epoch}: "
                      f"{db.scalar(query('stopped_models'), run=plan.run)} model(s) stopped, "
                      "the others go on", file=out)
            if stopped == "early_stopping":
                if not quiet:
                    best = db.scalar(query("best_epoch"), model=net.model, run=plan.run)
                    print(f"early stopping after epoch {epoch}: no better validation loss "
                          f"since epoch {best}, whose weights the model keeps", file=out)
                break
    stopped = stopped if stopped == "early_stopping" else None
    if not stopped:
        with db.transaction():
            _finish(db, st, net, plan, "completed", stepped=step > plan.step)
    last = epoch if stopped else plan.last_epoch
    loss = db.scalar(query("epoch_loss"), model=net.model, epoch=last)
    return Report(plan.run, last - plan.epoch + 1, step, plan.rows,
                  time.perf_counter() - start, loss, stopped or "completed")


def _finish(db: Database, st: Statements, net: M.Network, plan: Plan, how: str,
            stepped: bool) -> None:
    """End the run (inside a transaction): keep the last step's intermediates, go back to
    the best validated epoch's weights, and record how it ended."""
    if stepped:  # the step_tape of this process holds the run's last step
        db.run(query("clear_last_step"))
        db.run(query("keep_last_step"))
    if st.validate:
        db.run(query("restore_best_weights"))
        db.run(query("restore_best_biases"))
    db.run(query("stop_run"), model=net.model, run=plan.run, stopped=how)


def _epoch_end(db: Database, st: Statements, net: M.Network, plan: Plan, epoch: int,
               step: int) -> str | None:
    """After an epoch's last step, in its transaction: history, validation, early stopping."""
    where = {"model": net.model, "run": plan.run}
    if st.history:
        db.run(query("keep_history"), epoch=epoch, **where)
    if not st.validate:
        return None
    db.run(st.validate, batch=0, epoch=epoch, run=plan.run)
    db.run(query("improved"), epoch=epoch, run=plan.run)
    for name in ("set_best_epoch", "clear_best", "keep_best"):
        db.run(query(name), epoch=epoch, run=plan.run)
    before = db.scalar(query("stopped_models"), run=plan.run)
    db.run(query("stop_models"), epoch=epoch, run=plan.run, last_epoch=plan.last_epoch)
    if not db.scalar(query("still_training"), run=plan.run):
        _finish(db, st, net, plan, "early_stopping", stepped=True)
        return "early_stopping"
    return "some_stopped" if db.scalar(query("stopped_models"), run=plan.run) > before else None


@contextlib.contextmanager
def _sigint():
    """Ctrl-C sets a flag that the loop reads between steps, so no step is cut in half."""
    hit = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    old = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, old)


def _step(db: Database, st: Statements, net: M.Network, plan: Plan, batch: int, epoch: int,
          step: int, last: bool) -> str | None:
    """One optimizer step: forward, error, backward and update in one statement, then the
    new values copied in and the step logged; after an epoch's last step, the epoch's end.
    All in one transaction. Returns how the run stopped, if it did.

    A step whose loss, gradients or new weights are not finite is rolled back: the database
    keeps the last finite weights.
    """
    t0 = time.perf_counter()
    with db.transaction():
        db.run(st.step, batch=batch, step=step, epoch=epoch, e=epoch - plan.first,
               epochs=plan.last_epoch - plan.first + 1)
        bad, loss = db.rows(st.check)[0]
        if bad:
            raise SqlnetError(f"training diverged at epoch {epoch}, step {step}: the loss is "
                              f"{loss} or a gradient or weight is not finite; the database keeps "
                              "the weights of the step before; try a smaller --lr")
        for tree in st.update:
            db.run(tree)
        db.run(st.log, batch=batch, wall_ms=(time.perf_counter() - t0) * 1000, run=plan.run,
               epoch=epoch, step=step)
        return _epoch_end(db, st, net, plan, epoch, step) if last else None


def save_snapshot(db: Database, path: str) -> None:
    """Copy the model's tables to a DuckDB file that others can read while training goes on.

    Written beside the target and renamed over it, so a reader sees a whole epoch or the one
    before, never half of one.
    """
    tmp = f"{path}.tmp"
    for p in (tmp, tmp + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    db.run(query("attach_snapshot"), path=tmp)
    try:
        for name in SNAPSHOT_TABLES:
            db.run(query("copy_to_snapshot", source=table(name), target=table(name)))
    finally:
        db.sql("DETACH snapshot")
    os.replace(tmp, path)


SNAPSHOT_TABLES = ["sqlnet_meta", "models", "layers", "weights", "biases", "feature_names",
                   "target_names", "classes", "runs", "training_log"]


