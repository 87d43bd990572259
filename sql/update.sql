-- The update phase: plain SGD, each model with the learning rate in its row of `models`.
-- step_tape holds the step's intermediates (see step.sql); gradient rows with row −1 are
-- the biases'.

-- name: sgd_weights
-- W ← W − lr · ∂L/∂W
UPDATE weights AS w SET value = w.value - m.lr * g.value
FROM step_tape AS g, models AS m
WHERE g.kind = 'gradient' AND g.row >= 0 AND m.model = w.model
  AND g.model = w.model AND g.layer = w.layer AND g.row = w.row AND g.col = w.col;

-- name: sgd_biases
-- b ← b − lr · ∂L/∂b
UPDATE biases AS b SET value = b.value - m.lr * g.value
FROM step_tape AS g, models AS m
WHERE g.kind = 'gradient' AND g.row = -1 AND m.model = b.model
  AND g.model = b.model AND g.layer = b.layer AND g.col = b.col;

-- name: log_step
-- One training_log row per model and step: the batch's loss before the update.
INSERT INTO training_log
SELECT g.model, $run, $epoch, $step,
       (SELECT COUNT(*) FROM epoch_rows AS e WHERE e.model = g.model AND e.batch = $batch),
       g.value, m.lr, $wall_ms, CURRENT_TIMESTAMP
FROM step_tape AS g JOIN models AS m ON m.model = g.model
WHERE g.kind = 'loss';

-- name: keep_last_step
-- Keep the last step's intermediates where a later connection can query them.
INSERT INTO last_step SELECT model, kind, layer, row, col, value FROM step_tape;
