-- gradcheck: the backward phase's gradients against central finite differences
-- (L(p + h) − L(p − h)) / 2h, each loss computed by a forward pass in SQL. It runs in a
-- transaction that is rolled back, so the model is left as it was.

-- name: gc_gradients
-- The SQL gradient of every parameter over the loaded data (one batch), kept for comparing.
CREATE OR REPLACE TEMP TABLE gc_gradients AS SELECT * FROM :gradients;

-- name: gc_pick
-- The parameters to check: all of them, or $n chosen by the `mix` hash of their position.
CREATE OR REPLACE TEMP TABLE gc_params AS
SELECT p.layer, p.row, p.col, p.value FROM (
  SELECT w.layer, w.row, w.col, w.value FROM weights AS w WHERE w.model = $model
  UNION ALL
  SELECT b.layer, -1 AS row, b.col, b.value FROM biases AS b WHERE b.model = $model) AS p
ORDER BY :key, p.layer, p.row, p.col
LIMIT $n;

-- name: gc_losses
-- The losses at p + h and p − h, one row per parameter and side.
CREATE OR REPLACE TEMP TABLE gc_losses (layer INTEGER, row INTEGER, col INTEGER, side INTEGER, loss DOUBLE);

-- name: gc_nudge_weight
-- One weight set to its original value plus $side · h (side 0 puts it back).
UPDATE weights AS w SET value = p.value + $side * $h FROM gc_params AS p
WHERE w.model = $model AND w.layer = $layer AND w.row = $row AND w.col = $col
  AND p.layer = w.layer AND p.row = w.row AND p.col = w.col;

-- name: gc_nudge_bias
-- One bias set to its original value plus $side · h.
UPDATE biases AS b SET value = p.value + $side * $h FROM gc_params AS p
WHERE b.model = $model AND b.layer = $layer AND b.col = $col
  AND p.layer = b.layer AND p.row = -1 AND p.col = b.col;

-- name: gc_record
-- The loss of the nudged model.
INSERT INTO gc_losses SELECT $layer, $row, $col, $side, l.value FROM :loss AS l;

-- name: gc_report
-- Per layer: parameters checked, and the largest absolute and relative difference between
-- the SQL gradient g and the finite difference d, relative to max(|g|, |d|, 10⁻⁶): below
-- that, the difference's rounding error (about 10⁻¹¹ for h = 10⁻⁵) is not a relative error.
SELECT c.layer, COUNT(*) AS checked,
       MAX(ABS(c.g - c.d)) AS max_abs_error,
       MAX(ABS(c.g - c.d) / GREATEST(ABS(c.g), ABS(c.d), 1e-6)) AS max_rel_error
FROM (SELECT p.layer, COALESCE(g.value, 0.0) AS g,
             (MAX(CASE WHEN l.side = 1 THEN l.loss END) - MAX(CASE WHEN l.side = -1 THEN l.loss END))
               / (2.0 * $h) AS d
      FROM gc_params AS p
      JOIN gc_losses AS l ON l.layer = p.layer AND l.row = p.row AND l.col = p.col
      LEFT JOIN gc_gradients AS g ON g.layer = p.layer AND g.row = p.row AND g.col = p.col
      GROUP BY p.layer, p.row, p.col, g.value) AS c
GROUP BY c.layer ORDER BY c.layer;
