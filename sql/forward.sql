-- The forward phase: one statement per layer and step, composed by the driver as the
-- common table expressions of a single query. Placeholders (:name) are filled through
-- sqlglot's syntax tree; $name values are bound parameters.

-- name: rows
-- The samples of this batch, with the count n that every batch average divides by.
SELECT s.model, s.row, COUNT(*) OVER (PARTITION BY s.model) AS n
FROM :rows AS s
WHERE s.batch = $batch;

-- name: inputs
-- A⁰: the batch's inputs, plus a constant 1 in column −1 that multiplies the bias.
SELECT x.model, x.row, x.col, x.value FROM :inputs AS x WHERE x.batch = $batch
UNION ALL
SELECT r.model, r.row, -1 AS col, 1.0 AS value FROM :rows AS r;

-- name: linear
-- Zˡ = Aˡ⁻¹·Wˡ + bˡ: the matrix product as a join and a GROUP BY sum, then the bias added
-- by a join on the unit. Every sample of the batch gets its Z, even one whose inputs are all
-- zero (and so not stored): the product is LEFT JOINed to each sample's bias row.
-- (Aˡ⁻¹'s constant-1 column, −1, has no weight row: it serves the bias gradient only.)
SELECT r.model, r.row, b.col, b.value + COALESCE(p.value, 0.0) AS value
FROM :rows AS r
JOIN biases AS b ON b.model = r.model AND b.layer = :layer
LEFT JOIN (SELECT a.model, a.row, w.col, SUM(a.value * w.value) AS value
           FROM :acts AS a
           JOIN weights AS w ON w.model = a.model AND w.layer = :layer AND w.row = a.col
           GROUP BY a.model, a.row, w.col) AS p
  ON p.model = r.model AND p.row = r.row AND p.col = b.col;

-- name: linear_dense
-- Zˡ = Aˡ⁻¹·Wˡ + bˡ for a hidden layer's output Aˡ⁻¹, which holds every sample's every unit:
-- the product as a join and a GROUP BY sum, the bias added by a join on the unit.
SELECT p.model, p.row, p.col, p.value + b.value AS value
FROM (SELECT a.model, a.row, w.col, SUM(a.value * w.value) AS value
      FROM :acts AS a
      JOIN weights AS w ON w.model = a.model AND w.layer = :layer AND w.row = a.col
      GROUP BY a.model, a.row, w.col) AS p
JOIN biases AS b ON b.model = p.model AND b.layer = :layer AND b.col = p.col;

-- name: activate
-- Aˡ = f(Zˡ) for a hidden layer, plus the constant-1 column the next layer's bias multiplies.
SELECT z.model, z.row, z.col, :f AS value FROM :z AS z
UNION ALL
SELECT r.model, r.row, -1 AS col, 1.0 AS value FROM :rows AS r;

-- name: output
-- Aᴸ = f(Zᴸ) for the output layer.
SELECT z.model, z.row, z.col, :f AS value FROM :z AS z;

-- name: softmax_terms
-- Per sample: the largest Zᴸ, m (subtracted for stability), and s = Σ exp(Z − m). GROUP BYs
-- and a join, not window functions: a window costs a fixed ~10 ms per operator in DuckDB.
SELECT z.model, z.row, m.m, SUM(EXP(z.value - m.m)) AS s
FROM :z AS z
JOIN (SELECT x.model, x.row, MAX(x.value) AS m FROM :z AS x GROUP BY x.model, x.row) AS m
  ON m.model = z.model AND m.row = z.row
GROUP BY z.model, z.row, m.m;

-- name: softmax_output
-- Aᴸ = exp(Z − m) / s per sample, from softmax_terms (:terms).
SELECT z.model, z.row, z.col, EXP(z.value - t.m) / t.s AS value
FROM :z AS z JOIN :terms AS t ON t.model = z.model AND t.row = z.row;

-- name: dropout
-- Inverted dropout of a hidden layer (training only): each unit of each sample is dropped
-- with the model's probability p, or kept and scaled by 1/(1 − p). The draw :u / P is the
-- `mix` hash of (seed, epoch, batch, sample, layer, unit): integer arithmetic, the same bits on every
-- engine. raw keeps f(z) for the derivative, scale the factor; the constant-1 column stays.
SELECT k.model, k.row, k.col, k.value * k.scale AS value, k.value AS raw, k.scale
FROM (SELECT a.model, a.row, a.col, a.value,
             CASE WHEN a.col < 0 THEN 1.0
                  WHEN :u / 2147483647.0 < m.dropout THEN 0.0
                  ELSE 1.0 / (1.0 - m.dropout) END AS scale
      FROM :acts AS a JOIN models AS m ON m.model = a.model) AS k;

-- name: products
-- A wide sparse layer 1's products, kept (x, w per sample, input and unit): few inputs per
-- sample reach few of its many weights, and the gradient and update of plain SGD then read
-- those weights from here instead of joining all of layer 1's weights again. :rid is the
-- weight's DuckDB rowid (the lean step's update finds the weight by it) or NULL.
SELECT a.model, a.row, a.col AS input, w.col, a.value AS x, w.value AS w, :rid AS rid
FROM :acts AS a
JOIN weights AS w ON w.model = a.model AND w.layer = 1 AND w.row = a.col;

-- name: linear_products
-- Z¹ = A⁰·W¹ + b¹ from the kept products (:products); as linear, a sample with no stored
-- input still gets its Z.
SELECT r.model, r.row, b.col, b.value + COALESCE(p.value, 0.0) AS value
FROM :rows AS r
JOIN biases AS b ON b.model = r.model AND b.layer = 1
LEFT JOIN (SELECT p.model, p.row, p.col, SUM(p.x * p.w) AS value
           FROM :products AS p
           GROUP BY p.model, p.row, p.col) AS p
  ON p.model = r.model AND p.row = r.row AND p.col = b.col;
