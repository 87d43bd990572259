-- The update phase. It runs inside the step's statement, after the backward phase: its
-- common table expressions turn the gradients into each parameter's new value and new
-- optimizer state, and put them on the tape; the apply_* statements then copy them into
-- weights, biases and optimizer_state. Every scalar setting is joined from the model's row
-- of `models`, so that models with different settings share the same statements.
-- A parameter is (layer, row, col); a bias is row −1.

-- name: layer_gradients
-- One layer's ∂L/∂W and ∂L/∂b, labelled with the layer: the parts of `grads`.
SELECT g.model, :layer AS layer, CAST(g.row AS INTEGER) AS row, CAST(g.col AS INTEGER) AS col,
       g.value
FROM :source AS g;

-- name: parameters
-- Every weight and bias of the models in this batch.
SELECT w.model, w.layer, w.row, w.col, w.value FROM weights AS w
WHERE w.model IN (SELECT r.model FROM :rows AS r)
UNION ALL
SELECT b.model, b.layer, -1 AS row, b.col, b.value FROM biases AS b
WHERE b.model IN (SELECT r.model FROM :rows AS r);

-- name: learning_rate
-- The step's learning rate from each model's schedule; $e is the epoch's index in the run
-- (0 for its first epoch) and $epochs the run's length (cosine's T_max). PyTorch's StepLR,
-- ExponentialLR and CosineAnnealingLR (eta_min 0), and MADlib's inv.
SELECT m.model,
       m.lr * CASE m.lr_schedule
                WHEN 'step' THEN POWER(m.gamma, FLOOR(CAST($e AS DOUBLE) / m.step_size))
                WHEN 'exponential' THEN POWER(m.gamma, CAST($e AS DOUBLE))
                WHEN 'inv' THEN POWER(1.0 + m.gamma * $e, -m.power)
                WHEN 'cosine' THEN (1.0 + COS(PI() * $e / $epochs)) / 2.0
                ELSE 1.0 END AS lr
FROM models AS m;

-- name: touched_gradients
-- Plain SGD without a penalty moves only the parameters the batch reached (sparse inputs
-- leave most first-layer weights without a gradient row): g = ∂L/∂p.
SELECT g.model, g.layer, g.row, g.col, p.value AS param, g.value AS grad
FROM :grads AS g
JOIN :params AS p ON p.model = g.model AND p.layer = g.layer AND p.row = g.row AND p.col = g.col;

-- name: parameters_above
-- The parameters of the models in this batch but layer 1's weights (a wide sparse layer 1's
-- touched weights come with their gradient: gradient_products).
SELECT w.model, w.layer, w.row, w.col, w.value FROM weights AS w
WHERE w.layer > 1 AND w.model IN (SELECT r.model FROM :rows AS r)
UNION ALL
SELECT b.model, b.layer, -1 AS row, b.col, b.value FROM biases AS b
WHERE b.model IN (SELECT r.model FROM :rows AS r);

-- name: touched_gradients_products
-- touched_gradients with a wide sparse layer 1 (:grad1, from gradient_products): its weights
-- take their value (and rowid, rid) from there, the other parameters from :params
-- (parameters_above).
SELECT g.model, 1 AS layer, CAST(g.row AS INTEGER) AS row, CAST(g.col AS INTEGER) AS col,
       g.param, g.value AS grad, g.rid
FROM :grad1 AS g WHERE g.row >= 0
UNION ALL
SELECT g.model, g.layer, g.row, g.col, p.value AS param, g.value AS grad,
       CAST(NULL AS BIGINT) AS rid
FROM :grads AS g
JOIN :params AS p ON p.model = g.model AND p.layer = g.layer AND p.row = g.row AND p.col = g.col
WHERE g.layer > 1 OR g.row < 0;

-- name: all_gradients
-- Every parameter's g = ∂L/∂p + l1·sign(p): the L1 penalty l1·Σ|p| is part of the loss;
-- a parameter no sample of the batch reached has ∂L/∂p = 0.
SELECT p.model, p.layer, p.row, p.col, p.value AS param,
       COALESCE(g.value, 0.0) + m.l1 * SIGN(p.value) AS grad
FROM :params AS p
JOIN models AS m ON m.model = p.model
LEFT JOIN :grads AS g
  ON g.model = p.model AND g.layer = p.layer AND g.row = p.row AND g.col = p.col;

-- name: clip
-- Clipping by global norm, PyTorch's clip_grad_norm_: each model's gradient norm ‖g‖, and the
-- factor min(1, clip_norm / (‖g‖ + 10⁻⁶)) its gradient is scaled by.
SELECT g.model, SQRT(SUM(g.grad * g.grad)) AS norm,
       LEAST(1.0, MIN(m.clip_norm) / (SQRT(SUM(g.grad * g.grad)) + 1e-6)) AS scale
FROM :g AS g JOIN models AS m ON m.model = g.model
GROUP BY g.model;

