-- NN2SQL-style baseline (after the TUM papers on gradient descent in SQL, e.g. Schüle et
-- al.): ALL of training as ONE recursive common table expression. Each iteration of the
-- recursion is one full-batch SGD step of a 2-layer network (sigmoid hidden layer,
-- identity output, mse loss); the recursive table holds (iter, layer, row, col, value)
-- for the weights, the bias of each layer being row -1 (the weight of a constant input 1).
--
-- Inputs (tables written by recursive_cte.py):
--   cte_x(row, col, value)       the samples' inputs, zeros not stored
--   cte_y(row, col, value)       the targets, dense (zeros stored: mse needs every output)
--   cte_rows(row)                the samples
--   cte_w0(layer, row, col, value) the initial weights and biases (row -1)
-- Parameters: $steps, $lr, $nk (samples × outputs, mse's divisor).
WITH RECURSIVE w(iter, layer, row, col, value) AS (
  SELECT 0 AS iter, layer, row, col, value FROM cte_w0
  UNION ALL
  (WITH
     cur AS MATERIALIZED (SELECT * FROM w WHERE iter < $steps),
     a0 AS MATERIALIZED (SELECT row, col, value FROM cte_x
                         UNION ALL SELECT row, -1 AS col, 1.0 AS value FROM cte_rows),
     z1 AS MATERIALIZED (SELECT a.row, p.col, SUM(a.value * p.value) AS value
                         FROM a0 AS a JOIN cur AS p ON p.layer = 1 AND p.row = a.col
                         GROUP BY a.row, p.col),
     a1 AS MATERIALIZED (SELECT row, col,
                                CASE WHEN value >= 0 THEN 1.0 / (1.0 + EXP(-value))
                                     ELSE EXP(value) / (1.0 + EXP(value)) END AS value
                         FROM z1
                         UNION ALL SELECT row, -1 AS col, 1.0 AS value FROM cte_rows),
     z2 AS MATERIALIZED (SELECT a.row, p.col, SUM(a.value * p.value) AS value
                         FROM a1 AS a JOIN cur AS p ON p.layer = 2 AND p.row = a.col
                         GROUP BY a.row, p.col),
     d2 AS MATERIALIZED (SELECT z.row, z.col, 2.0 * (z.value - y.value) / $nk AS value
                         FROM z2 AS z JOIN cte_y AS y ON y.row = z.row AND y.col = z.col),
     d1 AS MATERIALIZED (SELECT e.row, e.col, e.value * a.value * (1.0 - a.value) AS value
                         FROM (SELECT d.row, p.row AS col, SUM(d.value * p.value) AS value
                               FROM d2 AS d JOIN cur AS p
                                 ON p.layer = 2 AND p.col = d.col AND p.row >= 0
                               GROUP BY d.row, p.row) AS e
                         JOIN a1 AS a ON a.row = e.row AND a.col = e.col),
     g AS MATERIALIZED (SELECT 1 AS layer, a.col AS row, d.col, SUM(a.value * d.value) AS value
                        FROM a0 AS a JOIN d1 AS d ON d.row = a.row GROUP BY a.col, d.col
                        UNION ALL
                        SELECT 2 AS layer, a.col AS row, d.col, SUM(a.value * d.value) AS value
                        FROM a1 AS a JOIN d2 AS d ON d.row = a.row GROUP BY a.col, d.col)
   SELECT p.iter + 1 AS iter, p.layer, p.row, p.col, p.value - $lr * g.value AS value
   FROM cur AS p JOIN g ON g.layer = p.layer AND g.row = p.row AND g.col = p.col)
)
SELECT layer, row, col, value FROM w WHERE iter = $steps ORDER BY layer, row, col;
