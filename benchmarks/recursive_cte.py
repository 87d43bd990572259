"""The NN2SQL-style baseline: all of iris training as ONE recursive CTE (recursive_cte.sql).

The data and initial weights are sqlnet's own (a model sqlnet created with 0 epochs), copied
into the cte_* tables; the statement then runs every step inside DuckDB in one query.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

SQL = (Path(__file__).resolve().parent / "recursive_cte.sql").read_text()


def prepare(db):
    """cte_x, cte_y (dense), cte_rows and cte_w0 from the sqlnet model and data in db."""
    con = db.con
    con.execute("CREATE OR REPLACE TABLE cte_x AS SELECT row, col, value FROM train_inputs")
    con.execute("CREATE OR REPLACE TABLE cte_rows AS SELECT row FROM train_rows")
    con.execute("""CREATE OR REPLACE TABLE cte_y AS
        SELECT r.row, c.col, COALESCE(t.value, 0.0) AS value
        FROM train_rows AS r CROSS JOIN (SELECT col FROM target_names) AS c
        LEFT JOIN train_targets AS t ON t.row = r.row AND t.col = c.col""")
    con.execute("""CREATE OR REPLACE TABLE cte_w0 AS
        SELECT layer, row, col, value FROM weights
        UNION ALL SELECT layer, -1 AS row, col, value FROM biases""")
    n = con.execute("SELECT COUNT(*) FROM cte_rows").fetchone()[0]
    k = con.execute("SELECT COUNT(*) FROM target_names").fetchone()[0]
    return n * k


def train(db, steps, lr, nk):
    return db.con.execute(SQL, {"steps": steps, "lr": lr, "nk": float(nk)}).fetchall()


def as_arrays(rows, widths=(4, 20, 3)):
    W = [np.zeros((widths[i], widths[i + 1])) for i in range(2)]
    b = [np.zeros(widths[i + 1]) for i in range(2)]
    for layer, r, c, v in rows:
        if r < 0:
            b[layer - 1][c] = v
        else:
            W[layer - 1][r, c] = v
    return W[0], b[0], W[1], b[1]


def run(spec):
    import numpy_mlp
    db = numpy_mlp.iris_arrays(spec)[0]
    nk = prepare(db)
    db.con.execute(f"SET threads = {int(spec.get('threads', 1))}")
    times = []
    for _ in range(spec.get("repeats", 3)):
        t = time.perf_counter()
        train(db, spec["steps"], spec["lr"], nk)
        times.append(time.perf_counter() - t)
    return {"times_s": times, "steps": spec["steps"]}


def verify(spec):
    """Weights after `steps` full-batch steps: sqlnet vs numpy vs the recursive CTE."""
    import duckdb
    import datasets
    import numpy_mlp
    from sqlnet import model as M
    from sqlnet.data import Source
    from sqlnet.db import Database
    from sqlnet.train import Settings, train as sq_train
    steps, lr = spec["steps"], spec["lr"]
    db, X, Y, W1, b1, W2, b2 = numpy_mlp.iris_arrays(spec)
    ref = numpy_mlp.train(X, Y, W1, b1, W2, b2, lr, steps)
    cte = as_arrays(train(db, steps, lr, prepare(db)))
    sq_db = Database(duckdb.connect())
    sq_train(sq_db, Source(datasets.iris()), datasets.IRIS_TARGETS, quiet=True,
             settings=Settings(epochs=steps, hidden=[20], activation="sigmoid", loss="mse",
                               lr=lr, batch_size=0, seed=spec.get("seed", 0)))
    (sW1, sb1), (sW2, sb2) = [(np.array(W), np.array(b)) for W, b in M.parameters(sq_db)]
    sq = (sW1, sb1, sW2, sb2)

    def rel(a, b):
        return max(float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12))) for x, y in zip(a, b))

    def moved(a):  # how far training moved the weights: the check is not vacuous
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, (W1, b1, W2, b2)))
    return {"steps": steps, "max_rel_diff_sqlnet_vs_numpy": rel(sq, ref),
            "max_rel_diff_cte_vs_numpy": rel(cte, ref), "max_rel_diff_cte_vs_sqlnet": rel(cte, sq),
            "max_abs_weight_change": moved(ref)}