-- name: clipped
-- g ← g · scale
SELECT g.model, g.layer, g.row, g.col, g.param, g.grad * c.scale AS grad
FROM :g AS g JOIN :clip AS c ON c.model = g.model;

-- name: decayed
-- L2 weight decay coupled to the gradient, as PyTorch's weight_decay for sgd, rmsprop and
-- adam: g ← g + weight_decay · p
SELECT g.model, g.layer, g.row, g.col, g.param, g.grad + m.weight_decay * g.param AS grad
FROM :g AS g JOIN models AS m ON m.model = g.model;

-- name: state
-- The optimizer state of every parameter, one column per kind.
SELECT s.model, s.layer, s.row, s.col,
       MAX(CASE WHEN s.name = 'momentum_buffer' THEN s.value END) AS momentum_buffer,
       MAX(CASE WHEN s.name = 'square_avg' THEN s.value END) AS square_avg,
       MAX(CASE WHEN s.name = 'exp_avg' THEN s.value END) AS exp_avg,
       MAX(CASE WHEN s.name = 'exp_avg_sq' THEN s.value END) AS exp_avg_sq
FROM optimizer_state AS s WHERE s.layer > 0
GROUP BY s.model, s.layer, s.row, s.col;

-- name: optimizer_steps
-- The step number t of this step (the optimizer's count so far, plus one), for the models
-- in this batch (a model with fewer batches than others skips the later steps).
SELECT s.model, s.value + 1.0 AS t FROM optimizer_state AS s
WHERE s.name = 'step' AND s.model IN (SELECT r.model FROM :rows AS r);

-- name: sgd
-- p ← p − lr · g
SELECT g.model, g.layer, g.row, g.col, g.param - l.lr * g.grad AS param
FROM :g AS g JOIN :lr AS l ON l.model = g.model;

-- name: sgd_rowid
-- p ← p − lr · g, keeping each layer-1 weight's rowid (rid) for apply_weights_rowid
SELECT g.model, g.layer, g.row, g.col, g.param - l.lr * g.grad AS param, g.rid
FROM :g AS g JOIN :lr AS l ON l.model = g.model;

-- name: momentum
-- PyTorch SGD with momentum μ, dampening 0: buf ← μ · buf + g; p ← p − lr · buf
SELECT u.model, u.layer, u.row, u.col, u.param - u.lr * u.buf AS param,
       u.buf AS momentum_buffer
FROM (SELECT g.model, g.layer, g.row, g.col, g.param, l.lr,
             m.momentum * s.momentum_buffer + g.grad AS buf
      FROM :g AS g JOIN :lr AS l ON l.model = g.model JOIN models AS m ON m.model = g.model
      JOIN :state AS s
        ON s.model = g.model AND s.layer = g.layer AND s.row = g.row AND s.col = g.col) AS u;

-- name: nesterov
-- PyTorch SGD with Nesterov momentum: buf ← μ · buf + g; p ← p − lr · (g + μ · buf)
SELECT u.model, u.layer, u.row, u.col, u.param - u.lr * (u.grad + u.momentum * u.buf) AS param,
       u.buf AS momentum_buffer
FROM (SELECT g.model, g.layer, g.row, g.col, g.param, g.grad, l.lr, m.momentum,
             m.momentum * s.momentum_buffer + g.grad AS buf
      FROM :g AS g JOIN :lr AS l ON l.model = g.model JOIN models AS m ON m.model = g.model
      JOIN :state AS s
        ON s.model = g.model AND s.layer = g.layer AND s.row = g.row AND s.col = g.col) AS u;

-- name: rmsprop
-- PyTorch RMSprop: v ← α · v + (1 − α) · g²; p ← p − lr · g / (√v + ε)
SELECT u.model, u.layer, u.row, u.col, u.param - u.lr * u.grad / (SQRT(u.v) + u.eps) AS param,
       u.v AS square_avg
FROM (SELECT g.model, g.layer, g.row, g.col, g.param, g.grad, l.lr, m.eps,
             m.alpha * s.square_avg + (1.0 - m.alpha) * g.grad * g.grad AS v
      FROM :g AS g JOIN :lr AS l ON l.model = g.model JOIN models AS m ON m.model = g.model
      JOIN :state AS s
        ON s.model = g.model AND s.layer = g.layer AND s.row = g.row AND s.col = g.col) AS u;

-- name: adam
-- PyTorch Adam (and AdamW, whose :keep is 1 − lr · weight_decay, the decoupled decay):
-- m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
-- p ← p · keep − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
SELECT u.model, u.layer, u.row, u.col,
       u.param * :keep - u.lr / (1.0 - POWER(u.beta1, u.t)) * u.m
         / (SQRT(u.v) / SQRT(1.0 - POWER(u.beta2, u.t)) + u.eps) AS param,
       u.m AS exp_avg, u.v AS exp_avg_sq
FROM (SELECT g.model, g.layer, g.row, g.col, g.param, l.lr, t.t, m.beta1, m.beta2, m.eps,
             m.weight_decay,
             m.beta1 * s.exp_avg + (1.0 - m.beta1) * g.grad AS m,
             m.beta2 * s.exp_avg_sq + (1.0 - m.beta2) * g.grad * g.grad AS v
      FROM :g AS g JOIN :lr AS l ON l.model = g.model JOIN models AS m ON m.model = g.model
      JOIN :steps AS t ON t.model = g.model
      JOIN :state AS s
        ON s.model = g.model AND s.layer = g.layer AND s.row = g.row AND s.col = g.col) AS u;

-- name: tape_update
-- The new value (kind param) or new optimizer state (kind :kind) of every parameter.
SELECT u.model, :kind AS kind, u.layer, CAST(u.row AS BIGINT) AS row, u.col, :value AS value
FROM :source AS u;

-- name: tape_update_keyed
-- The new values of the parameters found by their key (no rowid: rid is NULL).
SELECT u.model, 'param' AS kind, u.layer, CAST(u.row AS BIGINT) AS row, u.col, u.param AS value
FROM :source AS u WHERE u.rid IS NULL;

-- name: tape_update_rowid
-- The new values of a wide sparse layer 1's touched weights, found by their rowid (in row;
-- kind param_rowid): the update by rowid costs about half the join on the four keys.
SELECT u.model, 'param_rowid' AS kind, u.layer, u.rid AS row, u.col, u.param AS value
FROM :source AS u WHERE u.rid IS NOT NULL;

