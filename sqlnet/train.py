"""The training loop: epochs of batches, each step one transaction (the step's statement,
its check, the new values copied in, the log row; after an epoch's last step, validation,
history and early stopping). What a run trains on is prepared in :mod:`sqlnet.prepare`.

For example, ``train(Database("iris.duckdb"), Source("iris_train.csv"), ["species"],
settings=Settings(hidden=[16], epochs=50))`` creates and trains a classifier.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from sqlglot import exp

from . import many
from . import model as M
from .data import Source
from .db import Database
from .errors import SqlnetError
from .phases import chunk as chunk_statement
from .phases import rowid_applies
from .phases import scores
from .phases import steps as step_statements
from .prepare import prepare
from .progress import Progress
from .queries import query
from .seeded import chain
from .settings import Settings, Validation  # noqa: F401 (the library's names)
from .settings import arguments, difference


@dataclass
class Report:
    run: int
    epochs: int
    steps: int
    rows: int
    seconds: float
    loss: float | None
    stopped: str = "completed"       # or early_stopping
    threads: int = 1                 # the DuckDB threads it trained on
    done_before: bool = False        # resume found the run finished: nothing was trained


def train(db: Database, source: Source, targets: list[str], features: list[str] | None = None,
          settings: Settings | None = None, quiet: bool = True, out: TextIO | None = None,
          snapshot: str | None = None, resume: bool = False) -> Report:
    """Train the database's model (creating it if there is none) on source.

    Progress lines (unless quiet) go to out, by default the current stderr. With resume (a
    script run again after a crash), the run these arguments started is continued where it
    stopped, or, if it finished, not trained again (the Report says ``done_before``); a new
    run starts when no run had them, unless the last run is unfinished: then the first
    difference from its arguments is refused (see :func:`rerun`).
    """
    s = settings or Settings()
    out = out or sys.stderr
    if s.epochs < 0:
        raise SqlnetError(f"--epochs must be 0 or more, got {s.epochs}")
    _check_threads(s.threads)
    db.claim()
    given = arguments(source, targets, features, s)
    if resume:
        found = rerun(db, given)
        if found is not None:
            run, finished = found
            if finished:
                return _done_before(db, run)
            return _continue(db, run, quiet, out, snapshot, s.threads)
    with db.transaction():
        net, _ = prepare(db, source, targets, features, s)
        run = _start_run(db, net, source, s.epochs, s.keep_history, arguments=given)
    plan = _plan(db, net, run)
    n = thread_count(s.threads, net, plan.rows)
    with threads(db, n):
        return dataclasses.replace(_loop(db, net, plan, quiet, out, snapshot), threads=n)


def rerun(db: Database, given: dict) -> tuple[int, bool] | None:
    """The run that the arguments `given` (:func:`sqlnet.settings.arguments`) started: the
    last run, if it has not finished and has them, else the last finished run that has them,
    as (run, finished). None when no run has them and a new one may start; refused when the
    last run has not finished and has other arguments (its first difference named)."""
    if not db.has_model():
        return None
    with db.transaction():
        db.create_schema()   # (runs of an older sqlnet have no arguments column yet)
    runs = [(run, finished, json.loads(kept) if kept else None) for run, finished, kept in
            db.rows(query("run_arguments"), model=M.load(db).model)]
    open_run = runs[-1] if runs and not runs[-1][1] else None
    if open_run and open_run[2] == given:
        return open_run[0], False
    done = [run for run, finished, kept in runs if finished and kept == given]
    if done:
        return done[-1], True
    if open_run is None:
        return None
    run, _, kept = open_run
    if kept is None:
        raise SqlnetError(f"--resume: run {run} was started by an older sqlnet, which did not "
                          "keep its arguments; continue it with --resume alone")
    raise SqlnetError(f"--resume: {difference(kept, given)} (run {run} has not finished; "
                      "continue it with --resume alone, or train without --resume)")


def _done_before(db: Database, run: int) -> Report:
    """The Report of a run that finished before, trained no further."""
    net = M.load(db)
    plan = _plan(db, net, run)
    last, stopped = db.rows(query("run_end"), model=net.model, run=run)[0]
    loss = db.scalar(query("epoch_loss"), epoch=last) if last is not None else None
    epochs = 0 if last is None else last - plan.first + 1
    return Report(run, epochs, plan.step, plan.rows, 0.0, loss, stopped or "completed",
                  done_before=True)


# --threads auto (None): from this many multiply-adds of a step's dense products, every core;
# below, one thread, where a second costs more than it gives (benchmarks/NOTES.md §10:
# digits, 1.5e5 a step, 1.13x the time on 2 threads; 8e5 a step 0.82x; mnist-shape 0.7x).
AUTO_THREADS_WORK = 5e5


def thread_count(n: int | None, net: M.Network, rows: int) -> int:
    """The DuckDB threads a run of net over rows samples trains on: n, or for None (auto)
    one thread for a small step and every core this process may use for a large one."""
    _check_threads(n)
    if n is not None:
        return n
    if Chunks.work(net, min(net.batch_size or rows, rows)) < AUTO_THREADS_WORK:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_threads(n: int | None) -> None:
    if n is not None and n < 1:
        raise SqlnetError(f"--threads must be 1 or more (or auto), got {n}")


@contextlib.contextmanager
def threads(db: Database, n: int):
    """Run the block on n DuckDB threads (the other engines choose their own parallelism).

    With more than one, the branches of a UNION ALL and the parts of a GROUP BY may meet in
    a different order on every run, and floating-point sums then differ in the last bit;
    on one thread a run is reproducible bit for bit (and can be resumed exactly).
    """
    _check_threads(n)
    with db.engine.threads(n):
        yield


def _start_run(db: Database, net: M.Network, source: Source, epochs: int,
               keep_history: bool = False, models: list[int] | None = None,
               arguments: dict | None = None) -> int:
    run = db.sql("SELECT COALESCE(MAX(run), 0) + 1 FROM runs WHERE model = ?",
                 [net.model]).fetchone()[0]
    first = db.rows(query("last_position"), model=net.model)[0][0] + 1
    db.insert("runs", ["model", "run", "source", "first_epoch", "epochs", "batch_size", "lr",
                       "started_at", "keep_history", "arguments"],
              [[m, run, str(source), first, epochs, net.batch_size, net.lr, exp.CurrentTimestamp(),
                keep_history, None if arguments is None else json.dumps(arguments)]
               for m in models or many.stored_groups(db)[1]])
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
           snapshot: str | None = None, n_threads: int | None = None) -> Report:
    """Continue the model's last run where it stopped (after a kill, a crash or Ctrl-C).

    The run's settings, data and shuffle order are all in the database, so the finished run
    has the same weights as one that was never interrupted: bit for bit on one thread (what
    n_threads None, auto, gives a small step), to the last bit of a sum on more.
    """
    db.claim()
    net = M.load(db)
    row = db.sql("SELECT run, finished_at FROM runs WHERE model = ? ORDER BY run DESC LIMIT 1",
                 [net.model]).fetchone()
    if row is None:
        raise SqlnetError("the model has no training run to resume")
    if row[1] is not None:
        raise SqlnetError(f"run {row[0]} finished at {row[1]:%Y-%m-%d %H:%M:%S}; "
                          "there is nothing to resume")
    return _continue(db, row[0], quiet, out or sys.stderr, snapshot, n_threads)


def _continue(db: Database, run: int, quiet: bool, out: TextIO, snapshot: str | None,
              n_threads: int | None) -> Report:
    net = M.load(db)
    plan = _plan(db, net, run)
    n = thread_count(n_threads, net, plan.rows)
    with threads(db, n):
        return dataclasses.replace(_loop(db, net, plan, quiet, out, snapshot), threads=n)


class Statements:
    """A run's statements, composed and parsed once. ``Statements(net)`` is what a plain run
    executes; :meth:`for_run` adds what the run asked for (validation, history).

    log_step is also the step's divergence check (it writes the log rows only for a finite
    step and returns them: INSERT ... RETURNING). With ``fold_check`` False (for an engine
    without RETURNING: see :func:`returning_applies`) the check is the separate statement
    step_check, as before.
    """

    fold_check = True

    def __init__(self, net: M.Network, validate: bool = False, fold_check: bool | None = None,
                 sparse: bool = False, rowid: bool = False):
        if fold_check is not None:
            self.fold_check = fold_check
        key = chain("m.seed * 1000003 + k.epoch", "t.row")
        self.epoch = [query("epoch_rows", key=key, epochs=exp.paren(query("one_epoch"))),
                      query("epoch_inputs"), query("epoch_targets")]
        # a block of many epochs at once, for a chunk that reaches them (DuckDB)
        self.block = [query("epoch_rows", key=key, epochs=exp.paren(query("epoch_range"))),
                      *self.epoch[1:]]
        self.batches = query("batch_count")
        # the tape without z, a and delta, and the run's last step's, which last_step keeps:
        # built when first asked for (a run in chunks takes only the last step alone)
        self._net, self._sparse, self._rowid = net, sparse, rowid
        self.check = None if self.fold_check else query("step_check")
        self.update = [query("apply_weights"), query("apply_biases")]
        if net.controls.state:
            self.update.append(query("apply_state"))
        # after a lean step whose tape hands layer 1's weights over by rowid (param_rowid)
        by_rowid = sparse and rowid and rowid_applies(net, sparse)
        self.update_lean = [query("apply_weights_rowid"), *self.update] if by_rowid \
            else self.update
        self.log = query("log_step")
        if not self.fold_check:
            self.log.set("returning", None)
        self.validate = validation_statement(net) if validate else None
        # after a chunk (DuckDB) that validated: did early stopping stop it, and its best
        self.chunk_log = query("log_chunk")
        self.chunk_stopped = query("chunk_stopped") if validate else None
        self.chunk_best = [query(name) for name in (
            "log_chunk_validation", "chunk_set_best_epoch", "chunk_clear_best",
            "chunk_keep_best")] if validate else []
        self.history = False    # keep every epoch's weights
        self.many = False       # more than one model in the pass

    @functools.cached_property
    def step(self) -> exp.Expression:
        if "step_full" in vars(self):
            return self._build((False,))[0]
        self.step_full = self._build((False, True))[1]  # both from one composition
        return self._built[0]

    @functools.cached_property
    def step_full(self) -> exp.Expression:
        return self._build((True,))[0]

    def _build(self, tapes: tuple[bool, ...]) -> list[exp.Expression]:
        self._built = step_statements(self._net, tapes=tapes, sparse=self._sparse,
                                      rowid=self._rowid and self._sparse)
        return self._built

    @classmethod
    def for_run(cls, db: Database, net: M.Network, run: int) -> Statements:
        st = cls(net, validate=bool(db.scalar(query("valid_count"), model=net.model)),
                 fold_check=returning_applies(_engine(db)), sparse=sparse_data(db, net),
                 rowid=_engine(db) == "duckdb")
        st.history = bool(db.scalar(query("run_keeps_history"), model=net.model, run=run))
        st.many = db.scalar(query("pass_models")) > 1
        return st


def sparse_data(db: Database, net: M.Network) -> bool:
    """Whether a batch stores fewer inputs than layer 1 has (wide sparse data, e.g. bag of
    words): then a step keeps layer 1's products and, with plain SGD, touches only the
    weights the batch reaches (sqlnet.phases.steps, sparse)."""
    per_row, rows = db.rows(query("inputs_per_row"))[0]
    return bool(rows) and per_row * min(net.batch_size or rows, rows) < net.widths[0]


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
    ch = Chunks.for_run(db, st, net, plan, snapshot)
    with _sigint() as stop, contextlib.closing(progress):
        epoch, first_batch = plan.epoch, plan.batch
        tables = None
        while epoch <= plan.last_epoch:
            if tables is None or stopped:  # (a model that stopped leaves the epoch tables)
                tables = EpochTables(st, plan.run, reorder, db.scalar(st.batches, run=plan.run))
                stopped = None
            batches = tables.batches
            progress.epoch_started(epoch, batches, first_batch)
            batch, first_batch = first_batch, 0
            while batch < batches:
                if stop():
                    raise Interrupted(f"interrupted before epoch {epoch}, batch {batch + 1} "
                                      f"(run {plan.run}, {step} steps done)")
                n = ch.length(step, epoch, batch, batches) if ch else 1
                if n > 1:
                    stopped, n = _chunk(db, st, ch, tables, net, plan, epoch, batch, step, n)
                else:
                    last = batch == batches - 1
                    full = last and (epoch == plan.last_epoch or bool(st.validate))
                    tables.hold(db, epoch)
                    stopped = _step(db, st, net, plan, batch, epoch, step + 1, last=last,
                                    full=full)
                step += n
                batch += n
                progress.stepped(n)
                while batch > batches:  # a chunk went on into the next epochs
                    progress.epoch_done(epoch, _epoch_loss(db, epoch),
                                        (epoch - plan.epoch + 1) * plan.rows)
                    epoch, batch = epoch + 1, batch - batches
            if snapshot:
                save_snapshot(db, snapshot)
            progress.epoch_done(epoch, _epoch_loss(db, epoch),
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
            epoch += 1
    stopped = stopped if stopped == "early_stopping" else None
    if not stopped:
        with db.transaction():
            _finish(db, st, net, plan, "completed", stepped=step > plan.step)
    last = epoch if stopped else plan.last_epoch
    loss = db.scalar(query("epoch_loss"), model=net.model, epoch=last)
    return Report(plan.run, last - plan.epoch + 1, step, plan.rows,
                  time.perf_counter() - start, loss, stopped or "completed")


def _epoch_loss(db: Database, epoch: int):
    """The epoch's mean loss, for a progress line: asked only when the line is shown."""
    return lambda: db.scalar(query("epoch_loss"), epoch=epoch)


