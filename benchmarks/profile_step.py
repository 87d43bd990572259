"""Where a sqlnet training step's time goes, and what changes to its SQL would buy.

``python benchmarks/profile_step.py [iris|mnist ...] [--steps N]`` writes
benchmarks/profile_results.json (read by NOTES.md). Everything runs sqlnet's own statements
(sqlnet.train.Statements, sqlnet.phases) on one DuckDB thread, as train() does; prototypes
are variants built here, in benchmarks/, and each is checked to give the same gradients (or
weights) as sqlnet's own statement before it is timed. sqlnet's code is not changed.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
from sqlglot import exp  # noqa: E402

import datasets  # noqa: E402
from common import HERE  # noqa: E402

from sqlnet import model as M  # noqa: E402
from sqlnet import phases  # noqa: E402
from sqlnet.data import Source  # noqa: E402
from sqlnet.db import Database  # noqa: E402
from sqlnet.queries import query, render, table  # noqa: E402
from sqlnet.train import Settings, Statements, train  # noqa: E402

WORKLOADS = {
    "iris": dict(source=lambda: datasets.iris(), targets=datasets.IRIS_TARGETS,
                 settings=dict(hidden=[20], activation="sigmoid", loss="mse", lr=0.1, batch_size=0)),
    "mnist": dict(source=lambda: datasets.mnist(60000), targets=["label"],
                  settings=dict(hidden=[128], activation="relu", loss="cross_entropy", lr=0.1,
                                batch_size=256)),
}


def med(xs):
    return statistics.median(xs)


def setup(name: str):
    """A model with its data loaded (train with 0 epochs), and epoch 1's batch tables."""
    w = WORKLOADS[name]
    db = Database(duckdb.connect())
    train(db, Source(w["source"]()), w["targets"], quiet=True,
          settings=Settings(epochs=0, seed=0, **w["settings"]))
    db.sql("SET threads = 1")
    net = M.load(db)
    st = Statements(net)
    for tree in st.epoch:
        db.run(tree, epoch=1)
    return db, net, st


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def statement_times(db, st, steps: int) -> dict:
    """One step as train() runs it (sqlnet.train._step), each statement timed."""
    parts = {k: [] for k in ("begin", "step", "step_check", "sgd_weights", "sgd_biases",
                             "log_step", "commit", "total")}
    batches = db.scalar(st.batches)
    for i in range(steps):
        b = i % batches
        t0 = time.perf_counter()
        parts["begin"].append(timed(lambda: db.con.execute("BEGIN TRANSACTION"))[0])
        parts["step"].append(timed(lambda: db.run(st.step, batch=b))[0])
        parts["step_check"].append(timed(lambda: db.rows(query("step_check")))[0])
        parts["sgd_weights"].append(timed(lambda: db.run(st.update[0]))[0])
        parts["sgd_biases"].append(timed(lambda: db.run(st.update[1]))[0])
        parts["log_step"].append(timed(lambda: db.run(st.log, batch=b, wall_ms=0.0, run=1,
                                                      epoch=1, step=i + 1))[0])
        parts["commit"].append(timed(lambda: db.con.execute("COMMIT"))[0])
        parts["total"].append(time.perf_counter() - t0)
    return {k: med(v) * 1000 for k, v in parts.items()}


