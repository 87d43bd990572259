"""Paired timing of two versions of sqlnet: ``python benchmarks/paired.py [--base REV] WORKLOAD ...``.

The base version is sqlnet's code at git revision REV (default: main), extracted into a
temporary package ``sqlnet_base``; the new version is this checkout's ``sqlnet``. Both run
in this process, alternately (base, new, new, base, ...), each a whole training run of the
workload on a fresh in-memory database, so that the other load on a shared machine hits
both alike. Reported: each version's median loop seconds (Report.seconds: the training
loop, not the data loading) and the median of the per-pair ratios new / base (< 1: faster).
The weights of the two versions are compared too (max relative difference).
Nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # this checkout's sqlnet, not the installed one

import datasets  # noqa: E402

WORKLOADS = {
    "iris": dict(source=datasets.iris, targets=datasets.IRIS_TARGETS,
                 settings=dict(hidden=[20], activation="sigmoid", loss="mse", lr=0.1,
                               batch_size=0, epochs=200)),
    "digits": dict(source=datasets.digits, targets=["label"],
                   settings=dict(hidden=[64], activation="relu", loss="cross_entropy", lr=0.1,
                                 batch_size=32, epochs=1)),
    "mnist6k": dict(source=lambda: datasets.mnist(6000), targets=["label"],
                    settings=dict(hidden=[128], activation="relu", loss="cross_entropy", lr=0.1,
                                  batch_size=256, epochs=1)),
    "adam": dict(source=datasets.digits, targets=["label"],
                 settings=dict(hidden=[32], activation="tanh", loss="cross_entropy", lr=0.01,
                               batch_size=64, epochs=1, controls={"optimizer": "adam"})),
    # data INSERTed into sqlnet's tables by SQL, then sqlnet's training loop (as run.py)
    "sparse-wide": dict(long={"data": "sparse", "widths": [50000, 64, 2], "settings": dict(
        hidden=[64], activation="relu", loss="cross_entropy", lr=0.1, batch_size=500)},
        settings=dict(epochs=1)),
}


def base_module(rev: str):
    """sqlnet at git revision rev, importable as sqlnet_base."""
    tmp = Path(tempfile.mkdtemp(prefix="sqlnet_base_"))
    pkg = tmp / "sqlnet_base"
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "sqlnet", "sql"],
                          check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=arch, check=True)
    (tmp / "sqlnet").rename(pkg)
    shutil.move(str(tmp / "sql"), str(pkg / "sql"))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("sqlnet_base")


def run_once(pkg: str, w: dict, threads: int = 1):
    import duckdb
    if "long" in w:
        return run_long(pkg, w["long"])
    data = importlib.import_module(f"{pkg}.data")
    dbm = importlib.import_module(f"{pkg}.db")
    tr = importlib.import_module(f"{pkg}.train")
    M = importlib.import_module(f"{pkg}.model")
    db = dbm.Database(duckdb.connect())
    s = dict(w["settings"])
    report = tr.train(db, data.Source(w["source"]()), w["targets"], quiet=True,
                      settings=tr.Settings(seed=0, threads=threads, **s))
    params = M.parameters(db)
    db.close()
    return report.seconds, params


def run_long(pkg: str, spec: dict):
    """A workload whose data is INSERTed by SQL (worker.load_long), then the loop."""
    import duckdb
    import worker
    dbm = importlib.import_module(f"{pkg}.db")
    tr = importlib.import_module(f"{pkg}.train")
    M = importlib.import_module(f"{pkg}.model")
    db = dbm.Database(duckdb.connect())
    net, run = worker.load_long(db, spec, pkg)
    with tr.threads(db, 1):
        report = tr._loop(db, net, tr._plan(db, net, run), True, sys.stderr)
    params = M.parameters(db)
    db.close()
    return report.seconds, params


def max_rel(a, b) -> float:
    worst = 0.0
    for (Wa, ba), (Wb, bb) in zip(a, b):
        for x, y in zip([v for r in Wa for v in r] + list(ba), [v for r in Wb for v in r] + list(bb)):
            worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", default=["iris", "digits"], choices=list(WORKLOADS))
    ap.add_argument("--base", default="main")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="override the workload's epochs")
    args = ap.parse_args(argv)
    base_module(args.base)
    out = {}
    for name in args.workloads:
        w = WORKLOADS[name]
        if args.epochs:
            w = {**w, "settings": {**w["settings"], "epochs": args.epochs}}
        run_once("sqlnet", w)  # warm-up (data files, imports)
        tb, tn, ratios, diff = [], [], [], 0.0
        for i in range(args.pairs):
            order = [("sqlnet_base", tb), ("sqlnet", tn)][:: 1 if i % 2 == 0 else -1]
            got = {}
            for pkg, sink in order:
                t, params = run_once(pkg, w)
                sink.append(t)
                got[pkg] = params
            ratios.append(tn[-1] / tb[-1])
            diff = max(diff, max_rel(got["sqlnet"], got["sqlnet_base"]))
            print(f"{name} pair {i + 1}: base {tb[-1]:.3f} s, new {tn[-1]:.3f} s, "
                  f"ratio {ratios[-1]:.3f}", file=sys.stderr, flush=True)
        out[name] = {"base_s": statistics.median(tb), "new_s": statistics.median(tn),
                     "ratio_new_over_base": statistics.median(ratios),
                     "ratios": [round(r, 4) for r in ratios], "max_rel_weight_diff": diff,
                     "base": args.base, "pairs": args.pairs,
                     "settings": {k: v for k, v in w["settings"].items()},
                     "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        print(json.dumps({name: out[name]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
