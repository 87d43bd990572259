"""A prototype of another design, for NOTES.md §11: the floor of floors.py (a step's five
products and the update, every step in one recursive CTE) with DuckDB LIST columns instead
of a row per matrix element, so a product is a row per dot product (`list_dot_product`)
rather than a row per multiply-add.

Not sqlnet's design (its tables are (row, col, value) and its products joins with GROUP BY
sums): this measures what the other representation would buy, on sqlnet's own epoch tables
and initial parameters. Per iteration, with n samples in the batch, d inputs and h hidden units:
    x (n rows of d+1: the inputs densely, then the constant 1), Z1 = X·W1 (n·h dot products),
    A1 = Z1 as row lists and column lists, Z2 = A1·W2 (n·k), D2 = Z2 (a stand-in, as in
    floors.py), D1 = D2·W2ᵀ (n·h, against W2 transposed), and each unit's new weights
    w − lr·(its delta column · each input column) as one list per unit.

``python benchmarks/array_floor.py [iris|digits]`` prints the relational floor and this one,
alternating, in one process; :func:`check` compares a step with numpy.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

SETUP = [
    """CREATE OR REPLACE TEMP TABLE arr_x AS
       SELECT r.batch, r.row,
              list(COALESCE(x.value, 0.0) ORDER BY i.i) || [1.0] AS x
       FROM epoch_rows AS r CROSS JOIN range($d) AS i(i)
       LEFT JOIN epoch_inputs AS x ON x.row = r.row AND x.col = i.i
       GROUP BY r.batch, r.row""",
    """CREATE OR REPLACE TEMP TABLE arr_xc AS
       SELECT a.batch, CAST(i.i AS INTEGER) AS i, list(a.x[i.i + 1] ORDER BY a.row) AS v
       FROM arr_x AS a CROSS JOIN range($d + 1) AS i(i) GROUP BY a.batch, i.i""",
    """CREATE OR REPLACE TEMP TABLE arr_p AS
       SELECT p.layer, p.col AS unit,
              list(p.value ORDER BY CASE WHEN p.row < 0 THEN 1000000 ELSE p.row END) AS w
       FROM floor_params AS p GROUP BY p.layer, p.col""",
]

ARRAY_SQL = """
WITH RECURSIVE s(it, layer, unit, w) USING KEY (layer, unit) AS (
  SELECT 0 AS it, layer, unit, w FROM arr_p
  UNION ALL
  (WITH
     cur AS (SELECT layer, unit, w FROM s),
     pos AS (SELECT MAX(it) AS it, MAX(it) % $batches AS b FROM s),
     x AS (SELECT a.row, a.x FROM arr_x AS a JOIN pos ON a.batch = pos.b),
     xc AS (SELECT a.i, a.v FROM arr_xc AS a JOIN pos ON a.batch = pos.b),
     z1 AS (SELECT x.row, c.unit AS j, list_dot_product(x.x, c.w) AS z
            FROM x CROSS JOIN cur AS c WHERE c.layer = 1),
     a1r AS (SELECT row, list(z ORDER BY j) || [1.0] AS a FROM z1 GROUP BY row),
     a1c AS (SELECT j, list(z ORDER BY row) AS v FROM z1 GROUP BY j
             UNION ALL SELECT $h AS j, list(1.0 ORDER BY row) AS v FROM x),
     z2 AS (SELECT a.row, c.unit AS k, list_dot_product(a.a, c.w) AS z
            FROM a1r AS a CROSS JOIN cur AS c WHERE c.layer = 2),
     d2r AS (SELECT row, list(z ORDER BY k) AS d FROM z2 GROUP BY row),
     d2c AS (SELECT k, list(z ORDER BY row) AS v FROM z2 GROUP BY k),
     w2t AS (SELECT g.j, list(c.w[g.j + 1] ORDER BY c.unit) AS w
             FROM cur AS c CROSS JOIN range($h) AS g(j) WHERE c.layer = 2 GROUP BY g.j),
     d1 AS (SELECT d.row, t.j, list_dot_product(d.d, t.w) AS v FROM d2r AS d CROSS JOIN w2t AS t),
     d1c AS (SELECT j, list(v ORDER BY row) AS v FROM d1 GROUP BY j),
     new1 AS (SELECT c.unit, list(c.w[xc.i + 1] - $lr * list_dot_product(d.v, xc.v) ORDER BY xc.i) AS w
              FROM cur AS c JOIN d1c AS d ON d.j = c.unit CROSS JOIN xc
              WHERE c.layer = 1 GROUP BY c.unit),
     new2 AS (SELECT c.unit, list(c.w[a.j + 1] - $lr * list_dot_product(d.v, a.v) ORDER BY a.j) AS w
              FROM cur AS c JOIN d2c AS d ON d.k = c.unit CROSS JOIN a1c AS a
              WHERE c.layer = 2 GROUP BY c.unit)
   SELECT pos.it + 1 AS it, 1 AS layer, n.unit, n.w FROM new1 AS n CROSS JOIN pos WHERE pos.it < $steps
   UNION ALL
   SELECT pos.it + 1 AS it, 2 AS layer, n.unit, n.w FROM new2 AS n CROSS JOIN pos WHERE pos.it < $steps)
)
SELECT COUNT(*), SUM(list_sum(w)) FROM s
"""


def prepare(con) -> tuple[int, int, int]:
    """arr_x, arr_xc, arr_p from sqlnet's epoch tables and parameters: (batches, d, h)."""
    import floors
    batches = floors.prepare(con)
    d = con.execute("SELECT MAX(row) + 1 FROM floor_params WHERE layer = 1").fetchone()[0]
    h = con.execute("SELECT MAX(col) + 1 FROM floor_params WHERE layer = 1").fetchone()[0]
    for sql in SETUP:
        con.execute(sql, {"d": d} if "$d" in sql else {})
    return batches, d, h


