"""The floor of the relational design: a step's five matrix products as joins and GROUP BY
sums, and nothing else, chained through many steps in ONE recursive CTE (as sqlnet's chunks
and the NN2SQL baseline run them).

worker.engine_limit times the products with a statement per batch, which is the right
limit for large batches (mnist-shape) but pays DuckDB's fixed cost per statement, which
dominates small networks. Here the products of every step run inside one recursion, so
neither statements nor planning are paid per step: what is left is what any sqlnet-like
implementation on DuckDB must pay per step, as long as its matrix products are joins with
GROUP BY sums.

Per iteration, over sqlnet's own epoch tables and initial parameters (the bias as the weight
of a constant-1 input column, row -1, so the join row counts equal sqlnet's):
    Z1 = X·W1, Z2 = Z1·W2, D1 = Z2·W2ᵀ, G2 = Z1ᵀ·Z2, G1 = Xᵀ·D1, W ← W − lr·G
(Z1 stands in for A1 and Z2 for the output delta: no activation, loss, log or check, and
the batch's rows are read by a join with the iteration's batch number from a table built
before the recursion, as sqlnet's chunk does). The update is a join of the parameters with
the gradients, which every SGD step needs to carry the weights to the next step; lr is tiny
so that the numbers stay finite. The CTEs inside the recursion are left to DuckDB (with
`AS MATERIALIZED` on each, iris ran within 4% of this, no faster).
"""
from __future__ import annotations

import time

FLOOR_SQL = """
WITH RECURSIVE
xs AS MATERIALIZED (SELECT batch, row, col, value FROM epoch_inputs
                    UNION ALL SELECT batch, row, -1 AS col, 1.0 AS value FROM epoch_rows),
rs AS MATERIALIZED (SELECT batch, row FROM epoch_rows),
s(it, layer, row, col, value) USING KEY (layer, row, col) AS (
  SELECT 0 AS it, layer, row, col, value FROM floor_params
  UNION ALL
  (WITH
     cur AS (SELECT layer, row, col, value FROM s),
     pos AS (SELECT MAX(it) AS it, MAX(it) % $batches AS b FROM s),
     x AS (SELECT x.row, x.col, x.value FROM xs AS x JOIN pos ON x.batch = pos.b),
     z1 AS (SELECT x.row, w.col, SUM(x.value * w.value) AS value
                         FROM x JOIN cur AS w ON w.layer = 1 AND w.row = x.col
                         GROUP BY x.row, w.col),
     a1 AS (SELECT row, col, value FROM z1
                         UNION ALL SELECT r.row, -1 AS col, 1.0 AS value
                         FROM rs AS r JOIN pos ON r.batch = pos.b),
     z2 AS (SELECT a.row, w.col, SUM(a.value * w.value) AS value
                         FROM a1 AS a JOIN cur AS w ON w.layer = 2 AND w.row = a.col
                         GROUP BY a.row, w.col),
     d1 AS (SELECT d.row, w.row AS col, SUM(d.value * w.value) AS value
                         FROM z2 AS d JOIN cur AS w ON w.layer = 2 AND w.col = d.col AND w.row >= 0
                         GROUP BY d.row, w.row),
     g AS (SELECT 1 AS layer, x.col AS row, d.col, SUM(x.value * d.value) AS value
                        FROM x JOIN d1 AS d ON d.row = x.row GROUP BY x.col, d.col
                        UNION ALL
                        SELECT 2 AS layer, a.col AS row, d.col, SUM(a.value * d.value) AS value
                        FROM a1 AS a JOIN z2 AS d ON d.row = a.row GROUP BY a.col, d.col)
   SELECT pos.it + 1 AS it, p.layer, p.row, p.col, p.value - $lr * COALESCE(g.value, 0.0) AS value
   FROM cur AS p CROSS JOIN pos
   LEFT JOIN g ON g.layer = p.layer AND g.row = p.row AND g.col = p.col
   WHERE pos.it < $steps)
)
SELECT COUNT(*), SUM(value) FROM s
"""


def prepare(con) -> int:
    """floor_params from the model in con (layers 1 and 2, biases as row -1); the batches."""
    con.execute("""CREATE OR REPLACE TEMP TABLE floor_params AS
        SELECT layer, row, col, value FROM weights WHERE layer <= 2
        UNION ALL SELECT layer, -1 AS row, col, value FROM biases WHERE layer <= 2""")
    return con.execute("SELECT MAX(batch) + 1 FROM epoch_rows").fetchone()[0]


def floor(con, steps: int, repeats: int = 3) -> dict:
    """Seconds per step of the products alone, `steps` steps in one statement (the median of
    `repeats` runs), cycling through the epoch's batches."""
    batches = prepare(con)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        n, _ = con.execute(FLOOR_SQL, {"steps": steps, "batches": batches, "lr": 1e-12}).fetchone()
        times.append(time.perf_counter() - t)
    med = sorted(times)[len(times) // 2]
    return {"steps": steps, "batches": batches, "times_s": times, "step_s": med / steps, "params": n}


def check(con) -> float:
    """The floor's products are the ones it claims: one step on batch 0 with lr = 1, against
    numpy (float64) on the same tables. Returns the max relative difference of the parameters
    after the step."""
    import numpy as np
    batches = prepare(con)
    sql = FLOOR_SQL.replace("SELECT COUNT(*), SUM(value) FROM s",
                            "SELECT layer, row, col, value FROM s ORDER BY ALL")
    got = con.execute(sql, {"steps": 1, "batches": batches, "lr": 1.0}).fetchall()
    P = con.execute("SELECT layer, row, col, value FROM floor_params").fetchall()
    d = {l: (1 + max(r for L, r, c, v in P if L == l), 1 + max(c for L, r, c, v in P if L == l))
         for l in (1, 2)}
    W = {l: np.zeros((d[l][0] + 1, d[l][1])) for l in (1, 2)}  # row -1 (the bias) is the last
    for L, r, c, v in P:
        W[L][r, c] = v
    rows = [r for (r,) in con.execute("SELECT row FROM epoch_rows WHERE batch = 0 ORDER BY row").fetchall()]
    at = {r: i for i, r in enumerate(rows)}
    X = np.zeros((len(rows), d[1][0] + 1))
    X[:, -1] = 1.0
    for r, c, v in con.execute("SELECT row, col, value FROM epoch_inputs WHERE batch = 0").fetchall():
        X[at[r], c] = v
    Z1 = X @ W[1]
    A1 = np.hstack([Z1, np.ones((len(rows), 1))])
    Z2 = A1 @ W[2]
    D1 = Z2 @ W[2][:-1].T
    G = {1: X.T @ D1, 2: A1.T @ Z2}
    worst = 0.0
    for L, r, c, v in got:
        want = W[L][r, c] - G[L][r, c]
        worst = max(worst, abs(v - want) / max(abs(want), 1e-300))
    return worst