-- name: tape_scalar
-- A per-model number on the tape (kind lr, grad_norm or step; layer 0).
SELECT s.model, :kind AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col, :value AS value
FROM :source AS s;

-- name: apply_weights
-- W ← the step's new weights
UPDATE weights AS w SET value = t.value
FROM step_tape AS t
WHERE t.kind = 'param' AND t.row >= 0
  AND t.model = w.model AND t.layer = w.layer AND t.row = w.row AND t.col = w.col;

-- name: apply_weights_rowid
-- W ← the new weights that the lean sparse step found by rowid (DuckDB only)
UPDATE weights AS w SET value = t.value
FROM step_tape AS t
WHERE t.kind = 'param_rowid' AND w.rowid = t.row;

-- name: apply_biases
-- b ← the step's new biases
UPDATE biases AS b SET value = t.value
FROM step_tape AS t
WHERE t.kind = 'param' AND t.row = -1
  AND t.model = b.model AND t.layer = b.layer AND t.col = b.col;

-- name: apply_state
-- The optimizer's new state, and its step count.
UPDATE optimizer_state AS s SET value = t.value
FROM step_tape AS t
WHERE t.kind = s.name
  AND t.model = s.model AND t.layer = s.layer AND t.row = s.row AND t.col = s.col;

-- name: clear_state
-- A new optimizer (or a new model) starts from no state (for the models :models).
DELETE FROM optimizer_state WHERE model IN (SELECT model FROM :models);

-- name: init_state
-- One kind of optimizer state, zero for every parameter (PyTorch starts from zeros too).
INSERT INTO optimizer_state
SELECT w.model, $name AS name, w.layer, w.row, w.col, 0.0 AS value
FROM weights AS w WHERE w.model IN (SELECT model FROM :models)
UNION ALL
SELECT b.model, $name AS name, b.layer, -1 AS row, b.col, 0.0 AS value
FROM biases AS b WHERE b.model IN (SELECT model FROM :models);

-- name: init_steps
-- The optimizer's step count, on layer 0.
INSERT INTO optimizer_state SELECT model, 'step', 0, 0, 0, 0.0 FROM :models;

-- name: log_step
-- One training_log row per model and step: the batch's loss before the update, and the
-- learning rate the step used. It is also the step's divergence check: the rows are written
-- only when every loss, gradient and new parameter value of the step is finite, and the
-- driver refuses the step (rolls it back) when none come back.
INSERT INTO training_log (model, run, epoch, step, batch_size, loss, lr, wall_ms, logged_at)
SELECT g.model, $run, $epoch, $step,
       (SELECT COUNT(*) FROM epoch_rows AS e WHERE e.model = g.model AND e.batch = $batch),
       g.value, l.value, $wall_ms, CURRENT_TIMESTAMP
FROM step_tape AS g JOIN step_tape AS l ON l.model = g.model AND l.kind = 'lr'
WHERE g.kind = 'loss'
  AND NOT EXISTS (SELECT 1 FROM step_tape AS t
                  WHERE t.kind IN ('loss', 'gradient', 'param', 'param_rowid')
                    AND NOT isfinite(t.value))
RETURNING model;

-- name: keep_last_step
-- Keep the last step's intermediates where a later connection can query them.
INSERT INTO last_step SELECT model, kind, layer, row, col, value FROM step_tape;

-- name: state_rows
-- How much optimizer state the models :models have.
SELECT COUNT(*) FROM optimizer_state WHERE model IN (SELECT model FROM :models);
