"""Many models in one pass against one model alone, in the same process.

    python benchmarks/many_models.py [--steps 1000] [--counts 32,256]

The workload of the issue "Many models in one pass": iris-sized models (4-20-3, sigmoid,
mse, full batch), trained for --steps steps. One model is trained alone, then 32 (and 256)
models, one per seed, in one pass (`sqlnet sweep`). Ratios are measured in the same run;
the results go to benchmarks/many_models.json and benchmarks/MANY_MODELS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sqlnet.data import Source  # noqa: E402
from sqlnet.db import Database  # noqa: E402
from sqlnet.sweep import Grid, sweep  # noqa: E402
from sqlnet.train import Settings, train  # noqa: E402

IRIS = HERE.parent / "sqlnet" / "datasets" / "iris_train.csv"
BASE = dict(activation="sigmoid", loss="mse", lr=0.1, batch_size=0)


TARGETS = ["y_setosa", "y_versicolor", "y_virginica"]


def onehot(tmp: Path) -> str:
    """iris with the species one-hot, for the mse loss (written by DuckDB)."""
    out = tmp / "iris_onehot.csv"
    duckdb.sql(f"COPY (SELECT * EXCLUDE (species), "
               "CAST(species = 'setosa' AS DOUBLE) AS y_setosa, "
               "CAST(species = 'versicolor' AS DOUBLE) AS y_versicolor, "
               "CAST(species = 'virginica' AS DOUBLE) AS y_virginica "
               f"FROM read_csv('{IRIS}')) TO '{out}' (HEADER)")
    return str(out)


def one(steps: int, tmp: Path) -> float:
    with Database(tmp / "one.duckdb") as db:
        t0 = time.perf_counter()
        train(db, Source(onehot(tmp)), TARGETS, settings=Settings(
            epochs=steps, hidden=[20], **BASE))
        return time.perf_counter() - t0


def many(n: int, steps: int, tmp: Path) -> float:
    with Database(tmp / f"many{n}.duckdb") as db:
        t0 = time.perf_counter()
        sweep(db, Source(onehot(tmp)), TARGETS,
              Grid(lr=[0.1], hidden=[[20]], seed=list(range(n)), batch_size=[0]),
              Settings(epochs=steps, activation="sigmoid", loss="mse"))
        return time.perf_counter() - t0


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**20, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "sqlglot": sqlglot.__version__, "load_average": os.getloadavg()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--counts", default="32,256")
    args = p.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    results = {"machine": machine(), "steps": args.steps, "runs": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        single = one(args.steps, tmp)
        results["one_model_s"] = single
        print(f"1 model: {single:.1f} s ({1000 * single / args.steps:.1f} ms/step)", flush=True)
        for n in counts:
            t = many(n, args.steps, tmp)
            row = {"models": n, "seconds": t, "ms_per_step": 1000 * t / args.steps,
                   "times_one_model": t / single, "cheaper_per_model": n * single / t}
            results["runs"].append(row)
            print(f"{n} models: {t:.1f} s, {t / single:.2f}x one model, "
                  f"{n * single / t:.1f}x cheaper per model than one by one", flush=True)
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["load_average_after"] = os.getloadavg()
    (HERE / "many_models.json").write_text(json.dumps(results, indent=2))
    write_markdown(results)


def write_markdown(r: dict) -> None:
    m = r["machine"]
    lines = ["# Many models in one pass", "",
             "Written by `python benchmarks/many_models.py`. iris-sized models (4-20-3, sigmoid, "
             f"mse, full batch of 120 rows), {r['steps']} steps, 1 DuckDB thread; one model alone, "
             "then N models (one per seed) in one pass, measured in the same process.", "",
             f"**Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python "
             f"{m['python']}, duckdb {m['duckdb']}, sqlglot {m['sqlglot']}; load average "
             f"{[round(x, 2) for x in m['load_average']]} before, "
             f"{[round(x, 2) for x in r['load_average_after']]} after (a shared machine).", "",
             "| models | seconds | ms/step | × one model's time | cheaper per model than one by one |",
             "|---|---|---|---|---|",
             f"| 1 | {r['one_model_s']:.1f} | {1000 * r['one_model_s'] / r['steps']:.1f} | 1 | 1 |"]
    for run in r["runs"]:
        lines.append(f"| {run['models']} | {run['seconds']:.1f} | {run['ms_per_step']:.1f} | "
                     f"{run['times_one_model']:.2f} | {run['cheaper_per_model']:.1f} |")
    bar = next((x for x in r["runs"] if x["models"] == 32), None)
    if bar:
        ok = bar["times_one_model"] <= 8
        lines += ["", f"Bar (32 models at most 8× one model's time): {bar['times_one_model']:.2f}× "
                      f"→ {'met' if ok else 'NOT met'}."]
    lines.append(f"\nPeak RSS of the process: {r['peak_rss_mib']:.0f} MiB.")
    (HERE / "MANY_MODELS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
