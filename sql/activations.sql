-- Each activation beside its derivative, one statement per activation (micrograd's habit).
-- f is written in terms of z, the unit's input; df in terms of a = f(z), its output,
-- so the backward phase needs only the stored activations.

-- name: identity
-- f(z) = z
SELECT z AS f, 1.0 AS df;

-- name: relu
-- f(z) = max(z, 0); the slope at 0 is taken as 0, as PyTorch does
SELECT GREATEST(z, 0.0) AS f, CASE WHEN a > 0 THEN 1.0 ELSE 0.0 END AS df;

-- name: leaky_relu
-- f(z) = z for z > 0, else 0.01·z
SELECT CASE WHEN z > 0 THEN z ELSE 0.01 * z END AS f, CASE WHEN a > 0 THEN 1.0 ELSE 0.01 END AS df;

-- name: sigmoid
-- f(z) = 1 / (1 + e^−z), written so that e^x never overflows
SELECT CASE WHEN z >= 0 THEN 1.0 / (1.0 + EXP(-z)) ELSE EXP(z) / (1.0 + EXP(z)) END AS f,
       a * (1.0 - a) AS df;

-- name: tanh
-- f(z) = tanh z
SELECT TANH(z) AS f, 1.0 - a * a AS df;

-- name: softmax
-- softmax is not elementwise: the forward phase's `softmax` statement computes it, and it
-- only ever meets cross_entropy, whose output delta (A − Y)/n already holds its derivative.
SELECT z AS f, 1.0 AS df;
