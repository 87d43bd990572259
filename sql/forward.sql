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
-- Zˡ = Aˡ⁻¹·Wˡ + bˡ: the matrix product as a join and a GROUP BY sum. The bias is the
-- weight of the constant input in column −1, so a sample whose inputs are all zero
-- (and so not stored) still gets its Z.
SELECT a.model, a.row, p.col, SUM(a.value * p.value) AS value
FROM :acts AS a
JOIN (SELECT w.model, w.row, w.col, w.value FROM weights AS w WHERE w.layer = :layer
      UNION ALL
      SELECT b.model, -1 AS row, b.col, b.value FROM biases AS b WHERE b.layer = :layer) AS p
  ON p.model = a.model AND p.row = a.col
GROUP BY a.model, a.row, p.col;

-- name: activate
-- Aˡ = f(Zˡ) for a hidden layer, plus the constant-1 column the next layer's bias multiplies.
SELECT z.model, z.row, z.col, :f AS value FROM :z AS z
UNION ALL
SELECT r.model, r.row, -1 AS col, 1.0 AS value FROM :rows AS r;

-- name: output
-- Aᴸ = f(Zᴸ) for the output layer.
SELECT z.model, z.row, z.col, :f AS value FROM :z AS z;

-- name: softmax_output
-- Aᴸ = exp(Z − max Z) / Σ exp(Z − max Z) per sample: the maximum is subtracted for stability.
SELECT s.model, s.row, s.col,
       EXP(s.value - s.m) / SUM(EXP(s.value - s.m)) OVER (PARTITION BY s.model, s.row) AS value
FROM (SELECT z.model, z.row, z.col, z.value,
             MAX(z.value) OVER (PARTITION BY z.model, z.row) AS m
      FROM :z AS z) AS s;

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
