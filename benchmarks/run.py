"""The benchmark harness: ``python benchmarks/run.py [--quick] [--only NAME] [--full]``.

Runs every workload (each measured thing in its own process), then writes
benchmarks/results.json and benchmarks/RESULTS.md. Workloads: iris, digits, mnist-shape,
sparse-wide, user-paths, and (only with --only out-of-core or --full) out-of-core. The others
measure training inside a process (per epoch); user-paths times whole processes of the
`sqlnet` command line, start to exit (--quick: 2 rounds instead of 5). A run with --only
replaces that workload's entry and keeps the others from earlier runs; every entry says
when and in which mode (quick, default, full) it was measured.

Every comparison is a ratio of two measurements taken in the same run, seconds apart, on
the same machine. Nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import datasets  # noqa: E402
from common import HERE, PY, child, fmt, machine, median, product_rows, versions  # noqa: E402

WORKLOADS = ["iris", "digits", "mnist-shape", "sparse-wide", "out-of-core", "user-paths"]
DEFAULT = ["iris", "digits", "mnist-shape", "sparse-wide", "user-paths"]


def plural(threads: int) -> str:
    return f"{threads} thread{'s' if threads != 1 else ''}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def sqlnet_runs(spec: dict, repeats: int, label: str) -> list[dict]:
    out = []
    for i in range(repeats):
        log(f"  sqlnet {label} run {i + 1}/{repeats}")
        out.append(child("sqlnet" if "source" in spec else "sqlnet_long", spec))
    return out


def summarize_sqlnet(runs: list[dict], widths: list[int], epochs_per_run: int = 1) -> dict:
    r0 = runs[0]
    n, nnz = r0["rows"], r0["nnz"]
    epoch_s = median([r["epoch_s"] for r in runs])
    rows = product_rows(widths, n, nnz)
    return {"epoch_s": epoch_s, "epoch_s_runs": [r["epoch_s"] for r in runs],
            "samples_per_s": n / epoch_s, "product_rows_per_epoch": rows,
            "product_rows_per_s": rows["total"] / epoch_s,
            "median_step_ms": median([r["median_step_ms"] for r in runs]),
            "steps_per_epoch": r0["steps_per_epoch"],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "rss_after_load_mib": max(r.get("rss_after_load_mib") or 0 for r in runs),
            "load_s": median([r["load_s"] for r in runs]),
            "partial": any(r.get("partial") for r in runs),
            "steps_measured": [r["steps"] for r in runs],
            "last_loss": r0["last_loss"], "rows": n, "nnz": nnz,
            "threads": r0.get("threads", 1)}


def other_threads(sq: dict) -> int:
    """The thread count sqlnet's auto did not choose: 2 where it chose 1, else 1."""
    return 2 if sq["threads"] == 1 else 1


def baseline(times_per_epoch: list[float], n: int, rows_total: int, rss: float, **extra) -> dict:
    e = median(times_per_epoch)
    return {"epoch_s": e, "epoch_s_runs": times_per_epoch, "samples_per_s": n / e,
            "product_rows_per_s": rows_total / e, "peak_rss_mib": rss, **extra}


def floor_baseline(runs: list[dict], n: int, rows_total: int) -> dict:
    """The floor (floors.py) measured after each sqlnet run, per epoch of sqlnet's steps."""
    fl = [r["floor"] for r in runs]
    per_epoch = runs[0]["steps_per_epoch"]
    return baseline([f["step_s"] * per_epoch for f in fl], n, rows_total, None,
                    threads=fl[0]["threads"], by_threads_runs=[f["by_threads"] for f in fl],
                    steps_per_statement=fl[0]["steps"],
                    check_max_rel_diff=max(f["check"] for f in fl))


def floor_check(allowed_s: float, floor_s: float, floor_name: str) -> str:
    """Whether a bar's time lies above or below the design's floor, as one sentence."""
    r = floor_s / allowed_s
    where = ("below the floor: no implementation whose products are joins with GROUP BY sums "
             "on this engine and machine can meet it" if r > 1 else
             "above the floor: within the design's reach")
    return (f"the bar allows sqlnet {fmt(allowed_s)} s/epoch; {floor_name} alone takes "
            f"{fmt(floor_s)} s/epoch ({r:.2f} of what the bar allows), so the bar lies {where}")


def torch_best(spec: dict, n: int, rows_total: int, threads=(1, 2)) -> dict:
    per = {}
    for t in threads:
        log(f"  torch {spec.get('data')} {spec.get('mode', 'dense')} threads={t}")
        r = child("torch", {**spec, "threads": t})
        per[t] = r
    best = min(per, key=lambda t: median(per[t]["times_s"]))
    return baseline(per[best]["times_s"], n, rows_total, max(p["peak_rss_mib"] for p in per.values()),
                    threads=best, by_threads={t: median(p["times_s"]) for t, p in per.items()},
                    nominal_rows=True)


# ---------------------------------------------------------------------------------------


