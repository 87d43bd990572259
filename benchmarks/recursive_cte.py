"""The NN2SQL-style baseline: all of iris training as ONE recursive CTE (recursive_cte.sql).

In the in-process workload (run, verify) the data and initial weights are sqlnet's own (a
model sqlnet created with 0 epochs), copied into the cte_* tables; the statement then runs
every step inside DuckDB in one query.

Run as a script, it is the baseline as a whole process, start to exit, with its own loading
and no sqlnet (run.py's user-paths workload): DuckDB reads the CSV, the weights start
Xavier-uniform (as sqlnet's for a sigmoid layer, from DuckDB's seeded random()), then the
one statement trains:

    python benchmarks/recursive_cte.py --data benchmarks/data/iris_onehot.csv \
        --target y_setosa,y_versicolor,y_virginica --hidden 20 --steps 1000 --lr 0.1
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

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
    import numpy as np
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
    import numpy as np
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


def load(con, path: str, targets: list[str], hidden: int, seed: int) -> int:
    """cte_x, cte_y, cte_rows and cte_w0 from a CSV file, without sqlnet: features are the
    columns that are not targets, in file order; returns samples × outputs (mse's divisor)."""
    con.execute("CREATE TABLE raw AS SELECT row_number() OVER () - 1 AS row, * FROM read_csv(?)",
                [path])
    cols = [r[0] for r in con.execute("DESCRIBE raw").fetchall()][1:]
    feats = [c for c in cols if c not in targets]

    def cells(names):
        return " UNION ALL ".join(f'SELECT row, {i} AS col, CAST("{c}" AS DOUBLE) AS value FROM raw'
                                  for i, c in enumerate(names))
    con.execute(f"CREATE TABLE cte_x AS SELECT * FROM ({cells(feats)}) WHERE value <> 0")
    con.execute(f"CREATE TABLE cte_y AS {cells(targets)}")  # dense: mse needs every output
    con.execute("CREATE TABLE cte_rows AS SELECT row FROM raw")
    con.execute("SELECT setseed(?)", [((seed * 7919) % 1000) / 1000])
    widths = [len(feats), hidden, len(targets)]
    parts = []
    for layer in (1, 2):
        fi, fo = widths[layer - 1], widths[layer]
        bound = (6 / (fi + fo)) ** 0.5
        parts.append(f"SELECT {layer} AS layer, r AS row, c AS col, "
                     f"(2 * random() - 1) * {bound} AS value "
                     f"FROM range({fi}) AS a(r), range({fo}) AS b(c)")
        parts.append(f"SELECT {layer} AS layer, -1 AS row, c AS col, 0.0 AS value FROM range({fo}) AS b(c)")
    con.execute("CREATE TABLE cte_w0 AS " + " UNION ALL ".join(parts))
    n = con.execute("SELECT COUNT(*) FROM cte_rows").fetchone()[0]
    return n * len(targets)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a CSV file with a header")
    ap.add_argument("--target", required=True, help="target columns, comma-separated (dense, mse)")
    ap.add_argument("--hidden", type=int, default=20)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="DuckDB threads (default 1, as the "
                    "iris workload's bar and sqlnet's auto for iris)")
    a = ap.parse_args(argv)
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    t = time.perf_counter()
    nk = load(con, a.data, a.target.split(","), a.hidden, a.seed)
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    rows = con.execute(SQL, {"steps": a.steps, "lr": a.lr, "nk": float(nk)}).fetchall()
    print(f"trained {a.steps} steps in total, {len(rows)} parameters, loading {loaded:.3f} s, "
          f"the statement {time.perf_counter() - t:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
