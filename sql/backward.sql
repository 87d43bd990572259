-- The backward phase: deltas travel down through the weights, and each layer's gradient
-- is the product of the activations below it and its delta.

-- name: hidden_delta
-- Δˡ = (Δˡ⁺¹ · Wˡ⁺¹ᵀ) ⊙ f'(Aˡ): the error sent back through the weights above (:layer is
-- l + 1), times the local slope of the unit
SELECT e.model, e.row, e.col, e.value * :df AS value
FROM (SELECT d.model, d.row, w.row AS col, SUM(d.value * w.value) AS value
      FROM :delta AS d
      JOIN weights AS w ON w.model = d.model AND w.layer = :layer AND w.col = d.col
      GROUP BY d.model, d.row, w.row) AS e
JOIN :acts AS a ON a.model = e.model AND a.row = e.row AND a.col = e.col;

-- name: gradient
-- ∂L/∂Wˡ = Aˡ⁻¹ᵀ · Δˡ. The constant-1 column of Aˡ⁻¹ gives row −1: ∂L/∂bˡ = Σ_samples Δˡ.
SELECT a.model, a.col AS row, d.col, SUM(a.value * d.value) AS value
FROM :acts AS a
JOIN :delta AS d ON d.model = a.model AND d.row = a.row
GROUP BY a.model, a.col, d.col;

-- name: hidden_delta_dropout
-- Δˡ under dropout: as hidden_delta, with f' taken at the unit's own output (a.raw) and times
-- the dropout factor (0 for a dropped unit, 1/(1 − p) for a kept one)
SELECT e.model, e.row, e.col, e.value * :df * a.scale AS value
FROM (SELECT d.model, d.row, w.row AS col, SUM(d.value * w.value) AS value
      FROM :delta AS d
      JOIN weights AS w ON w.model = d.model AND w.layer = :layer AND w.col = d.col
      GROUP BY d.model, d.row, w.row) AS e
JOIN :acts AS a ON a.model = e.model AND a.row = e.row AND a.col = e.col;

-- name: gradient_products
-- ∂L/∂W¹ from the kept products (:products) of a wide sparse layer 1: only the weights the
-- batch reached, each with its value (param, the same on every product row), so that plain
-- SGD needs no join with layer 1's weights; and ∂L/∂b¹ = Σ_samples Δ¹ (row −1). rid: the
-- weight's rowid (or NULL), from the products too.
SELECT p.model, p.input AS row, d.col, SUM(p.x * d.value) AS value, MIN(p.w) AS param,
       MIN(p.rid) AS rid
FROM :products AS p
JOIN :delta AS d ON d.model = p.model AND d.row = p.row AND d.col = p.col
GROUP BY p.model, p.input, d.col
UNION ALL
SELECT d.model, -1 AS row, d.col, SUM(d.value) AS value, CAST(NULL AS DOUBLE) AS param,
       CAST(NULL AS BIGINT) AS rid
FROM :delta AS d
GROUP BY d.model, d.col;