def run(con, steps: int, lr: float = 1e-12, batches=None, h=None):
    return con.execute(ARRAY_SQL, {"steps": steps, "batches": batches, "h": h, "lr": lr}).fetchone()


def check(con) -> float:
    """One step with lr = 1 on batch 0 against floors.py's relational floor (itself checked
    against numpy): the max relative difference of the new parameters."""
    import floors
    batches, d, h = prepare(con)
    rel = floors.FLOOR_SQL.replace("SELECT COUNT(*), SUM(value) FROM s",
                                   "SELECT layer, row, col, value FROM s")
    want = {(l, r, c): v for l, r, c, v in
            con.execute(rel, {"steps": 1, "batches": batches, "lr": 1.0}).fetchall()}
    got = con.execute(ARRAY_SQL.replace("SELECT COUNT(*), SUM(list_sum(w)) FROM s",
                                        "SELECT layer, unit, w FROM s"),
                      {"steps": 1, "batches": batches, "h": h, "lr": 1.0}).fetchall()
    worst = 0.0
    for layer, unit, w in got:
        fan_in = d if layer == 1 else h
        for i, v in enumerate(w):
            ref = want[(layer, -1 if i == fan_in else i, unit)]
            worst = max(worst, abs(v - ref) / max(abs(ref), 1e-300))
    return worst


def main(which: str) -> None:
    import duckdb
    import datasets
    import floors
    from sqlnet.data import Source
    from sqlnet.db import Database
    from sqlnet.train import Settings, train
    if which == "iris":
        src, targets, steps = datasets.iris(), datasets.IRIS_TARGETS, 1000
        s = dict(hidden=[20], activation="sigmoid", loss="mse", lr=0.1, batch_size=0)
    else:
        src, targets, steps = datasets.digits(), ["label"], 171
        s = dict(hidden=[64], activation="relu", loss="cross_entropy", lr=0.1, batch_size=32)
    db = Database(duckdb.connect())
    train(db, Source(src), targets, quiet=True, settings=Settings(epochs=1, threads=1, **s))
    con = db.con
    con.execute("SET threads = 1")
    print(f"{which}: check, one step against the relational floor: max relative difference "
          f"{check(con):.1e}")
    batches, d, h = prepare(con)
    rel, arr = [], []
    for _ in range(5):
        t = time.perf_counter()
        con.execute(floors.FLOOR_SQL, {"steps": steps, "batches": batches, "lr": 1e-12}).fetchone()
        rel.append((time.perf_counter() - t) / steps * 1000)
        t = time.perf_counter()
        run(con, steps, batches=batches, h=h)
        arr.append((time.perf_counter() - t) / steps * 1000)
    r, a = statistics.median(rel), statistics.median(arr)
    print(f"{which}: ms a step, {steps} steps in one statement, 1 thread, median of 5 alternating: "
          f"relational floor {r:.3f}, array floor {a:.3f} (ratio {a / r:.2f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "digits")
