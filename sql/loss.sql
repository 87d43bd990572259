-- The error phase: each loss's value over the batch beside its output delta
-- Δᴸ = ∂L/∂Zᴸ. Targets are sparse (zeros are not stored), hence the LEFT JOIN and COALESCE.
-- :out is Aᴸ, :z is Zᴸ, :y the batch's targets, :rows the batch's samples with their count n.

-- name: targets
-- Y: the batch's targets.
SELECT t.model, t.row, t.col, t.value FROM :targets AS t WHERE t.batch = $batch;

-- name: loss_half_sse
-- L = (1/n) Σ_samples ½ Σ_outputs (ŷ − y)², the convention of the seed documents
SELECT a.model, SUM((a.value - COALESCE(y.value, 0.0)) * (a.value - COALESCE(y.value, 0.0)))
       / (2.0 * MIN(r.n)) AS value
FROM :out AS a
JOIN :rows AS r ON r.model = a.model AND r.row = a.row
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col
GROUP BY a.model;

-- name: delta_half_sse
-- Δᴸ = (ŷ − y) · f'(A) / n
SELECT a.model, a.row, a.col, (a.value - COALESCE(y.value, 0.0)) * :df / r.n AS value
FROM :out AS a
JOIN :rows AS r ON r.model = a.model AND r.row = a.row
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col;

-- name: loss_mse
-- L = mean over samples and outputs of (ŷ − y)², PyTorch's MSELoss
SELECT a.model, AVG((a.value - COALESCE(y.value, 0.0)) * (a.value - COALESCE(y.value, 0.0))) AS value
FROM :out AS a
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col
GROUP BY a.model;

-- name: delta_mse
-- Δᴸ = 2 (ŷ − y) · f'(A) / (n · outputs); the count by a GROUP BY and a join, not a window
-- function (a window costs a fixed ~10 ms per operator in DuckDB)
SELECT a.model, a.row, a.col, 2.0 * (a.value - COALESCE(y.value, 0.0)) * :df / c.n AS value
FROM :out AS a
JOIN (SELECT o.model, COUNT(*) AS n FROM :out AS o GROUP BY o.model) AS c ON c.model = a.model
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col;

-- name: nll
-- Each sample's negative log-likelihood parts: log Σ_k e^{z_k}, taken with the maximum m
-- subtracted (m + log s, from softmax_terms, :terms), and Σ_k y_k z_k
SELECT z.model, z.row, MAX(t.m) + LN(MAX(t.s)) AS lse,
       SUM(z.value * COALESCE(y.value, 0.0)) AS zy
FROM :z AS z
JOIN :terms AS t ON t.model = z.model AND t.row = z.row
LEFT JOIN :y AS y ON y.model = z.model AND y.row = z.row AND y.col = z.col
GROUP BY z.model, z.row;

-- name: loss_cross_entropy
-- L = (1/n) Σ_samples (log Σ_k e^{z_k} − Σ_k y_k z_k): PyTorch's CrossEntropyLoss on the
-- logits Zᴸ
SELECT t.model, SUM(t.lse - t.zy) / COUNT(*) AS value
FROM nll AS t
GROUP BY t.model;

-- name: delta_cross_entropy
-- Δᴸ = (softmax(Z) − y) / n: softmax's Jacobian and the log's derivative cancel to this
SELECT a.model, a.row, a.col, (a.value - COALESCE(y.value, 0.0)) / r.n AS value
FROM :out AS a
JOIN :rows AS r ON r.model = a.model AND r.row = a.row
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col;

-- name: loss_bce
-- L = mean over samples and outputs of −(y log ŷ + (1 − y) log(1 − ŷ)), ŷ = σ(z).
-- Written with softplus(x) = max(x, 0) + log(1 + e^−|x|) on the logit, since
-- log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z): no log of 0, no overflow.
SELECT z.model,
       AVG(COALESCE(y.value, 0.0) * (GREATEST(-z.value, 0.0) + LN(1.0 + EXP(-ABS(z.value))))
           + (1.0 - COALESCE(y.value, 0.0)) * (GREATEST(z.value, 0.0) + LN(1.0 + EXP(-ABS(z.value)))))
         AS value
FROM :z AS z
LEFT JOIN :y AS y ON y.model = z.model AND y.row = z.row AND y.col = z.col
GROUP BY z.model;

-- name: delta_bce
-- Δᴸ = (ŷ − y) / (n · outputs): the sigmoid's slope cancels the log's
SELECT a.model, a.row, a.col, (a.value - COALESCE(y.value, 0.0)) / c.n AS value
FROM :out AS a
JOIN (SELECT o.model, COUNT(*) AS n FROM :out AS o GROUP BY o.model) AS c ON c.model = a.model
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col;

-- name: row_weights
-- --class-weight: each sample's weight w = Σ_k y_k · weight_k, and the batch's total Σ w.
SELECT y.model, y.row, SUM(y.value * cw.weight) AS w,
       SUM(SUM(y.value * cw.weight)) OVER (PARTITION BY y.model) AS total
FROM :y AS y
JOIN class_weights AS cw ON cw.model = y.model AND cw.class = y.col
GROUP BY y.model, y.row;

-- name: loss_cross_entropy_weighted
-- PyTorch's CrossEntropyLoss(weight=...): L = Σ_samples w (log Σ_k e^{z_k} − Σ_k y_k z_k) / Σ w
SELECT t.model, SUM(w.w * (t.lse - t.zy)) / MIN(w.total) AS value
FROM nll AS t
JOIN row_weights AS w ON w.model = t.model AND w.row = t.row
GROUP BY t.model;

-- name: delta_cross_entropy_weighted
-- Δᴸ = w (softmax(Z) − y) / Σ w
SELECT a.model, a.row, a.col, (a.value - COALESCE(y.value, 0.0)) * w.w / w.total AS value
FROM :out AS a
JOIN row_weights AS w ON w.model = a.model AND w.row = a.row
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col;
