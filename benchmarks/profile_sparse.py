"""Where a sparse-wide step's time goes: every statement of sqlnet's training loop timed on
the sparse-wide workload (benchmarks/run.py w_sparse), and DuckDB's JSON profile of the
statements that matter.

``python benchmarks/profile_sparse.py [--steps N] [--profile]`` prints the median time per
statement kind over the run, and with --profile the operators of one step's statements.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import duckdb  # noqa: E402

from profile_step import profile_json  # noqa: E402
from worker import load_long  # noqa: E402

SPEC = {"data": "sparse", "widths": [50000, 64, 2], "threads": 1,
        "settings": {"hidden": [64], "activation": "relu", "loss": "cross_entropy", "lr": 0.1,
                     "batch_size": 500}}


def label(sql: str) -> str:
    """A statement's kind: its first words (the table it writes, for DML)."""
    text = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    words = text.split()
    for i, w in enumerate(words):
        if w.upper() in ("TABLE", "UPDATE", "INTO") and i + 1 < len(words):
            return f"{words[0]} {words[i + 1]}" + (" (rowid)" if "rowid" in text else "")
    return " ".join(words[:4])


def timed_run(db, steps: int | None, optimizer: str | None = None) -> dict:
    """Train (one epoch, or `steps` steps), timing every statement by its kind."""
    from sqlnet.train import Interrupted, _loop, _plan
    times: dict[str, list[float]] = defaultdict(list)
    sqls: dict[str, str] = {}
    call, count = db.engine.call, [0]

    def timed_call(sql, keys, params):
        t = time.perf_counter()
        r = call(sql, keys, params)
        times[label(sql)].append(time.perf_counter() - t)
        sqls[label(sql)] = sql
        if label(sql).startswith("INSERT training_log"):
            count[0] += 1
            if steps and count[0] >= steps:
                import os
                import signal
                os.kill(os.getpid(), signal.SIGINT)
        return r
    db.engine.call = timed_call
    net, run = load_long(db, SPEC)
    t0 = time.perf_counter()
    try:
        _loop(db, net, _plan(db, net, run), True, sys.stderr)
    except Interrupted:
        pass
    wall = time.perf_counter() - t0
    db.engine.call = call
    return {"wall_s": wall, "steps": count[0], "sqls": sqls,
            "ms": {k: {"n": len(v), "median": statistics.median(v) * 1000,
                       "total": sum(v) * 1000} for k, v in times.items()}}


def main() -> None:
    from sqlnet.db import Database
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    db = Database(duckdb.connect())
    db.con.execute("SET threads = 1")
    r = timed_run(db, args.steps)
    print(f"{r['steps']} steps in {r['wall_s']:.2f} s, {r['wall_s'] / max(r['steps'], 1) * 1000:.0f} ms a step")
    for k, v in sorted(r["ms"].items(), key=lambda kv: -kv[1]["total"]):
        print(f"  {v['total']:9.1f} ms  n={v['n']:3d}  median {v['median']:8.2f} ms  {k}")
    if args.profile:
        for k, sql in r["sqls"].items():
            if r["ms"][k]["median"] < 5 or r["ms"][k]["n"] < 2 or k == "INSERT training_log":
                continue
            params = {"batch": 1, "step": 99, "epoch": 1, "e": 0, "epochs": 1}
            names = [p for p in params if re.search(rf"\${p}\b", sql)]
            p = profile_json(db, sql, {n: params[n] for n in names})
            p.pop("operator_rows", None)
            print(k, json.dumps(p, indent=1))


if __name__ == "__main__":
    main()


def tree(db, sql: str, params: dict, top: int = 40) -> list[str]:
    """The operators of one statement's profile, costliest first: time, rows, what."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        db.con.execute("PRAGMA enable_profiling = 'json'")
        db.con.execute(f"PRAGMA profiling_output = '{f.name}'")
        db.con.execute("SET profiling_mode = 'detailed'")
        db.con.execute(sql, params)
        db.con.execute("PRAGMA disable_profiling")
        d = json.loads(Path(f.name).read_text())
    out = []

    def walk(node, depth):
        for ch in node if isinstance(node, list) else [node]:
            extra = ch.get("extra_info", {})
            what = {k: v for k, v in extra.items() if k in ("Join Type", "Conditions", "Groups",
                                                            "Table", "CTE Name", "Aggregates",
                                                            "Estimated Cardinality", "Filters")}
            out.append(f"{ch.get('timing', 0) * 1000:8.1f} ms {ch.get('intermediate_rows', 0):>9} "
                       f"{'  ' * depth}{ch.get('name')} {json.dumps(what)[:220]}")
            walk(ch.get("children", []), depth + 1)
    walk(d.get("operator", []), 0)
    return out