def chunk_applies(engine: str) -> bool:
    """Whether training may take many steps per statement on this engine (sqlnet.phases.chunk:
    a recursive CTE with DuckDB's USING KEY). Where it does not, every step is its own
    statements (the portable path), as they are for runs of many models on any engine."""
    return engine == "duckdb"


# The most steps one chunk statement takes: SQLNET_CHUNK_STEPS (1: one statement per step,
# as on other engines), else a function of the model's shape (Chunks.limit).
def _chunk_steps_asked() -> int:
    return int(os.environ.get("SQLNET_CHUNK_STEPS", "0") or 0)


CHUNK_STEPS = _chunk_steps_asked()
CHUNK_MAX = 1000          # steps
CHUNK_WORK = 3e8          # multiply-adds of the dense products (a few seconds of DuckDB work)
# From this many multiply-adds a step, a chunk is planned without DuckDB's join_order pass
# (benchmarks/NOTES.md §9: mnist-shape 0.73-0.76 of the time a step; digits, 1.5e5, no gain).
CHUNK_JOIN_ORDER_WORK = 1e6


@dataclass
class Chunks:
    """How a run cuts its steps into chunks of many steps per statement (DuckDB only).

    The cuts are a function of the step's position alone (chunks end at multiples of
    ``limit`` steps, at an epoch's end when the epoch's end needs the loop, and before the
    run's last step, which takes the full tape): a run resumed after a kill, which starts
    where a committed chunk ended, cuts the same chunks as an uninterrupted run, and so
    gets the same bits.
    """

    limit: int          # the most steps per chunk
    span: bool          # may a chunk go on into the next epoch?
    validate: bool      # it validates at every epoch's end, and early stopping ends it
    last_epoch: int
    statement: exp.Expression
    log: exp.Expression
    optimizers_off: str = ""  # DuckDB optimizer passes the chunk statement is planned without

    @classmethod
    def for_run(cls, db: Database, st: Statements, net: M.Network, plan: Plan,
                snapshot: str | None) -> Chunks | None:
        # (many models: as if one model's batch held every model's; plan.rows counts them all)
        models = db.scalar(query("pass_models")) if st.many else 1
        rows = min(net.batch_size or plan.rows // models, plan.rows // models) * models
        limit = CHUNK_STEPS or cls.steps(net, rows)
        if (limit < 2 or plan.epoch > plan.last_epoch
                or not chunk_applies(_engine(db))):
            return None
        span = not (st.history or snapshot)
        return cls(limit, span, bool(st.validate), plan.last_epoch,
                   cls.statement_for(net, rows, bool(st.validate), st.many), st.chunk_log,
                   "join_order" if cls.large(net, rows) else "")

    @classmethod
    def statement_for(cls, net: M.Network, rows: int, validate: bool,
                      many: bool = False) -> exp.Expression:
        """The model's chunk statement, for batches of rows samples."""
        # a small network's iteration CTEs are left to DuckDB: whole runs paired with every
        # one MATERIALIZED, digits 0.94-0.96, iris 0.97; mnist-shape 6,000 rows 1.06, so a
        # large one keeps them (NOTES.md §11)
        return chunk_statement(net, materialized=cls.large(net, rows), validate=validate,
                               many=many)

    @classmethod
    def large(cls, net: M.Network, rows: int) -> bool:
        """Whether a step is large: its chunk keeps its CTEs materialized and is planned
        without DuckDB's join_order pass."""
        return cls.work(net, rows) >= CHUNK_JOIN_ORDER_WORK

    @staticmethod
    def work(net: M.Network, rows: int) -> int:
        """The multiply-adds of a step's dense forward products, for a batch of rows."""
        return rows * sum(a * b for a, b in zip(net.widths, net.widths[1:]))

    @classmethod
    def steps(cls, net: M.Network, rows: int) -> int:
        """The model's chunk length: bounded by the work of its dense products, so that a
        chunk of a large model (and a Ctrl-C's wait for its end) stays a few seconds."""
        return int(max(1, min(CHUNK_MAX, CHUNK_WORK // max(cls.work(net, rows), 1))))

    def length(self, done: int, epoch: int, batch: int, batches: int) -> int:
        """How many steps the chunk from this position takes (1: a step of its own)."""
        left = (self.last_epoch - epoch) * batches + batches - batch  # steps left in the run
        n = min(self.limit - done % self.limit, left - 1)
        if not self.span:
            n = min(n, batches - batch)
        return max(n, 1)


def returning_applies(engine: str) -> bool:
    """Whether log_step may be the step's check (INSERT ... RETURNING): DuckDB, PostgreSQL."""
    return engine in ("duckdb", "postgres")


def _engine(db: Database) -> str:
    """The engine's name (duckdb, postgres, spark), from the Database or its engine."""
    kind = getattr(db, "kind", None) or getattr(getattr(db, "engine", None), "kind", None)
    if isinstance(kind, str):
        return kind
    import duckdb
    return "duckdb" if isinstance(getattr(db, "con", None), duckdb.DuckDBPyConnection) \
        else "unknown"


def _chunk(db: Database, st: Statements, ch: Chunks, tables: EpochTables, net: M.Network,
           plan: Plan, epoch: int, batch: int, done: int, n: int) -> tuple[str | None, int]:
    """n optimizer steps in one statement (ch.statement), then the new values copied in and
    the steps logged, in one transaction; after an epoch's last step, the epoch's end.
    Returns how the run stopped, if it did, and the steps taken.

    When a step of the chunk is not finite, the chunk is rolled back and its steps are taken
    one by one, so that training stops at that very step, keeping the steps before it. When
    early stopping stopped the chunk at an epoch's end, the chunk is rolled back and taken
    again up to that epoch's last step, which is taken alone (as with a statement per step:
    its tape is the run's last_step).
    """
    t0, batches = time.perf_counter(), tables.batches
    tables.hold(db, epoch, epoch + (batch + n - 1) // batches)
    slot = tables.slot(epoch, batch)
    lo, hi = (slot, slot + n - 1) if slot + n <= tables.slots else (0, tables.slots - 1)
    try:
        with db.transaction():
            with db.engine.optimizers_off(ch.optimizers_off):
                db.run(ch.statement, k=n, batch=batch, batches=batches, epoch=epoch,
                       first=plan.first, done=done, epochs=plan.last_epoch - plan.first + 1,
                       slot=slot, slots=tables.slots, lo=lo, hi=hi, model=net.model,
                       run=plan.run)
            for tree in st.update:
                db.run(tree)
            if not db.rows(ch.log, run=plan.run, wall_ms=(time.perf_counter() - t0) * 1000 / n):
                raise _Diverged
            if ch.validate:
                _chunk_best(db, st, plan)
            ended = batch + n == batches
            return (_epoch_end(db, st, net, plan, epoch, done + n, validated=ch.validate)
                    if ended else None), n
    except _Diverged:
        pass
    except _Stopped as stop:
        return _stop_again(db, st, ch, tables, net, plan, epoch, batch, done, stop.step)
    stopped = None
    for i in range(n):
        e, b = epoch + (batch + i) // batches, (batch + i) % batches
        tables.hold(db, e)
        stopped = _step(db, st, net, plan, b, e, done + i + 1, last=b == batches - 1, full=False)
    return stopped, n


def _chunk_best(db: Database, st: Statements, plan: Plan) -> None:
    """After a chunk that validated: its best weights and epoch are the run's; a stop inside
    it rolls it back (_Stopped)."""
    stopped_at = db.scalar(st.chunk_stopped)
    if stopped_at is not None:
        raise _Stopped(stopped_at)
    for tree in st.chunk_best:
        db.run(tree, run=plan.run)


def _stop_again(db: Database, st: Statements, ch: Chunks, tables: EpochTables, net: M.Network,
                plan: Plan, epoch: int, batch: int, done: int, step: int) -> tuple[str | None, int]:
    """The chunk again, up to the step before `step`, where early stopping stopped it; then
    that step (an epoch's last) alone, with its full tape and the epoch's end."""
    before = step - done - 1
    if before > 1:
        _, before = _chunk(db, st, ch, tables, net, plan, epoch, batch, done, before)
    elif before == 1:
        tables.hold(db, epoch)
        _step(db, st, net, plan, batch, epoch, done + 1, last=batch == tables.batches - 1)
    e, b = epoch + (batch + before) // tables.batches, (batch + before) % tables.batches
    tables.hold(db, e)
    return _step(db, st, net, plan, b, e, step, last=True, full=True), step - done


class _Stopped(Exception):
    """Early stopping stopped a chunk after step `step`."""

    def __init__(self, step: int):
        super().__init__(step)
        self.step = int(step)


class _Diverged(Exception):
    """A chunk had a non-finite step."""


@dataclass
class EpochTables:
    """Which epochs the epoch tables (epoch_rows, epoch_inputs, epoch_targets) hold: a block
    from epoch ``first`` to ``last``, each epoch's batches in slots of their own (sql/
    batches.sql). A step of its own reads its batch's slot by the batch's number, so it needs
    a block that starts at its epoch; a chunk reads the slots of a block that holds every
    epoch it reaches. Without shuffling every epoch has the same batches: one epoch's
    tables, built once, serve the run (a chunk reads their slots round and round)."""

    st: Statements
    run: int
    reorder: bool
    batches: int        # an epoch's batches (the most of any model of the pass)
    first: int = 0
    last: int = -1      # (none yet)

    @property
    def slots(self) -> int:
        return (self.last - self.first + 1) * self.batches

    def slot(self, epoch: int, batch: int) -> int:
        """Where the tables hold batch `batch` of epoch `epoch`."""
        return (epoch - self.first) * self.batches + batch if self.reorder else batch

    def hold(self, db: Database, first: int, last: int | None = None) -> None:
        """Make the tables hold epochs first to last, for a chunk; for a step of its own
        (last None), a block that starts at epoch first."""
        if self.last >= self.first and (not self.reorder or (
                self.first == first if last is None else self.first <= first <= last <= self.last)):
            return
        last = first if last is None or not self.reorder else last
        for tree in self.st.epoch if first == last else self.st.block:
            db.run(tree, epoch=first, last=last, batches=self.batches, run=self.run)
        self.first, self.last = first, last


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
               step: int, validated: bool = False) -> str | None:
    """After an epoch's last step, in its transaction: history, validation, early stopping
    (unless the chunk that took the step validated already)."""
    where = {"model": net.model, "run": plan.run}
    if st.history:
        db.run(query("keep_history"), epoch=epoch, **where)
    if not st.validate or validated:
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
          step: int, last: bool, full: bool = True) -> str | None:
    """One optimizer step: forward, error, backward and update in one statement, then the
    new values copied in and the step logged; after an epoch's last step, the epoch's end.
    All in one transaction. Returns how the run stopped, if it did. With full, the step's
    tape keeps every intermediate, for last_step: the run's last step takes it (and, with
    validation, every epoch's last, where early stopping may end the run).

    A step whose loss, gradients or new weights are not finite is rolled back: the database
    keeps the last finite weights.
    """
    t0 = time.perf_counter()
    with db.transaction():
        db.engine.plan_step()
        try:
            db.run(st.step_full if full else st.step, batch=batch, step=step, epoch=epoch,
                   e=epoch - plan.first, epochs=plan.last_epoch - plan.first + 1)
        except db.engine.overflow as e:
            raise SqlnetError(f"training diverged at epoch {epoch}, step {step}: "
                              f"{str(e).strip().splitlines()[0]}; {KEPT}") from None
        if st.check is not None and db.rows(st.check)[0][0]:
            _diverged(db, epoch, step)
        for tree in st.update if full else st.update_lean:
            db.run(tree)
        logged = db.rows(st.log, batch=batch, wall_ms=(time.perf_counter() - t0) * 1000,
                         run=plan.run, epoch=epoch, step=step)
        if st.check is None and not logged:  # log_step writes nothing for a non-finite step
            _diverged(db, epoch, step)
        return _epoch_end(db, st, net, plan, epoch, step) if last else None


def _diverged(db: Database, epoch: int, step: int) -> None:
    """Refuse the step (its transaction is rolled back), saying why."""
    loss = db.rows(query("step_check"))[0][1]
    raise SqlnetError(f"training diverged at epoch {epoch}, step {step}: the loss is "
                      f"{loss} or a gradient or weight is not finite; {KEPT}")


KEPT = "the database keeps the weights of the step before; try a smaller --lr"


def save_snapshot(db: Database, path: str) -> None:
    """Copy the model's tables to a DuckDB file that others can read while training goes on
    (DuckDB only: on the other engines, other sessions read the tables themselves)."""
    db.engine.snapshot(path, SNAPSHOT_TABLES)


# What a snapshot holds: the model and its log (weight_history, which grows every epoch, and
# the training data stay out); the view training_info is copied as a table.
SNAPSHOT_TABLES = ["sqlnet_meta", "models", "layers", "weights", "biases", "feature_names",
                   "target_names", "classes", "runs", "training_log", "optimizer_state",
                   "best_weights", "standardization", "class_weights", "model_groups",
                   "training_info"]


