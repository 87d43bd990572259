"""One measured thing per process: ``python benchmarks/worker.py KIND 'JSON spec'``.

Prints one JSON line (the last line starting with ``{``) for run.py; run.py reads the
process's peak RSS from os.wait4. Nothing here asserts on time.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path

# this checkout's sqlnet, not whichever one is installed (a git worktree shares the venv)
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import duckdb  # noqa: E402

import datasets  # noqa: E402
from common import best_of_threads  # noqa: E402


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------
# sqlnet through its library API


def _settings(spec):
    from sqlnet.train import Settings
    s = spec["settings"]
    return Settings(epochs=spec.get("epochs", 1), hidden=s["hidden"], activation=s["activation"],
                    loss=s["loss"], lr=s["lr"], batch_size=s["batch_size"], seed=s.get("seed", 0),
                    threads=spec.get("threads"))


class LoopClock:
    """Wraps sqlnet.train._loop (in this process only) to note when training proper starts,
    and, given stop_after_s, to send this process a SIGINT that many seconds later: sqlnet
    stops at the next step boundary (its own Ctrl-C handling), so a long epoch can be
    measured in part."""

    def __init__(self, stop_after_s: float | None):
        import sqlnet.train as tr
        self.tr, self.orig, self.start = tr, tr._loop, None
        self.stop_after_s = stop_after_s
        self.timer = None

        def loop(*a, **k):
            self.start = time.perf_counter()
            self.threads = int(a[0].sql("SELECT current_setting('threads')").fetchone()[0])
            self.rss_at_start = rss_mib()
            if stop_after_s:
                self.timer = threading.Timer(stop_after_s, os.kill, (os.getpid(), signal.SIGINT))
                self.timer.start()
            return self.orig(*a, **k)
        tr._loop = loop

    def stop(self):
        if self.timer:
            self.timer.cancel()
        self.tr._loop = self.orig


def _log_stats(db) -> dict:
    n, s, med = db.sql("SELECT COUNT(*), SUM(wall_ms), MEDIAN(wall_ms) FROM training_log").fetchone()
    return {"steps": n, "sum_step_wall_ms": s, "median_step_ms": med}


def _finish_partial(out: dict, loop_s: float, steps_per_epoch: int) -> None:
    """Extrapolate a partial epoch: the time outside the steps (the epoch's shuffle tables)
    plus the mean measured step times the steps of a whole epoch."""
    k, s = out["steps"], out["sum_step_wall_ms"] / 1000
    out["partial"] = k < steps_per_epoch
    out["measured_loop_s"] = loop_s
    if out["partial"]:
        out["epoch_setup_s"] = loop_s - s
        out["epoch_s"] = (loop_s - s) + s / k * steps_per_epoch
    else:
        out["epoch_s"] = loop_s


def sqlnet_api(spec: dict) -> dict:
    """train(db, Source(...), targets, settings=...) on a fresh in-memory (or file) database."""
    from sqlnet.data import Source
    from sqlnet.db import Database
    from sqlnet.train import Interrupted, train
    con = duckdb.connect(spec.get("db", ":memory:"), config=spec.get("config", {}))
    db = Database(con)
    clock = LoopClock(spec.get("stop_after_s"))
    t0 = time.perf_counter()
    src = spec["source"]
    interrupted = False
    try:
        report = train(db, Source(**src), spec["targets"], settings=_settings(spec), quiet=True)
        loop_s = report.seconds
    except Interrupted:
        interrupted = True
        loop_s = time.perf_counter() - clock.start
    clock.stop()
    out = {"load_s": clock.start - t0, "loop_s": loop_s, "interrupted": interrupted,
           "threads": report.threads if not interrupted else clock.threads,
           "rss_after_load_mib": clock.rss_at_start, "rss_after_training_mib": rss_mib()}
    out.update(_log_stats(db))
    rows = db.sql("SELECT COUNT(*) FROM train_rows").fetchone()[0]
    out["rows"] = rows
    out["nnz"] = db.sql("SELECT COUNT(*) FROM train_inputs").fetchone()[0]
    out["last_loss"] = db.sql("SELECT loss FROM training_log ORDER BY step DESC LIMIT 1").fetchone()[0]
    bs = spec["settings"]["batch_size"] or rows
    per_epoch = -(-rows // bs)
    out["steps_per_epoch"] = per_epoch
    epochs = spec.get("epochs", 1)
    if epochs == 1 or interrupted:
        _finish_partial(out, loop_s, per_epoch)
    else:
        out["epoch_s"] = loop_s / epochs
        out["partial"] = False
    if spec.get("limit"):
        out["limit"] = best_limit(db, out["threads"], spec.get("limit_batches"))
    if spec.get("limit_update"):
        out["limit_update"] = best_limit(db, out["threads"], spec.get("limit_batches"), update=True)
    if spec.get("floor"):
        import floors
        out["floor"] = best_of_threads(db, out["threads"],
                                       lambda: floors.floor(db.con, per_epoch * epochs), "step_s")
        out["floor"]["check"] = floors.check(db.con)
    if spec.get("weights"):
        from sqlnet import model as M
        out["weights"] = M.parameters(db)
    return out


def best_limit(db, used: int, max_batches: int | None = None, update: bool = False) -> dict:
    """The engine limit on 1 thread and on the threads sqlnet used, whichever is faster."""
    return best_of_threads(db, used, lambda: engine_limit(db, max_batches, update), "epoch_s")


def engine_limit(db, max_batches: int | None = None, update: bool = False) -> dict:
    """The bare matrix products of a 2-layer step, per batch, as one statement each:
    Z1 = X·W1, Z2 = Z1·W2, D1 = D2·W2ᵀ, G2 = Z1ᵀ·D2, G1 = Xᵀ·D1, with the bias as a
    constant-1 input column (so the join row counts equal sqlnet's exactly), on sqlnet's own
    epoch_inputs table. No activation, loss, tape, update, log or transaction: only the
    joins and GROUP BY sums (Z2 stands in for the output delta D2, Z1 for A1). The result is
    the sum of G1 and G2, so that every product's sums are computed: with only the groups
    counted, DuckDB's optimizer drops every SUM as unused and the "limit" times the joins and
    the grouping of keys alone (as it did before 2026-11-28).

    With update, the statement is an UPDATE of the weights the products reach, by a join on
    (layer, row, col) with G1 and G2 (lr tiny): the least a step of this design must also do
    when a batch reaches a large share of the weights (sparse-wide: 1.26 M of 3.2 M)."""
    con = db.con
    con.execute("""CREATE OR REPLACE TEMP TABLE lim_p1 AS
        SELECT row, col, value FROM weights WHERE layer = 1
        UNION ALL SELECT -1 AS row, col, value FROM biases WHERE layer = 1""")
    con.execute("""CREATE OR REPLACE TEMP TABLE lim_p2 AS
        SELECT row, col, value FROM weights WHERE layer = 2
        UNION ALL SELECT -1 AS row, col, value FROM biases WHERE layer = 2""")
    sql = """
    WITH x AS MATERIALIZED (SELECT row, col, value FROM epoch_inputs WHERE batch = $batch
                            UNION ALL SELECT row, -1 AS col, 1.0 AS value FROM epoch_rows
                            WHERE batch = $batch),
    z1 AS MATERIALIZED (SELECT x.row, w.col, SUM(x.value * w.value) AS value
                        FROM x JOIN lim_p1 AS w ON w.row = x.col GROUP BY x.row, w.col),
    a1 AS MATERIALIZED (SELECT row, col, value FROM z1
                        UNION ALL SELECT row, -1 AS col, 1.0 AS value FROM epoch_rows
                        WHERE batch = $batch),
    z2 AS MATERIALIZED (SELECT a.row, w.col, SUM(a.value * w.value) AS value
                        FROM a1 AS a JOIN lim_p2 AS w ON w.row = a.col GROUP BY a.row, w.col),
    d1 AS MATERIALIZED (SELECT d.row, w.row AS col, SUM(d.value * w.value) AS value
                        FROM z2 AS d JOIN lim_p2 AS w ON w.col = d.col AND w.row >= 0
                        GROUP BY d.row, w.row),
    g2 AS MATERIALIZED (SELECT a.col AS row, d.col, SUM(a.value * d.value) AS value
                        FROM a1 AS a JOIN z2 AS d ON d.row = a.row GROUP BY a.col, d.col),
    g1 AS MATERIALIZED (SELECT x.col AS row, d.col, SUM(x.value * d.value) AS value
                        FROM x JOIN d1 AS d ON d.row = x.row GROUP BY x.col, d.col)
    SELECT (SELECT SUM(value) FROM g1) + (SELECT SUM(value) FROM g2) AS s
    """
    if update:  # the same products, and the weights they reach updated in the same statement
        head, _ = sql.rsplit("SELECT (SELECT SUM", 1)
        sql = f"""UPDATE weights AS w SET value = w.value - 1e-12 * g.value
        FROM ({head} SELECT 1 AS layer, row, col, value FROM g1
                     UNION ALL SELECT 2 AS layer, row, col, value FROM g2) AS g
        WHERE w.layer = g.layer AND w.row = g.row AND w.col = g.col"""
    batches = con.execute("SELECT MAX(batch) + 1 FROM epoch_rows").fetchone()[0]
    todo = batches if not max_batches else min(batches, max_batches)
    times = []
    for b in range(todo):
        t = time.perf_counter()
        con.execute(sql, {"batch": b}).fetchall()
        times.append(time.perf_counter() - t)
    total = sum(times)
    return {"batches_run": todo, "batches": batches, "seconds": total,
            "epoch_s": total / todo * batches, "median_batch_ms": sorted(times)[len(times) // 2] * 1000}


# ---------------------------------------------------------------------------------------
# sqlnet with data written straight into its tables (sparse-wide, out-of-core)


def load_long(db, spec: dict, pkg: str = "sqlnet"):
    """A new model and its training data INSERTed by SQL (sparse-wide or mnist-shape), and a
    run of one epoch started: (net, run), ready for sqlnet.train._loop (of package pkg:
    paired.py loads another version of sqlnet as sqlnet_base)."""
    import importlib
    M = importlib.import_module(f"{pkg}.model")
    Source = importlib.import_module(f"{pkg}.data").Source
    _start_run = importlib.import_module(f"{pkg}.train")._start_run
    con, s = db.con, spec["settings"]
    net = M.Network(widths=spec["widths"], activation=s["activation"], loss=s["loss"], lr=s["lr"],
                    batch_size=s["batch_size"], seed=s.get("seed", 0), shuffle=True)
    with db.transaction():
        M.create(db, net)
        d, k = spec["widths"][0], spec["widths"][-1]
        con.execute(f"INSERT INTO feature_names SELECT 0, CAST(i AS INTEGER), 'x' || i FROM range({d}) t(i)")
        con.execute("INSERT INTO target_names VALUES (0, 0, 'label')")
        con.execute(f"INSERT INTO classes SELECT 0, CAST(i AS INTEGER), CAST(i AS VARCHAR) FROM range({k}) t(i)")
        if spec["data"] == "sparse":
            xs, ys = datasets.sparse_wide()
            con.execute(f"INSERT INTO train_rows SELECT 0, row FROM '{ys}'")
            con.execute(f"INSERT INTO train_inputs SELECT 0, row, col, value FROM '{xs}'")
            con.execute(f"INSERT INTO train_targets SELECT 0, row, label, 1.0 FROM '{ys}'")
        else:  # mnist-shape generated in SQL, never in Python
            for sql in datasets.mnist_long_sql(spec["rows"]):
                con.execute(sql)
        run = _start_run(db, net, Source(table="generated"), 1)
    return net, run


def sqlnet_long(spec: dict) -> dict:
    """A new model, its training data INSERTed by SQL into train_rows/inputs/targets, then
    sqlnet's own training loop (sqlnet.train._loop, the code train() runs after loading).

    paired.py and profile_sparse.py time the steps this way, without a loader in the way;
    run.py's workloads go through train() (wide files, or --long cells)."""
    from sqlnet.db import Database
    from sqlnet.train import Interrupted, _loop, _plan, thread_count, threads
    path = spec.get("db", ":memory:")
    if path != ":memory:":
        for p in (path, path + ".wal"):
            if os.path.exists(p):
                os.remove(p)
    con = duckdb.connect(path, config=spec.get("config", {}))
    db = Database(con)
    s = spec["settings"]
    t0 = time.perf_counter()
    net, run = load_long(db, spec)
    t1 = time.perf_counter()
    out = {"load_s": t1 - t0, "rss_after_load_mib": rss_mib()}
    stop = spec.get("stop_after_s")
    timer = threading.Timer(stop, os.kill, (os.getpid(), signal.SIGINT)) if stop else None
    interrupted = False
    plan = _plan(db, net, run)
    n_threads = thread_count(spec.get("threads"), net, plan.rows)
    with threads(db, n_threads):
        t1 = time.perf_counter()
        if timer:
            timer.start()
        try:
            report = _loop(db, net, plan, True, sys.stderr)
            loop_s = report.seconds
        except Interrupted:
            interrupted = True
            loop_s = time.perf_counter() - t1
        if timer:
            timer.cancel()
    out.update({"loop_s": loop_s, "interrupted": interrupted, "threads": n_threads})
    out.update(_log_stats(db))
    out["rows"] = db.sql("SELECT COUNT(*) FROM train_rows").fetchone()[0]
    out["nnz"] = db.sql("SELECT COUNT(*) FROM train_inputs").fetchone()[0]
    out["last_loss"] = db.sql("SELECT loss FROM training_log ORDER BY step DESC LIMIT 1").fetchone()[0]
    out["steps_per_epoch"] = -(-out["rows"] // s["batch_size"])
    _finish_partial(out, loop_s, out["steps_per_epoch"])
    if spec.get("limit"):
        out["limit"] = best_limit(db, n_threads, spec.get("limit_batches"))
    db.close()
    if path != ":memory:" and not spec.get("keep_db"):
        for p in (path, path + ".wal"):
            if os.path.exists(p):
                os.remove(p)
    return out


# ---------------------------------------------------------------------------------------
# baselines


def numpy_iris(spec: dict) -> dict:
    import numpy_mlp
    return numpy_mlp.run_iris(spec)


def cte_iris(spec: dict) -> dict:
    import recursive_cte
    return recursive_cte.run(spec)


def verify_iris(spec: dict) -> dict:
    import recursive_cte
    return recursive_cte.verify(spec)


def torch_mlp(spec: dict) -> dict:
    import torch_mlp as tm
    return tm.run(spec)


KINDS = {"sqlnet": sqlnet_api, "sqlnet_long": sqlnet_long, "numpy_iris": numpy_iris,
         "cte_iris": cte_iris, "verify_iris": verify_iris, "torch": torch_mlp}

if __name__ == "__main__":
    kind, spec = sys.argv[1], json.loads(sys.argv[2])
    result = KINDS[kind](spec)
    print(json.dumps(result, default=float), flush=True)
