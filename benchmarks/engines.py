"""Seconds per training step on DuckDB, PostgreSQL and Spark SQL, as ratios to DuckDB:
``python benchmarks/engines.py [--quick]``. Writes benchmarks/engines.json and ENGINES.md.

All in one process: one throwaway PostgreSQL 15 server (tests/servers.py, stopped at the
end, also on error) and one local[2] Spark, started once (its start is timed apart). Every
engine trains the same model on the same data with the same Settings; a wrapper around
sqlnet.train._step notes when each step starts and ends, keeps DuckDB's weights after the
steps the other engines stop at (to compare them, to 1e-9 relative), and stops a run after
its step count through sqlnet's own Ctrl-C path (the loop ends at the next step boundary). Step 1 is warm-up and not timed;
"load" is from train() to the start of step 1 (model, data, the epoch's tables).

Per step: the median of training_log.wall_ms (the step statement, its check, the update;
not the log row nor the COMMIT), and the wall-clock of the whole _step call (the
transaction, COMMIT included) summed over the timed steps / their number. The time per
statement kind over the timed steps is recorded too. Nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlglot import exp

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import datasets  # noqa: E402
from common import fmt, machine  # noqa: E402
from servers import start_postgres  # noqa: E402

import sqlnet.train as T  # noqa: E402
from sqlnet import model as M  # noqa: E402
from sqlnet.data import Source  # noqa: E402
from sqlnet.db import Database  # noqa: E402

# DuckDB runs before and again after the others (the machine is shared): its reference
# numbers are the mean of the two, and their difference shows how much the load moved.
RUNS = ["duckdb", "postgres", "spark", "duckdb_again"]
WORKLOADS = {  # steps per engine: full run, --quick run
    "iris": {"what": "iris 4-20-3, sigmoid, mse, full batch (120 rows): a step is an epoch",
             "data": datasets.iris, "targets": datasets.IRIS_TARGETS,
             "settings": {"hidden": [20], "activation": "sigmoid", "loss": "mse", "lr": 0.1,
                          "batch_size": 0},
             "steps": {"duckdb": 200, "postgres": 200, "spark": 10},
             "quick": {"duckdb": 20, "postgres": 20, "spark": 3}},
    "digits": {"what": "digits 64-64-10, relu, softmax + cross_entropy, batch 32 "
                       "(1797 rows: 57 steps an epoch)",
               "data": datasets.digits, "targets": ["label"],
               "settings": {"hidden": [64], "activation": "relu", "loss": "cross_entropy",
                            "lr": 0.1, "batch_size": 32},
               "steps": {"duckdb": 57, "postgres": 57, "spark": 5},
               "quick": {"duckdb": 10, "postgres": 10, "spark": 3}},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


class Clock:
    """Wraps sqlnet.train._step and db.run for one training run (see the module's doc)."""

    def __init__(self, db: Database, stop_after: int, keep: set[int]):
        self.db, self.stop_after, self.keep = db, stop_after, keep
        self.spans, self.params = [], {}
        self.statements = defaultdict(float)   # seconds per statement kind, timed steps only
        self.render_s = 0.0                    # of which sqlglot's rewriting and rendering
        self.timing = False
        self.orig_step, self.orig_run = T._step, db.run
        self.orig_statements, self.orig_commit = db.engine.statements, db.engine.commit
        T._step, db.run = self._step, self._run
        db.engine.statements, db.engine.commit = self._statements, self._commit

    def _step(self, *a, **k):
        self.timing = len(self.spans) >= 1      # step 1 is warm-up
        t = time.perf_counter()
        out = self.orig_step(*a, **k)
        self.spans.append((t, time.perf_counter()))
        self.timing = False
        n = len(self.spans)
        if n in self.keep:
            self.params[n] = M.parameters(self.db)
        if n == self.stop_after:
            signal.raise_signal(signal.SIGINT)  # sqlnet's handler: stop before the next step
        return out

    def _timed(self, label: str, fn, *a, **k):
        if not self.timing:
            return fn(*a, **k)
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            self.statements[label] += time.perf_counter() - t

    def _run(self, tree, **params):
        table = tree.find(exp.Table)
        return self._timed(f"{tree.key.upper()} {table.name if table else ''}".strip(),
                           self.orig_run, tree, **params)

    def _statements(self, tree):
        t = time.perf_counter()
        try:
            return self.orig_statements(tree)
        finally:
            if self.timing:
                self.render_s += time.perf_counter() - t

    def _commit(self):
        return self._timed("COMMIT", self.orig_commit)

    def restore(self):
        T._step = self.orig_step


def run_one(w: dict, target: str, steps: int, keep: set[int],
            warehouse: str | None = None) -> dict:
    s = w["settings"]
    epochs = max(w["steps"].values()) if s["batch_size"] == 0 else 1
    settings = T.Settings(epochs=epochs, seed=0, **s)
    load0 = loadavg()
    t0 = time.perf_counter()
    db = Database(target, warehouse=warehouse)
    connect_s = time.perf_counter() - t0
    clock = Clock(db, steps, keep | {steps})
    chunk_steps, T.CHUNK_STEPS = T.CHUNK_STEPS, 1  # a statement per step on DuckDB too (the
    try:                                           # chunks are DuckDB's only: RESULTS.md)
        try:
            T.train(db, Source(w["data"]()), w["targets"], settings=settings, quiet=True)
        except T.Interrupted:
            pass
        log_rows = db.sql("SELECT step, wall_ms, batch_size FROM training_log ORDER BY step").fetchall()
    finally:
        clock.restore()
        T.CHUNK_STEPS = chunk_steps
        db.close()
    spans = clock.spans
    assert len(spans) == len(log_rows) == steps, (len(spans), len(log_rows), steps)
    timed = log_rows[1:]
    wall = sum(e - b for b, e in spans[1:])
    samples = sum(r[2] for r in timed)
    return {
        "steps": steps, "steps_timed": len(timed),
        "median_step_s": statistics.median(r[1] for r in timed) / 1000,
        "wall_step_s": wall / len(timed),
        "samples_per_s": samples / wall,
        "samples_timed": samples,
        "connect_s": connect_s,
        "load_s": spans[0][0] - t0 - connect_s,
        "first_step_s": spans[0][1] - spans[0][0],
        "statements_s": dict(sorted(clock.statements.items(), key=lambda kv: -kv[1])),
        "render_s": clock.render_s,
        "loadavg_before": load0, "loadavg_after": loadavg(),
        "params": clock.params,
    }


def max_rel_diff(a, b) -> tuple[float, float]:
    """Largest |x - y| / max(|x|, |y|) and largest |x - y| over every weight and bias."""
    rel = ab = 0.0
    for (Wa, ba), (Wb, bb) in zip(a, b, strict=True):
        for x, y in zip([v for r in Wa for v in r] + ba, [v for r in Wb for v in r] + bb, strict=True):
            d = abs(x - y)
            ab = max(ab, d)
            if d:
                rel = max(rel, d / max(abs(x), abs(y)))
    return rel, ab


def versions(pg_url: str | None, spark) -> dict:
    import duckdb
    import psycopg
    import pyspark
    import sqlglot
    out = {"python": platform.python_version(), "duckdb": duckdb.__version__,
           "sqlglot": sqlglot.__version__, "psycopg": psycopg.__version__,
           "pyspark": pyspark.__version__, "spark": spark.version if spark else None,
           "java": subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
           .stderr.splitlines()[0]}
    if pg_url:
        with psycopg.connect(pg_url) as con:
            out["postgres"] = con.execute("SHOW server_version").fetchone()[0]
    out["sqlnet_commit"] = subprocess.run(["git", "-C", str(HERE.parent), "log", "-1", "--format=%h %s"],
                                          capture_output=True, text=True, check=False).stdout.strip()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps: a smoke run")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    res = {"mode": mode, "started_at": dt.datetime.now().isoformat(timespec="seconds"),
           "machine": machine(), "workloads": {}}
    tmp = Path(tempfile.mkdtemp(prefix="sqlnet-engines-"))
    server = None
    try:
        log("starting PostgreSQL")
        server = start_postgres()
        log("starting Spark local[2]")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from sqlnet.engines.spark import session
        t = time.perf_counter()
        spark = session("local[2]")
        res["spark_start_s"] = time.perf_counter() - t
        res["versions"] = versions(server.url(), spark)
        for name, w in WORKLOADS.items():
            steps = w["quick" if args.quick else "steps"]
            out = res["workloads"][name] = {"what": w["what"], "settings": w["settings"], "engines": {}}
            for run in RUNS:
                engine = run.removesuffix("_again")
                log(f"{name} on {run}: {steps[engine]} steps")
                target = (str(tmp / f"{name}-{run}.duckdb") if engine == "duckdb" else
                          server.create_database() if engine == "postgres" else "spark:local[2]")
                keep = set(steps.values()) if engine == "duckdb" else set()
                try:
                    r = run_one(w, target, steps[engine], keep,
                                str(tmp / f"{name}-warehouse") if engine == "spark" else None)
                except Exception as e:  # noqa: BLE001 - recorded, and the other engines go on
                    log(f"  FAILED: {type(e).__name__}: {e}")
                    out["engines"][run] = {"error": f"{type(e).__name__}: {e}"}
                    continue
                out["engines"][run] = r
                log(f"  median {r['median_step_s'] * 1000:.1f} ms/step (log), "
                    f"{r['wall_step_s'] * 1000:.1f} ms/step (wall), load {r['load_s']:.1f} s")
            finish(out)
    finally:
        if server:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res["machine"]["loadavg_at_end"] = loadavg()
    res["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    (HERE / "engines.json").write_text(json.dumps(res, indent=1) + "\n")
    (HERE / "ENGINES.md").write_text(render(res))
    log("wrote benchmarks/engines.json and benchmarks/ENGINES.md")
    return 0


def finish(out: dict) -> None:
    """Ratios to DuckDB and the weight check (the weights themselves are not kept)."""
    eng = out["engines"]
    params = {e: r.pop("params") for e, r in eng.items() if "error" not in r}
    ducks = [eng[d] for d in ("duckdb", "duckdb_again") if "error" not in eng.get(d, {"error": 1})]
    if not ducks:
        return
    ref = {k: statistics.mean(d[k] for d in ducks) for k in ("median_step_s", "wall_step_s")}
    out["duckdb_reference"] = ref
    for e, r in eng.items():
        if "error" in r:
            continue
        r["ratio_to_duckdb"] = r["median_step_s"] / ref["median_step_s"]
        r["wall_ratio_to_duckdb"] = r["wall_step_s"] / ref["wall_step_s"]
        if e != "duckdb" and "duckdb" in params:
            rel, ab = max_rel_diff(params[e][r["steps"]], params["duckdb"][r["steps"]])
            r["weights_vs_duckdb"] = {"after_steps": r["steps"], "max_rel_diff": rel,
                                      "max_abs_diff": ab, "within_1e-9": rel <= 1e-9}


def render(res: dict) -> str:
    m, v = res["machine"], res.get("versions", {})
    L = ["# sqlnet on DuckDB, PostgreSQL and Spark SQL", "",
         f"Written by `python benchmarks/engines.py{' --quick' if res['mode'] == 'quick' else ''}` "
         f"({res['mode']} mode) on {res['started_at']}; all numbers are from that one run, "
         "every engine seconds apart in one process.", "",
         f"**Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
         f"load average (1, 5, 15 min) {m['loadavg_at_start']} at the start and "
         f"{m['loadavg_at_end']} at the end (the machine is shared: other work ran too).  ",
         f"**Versions**: Python {v.get('python')}, duckdb {v.get('duckdb')}, PostgreSQL "
         f"{v.get('postgres')} (psycopg {v.get('psycopg')}), Spark {v.get('spark')} (pyspark "
         f"{v.get('pyspark')}, {v.get('java')}), sqlglot {v.get('sqlglot')}; sqlnet at "
         f"{v.get('sqlnet_commit')}.", "",
         "**How**: DuckDB is a database file on 1 thread (what sqlnet's --threads auto gives "
         "these small steps); PostgreSQL a "
         "throwaway local server (fsync off, JIT off: tests/servers.py) over TCP on 127.0.0.1; "
         f"Spark `local[2]`, started once for the run ({fmt(res.get('spark_start_s'))} s, not "
         "counted anywhere below), its tables Parquet files in a temporary warehouse. Every "
         "engine trains the same model from the same seed. Step 1 is warm-up and not timed. "
         "*s/step (log)* is the median of training_log.wall_ms over the timed steps (the step "
         "statement, its check and the weight update); *s/step (wall)* is the wall-clock of the "
         "whole step transaction (also the log row and the COMMIT), summed over the timed steps "
         "and divided by their number; samples/s uses the wall-clock. *Load* is from train() to "
         "the start of step 1 (model creation, data loading, the epoch's tables). DuckDB runs "
         "before the other engines and again after them (*duckdb_again*); ratios divide by the "
         "mean of its two runs, and the two runs' difference shows how much the load moved.", ""]
    for name, w in res["workloads"].items():
        L += [f"## {name}", "", w["what"] + f"; lr {w['settings']['lr']}, seed 0.", "",
              "| engine | steps (timed) | s/step (log) | s/step (wall) | samples/s | ratio to DuckDB (log) | ratio (wall) | load s | first step s | weights vs DuckDB: max rel diff |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for e, r in w["engines"].items():
            if "error" in r:
                L.append(f"| {e} | **failed**: {r['error'][:200]} |||||||||")
                continue
            chk = r.get("weights_vs_duckdb")
            c = "(reference)" if e == "duckdb" else "—" if not chk else (
                f"{chk['max_rel_diff']:.1e} after {chk['after_steps']} steps "
                f"({'ok' if chk['within_1e-9'] else '**over 1e-9**'})")
            L.append(f"| {e} | {r['steps']} ({r['steps_timed']}) | {r['median_step_s']:.4g} | "
                     f"{r['wall_step_s']:.4g} | {fmt(r['samples_per_s'])} | "
                     f"{fmt(r.get('ratio_to_duckdb'))} | {fmt(r.get('wall_ratio_to_duckdb'))} | "
                     f"{r['load_s']:.3g} | {r['first_step_s']:.3g} | {c} |")
        L += ["", "Where the time of the timed steps goes (mean seconds per step, by statement; "
              "*sqlglot* is the rewriting and rendering inside those statements, on Spark "
              "done for every statement, elsewhere once per run):", ""]
        for e, r in w["engines"].items():
            if "error" in r:
                continue
            n = r["steps_timed"]
            parts = [f"{k} {v / n:.3g}" for k, v in r["statements_s"].items()]
            L.append(f"- {e}: " + ", ".join(parts) + f"; sqlglot {r['render_s'] / n:.3g}. "
                     f"Load average {r['loadavg_before']} → {r['loadavg_after']}.")
        L.append("")
    L += ["## How to run", "", "```sh",
          "python benchmarks/engines.py          # about 5 minutes",
          "python benchmarks/engines.py --quick  # fewer steps: a smoke run",
          "```", "",
          "Needs PostgreSQL 15 (initdb, pg_ctl; as root it runs them as the postgres user), "
          "Java 17+ and `pip install -e '.[postgres,spark]'`. The data is the committed "
          "benchmarks/data/*.csv; nothing is downloaded.", ""]
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
