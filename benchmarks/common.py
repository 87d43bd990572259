"""Shared helpers of the benchmark harness: machine facts, child processes, row counts.

Every measured thing runs in its own child process (``python benchmarks/worker.py ...``);
the parent reads the child's peak RSS from os.wait4's rusage (ru_maxrss, KiB on Linux),
so that one workload's memory never hides another's.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"            # small committed data files
CACHE = HERE / "data" / "cache"  # generated, not committed (see .gitignore)
PY = sys.executable


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    load = None
    try:
        load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
            "kernel": platform.release(), "loadavg_at_start": load}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("duckdb", "sqlglot", "numpy", "torch", "sklearn"):
        try:
            mod = __import__(name)
            out[name] = getattr(mod, "__version__", "?")
        except Exception:  # noqa: BLE001 - a missing optional package is recorded as such
            out[name] = None
    try:
        # the last commit that changed sqlnet itself (the harness's own commits do not count)
        out["sqlnet_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", "--", "sqlnet", "sql"],
            capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        out["sqlnet_commit"] = None
    return out


def child(kind: str, spec: dict, timeout: float | None = None) -> dict:
    """Run benchmarks/worker.py KIND SPEC in a fresh process; its JSON result plus peak RSS."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([PY, str(HERE / "worker.py"), kind, json.dumps(spec)],
                             stdout=out, stderr=err, cwd=str(ROOT))
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"worker {kind} failed ({p.returncode}):\n{errors[-3000:]}")
    result = json.loads(lines[-1])
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    result["process_wall_s"] = round(wall, 3)
    return result


def best_of_threads(db, used: int, measure, key: str) -> dict:
    """measure() on 1 thread and on the threads sqlnet used, keeping the faster by key (a
    limit or floor is the best the engine does, so it never flatters sqlnet)."""
    from sqlnet.train import threads
    per = {}
    for t in sorted({1, used}):
        with threads(db, t):
            per[t] = measure()
    best = min(per, key=lambda t: per[t][key])
    return {**per[best], "threads": best, "by_threads": {t: r[key] for t, r in per.items()}}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def product_rows(widths: list[int], n: int, nnz: int) -> dict:
    """Rows that sqlnet's joins feed into their GROUP BY sums over one epoch.

    n samples, nnz stored (non-zero) inputs, dense weights, hidden activations stored dense
    (sqlnet stores relu's zeros too). The constant-1 bias column adds one row per sample to
    every activation matrix. Per layer l (w[l-1] inputs, w[l] outputs):

    * forward Zˡ = Aˡ⁻¹·Wˡ:       rows(Aˡ⁻¹) × w[l]      (rows(A⁰) = nnz + n, else n·(w[l-1]+1))
    * backward Δˡ = Δˡ⁺¹·Wˡ⁺¹ᵀ:   n · w[l+1] · w[l]      (hidden layers only)
    * gradient ∂L/∂Wˡ = Aˡ⁻¹ᵀ·Δˡ: rows(Aˡ⁻¹) × w[l]      (Δˡ is dense)

    The same count is used for every engine, so rows/s compares like with like; for
    PyTorch it is a nominal rate (it multiplies dense matrices, not rows).
    """
    fwd = bwd = grad = 0
    for l in range(1, len(widths)):
        rows_in = nnz + n if l == 1 else n * (widths[l - 1] + 1)
        fwd += rows_in * widths[l]
        grad += rows_in * widths[l]
        if l < len(widths) - 1:
            bwd += n * widths[l + 1] * widths[l]
    return {"forward": fwd, "backward": bwd, "gradient": grad, "total": fwd + bwd + grad}


def fmt(x, digits=3):
    if x is None:
        return "—"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(x)