def w_iris(mode: str) -> dict:
    steps = 50 if mode == "quick" else 1000
    repeats = 1 if mode == "quick" else 3
    lr = 0.1
    settings = {"hidden": [20], "activation": "sigmoid", "loss": "mse", "lr": lr, "batch_size": 0}
    log("  verify: sqlnet, numpy, recursive CTE after 5 steps")
    verify = child("verify_iris", {"steps": 5, "lr": lr})
    spec = {"source": {"path": datasets.iris()}, "targets": datasets.IRIS_TARGETS,
            "settings": settings, "epochs": steps, "threads": None, "floor": True}
    runs = sqlnet_runs(spec, repeats, "iris")
    widths = [4, 20, 3]
    sq = summarize_sqlnet(runs, widths)
    n, rows = sq["rows"], sq["product_rows_per_epoch"]["total"]
    log("  numpy")
    npr = child("numpy_iris", {"steps": steps, "lr": lr, "repeats": 3})
    log("  recursive CTE")
    cte = child("cte_iris", {"steps": steps, "lr": lr, "repeats": 3, "threads": 1})
    log("  recursive CTE, 2 threads")
    cte2 = child("cte_iris", {"steps": steps, "lr": lr, "repeats": 3, "threads": 2})
    t = other_threads(sq)
    log(f"  sqlnet, {plural(t)}")
    t2 = child("sqlnet", {**spec, "threads": t, "epochs": max(steps // 5, 10), "floor": False})
    base = {
        "numpy": baseline([t / steps for t in npr["times_s"]], n, rows, npr["peak_rss_mib"]),
        "recursive_cte": baseline([t / steps for t in cte["times_s"]], n, rows, cte["peak_rss_mib"],
                                  threads=1),
        "recursive_cte_2threads": baseline([t / steps for t in cte2["times_s"]], n, rows,
                                           cte2["peak_rss_mib"], threads=2),
        "floor": floor_baseline(runs, n, rows),
    }
    speedup = base["recursive_cte"]["epoch_s"] / sq["epoch_s"]
    fl, cte_s = base["floor"]["epoch_s"], base["recursive_cte"]["epoch_s"]
    return {
        "what": "iris 4-20-3, sigmoid hidden, identity output, mse, full batch (120 rows), "
                f"{steps} steps; an epoch is one step",
        "steps": steps, "sqlnet": sq, "sqlnet_other": {"threads": t, "epoch_s": t2["epoch_s"]},
        "baselines": base, "verify": verify,
        "ratios": {"sqlnet_speedup_vs_recursive_cte (cte time / sqlnet time)": speedup,
                   "sqlnet_time / numpy_time": sq["epoch_s"] / base["numpy"]["epoch_s"],
                   "sqlnet_time / recursive_cte_time": sq["epoch_s"] / base["recursive_cte"]["epoch_s"],
                   "floor_time / recursive_cte_time": fl / cte_s,
                   "floor_time / sqlnet_time": fl / sq["epoch_s"]},
        "floor_check": floor_check(cte_s / 1.5, fl, "the floor (the products and the update)"),
        "bar": "sqlnet at least 1.5x faster than the recursive-CTE baseline",
        "bar_value": speedup, "bar_met": speedup >= 1.5,
    }


def w_digits(mode: str) -> dict:
    epochs = 1 if mode == "quick" else 3
    repeats = 1 if mode == "quick" else 3
    settings = {"hidden": [64], "activation": "relu", "loss": "cross_entropy", "lr": 0.1,
                "batch_size": 32}
    spec = {"source": {"path": datasets.digits()}, "targets": ["label"], "settings": settings,
            "epochs": epochs, "threads": None, "floor": True}
    runs = sqlnet_runs(spec, repeats, "digits")
    widths = [64, 64, 10]
    sq = summarize_sqlnet(runs, widths)
    n, rows = sq["rows"], sq["product_rows_per_epoch"]["total"]
    t = other_threads(sq)
    log(f"  sqlnet, {plural(t)}")
    t2 = child("sqlnet", {**spec, "threads": t, "epochs": 1, "floor": False})
    tb = torch_best({"data": "digits", "settings": settings, "epochs": 3 if mode != "quick" else 2},
                    n, rows)
    ratio = sq["epoch_s"] / tb["epoch_s"]
    fl = floor_baseline(runs, n, rows)
    return {
        "what": f"digits 8x8 (1797 rows, {sq['nnz']} non-zero inputs), 64-64-10, relu, softmax + "
                f"cross_entropy, batch 32, {epochs} epoch(s) per run",
        "sqlnet": sq, "sqlnet_other": {"threads": t, "epoch_s": t2["epoch_s"]},
        "baselines": {"torch_float64": tb, "floor": fl},
        "ratios": {"sqlnet_time / torch_time": ratio,
                   "floor_time / torch_time": fl["epoch_s"] / tb["epoch_s"],
                   "floor_time / sqlnet_time": fl["epoch_s"] / sq["epoch_s"]},
        "floor_check": floor_check(15 * tb["epoch_s"], fl["epoch_s"],
                                   "the floor (the products and the update)"),
        "bar": "sqlnet no more than 15x PyTorch's time per epoch",
        "bar_value": ratio, "bar_met": ratio <= 15,
    }


def w_mnist(mode: str) -> dict:
    path = datasets.mnist(60000)
    settings = {"hidden": [128], "activation": "relu", "loss": "cross_entropy", "lr": 0.1,
                "batch_size": 256}
    spec = {"source": {"path": path}, "targets": ["label"], "settings": settings, "epochs": 1,
            "threads": None, "limit": True}
    if mode == "quick":
        spec.update(stop_after_s=10, limit_batches=10)
    elif mode == "default":
        spec.update(limit_batches=80)
    runs = sqlnet_runs(spec, 1 if mode == "quick" else 3, "mnist-shape")
    widths = [784, 128, 10]
    sq = summarize_sqlnet(runs, widths)
    n, rows = sq["rows"], sq["product_rows_per_epoch"]["total"]
    lim = [r["limit"] for r in runs]
    effs = [r["limit"]["epoch_s"] / r["epoch_s"] for r in runs]
    limit = baseline([x["epoch_s"] for x in lim], n, rows, None,
                     batches_measured=[x["batches_run"] for x in lim],
                     threads=lim[0].get("threads", 1), by_threads_runs=[x.get("by_threads") for x in lim],
                     median_batch_ms=median([x["median_batch_ms"] for x in lim]))
    t = other_threads(sq)
    log(f"  sqlnet, {plural(t)} (part of an epoch)")
    t2 = child("sqlnet", {**spec, "threads": t, "stop_after_s": 10 if mode == "quick" else 40,
                          "limit_batches": 10 if mode == "quick" else 40})
    tb = torch_best({"data": "mnist", "settings": settings, "epochs": 3 if mode != "quick" else 1},
                    n, rows)
    eff = median(effs)
    return {
        "what": f"mnist-shape: 60,000 x 784 synthetic, {sq['nnz'] / (60000 * 784):.1%} non-zero, "
                "784-128-10, relu, cross_entropy, batch 256, 1 epoch (Parquet through the API)",
        "sqlnet": sq, "sqlnet_other": {"threads": t, "epoch_s": t2["epoch_s"],
                                       "partial": t2["partial"],
                                       "limit_epoch_s": t2["limit"]["epoch_s"]},
        "baselines": {"engine_limit": limit, "torch_float64": tb},
        "ratios": {"efficiency = limit time / sqlnet time (median of per-run ratios)": eff,
                   "efficiency_runs": effs,
                   "sqlnet_time / torch_time": sq["epoch_s"] / tb["epoch_s"],
                   "engine_limit_time / torch_time": limit["epoch_s"] / tb["epoch_s"],
                   f"sqlnet on {plural(t)}: limit / sqlnet": t2["limit"]["epoch_s"] / t2["epoch_s"]},
        "bar": "efficiency (engine limit time / sqlnet time) at least 0.8",
        "bar_value": eff, "bar_met": eff >= 0.8,
    }


def w_sparse(mode: str) -> dict:
    cells = datasets.sparse_cells()
    settings = {"hidden": [64], "activation": "relu", "loss": "cross_entropy", "lr": 0.1,
                "batch_size": 500}
    spec = {"source": {"path": cells, "long": True}, "targets": [str(datasets.SPARSE_D)],
            "settings": settings, "threads": None, "limit": True, "limit_update": True}
    if mode == "quick":
        spec["stop_after_s"] = 10
    runs = sqlnet_runs(spec, 1 if mode == "quick" else 3, "sparse-wide")
    widths = [50000, 64, 2]
    sq = summarize_sqlnet(runs, widths)
    n, rows = sq["rows"], sq["product_rows_per_epoch"]["total"]
    t = other_threads(sq)
    log(f"  sqlnet, {plural(t)}")
    t2 = child("sqlnet", {**spec, "threads": t, "limit": False, "limit_update": False})
    e = 1 if mode == "quick" else 3
    dense = torch_best({"data": "sparse", "mode": "dense", "settings": settings, "epochs": e}, n, rows)
    sparse = torch_best({"data": "sparse", "mode": "sparse", "settings": settings, "epochs": e}, n, rows)
    ratio = dense["epoch_s"] / sq["epoch_s"]
    lim = [r["limit"] for r in runs]
    limit = baseline([x["epoch_s"] for x in lim], n, rows, None, threads=lim[0]["threads"],
                     by_threads_runs=[x["by_threads"] for x in lim])
    lup = [r["limit_update"] for r in runs]
    limit_up = baseline([x["epoch_s"] for x in lup], n, rows, None, threads=lup[0]["threads"],
                        by_threads_runs=[x["by_threads"] for x in lup])
    return {
        "what": f"sparse-wide: 10,000 x 50,000 inputs, {sq['nnz']:,} non-zeros "
                f"({sq['nnz'] / 5e8:.2%}), 50,000-64-2, relu, cross_entropy, batch 500, 1 epoch; "
                "a long Parquet file of (row, col, value) cells through train() (--long)",
        "sqlnet": sq, "sqlnet_other": {"threads": t, "epoch_s": t2["epoch_s"]},
        "baselines": {"torch_dense_float64": dense, "torch_sparse_float64": sparse,
                      "engine_limit": limit, "engine_limit_with_update": limit_up},
        "ratios": {"torch_dense_time / sqlnet_time": ratio,
                   "torch_sparse_time / sqlnet_time": sparse["epoch_s"] / sq["epoch_s"],
                   f"torch_dense_time / sqlnet_time on {plural(t)}": dense["epoch_s"] / t2["epoch_s"],
                   "engine_limit_time / sqlnet_time": limit["epoch_s"] / sq["epoch_s"],
                   "torch_dense_time / engine_limit_time": dense["epoch_s"] / limit["epoch_s"],
                   "torch_dense_time / engine_limit_with_update_time":
                       dense["epoch_s"] / limit_up["epoch_s"]},
        "floor_check": floor_check(dense["epoch_s"], limit_up["epoch_s"],
                                   "the engine limit with the update (the products, then the "
                                   "weights they reach updated by a join on their keys)"),
        "bar": "sqlnet faster than PyTorch dense (ratio torch dense / sqlnet > 1)",
        "bar_value": ratio, "bar_met": ratio > 1,
    }


def w_ooc(mode: str, budget_s: float) -> dict:
    rows = 1_000_000 if mode != "quick" else 100_000
    cache = HERE / "data" / "cache"
    cells = datasets.mnist_cells(rows)
    settings = {"hidden": [128], "activation": "relu", "loss": "cross_entropy", "lr": 0.1,
                "batch_size": 256}
    db = cache / "ooc.duckdb"
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    spec = {"source": {"path": cells, "long": True}, "targets": ["784"], "settings": settings,
            "threads": None, "db": str(db), "stop_after_s": budget_s,
            "config": {"memory_limit": "2GB", "temp_directory": str(cache / "ooc_tmp")}}
    log(f"  sqlnet out-of-core, {rows:,} rows, memory_limit 2GB, loop budget {budget_s:.0f} s")
    r = child("sqlnet", spec)
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    sq = summarize_sqlnet([r], [784, 128, 10])
    rss_gib = r["peak_rss_mib"] / 1024
    return {
        "what": f"out-of-core: mnist-shape with {rows:,} samples ({r['nnz']:,} non-zeros) as a "
                "long Parquet file of (row, col, value) cells (written by DuckDB SQL), loaded by "
                "sqlnet's own loader (--long) into a database file and trained by train(), "
                "DuckDB memory_limit 2GB, 784-128-10, batch 256, 1 epoch",
        "sqlnet": sq, "raw": r, "baselines": {}, "ratios": {},
        "bar": "finishes, peak RSS under 3 GB",
        "bar_value": rss_gib,
        "bar_met": (rss_gib < 3) if not r["partial"] else None,
        "bar_note": ("the epoch was measured in part (first steps within the loop budget) and "
                     "extrapolated; peak RSS is of the part that ran" if r["partial"] else
                     "the whole epoch ran; peak RSS covers loading and training"),
    }


# ---------------------------------------------------------------------------------------
# user-paths: the command line as a user runs it, each command a whole process timed from
# start to exit (imports, opening the database file, loading, training, writing, exit)

def main_args(batch: int = 32) -> list[str]:
    """The README's main job's training settings."""
    return ["--hidden", "16", "--epochs", "60", "--batch-size", str(batch), "--lr", "0.05", "--quiet"]



IRIS_1000 = ["--hidden", "20", "--activation", "sigmoid", "--loss", "mse", "--lr", "0.1",
             "--batch-size", "0", "--epochs", "1000", "--quiet"]


def sqlnet_exe() -> str:
    """The `sqlnet` command beside this Python (a virtualenv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "sqlnet"
    found = str(beside) if beside.exists() else shutil.which("sqlnet")
    if not found:
        raise RuntimeError("no `sqlnet` command beside sys.executable or on PATH")
    return found


def sqlnet_code(exe: str) -> dict:
    """Which sqlnet the command runs: its package directory (asked of the command's own
    Python, from its #! line, in a neutral directory: from this checkout `python -c` would
    import the checkout's sqlnet, not the command's) and that checkout's commit, dirty or not."""
    out = {"executable": exe}
    try:
        py = Path(exe).read_text().splitlines()[0].lstrip("#!").strip() or PY
        pkg = subprocess.run([py, "-c", "import os, sqlnet; print(os.path.dirname(sqlnet.__file__))"],
                             capture_output=True, text=True, check=True,
                             cwd=tempfile.gettempdir()).stdout.strip()
        out["package"] = pkg
        git = ["git", "-C", pkg]
        out["commit"] = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True,
                                       text=True, check=True).stdout.strip()
        out["dirty"] = bool(subprocess.run([*git, "status", "--porcelain", "--", "."],
                                           capture_output=True, text=True, check=True).stdout.strip())
    except Exception as e:  # noqa: BLE001 - recorded, not fatal: the timings do not depend on it
        out["error"] = str(e)
    return out


PROCESS_TIMEOUT_S = 300  # the slowest (batch 1) takes ~10 s; a hang fails the workload


def timed(cmd: list[str], cwd: str) -> tuple[float, str]:
    """Seconds from start to exit of one process, and its stdout; a failure raises."""
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{shlex.join(cmd)} did not finish in {PROCESS_TIMEOUT_S} s "
                           "(killed)") from e
    s = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return s, p.stdout


def steps_in(text: str) -> int | None:
    m = re.search(r"(\d+) steps in total", text)
    return int(m.group(1)) if m else None


def user_cases(sq: str, data: Path, model: Path) -> dict:
    """name -> (what was run, its processes as (part, argv) in order, the steps expected:
    120 rows, or 96 with a 0.2 validation split, over the batch size, times the epochs).
    `model` is a trained main-job database, copied into the fresh directory before a run."""
    tr, te, oh = str(data / "iris_train.csv"), str(data / "iris_test.csv"), datasets.iris()

    def job(*extra, batch=32):
        return [("train", [sq, "train", "m.duckdb", "--data", tr, "--target", "species",
                           *main_args(batch), *extra]),
                ("evaluate", [sq, "evaluate", "m.duckdb", "--data", te, "--target", "species"])]
    one = ["--hidden", "16", "--lr", "0.05", "--seed", "0", "--epochs", "20", "--batch-size", "32",
           "--quiet"]
    return {
        "main": ("main job: train + evaluate", job(), 60 * 4),
        "validation": ("main job, --validation-split 0.2", job("--validation-split", "0.2"), 60 * 3),
        "adam": ("main job, --optimizer adam", job("--optimizer", "adam"), 60 * 4),
        "batch1": ("main job, --batch-size 1", job(batch=1), 60 * 120),
        "no-shuffle": ("main job, --no-shuffle", job("--no-shuffle"), 60 * 4),
        "sweep": ("sweep of 8 (lr 0.01,0.05 × hidden 16,32 × seed 0,1; 20 epochs, batch 32)",
                  [("sweep", [sq, "sweep", "s.duckdb", "--data", tr, "--target", "species",
                              "--lr", "0.01,0.05", "--hidden", "16,32", "--seed", "0,1",
                              "--epochs", "20", "--batch-size", "32", "--quiet"])], 20 * 4),
        "sweep-one": ("one of the sweep's models alone (lr 0.05, hidden 16, seed 0), train",
                      [("train", [sq, "train", "o.duckdb", "--data", tr, "--target", "species",
                                  *one])], 20 * 4),
        "inspect": ("sqlnet inspect DB", [("inspect", [sq, "inspect", model.name])], None),
        "sql": ('sqlnet sql DB "SELECT 1"', [("sql", [sq, "sql", model.name, "SELECT 1"])], None),
        "import": ('python -c "import duckdb, sqlglot"',
                   [("import", [PY, "-c", "import duckdb, sqlglot"])], None),
        "torch": ("PyTorch script (benchmarks/torch_main_job.py): the main job",
                  [("script", [PY, str(HERE / "torch_main_job.py"), "--train", tr, "--test", te,
                               "--target", "species", "--hidden", "16", "--epochs", "60",
                               "--batch-size", "32", "--lr", "0.05"])], 60 * 4),
        "iris-1000": ("iris 4-20-3 one-hot, mse, full batch, 1000 steps: sqlnet train",
                      [("train", [sq, "train", "c.duckdb", "--data", oh, "--target",
                                  ",".join(datasets.IRIS_TARGETS), *IRIS_1000])], 1000),
        "cte-1000": ("the same, recursive-CTE baseline with its own loading "
                     "(python benchmarks/recursive_cte.py)",
                     [("script", [PY, str(HERE / "recursive_cte.py"), "--data", oh, "--target",
                                  ",".join(datasets.IRIS_TARGETS), "--hidden", "20", "--steps",
                                  "1000", "--lr", "0.1"])], 1000),
    }


def user_run(parts: list, model: Path) -> dict:
    """One run of a case in a fresh directory: each part's seconds, their total, the steps."""
    with tempfile.TemporaryDirectory(prefix="sqlnet-user-") as d:
        shutil.copy(model, Path(d) / model.name)
        out = {"parts_s": {}, "steps": None}
        for part, cmd in parts:
            s, text = timed(cmd, d)
            out["parts_s"][part] = s
            out["steps"] = out["steps"] or steps_in(text)
    out["total_s"] = sum(out["parts_s"].values())
    return out


def user_bars(c: dict) -> list[dict]:
    """The bars of issue 17, each a ratio of two medians of this run."""
    def per_step(n):
        return c[n]["ms_per_step"]

    def bar(text, value, limit):
        return {"bar": text, "value": value, "limit": limit,
                "met": None if value is None else value <= limit}
    return [
        bar("main job (train + evaluate) / PyTorch script", c["main"]["median_s"] / c["torch"]["median_s"], 1),
        bar("per step: shuffled (main) / --no-shuffle", per_step("main") / per_step("no-shuffle"), 1.25),
        bar("per step: --validation-split 0.2 / no validation (main)",
            per_step("validation") / per_step("main"), 1.3),
        bar("per step: --optimizer adam / plain SGD (main)", per_step("adam") / per_step("main"), 1.3),
        bar("sweep of 8 / one of them trained alone", c["sweep"]["median_s"] / c["sweep-one"]["median_s"], 1.5),
        bar("sqlnet inspect / import of duckdb and sqlglot",
            c["inspect"]["median_s"] / c["import"]["median_s"], 2),
        bar('sqlnet sql "SELECT 1" / import of duckdb and sqlglot',
            c["sql"]["median_s"] / c["import"]["median_s"], 1.2),
        bar("iris 4-20-3, 1000 full-batch steps: sqlnet train / recursive-CTE script",
            c["iris-1000"]["median_s"] / c["cte-1000"]["median_s"], 1),
    ]


def w_user_paths(mode: str, exe: str | None = None) -> dict:
    repeats = 2 if mode == "quick" else 5
    sq = exe or sqlnet_exe()
    with tempfile.TemporaryDirectory(prefix="sqlnet-user-data-") as d:
        data = Path(d)
        log(f"  untimed preparation with {sq}: dataset iris, a main-job model, import torch")
        timed([sq, "dataset", "iris", "--dir", str(data)], d)
        model = data / "model.duckdb"
        for _, cmd in user_cases(sq, data, model)["main"][1]:
            timed([x if x != "m.duckdb" else model.name for x in cmd], d)
        timed([PY, "-c", "import torch"], d)
        cases = user_cases(sq, data, model)
        runs = {name: [] for name in cases}
        for i in range(repeats):  # round-robin: one run of each, then the next round
            log(f"  round {i + 1}/{repeats}")
            for name, (_, parts, _) in cases.items():
                runs[name].append(user_run(parts, model))
    c = {}
    for name, (label, parts, expected) in cases.items():
        rs = runs[name]
        parsed = [r["steps"] for r in rs]
        steps = parsed[0] if parsed[0] is not None else expected
        med = {p: median([r["parts_s"][p] for r in rs]) for p, _ in parts}
        stepped = med.get("train", median([r["total_s"] for r in rs]))
        c[name] = {"what": label, "commands": [shlex.join(cmd) for _, cmd in parts],
                   "runs": rs, "median_s": median([r["total_s"] for r in rs]),
                   "median_parts_s": med, "steps": steps, "steps_parsed": parsed,
                   "steps_expected": expected,
                   "ms_per_step": 1000 * stepped / steps if steps else None}
    for v in c.values():
        v["ratio_torch"] = v["median_s"] / c["torch"]["median_s"]
        v["ratio_no_shuffle"] = v["median_s"] / c["no-shuffle"]["median_s"]
    bars = user_bars(c)
    met = sum(1 for b in bars if b["met"])
    return {
        "what": "user-paths: the command line against a .duckdb file, each command a whole "
                "process timed from start to exit (time.perf_counter around subprocess.run), "
                f"in a fresh directory; round-robin, {repeats} rounds, medians",
        "kind": "whole processes, start to exit", "repeats": repeats, "sqlnet_code": sqlnet_code(sq),
        "cases": c, "bars": bars,
        "bar": f"the {len(bars)} user-paths bars (see its section)",
        "bar_value": f"{met} of {len(bars)} met", "bar_met": met == len(bars),
    }


def render_user_paths(w: dict) -> list[str]:
    """The user-paths section's tables (whole processes, start to exit)."""
    code = w.get("sqlnet_code", {})
    where = (f"importing {code.get('package')} at commit {code.get('commit')}"
             f"{' (its sqlnet/ with uncommitted changes)' if code.get('dirty') else ''}"
             if "error" not in code else f"which sqlnet it imports not found: {code['error'].rstrip('.')}")
    L = [f"`sqlnet` was {code.get('executable')}, {where}.", "",
         "**Whole processes, start to exit** (not per-epoch training time: each figure "
         "includes Python's start, the imports, opening the database, loading and writing). "
         "Seconds are the median over the rounds of each run's total (train + evaluate for "
         "the main jobs); ms a step is the median train process's time over its steps (the "
         "whole process for the others); the ratios divide median seconds by the PyTorch "
         "script's and by the `--no-shuffle` job's.", "",
         "| what was run | median s | runs s | steps | ms a step | ratio to PyTorch script | ratio to --no-shuffle |",
         "|---|---|---|---|---|---|---|"]
    for name, v in w["cases"].items():
        parts = v["median_parts_s"]
        split = (" (" + " + ".join(f"{p} {fmt(s)}" for p, s in parts.items()) + ")"
                 if len(parts) > 1 else "")
        odd = (f" (expected {v['steps_expected']}, parsed {v['steps_parsed']})"
               if any(n not in (None, v["steps_expected"]) for n in v["steps_parsed"]) else "")
        L.append(f"| {v['what']} | {fmt(v['median_s'])}{split} | "
                 f"{', '.join(fmt(r['total_s']) for r in v['runs'])} | {fmt(v['steps'])}{odd} | "
                 f"{fmt(v['ms_per_step'])} | {fmt(v['ratio_torch'])} | {fmt(v['ratio_no_shuffle'])} |")
    L += ["", "Bars (each a ratio of two medians above, computed by run.py):", "",
          "| bar | ratio | at most | met |", "|---|---|---|---|"]
    for b in w["bars"]:
        met = {True: "**met**", False: "**not met**", None: "n/a"}[b["met"]]
        L.append(f"| {b['bar']} | {fmt(b['value'])} | {fmt(b['limit'])} | {met} |")
    L += ["", "Commands (DATA is a directory `sqlnet dataset iris` wrote once, untimed; inspect "
          "and sql read a copy of a main-job model):", ""]
    for name, v in w["cases"].items():
        for cmd in v["commands"]:
            L.append(f"- {name}: `{shorten(cmd)}`")
    L.append("")
    return L


def shorten(cmd: str) -> str:
    """A command line as the reader would type it: no temp paths, no venv paths."""
    cmd = re.sub(r"\S*/sqlnet-user-data-[^/\s]*/", "DATA/", cmd)
    cmd = cmd.replace(str(HERE) + "/", "benchmarks/").replace(PY, "python")
    return re.sub(r"^\S*/sqlnet ", "sqlnet ", cmd)


# ---------------------------------------------------------------------------------------


# The commit of the entries written before run.py recorded a commit per workload.
OLDER = "9294b9d"


def render(results: dict) -> str:
    L = ["# sqlnet benchmarks", "",
         "Written by `python benchmarks/run.py` (how to run it: see the end). Profiles and optimization prototypes: NOTES.md.",
         "Every ratio compares two measurements taken in the same run, seconds apart. The "
         "machine is shared (another engineer's tests ran at the same time), so single "
         "numbers carry noise of perhaps ±20%; the load average at each workload's start and "
         "end is recorded in results.json (and shown in each workload's section). A load "
         "average above the 2 cores means the other process took a core and more: then both "
         "sides of a ratio ran slower, and ratios hold better than absolute times.", ""]
    m, v = results.get("machine", {}), results.get("versions", {})
    L += [f"**Machine**: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
          f"Linux {m.get('kernel')}.  ",
          f"**Versions**: Python {v.get('python')}, duckdb {v.get('duckdb')}, sqlglot "
          f"{v.get('sqlglot')}, numpy {v.get('numpy')}, torch {v.get('torch')}, "
          f"scikit-learn {v.get('sklearn')}; sqlnet's code at commit {v.get('sqlnet_commit')}.", ""]
    older = {n: w.get("sqlnet_commit", OLDER) for n, w in results["workloads"].items()
             if w.get("sqlnet_commit") != v.get("sqlnet_commit")}
    if older:
        L += ["Measured at an earlier commit of sqlnet (run.py --only replaces one workload and "
              "keeps the others): " + "; ".join(f"{n} at {c.split()[0]}" for n, c in older.items())
              + ".", ""]
    L += ["## Summary", "",
          "sqlnet runs with its default `--threads auto`: one DuckDB thread for a small step "
          "(the same bits on every run), every core for a step of 5e5 multiply-adds or more "
          "(each workload's table says which; until 2026-11-28 sqlnet always ran on one thread); "
          "PyTorch is float64, best of 1 and 2 threads; the engine limit is the best of 1 "
          "thread and sqlnet's. s/epoch is the median of the runs.", "",
          "**In-process figures** (this table and the sections iris to out-of-core): the time "
          "of training inside one process, per epoch, without Python's start, the imports or "
          "the loading of the data. The user-paths section holds the other kind: **whole "
          "processes, start to exit**, as a user of the command line waits for them.", "",
          "| workload | mode | sqlnet s/epoch | samples/s | product rows/s | peak RSS MiB | compared with | its s/epoch | bar | value | met |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in WORKLOADS:
        w = results["workloads"].get(name)
        if not w or name == "user-paths":
            continue
        sq = w["sqlnet"]
        main = next(iter(w["baselines"].items()), (None, None))
        base_name, base = main
        if name == "iris":
            base_name, base = "recursive_cte", w["baselines"]["recursive_cte"]
        met = {True: "**yes**", False: "**no**", None: "n/a"}[w["bar_met"]]
        est = " (extrapolated)" if sq.get("partial") else ""
        L.append(f"| {name} | {w['mode']} | {fmt(sq['epoch_s'])}{est} | {fmt(sq['samples_per_s'])} | "
                 f"{fmt(sq['product_rows_per_s'])} | {fmt(sq['peak_rss_mib'])} | {base_name or '—'} | "
                 f"{fmt(base['epoch_s']) if base else '—'} | {w['bar']} | {fmt(w['bar_value'])} | {met} |")
    L += ["", "**Product rows** are the rows that sqlnet's joins feed into their GROUP BY sums "
          "in one epoch, counted from the shapes: for each layer, forward Zˡ = Aˡ⁻¹·Wˡ and "
          "gradient Aˡ⁻¹ᵀ·Δˡ each contribute rows(Aˡ⁻¹) × fan_out, where rows(A⁰) = the stored "
          "non-zero inputs + one constant-1 bias entry per sample and rows(Aˡ) = samples × "
          "(width + 1) for hidden layers (stored dense); each hidden Δˡ = Δˡ⁺¹·Wˡ⁺¹ᵀ contributes "
          "samples × width(l+1) × width(l). The same count divides every engine's time, so for "
          "numpy and PyTorch it is a nominal rate.", ""]
    up = results["workloads"].get("user-paths")
    if up:
        L += [f"**user-paths** (whole processes, start to exit; {up['mode']} mode): "
              f"{sum(1 for b in up['bars'] if b['met'])} of {len(up['bars'])} bars met: " + "; ".join(
                  f"{b['bar']} {fmt(b['value'])} (at most {fmt(b['limit'])}, "
                  f"{'met' if b['met'] else 'not met'})" for b in up["bars"]) + ".", ""]
    for name in WORKLOADS:
        w = results["workloads"].get(name)
        if not w:
            continue
        kind = "whole processes, start to exit" if name == "user-paths" else "in-process figures"
        L += [f"## {name} ({kind})", "", w["what"] + ".", "",
              f"Measured {w['started_at']} in {w['mode']} mode, load average {w['loadavg_before']} "
              f"before and {w['loadavg_after']} after, {w['wall_s']:.0f} s in all.", ""]
        if name == "user-paths":
            L += render_user_paths(w)
            continue
        sq = w["sqlnet"]
        L += ["| engine | s/epoch | runs | samples/s | product rows/s | peak RSS MiB |",
              "|---|---|---|---|---|---|",
              f"| sqlnet ({plural(sq.get('threads', 1))}) | {fmt(sq['epoch_s'])} | {', '.join(fmt(x) for x in sq['epoch_s_runs'])} | "
              f"{fmt(sq['samples_per_s'])} | {fmt(sq['product_rows_per_s'])} | {fmt(sq['peak_rss_mib'])} |"]
        for bname, b in w["baselines"].items():
            extra = f" ({plural(b['threads'])})" if b.get("threads") else ""
            L.append(f"| {bname}{extra} | {fmt(b['epoch_s'])} | "
                     f"{', '.join(fmt(x) for x in b['epoch_s_runs'])} | {fmt(b['samples_per_s'])} | "
                     f"{fmt(b['product_rows_per_s'])} | {fmt(b['peak_rss_mib'])} |")
        L.append("")
        L.append(f"- sqlnet median step {fmt(sq['median_step_ms'])} ms, {sq['steps_per_epoch']} steps "
                 f"per epoch; data loading {fmt(sq['load_s'])} s (not in s/epoch); RSS "
                 f"{fmt(sq['rss_after_load_mib'])} MiB when training began.")
        if sq.get("partial"):
            L.append(f"- **Extrapolated**: the runs measured {sq['steps_measured']} of "
                     f"{sq['steps_per_epoch']} steps; s/epoch = time outside the steps (the epoch's "
                     "shuffle tables) + mean measured step × steps per epoch.")
        for k in ("sqlnet_threads2_epoch_s",):
            if k in w:
                L.append(f"- sqlnet with threads=2: {fmt(w[k])} s/epoch "
                         f"({sq['epoch_s'] / w[k]:.2f}x the 1-thread speed).")
        o = w.get("sqlnet_other")
        if o:
            L.append(f"- sqlnet on {plural(o['threads'])}: {fmt(o['epoch_s'])} s/epoch"
                     f"{' (extrapolated from part of an epoch)' if o.get('partial') else ''} "
                     f"({sq['epoch_s'] / o['epoch_s']:.2f}x the speed of {plural(sq.get('threads', 1))})"
                     + (f", engine limit {fmt(o['limit_epoch_s'])} s/epoch." if "limit_epoch_s" in o
                        else "."))
        if "sqlnet_threads2" in w:
            t = w["sqlnet_threads2"]
            L.append(f"- sqlnet with threads=2: {fmt(t['epoch_s'])} s/epoch"
                     f"{' (extrapolated from part of an epoch)' if t['partial'] else ''}, "
                     f"engine limit {fmt(t['limit_epoch_s'])} s/epoch.")
        for b in w["baselines"].values():
            if b.get("by_threads"):
                L.append(f"- PyTorch by threads: " + ", ".join(
                    f"{t}: {fmt(s)} s" for t, s in b["by_threads"].items()))
                break
        for k, val in w["ratios"].items():
            if isinstance(val, list):
                L.append(f"- {k}: {', '.join(fmt(x) for x in val)}")
            else:
                L.append(f"- **{k}: {fmt(val)}**")
        if w.get("verify"):
            vr = w["verify"]
            L.append(f"- Check after {vr['steps']} steps (weights moved up to "
                     f"{vr['max_abs_weight_change']:.3g}): max relative difference sqlnet vs numpy "
                     f"{vr['max_rel_diff_sqlnet_vs_numpy']:.1e}, recursive CTE vs numpy "
                     f"{vr['max_rel_diff_cte_vs_numpy']:.1e}, recursive CTE vs sqlnet "
                     f"{vr['max_rel_diff_cte_vs_sqlnet']:.1e}.")
        if name == "mnist-shape":
            L.append("- The engine limit runs, per batch and on the same connection right after "
                     "sqlnet's epoch, only the five products of a step (Z1 = X·W1, Z2 = A1·W2, "
                     "D1 = D2·W2ᵀ, G2 = A1ᵀ·D2, G1 = Xᵀ·D1) as materialized CTEs of one "
                     "statement, over sqlnet's epoch_inputs table, with the bias as a constant "
                     "column so the join rows equal sqlnet's; it returns the sum of G1 and G2, so "
                     "that every product's sums are computed (until 2026-11-28 it returned their "
                     "row counts, and DuckDB dropped every SUM as unused: NOTES.md §9). No "
                     "activation, loss, tape, update, log or transaction. Its s/epoch is per-batch "
                     "time × batches "
                     f"(batches measured: {w['baselines']['engine_limit']['batches_measured']}).")
        if "floor" in w["baselines"]:
            L.append("- The floor (floors.py) runs, on the same connection right after sqlnet's "
                     "run and over its epoch tables, only the five products of each step (Z1 = "
                     "X·W1, Z2 = Z1·W2, D1 = Z2·W2ᵀ, G2 = Z1ᵀ·Z2, G1 = Xᵀ·D1, the bias as a "
                     "constant input column) and the update W ← W − lr·G, as joins and GROUP BY "
                     "sums, every step of the run inside ONE recursive CTE: no statement or "
                     "planning per step, no activation, loss, log or check. It is what any "
                     "implementation must pay per step while its matrix products are joins with "
                     "GROUP BY sums on DuckDB; best of 1 thread and sqlnet's, median of 3. Checked: "
                     "one step with lr = 1 against numpy on the same tables, max relative "
                     f"difference {w['baselines']['floor']['check_max_rel_diff']:.1e}.")
        if name == "sparse-wide" and "engine_limit" in w["baselines"]:
            L.append("- The engine limit is mnist-shape's (a statement per batch, the five "
                     "products only, best of 1 thread and sqlnet's), here over sparse-wide's "
                     "batches. A step must also update the weights it reaches (1.26 M of the "
                     "3.2 M here): the engine limit with the update is the same products inside "
                     "one `UPDATE weights ... FROM (products)` joined on (layer, row, col). "
                     "sqlnet's own update goes by rowid, which NOTES.md §8 measured at 0.70 of a "
                     "keyed UPDATE, so the true floor lies between the two limits.")
        if name == "sparse-wide":
            L.append("- sqlnet reads the data as long cells (--long: the non-zeros and a label "
                     "cell per row; its first layer has one input per column that occurs, "
                     "a few of the 50,000 never do). PyTorch "
                     "dense holds X as a 4 GB dense tensor (built before timing); PyTorch sparse "
                     "builds each batch as a sparse COO tensor from a scipy CSR matrix (timed).")
        if name == "out-of-core":
            raw = w["raw"]
            setup = (f" (the shuffle tables: {fmt(raw['epoch_setup_s'])} s)"
                     if raw.get("epoch_setup_s") is not None else "")
            L.append(f"- {w['bar_note']}. Loading the cells with sqlnet's --long loader (staged, "
                     f"checked, stored in the database file) took {fmt(raw['load_s'])} s (RSS "
                     f"{fmt(raw['rss_after_load_mib'])} MiB after it); the measured loop time "
                     f"{fmt(raw['measured_loop_s'])} s includes the epoch's shuffle tables{setup}.")
        if w.get("floor_check"):
            L.append(f"- **The design's floor**: {w['floor_check']}.")
        L.append(f"- Bar: {w['bar']} → {fmt(w['bar_value'])}: "
                 f"{ {True: 'met', False: 'NOT met', None: 'not decided (see above)'}[w['bar_met']] }.")
        L.append("")
    L += ["## How to run", "",
          "```sh",
          "python benchmarks/run.py            # iris, digits, mnist-shape, sparse-wide, user-paths (~25 min)",
          "python benchmarks/run.py --only user-paths   # the command line, whole processes (~4 min)",
          "python benchmarks/run.py --quick    # a short smoke run of the same",
          "python benchmarks/run.py --only out-of-core   # the 1M-sample run (long)",
          "python benchmarks/run.py --full     # everything, full epochs for the engine limit too",
          "```", "",
          "Needs `pip install -e '.[bench]'` (numpy, torch, scikit-learn, scipy). Data is "
          "generated locally (DuckDB SQL) into benchmarks/data/cache; nothing is downloaded.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    ap.add_argument("--only", action="append", choices=WORKLOADS, help="run only this workload (repeatable)")
    ap.add_argument("--full", action="store_true", help="every workload, out-of-core too, full epochs")
    ap.add_argument("--ooc-budget", type=float, default=900.0,
                    help="seconds of training loop for out-of-core before it stops and extrapolates")
    ap.add_argument("--sqlnet", metavar="PATH", help="user-paths: the sqlnet command to time "
                    "(default: the one beside this Python, else the one on PATH)")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"
    names = args.only or (WORKLOADS if args.full else DEFAULT)
    json_path, md_path = HERE / "results.json", HERE / "RESULTS.md"
    results = json.loads(json_path.read_text()) if json_path.exists() else {"workloads": {}}
    results["machine"], results["versions"] = machine(), versions()
    fns = {"iris": w_iris, "digits": w_digits, "mnist-shape": w_mnist, "sparse-wide": w_sparse,
           "out-of-core": lambda m: w_ooc(m, 60.0 if m == "quick" else args.ooc_budget),
           "user-paths": lambda m: w_user_paths(m, args.sqlnet)}
    t_all = time.perf_counter()
    for name in names:
        log(f"{name} ({mode})")
        t0, before = time.perf_counter(), loadavg()
        started = dt.datetime.now().isoformat(timespec="seconds")
        w = fns[name](mode)
        w.update(mode=mode, started_at=started, loadavg_before=before, loadavg_after=loadavg(),
                 wall_s=time.perf_counter() - t0,
                 sqlnet_commit=results["versions"].get("sqlnet_commit"))
        results["workloads"][name] = w
        results["command"] = " ".join(["python benchmarks/run.py", *(argv or sys.argv[1:])])
        json_path.write_text(json.dumps(results, indent=1, default=float) + "\n")
        md_path.write_text(render(results))
        log(f"{name}: bar {w['bar']}: {fmt(w['bar_value'])} -> {w['bar_met']} ({w['wall_s']:.0f} s)")
    log(f"done in {time.perf_counter() - t_all:.0f} s; wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