def profile_json(db, sql: str, params: dict | None = None) -> dict:
    """DuckDB's detailed JSON profile of one statement: planning phases and operators."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        db.con.execute("PRAGMA enable_profiling = 'json'")
        db.con.execute(f"PRAGMA profiling_output = '{f.name}'")
        db.con.execute("SET profiling_mode = 'detailed'")
        t = time.perf_counter()
        db.con.execute(sql, params or {})
        wall = time.perf_counter() - t
        db.con.execute("PRAGMA disable_profiling")
        d = json.loads(Path(f.name).read_text())
    ops: dict[str, float] = {}
    rows: dict[str, int] = {}

    def walk(node):
        for ch in node if isinstance(node, list) else [node]:
            key = ch.get("name", "?")
            ops[key] = ops.get(key, 0.0) + ch.get("timing", 0.0)
            rows[key] = rows.get(key, 0) + ch.get("intermediate_rows", 0)
            walk(ch.get("children", []))
    walk(d.get("operator", []))
    optd = d.get("optimizer", {})
    opt = optd.get("total_time") or sum(v for v in optd.values() if isinstance(v, (int, float)))
    return {"wall_ms": wall * 1000,
            "query_total_ms": d["query"]["total_time"] * 1000,
            "cpu_ms": d["query"]["cpu_time"] * 1000,
            "planner_ms": d["planner"]["total_time"] * 1000,
            "optimizer_ms": opt * 1000,
            "optimizer_top_ms": {k: round(v * 1000, 3) for k, v in sorted(
                ((k, v) for k, v in d.get("optimizer", {}).items() if isinstance(v, (int, float))),
                key=lambda kv: -kv[1])[:8]},
            "physical_planner_ms": d["physical_planner"]["total_time"] * 1000,
            "operators_ms": {k: round(v * 1000, 3) for k, v in sorted(ops.items(), key=lambda kv: -kv[1])},
            "operator_rows": rows, "intermediate_rows": d["query"].get("total_intermediate_rows"),
            "rows_scanned": d["query"].get("total_rows_scanned"),
            "row_groups_scanned": d["query"].get("total_row_groups_scanned"),
            "row_groups_to_scan": d["query"].get("total_row_groups_to_scan")}


# ---------------------------------------------------------------------------------------
# prototypes


def tape_gradients_only(net) -> exp.Expression:
    """sqlnet's step statement with a tape of only the loss and the gradients (what the update
    and the divergence check read), instead of every z, activation and delta."""
    ctes = phases.forward(net, "epoch_rows", "epoch_inputs") + phases.error(net, "epoch_targets") \
        + phases.backward(net)
    parts = [query("tape_loss", source=table("loss"), layer=exp.Literal.number(net.depth))]
    for layer in range(1, net.depth + 1):
        parts.append(query("tape_rows", source=table(f"grad{layer}"),
                           kind=exp.Literal.string("gradient"), layer=exp.Literal.number(layer)))
    body = parts[0]
    for p in parts[1:]:
        body = exp.union(body, p, distinct=False, copy=False)
    body = phases.with_ctes(exp.select("*").from_(exp.paren(body).as_("t")), ctes)
    create = query("step", tape=table("placeholder"))
    create.set("expression", body)
    return create


def bias_without_union(net) -> exp.Expression:
    """sqlnet's step with each Zˡ = (Σ over stored inputs of A·W) + b joined by column,
    instead of a join against weights UNION ALL biases. The constant-1 column stays in Aˡ
    (the bias gradient still comes from it) but is skipped in the forward join."""
    import sqlglot
    ctes = phases.forward(net, "epoch_rows", "epoch_inputs")
    out = []
    for name, tree in ctes:
        if name.startswith("z"):
            layer = int(name[1:])
            tree = sqlglot.parse_one(f"""
                SELECT s.model, s.row, s.col, s.value + b.value AS value
                FROM (SELECT a.model, a.row, w.col, SUM(a.value * w.value) AS value
                      FROM a{layer - 1} AS a JOIN weights AS w
                        ON w.model = a.model AND w.layer = {layer} AND w.row = a.col
                      WHERE a.col >= 0
                      GROUP BY a.model, a.row, w.col) AS s
                JOIN biases AS b ON b.model = s.model AND b.layer = {layer} AND b.col = s.col""",
                                     dialect="duckdb")
        out.append((name, tree))
    ctes = out + phases.error(net, "epoch_targets") + phases.backward(net)
    body = phases.with_ctes(exp.select("*").from_(exp.paren(phases.tape(net)).as_("t")), ctes)
    create = query("step", tape=table("placeholder"))
    create.set("expression", body)
    return create


def tape_snapshot(db) -> list:
    return db.sql("SELECT kind, layer, row, col, value FROM step_tape WHERE kind IN ('gradient', 'loss') "
                  "ORDER BY kind, layer, row, col").fetchall()


def max_diff(a, b) -> float:
    assert len(a) == len(b), (len(a), len(b))
    worst = 0.0
    for x, y in zip(a, b):
        assert x[:4] == y[:4], (x, y)
        worst = max(worst, abs(x[4] - y[4]) / max(abs(y[4]), 1e-300))
    return worst


def time_statement(db, sql: str, steps: int, batches: int) -> float:
    """Median ms of a step-shaped statement over `steps` batches (weights unchanged)."""
    ts = [timed(lambda: db.con.execute(sql, {"batch": i % batches}))[0] for i in range(steps)]
    return med(ts) * 1000


def time_prepared(db, create_sql: str, steps: int, batches: int) -> tuple[float, float]:
    """The step as a prepared statement. DuckDB cannot prepare CREATE TABLE AS, so the
    prepared form is DELETE FROM step_tape + a prepared INSERT INTO step_tape <same query>;
    returns (median ms of delete + execute, max relative difference of the tape)."""
    prefix = "CREATE OR REPLACE TEMPORARY TABLE step_tape AS "
    assert create_sql.startswith(prefix), create_sql[:80]
    select = create_sql[len(prefix):]
    db.con.execute(create_sql, {"batch": 0})
    ref = tape_snapshot(db)
    db.con.execute(f"PREPARE proto_step AS INSERT INTO step_tape {select}")
    ts = []
    for i in range(steps):
        t = time.perf_counter()
        db.con.execute("DELETE FROM step_tape")
        db.con.execute(f"EXECUTE proto_step(batch := {i % batches})")
        ts.append(time.perf_counter() - t)
    db.con.execute("DELETE FROM step_tape")
    db.con.execute("EXECUTE proto_step(batch := 0)")
    diff = max_diff(tape_snapshot(db), ref)
    db.con.execute("DELETE FROM step_tape")
    prof = profile_json(db, "EXECUTE proto_step(batch := 1)")
    db.con.execute("DEALLOCATE proto_step")
    return med(ts) * 1000, diff, {k: v for k, v in prof.items() if k.endswith("_ms") and k != "operators_ms"}


def paired(base, variant, steps: int) -> dict:
    """base(i) and variant(i) alternately, step by step, so that the other load on the machine
    hits both alike; the median of the per-step ratios variant / base."""
    ra, rb = [], []
    for i in range(steps):
        ra.append(timed(lambda: base(i))[0])
        rb.append(timed(lambda: variant(i))[0])
    return {"base_ms": med(ra) * 1000, "variant_ms": med(rb) * 1000,
            "ratio": med([y / x for x, y in zip(ra, rb)])}


def window_free(net) -> exp.Expression:
    """sqlnet's step with the softmax output and the cross-entropy loss computed by GROUP BY
    per sample and a join, instead of MAX/SUM() OVER (PARTITION BY model, row) windows."""
    import sqlglot
    L = net.depth
    swap = {
        f"a{L}": f"""SELECT z.model, z.row, z.col, EXP(z.value - s.m) / s.s AS value
                    FROM z{L} AS z JOIN (SELECT z.model, z.row, MAX(m.m) AS m, SUM(EXP(z.value - m.m)) AS s
                                        FROM z{L} AS z JOIN (SELECT model, row, MAX(value) AS m FROM z{L}
                                                             GROUP BY model, row) AS m
                                          ON m.model = z.model AND m.row = z.row
                                        GROUP BY z.model, z.row) AS s
                      ON s.model = z.model AND s.row = z.row""",
        "loss": f"""SELECT t.model, SUM(t.lse - t.zy) / COUNT(*) AS value
                    FROM (SELECT z.model, z.row, MAX(m.m) + LN(SUM(EXP(z.value - m.m))) AS lse,
                                 SUM(z.value * COALESCE(y.value, 0.0)) AS zy
                          FROM z{L} AS z JOIN (SELECT model, row, MAX(value) AS m FROM z{L}
                                               GROUP BY model, row) AS m
                            ON m.model = z.model AND m.row = z.row
                          LEFT JOIN y ON y.model = z.model AND y.row = z.row AND y.col = z.col
                          GROUP BY z.model, z.row) AS t
                    GROUP BY t.model"""}
    ctes = phases.forward(net, "epoch_rows", "epoch_inputs") + phases.error(net, "epoch_targets") \
        + phases.backward(net)
    ctes = [(n, sqlglot.parse_one(swap[n], dialect="duckdb") if n in swap else t) for n, t in ctes]
    body = phases.with_ctes(exp.select("*").from_(exp.paren(phases.tape(net)).as_("t")), ctes)
    create = query("step", tape=table("placeholder"))
    create.set("expression", body)
    return create


def prototypes(name: str, db, net, st, steps: int) -> dict:
    out = {}
    batches = db.scalar(st.batches)
    base_sql = render(st.step)
    db.con.execute(base_sql, {"batch": 0})
    ref = tape_snapshot(db)

    def base(i):
        db.con.execute(base_sql, {"batch": i % batches})

    def variant_sql(sql):
        db.con.execute(sql, {"batch": 0})
        diff = max_diff(tape_snapshot(db), ref)
        r = paired(base, lambda i: db.con.execute(sql, {"batch": i % batches}), steps)
        r["maxdiff"] = diff
        return r

    # 1. prepared statement (DELETE + prepared INSERT, as CREATE TABLE AS cannot be prepared)
    out["prepared_step_ms"], out["prepared_maxdiff"], out["prepared_execute_profile"] = \
        time_prepared(db, base_sql, steps, batches)
    out["step_statement_ms"] = time_statement(db, base_sql, steps, batches)

    # 1b. the batch number written into the SQL as a literal instead of a bound parameter
    lit = paired(base, lambda i: db.con.execute(base_sql.replace("$batch", str(i % batches))), steps)
    db.con.execute(base_sql.replace("$batch", "0"))
    lit["maxdiff"] = max_diff(tape_snapshot(db), ref)
    out["literal_batch"] = lit

    # 2. tape of loss and gradients only
    out["tape_grad_only"] = variant_sql(render(tape_gradients_only(net)))

    # 3. bias added by a join instead of UNION ALL into the weights
    out["bias_join"] = variant_sql(render(bias_without_union(net)))

    # 3b. softmax / cross-entropy without window functions
    if net.loss == "cross_entropy":
        out["window_free"] = variant_sql(render(window_free(net)))

    # 3c. both: gradients-only tape and no windows
    if net.loss == "cross_entropy":
        t = window_free(net)
        g = tape_gradients_only(net)
        g.set("expression", g.expression)  # same CTEs but swapped a_L and loss:
        wf = {n: c for n, c in [(c.alias, c.this) for c in t.expression.args["with_"].expressions]}
        for c in g.expression.args["with_"].expressions:
            if c.alias in wf:
                c.set("this", wf[c.alias].copy())
        out["tape_grad_only_and_window_free"] = variant_sql(render(g))

    # 4. INTEGER row keys in the epoch tables (sqlnet: BIGINT), in copies of the tables
    for t in ("epoch_rows", "epoch_inputs", "epoch_targets"):
        db.con.execute(f"CREATE OR REPLACE TEMP TABLE int_{t} AS SELECT * REPLACE (CAST(row AS INTEGER) AS row) "
                       f"FROM {t} ORDER BY batch, row" + (", col" if t != "epoch_rows" else ""))
    sql = base_sql
    for t in ("epoch_rows", "epoch_inputs", "epoch_targets"):
        sql = sql.replace(f'"{t}"', f'"int_{t}"')
    out["int_keys"] = variant_sql(sql)

    # 4b. GROUP BY keys of the largest product (the layer-1 gradient): (model, row, col) as
    # sqlnet has them, (row, col), and one packed BIGINT key
    db.con.execute("CREATE OR REPLACE TEMP TABLE kb_a AS SELECT x.model, x.row, x.col, x.value "
                   "FROM epoch_inputs AS x WHERE x.batch = 0")
    db.con.execute("CREATE OR REPLACE TEMP TABLE kb_d AS SELECT model, row, col, value FROM step_tape "
                   "WHERE kind = 'delta' AND layer = 1")
    g3 = ("SELECT COUNT(*), SUM(value) FROM (SELECT a.model, a.col AS row, d.col, SUM(a.value * d.value) AS value "
          "FROM kb_a AS a JOIN kb_d AS d ON d.model = a.model AND d.row = a.row GROUP BY a.model, a.col, d.col)")
    g2 = ("SELECT COUNT(*), SUM(value) FROM (SELECT a.col AS row, d.col, SUM(a.value * d.value) AS value "
          "FROM kb_a AS a JOIN kb_d AS d ON d.row = a.row GROUP BY a.col, d.col)")
    g1 = ("SELECT COUNT(*), SUM(value) FROM (SELECT k, SUM(a.value * d.value) AS value "
          "FROM kb_a AS a JOIN kb_d AS d ON d.row = a.row, "
          "LATERAL (SELECT CAST(a.col AS BIGINT) * 65536 + d.col AS k) GROUP BY k)")
    out["groupby_keys_model_row_col_vs_row_col"] = paired(lambda i: db.con.execute(g3).fetchall(),
                                                          lambda i: db.con.execute(g2).fetchall(), steps)
    out["groupby_keys_model_row_col_vs_packed"] = paired(lambda i: db.con.execute(g3).fetchall(),
                                                         lambda i: db.con.execute(g1).fetchall(), steps)
    db.con.execute(base_sql, {"batch": 0})

    # 5. the update: sqlnet's two UPDATEs + check + log vs. fewer statements
    db.con.execute(base_sql, {"batch": 0})
    upd = {"sgd_weights": [], "sgd_biases": [], "check": [], "log": [], "fused_check_log": [],
           "ctas_weights": []}
    for i in range(steps):
        db.con.execute("BEGIN TRANSACTION")
        upd["check"].append(timed(lambda: db.rows(query("step_check")))[0])
        upd["sgd_weights"].append(timed(lambda: db.run(st.update[0]))[0])
        upd["sgd_biases"].append(timed(lambda: db.run(st.update[1]))[0])
        upd["log"].append(timed(lambda: db.run(st.log, batch=0, wall_ms=0.0, run=1, epoch=1,
                                               step=i + 1))[0])
        db.con.execute("ROLLBACK")
        db.con.execute("BEGIN TRANSACTION")
        # check and log in one statement: the log row is inserted only when the step is finite
        upd["fused_check_log"].append(timed(lambda: db.con.execute("""
            INSERT INTO training_log
            SELECT g.model, 1, 1, $step, (SELECT COUNT(*) FROM epoch_rows WHERE batch = 0),
                   MAX(g.value) FILTER (WHERE g.kind = 'loss'), MAX(m.lr), 0.0, CURRENT_TIMESTAMP
            FROM step_tape AS g JOIN models AS m ON m.model = g.model
            WHERE g.kind IN ('loss', 'gradient')
            GROUP BY g.model HAVING COUNT(*) FILTER (WHERE NOT isfinite(g.value)) = 0
            RETURNING step""", {"step": i + 1}).fetchall())[0])
        # the weights rewritten whole (CREATE OR REPLACE) instead of UPDATE ... FROM
        upd["ctas_weights"].append(timed(lambda: db.con.execute("""
            CREATE OR REPLACE TABLE weights AS
            SELECT w.model, w.layer, w.row, w.col, w.value - COALESCE(m.lr * g.value, 0.0) AS value
            FROM weights AS w JOIN models AS m ON m.model = w.model
            LEFT JOIN step_tape AS g ON g.kind = 'gradient' AND g.model = w.model
              AND g.layer = w.layer AND g.row = w.row AND g.col = w.col""").fetchall())[0])
        db.con.execute("ROLLBACK")
    out["update_ms"] = {k: med(v) * 1000 for k, v in upd.items()}

    # 6. skip the optimizer passes that cost the most planning time on this statement
    prof = profile_json(db, base_sql, {"batch": 0})
    top = [k for k in prof["optimizer_top_ms"] if k != "total_time"][:3]
    opts = ",".join(top)
    try:
        db.con.execute(f"SET disabled_optimizers = '{opts}'")
        db.con.execute(base_sql, {"batch": 0})
        diff = max_diff(tape_snapshot(db), ref)
        out["disabled_optimizers_profile"] = {k: v for k, v in profile_json(db, base_sql, {"batch": 0}).items()
                                              if k.endswith("_ms") and k not in ("operators_ms", "optimizer_top_ms")}
        db.con.execute("RESET disabled_optimizers")

        def off(i):
            db.con.execute(f"SET disabled_optimizers = '{opts}'")
            db.con.execute(base_sql, {"batch": i % batches})
            db.con.execute("RESET disabled_optimizers")

        def on(i):
            db.con.execute("RESET disabled_optimizers")
            db.con.execute(base_sql, {"batch": i % batches})
            db.con.execute("RESET disabled_optimizers")
        out["disabled_optimizers"] = {**paired(on, off, steps), "maxdiff": diff, "passes": top}
    except duckdb.Error as e:
        out["disabled_optimizers_error"] = str(e).splitlines()[0]
    finally:
        db.con.execute("RESET disabled_optimizers")

    # 7. fixed cost of any statement through the Python client
    out["select_1_ms"] = med([timed(lambda: db.con.execute("SELECT 1").fetchall())[0]
                              for _ in range(200)]) * 1000
    out["begin_commit_ms"] = med([timed(lambda: (db.con.execute("BEGIN TRANSACTION"),
                                                 db.con.execute("COMMIT")))[0] for _ in range(100)]) * 1000
    return out


def recursive_steps(steps: int) -> dict:
    """Many steps in one statement: the recursive-CTE formulation on iris (recursive_cte.sql),
    per step, against sqlnet's statement-per-phase loop measured above."""
    import numpy_mlp
    import recursive_cte
    db = numpy_mlp.iris_arrays({"lr": 0.1})[0]
    nk = recursive_cte.prepare(db)
    db.con.execute("SET threads = 1")
    out = {}
    for k in (1, 10, 100, steps):
        ts = [timed(lambda: recursive_cte.train(db, k, 0.1, nk))[0] for _ in range(3)]
        out[str(k)] = med(ts) * 1000
    return {"ms_per_statement_by_steps": out,
            "ms_per_step_at_most_steps": out[str(steps)] / steps,
            "fixed_ms_estimate": out["1"] - (out[str(steps)] - out["1"]) / (steps - 1)}


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("workloads", nargs="*", default=["iris", "mnist"])
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args(argv)
    path = HERE / "profile_results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in args.workloads:
        steps = args.steps or (60 if name == "iris" else 15)
        print(f"{name}: setting up", file=sys.stderr, flush=True)
        db, net, st = setup(name)
        r = {"steps": steps}
        r["statement_ms"] = statement_times(db, st, steps)
        print(f"{name}: statements {r['statement_ms']}", file=sys.stderr, flush=True)
        r["profile_step"] = profile_json(db, render(st.step), {"batch": 0})
        db.con.execute("BEGIN TRANSACTION")
        r["profile_sgd_weights"] = profile_json(db, render(st.update[0]))
        db.con.execute("ROLLBACK")
        r["prototypes"] = prototypes(name, db, net, st, steps)
        print(f"{name}: prototypes {json.dumps(r['prototypes'])}", file=sys.stderr, flush=True)
        if name == "iris":
            r["recursive"] = recursive_steps(1000)
        results[name] = r
        path.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
