-- Many optimizer steps in ONE statement, DuckDB only (sqlnet.phases.chunk composes it; the
-- training loop uses it where sqlnet.train.chunk_applies says so, and the one-statement-per-
-- step path everywhere else). A recursive CTE whose rows are the parameters and the
-- optimizer state; each iteration takes one step, with the very CTEs of a step's statement
-- (forward, error, backward, update) reading the iteration's parameters instead of the
-- tables. DuckDB's USING KEY keeps only each key's latest row, so the parameters do not pile
-- up per iteration; each step's log rows have keys of their own (the step), so all stay.
-- The result replaces step_tape, which apply_weights, apply_biases and apply_state read as
-- after a single step.

-- name: chunk
-- $k steps from the parameters of :start; :next is one iteration (one step). The batches
-- the chunk reads (slots $lo to $hi of the epoch tables) are copied out once, first: a
-- scan inside the recursion cannot skip the other batches by the zone maps. chunk_rows
-- holds each batch's size n too. The models' settings (and class weights) are read once. A
-- chunk of one model, $model, has that constant for every `model` column inside the
-- recursion (sqlnet.phases.chunk), so no join or GROUP BY carries the key; a chunk of many
-- (--group-by, sweep) keeps the key.
CREATE OR REPLACE TEMP TABLE step_tape AS
WITH RECURSIVE
  chunk_rows AS MATERIALIZED (
    SELECT e.model, e.row, e.batch, COUNT(*) OVER (PARTITION BY e.model, e.batch) AS n
    FROM epoch_rows AS e WHERE e.batch BETWEEN $lo AND $hi),
  chunk_inputs AS MATERIALIZED (
    SELECT x.batch, x.model, x.row, x.col, x.value FROM epoch_inputs AS x
    WHERE x.batch BETWEEN $lo AND $hi),
  chunk_targets AS MATERIALIZED (
    SELECT y.batch, y.model, y.row, y.col, y.value FROM epoch_targets AS y
    WHERE y.batch BETWEEN $lo AND $hi),
  chunk_models AS MATERIALIZED (
    SELECT m.* FROM models AS m WHERE m.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e)),
  chunk_class_weights AS MATERIALIZED (
    SELECT w.* FROM class_weights AS w
    WHERE w.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e)),
  chunk_steps (model, kind, layer, row, col, value)
    USING KEY (model, kind, layer, row, col) AS (
    SELECT p.model, p.kind, p.layer, p.row, p.col, p.value FROM :start AS p
    UNION ALL  -- (not UNION: it would drop a row equal to the one before from the next iteration)
    SELECT * FROM :next)
SELECT s.model, s.kind, s.layer, s.row, s.col, s.value FROM chunk_steps AS s
WHERE s.kind <> 'iteration';

-- name: chunk_start
-- Where the chunk starts: the weights and biases (kind param; a bias is row −1) and the
-- optimizer state (kind: the state's name) of the models being trained, and the count of
-- steps taken (kind iteration, model −1).
SELECT w.model, 'param' AS kind, w.layer, CAST(w.row AS BIGINT) AS row, w.col, w.value
FROM weights AS w WHERE w.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e)
UNION ALL
SELECT b.model, 'param' AS kind, b.layer, CAST(-1 AS BIGINT) AS row, b.col, b.value
FROM biases AS b WHERE b.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e)
UNION ALL
SELECT s.model, s.name AS kind, s.layer, CAST(s.row AS BIGINT) AS row, s.col, s.value
FROM optimizer_state AS s WHERE s.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e)
UNION ALL
SELECT -1 AS model, 'iteration' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col,
       0.0 AS value;

-- name: chunk_current
-- The parameters, state and step count after the iteration before (and whether early
-- stopping stopped there), without its log rows and validation's.
SELECT c.model, c.kind, c.layer, c.row, c.col, c.value FROM chunk_steps AS c
WHERE c.kind NOT IN ('loss', 'lr', 'eval_loss', 'eval_accuracy', 'eval_mse', 'best',
                     'best_loss', 'best_epoch');

-- name: chunk_position
-- The step this iteration takes, while steps remain: the chunk's first is batch $batch of
-- epoch $epoch (an epoch has $batches batches), the step after step $done; e is the epoch's
-- index in the run (its first is $first). Its batch's rows are slot `slot` of the epoch
-- tables, which hold $slots slots: the chunk's first is slot $slot, and the slots after it
-- are the next batches, of this epoch and the next (a block of the epochs the chunk
-- reaches; without shuffling, one epoch, whose slots come round again).
SELECT i.iter, CAST(($batch + i.iter) % $batches AS INTEGER) AS batch,
       CAST($epoch + ($batch + i.iter) // $batches AS INTEGER) AS epoch,
       CAST($epoch + ($batch + i.iter) // $batches - $first AS INTEGER) AS e,
       CAST($done + i.iter + 1 AS INTEGER) AS step,
       CAST(($slot + i.iter) % $slots AS INTEGER) AS slot
FROM (SELECT CAST(c.value AS INTEGER) AS iter FROM chunk_current AS c
      WHERE c.kind = 'iteration' AND c.value < $k
        AND NOT EXISTS (SELECT 1 FROM chunk_current AS s WHERE s.kind = 'stopped')) AS i;

-- name: chunk_batch_rows
-- The samples of the iteration's batch, with their count n.
SELECT r.model, r.row, r.n FROM chunk_rows AS r JOIN chunk_position AS p ON p.slot = r.batch;

-- name: chunk_batch_inputs
-- A⁰ of the iteration's batch, plus the constant 1 in column −1 that multiplies the bias.
SELECT x.model, x.row, x.col, x.value
FROM chunk_inputs AS x JOIN chunk_position AS p ON p.slot = x.batch
UNION ALL
SELECT r.model, r.row, -1 AS col, 1.0 AS value FROM batch_rows AS r;

-- name: chunk_batch_targets
-- Y of the iteration's batch.
SELECT y.model, y.row, y.col, y.value
FROM chunk_targets AS y JOIN chunk_position AS p ON p.slot = y.batch;

-- name: chunk_weights
-- The iteration's weights, as the weights table holds them.
SELECT c.model, c.layer, CAST(c.row AS INTEGER) AS row, c.col, c.value
FROM chunk_current AS c WHERE c.kind = 'param' AND c.row >= 0;

-- name: chunk_params
-- The iteration's weights and biases (row −1) of the models in its batch, as the update's
-- `params` holds them; the forward products read them too (chunk_linear).
SELECT c.model, c.layer, CAST(c.row AS INTEGER) AS row, c.col, c.value
FROM chunk_current AS c
WHERE c.kind = 'param' AND c.model IN (SELECT r.model FROM batch_rows AS r);

-- name: chunk_kept
-- In a chunk of many models: the parameters, state and step count of the models that have
-- no rows in this iteration's batch (fewer batches than others), carried on unchanged.
SELECT c.model, c.kind, c.layer, c.row, c.col, c.value
FROM chunk_current AS c CROSS JOIN chunk_position AS p
WHERE c.model >= 0 AND c.kind <> 'stopped'
  AND c.model NOT IN (SELECT r.model FROM batch_rows AS r);

-- name: chunk_linear
-- Zˡ = Aˡ⁻¹·Wˡ + bˡ inside a chunk: the bias is the weight of Aˡ⁻¹'s constant-1 column (row
-- −1 of params), so one join and one sum, with no bias join (and, since every sample has
-- that column, no LEFT JOIN for a sample without stored inputs).
SELECT a.model, a.row, p.col, SUM(a.value * p.value) AS value
FROM :acts AS a
JOIN params AS p ON p.model = a.model AND p.layer = :layer AND p.row = a.col
GROUP BY a.model, a.row, p.col;

-- name: chunk_state
-- The iteration's optimizer state, as optimizer_state holds it.
SELECT c.model, c.kind AS name, c.layer, CAST(c.row AS INTEGER) AS row, c.col, c.value
FROM chunk_current AS c WHERE c.kind NOT IN ('param', 'iteration', 'stopped');

-- name: chunk_param
-- The step's new parameter values (or, with :kind a state's name, the new state).
SELECT u.model, :kind AS kind, u.layer, CAST(u.row AS BIGINT) AS row, u.col, :value AS value
FROM new AS u;

-- name: chunk_step_count
-- The optimizer's new step count.
SELECT s.model, 'step' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col, s.t AS value
FROM steps AS s;

-- name: chunk_log
-- The steps taken, and this step's log rows, keyed by the step (row), with its epoch
-- (layer) and batch (col): the loss and the learning rate.
SELECT -1 AS model, 'iteration' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col,
       CAST(p.iter + 1 AS DOUBLE) AS value
FROM chunk_position AS p
UNION ALL
SELECT l.model, 'loss' AS kind, p.epoch AS layer, CAST(p.step AS BIGINT) AS row, p.batch AS col,
       l.value
FROM loss AS l CROSS JOIN chunk_position AS p
UNION ALL
SELECT l.model, 'lr' AS kind, p.epoch AS layer, CAST(p.step AS BIGINT) AS row, p.batch AS col,
       r.lr AS value
FROM loss AS l JOIN lr AS r ON r.model = l.model CROSS JOIN chunk_position AS p;

-- name: log_chunk
-- The chunk's training_log rows, one per model and step (wall_ms: the chunk's time per
-- step), written and returned only when every step's loss and the new parameters are
-- finite. (A non-finite gradient makes its parameter non-finite, and a non-finite parameter
-- stays so in the steps after: so this refuses a chunk exactly when a step of it would be
-- refused alone.)
INSERT INTO training_log (model, run, epoch, step, batch_size, loss, lr, wall_ms, logged_at)
SELECT g.model, $run, g.layer, CAST(g.row AS INTEGER),
       (SELECT COUNT(*) FROM epoch_rows AS e WHERE e.model = g.model AND e.batch = g.col),
       g.value, l.value, $wall_ms, CURRENT_TIMESTAMP
FROM step_tape AS g
JOIN step_tape AS l ON l.model = g.model AND l.kind = 'lr' AND l.row = g.row
WHERE g.kind = 'loss'
  AND NOT EXISTS (SELECT 1 FROM step_tape AS t
                  WHERE t.kind IN ('loss', 'param') AND NOT isfinite(t.value))
RETURNING step;


-- Validation and early stopping inside a chunk: after an epoch's last step, the iteration
-- scores the validation rows with the step's new parameters, and takes early stopping's
-- test (as improved, set_best_epoch, keep_best and stop_models do between statements). The
-- best parameters, the best loss and epoch are rows of chunk_steps, read back through
-- DuckDB's `recurring` reference (the rows of every iteration so far, by key); a stop ends
-- the chunk: chunk_position has no row after it.

-- name: chunk_start_best
-- The run's best validation loss and epoch so far ($run; none before the first validation).
SELECT r.model, 'best_loss' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col,
       l.eval_loss AS value
FROM runs AS r
JOIN training_log AS l ON l.model = r.model AND l.run = r.run AND l.epoch = r.best_epoch
WHERE r.run = $run AND l.eval_loss IS NOT NULL
  AND r.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e)
UNION ALL
SELECT r.model, 'best_epoch' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col,
       CAST(r.best_epoch AS DOUBLE) AS value
FROM runs AS r
WHERE r.run = $run AND r.best_epoch IS NOT NULL
  AND r.model IN (SELECT DISTINCT e.model FROM epoch_rows AS e);

-- name: chunk_eval_params
-- After an epoch's last step, the step's new weights and biases (row −1), which the
-- validation forward pass reads (chunk_linear over v_params); after any other step, none.
SELECT u.model, u.layer, CAST(u.row AS INTEGER) AS row, u.col, u.param AS value
FROM new AS u CROSS JOIN chunk_position AS p
WHERE p.batch = $batches - 1;

-- name: chunk_eval_scores
-- The validation scores, after an epoch's last step only (inside a chunk, a model's sums
-- have no GROUP BY: over no rows, they would give a row of NULLs).
SELECT s.* FROM v_scored AS s WHERE EXISTS (SELECT 1 FROM v_params);

-- name: chunk_eval_kept
-- In a chunk of many models, after an epoch's last step: the parameters of the models that
-- took their epoch's last step before (they are validated too).
SELECT k.model, k.layer, CAST(k.row AS INTEGER) AS row, k.col, k.value
FROM kept AS k CROSS JOIN chunk_position AS p
WHERE k.kind = 'param' AND p.batch = $batches - 1;

-- name: chunk_improved
-- Early stopping's test (as `improved`): the validation loss is below the best by more than
-- min_delta, or there is no best yet.
SELECT s.model, 1 AS hit
FROM v_scores AS s
JOIN chunk_models AS m ON m.model = s.model
LEFT JOIN recurring.chunk_steps AS b ON b.model = s.model AND b.kind = 'best_loss'
WHERE COALESCE(s.loss < b.value - m.min_delta, true);

-- name: chunk_eval_log
-- The validation scores, keyed by the step (row) like its loss, with its epoch (layer).
SELECT s.model, v.kind, p.epoch AS layer, CAST(p.step AS BIGINT) AS row, 0 AS col, v.value
FROM v_scores AS s CROSS JOIN chunk_position AS p
CROSS JOIN LATERAL (VALUES ('eval_loss', s.loss), ('eval_accuracy', s.accuracy),
                           ('eval_mse', s.mse)) AS v(kind, value);

-- name: chunk_best
-- A model that improved keeps this step's parameters (kind best), its loss and its epoch.
SELECT u.model, 'best' AS kind, u.layer, CAST(u.row AS BIGINT) AS row, u.col, u.value
FROM v_params AS u JOIN v_improved AS i ON i.model = u.model
UNION ALL
SELECT s.model, 'best_loss' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col, s.loss
FROM v_scores AS s JOIN v_improved AS i ON i.model = s.model
UNION ALL
SELECT i.model, 'best_epoch' AS kind, 0 AS layer, CAST(0 AS BIGINT) AS row, 0 AS col,
       CAST(p.epoch AS DOUBLE) AS value
FROM v_improved AS i CROSS JOIN chunk_position AS p;

-- name: chunk_stop
-- Early stopping (as stop_models): the best epoch lies --patience epochs back, and this is
-- not the run's last epoch. The chunk ends here (the driver takes this epoch's end again by
-- the statements of a step, so that last_step keeps its tape).
SELECT s.model, 'stopped' AS kind, p.epoch AS layer, CAST(p.step AS BIGINT) AS row, 0 AS col,
       1.0 AS value
FROM v_scores AS s
JOIN chunk_models AS m ON m.model = s.model
CROSS JOIN chunk_position AS p
LEFT JOIN v_improved AS i ON i.model = s.model
LEFT JOIN recurring.chunk_steps AS b ON b.model = s.model AND b.kind = 'best_epoch'
WHERE m.patience IS NOT NULL AND p.epoch < $first + $epochs - 1
  AND p.epoch - CASE WHEN i.hit IS NOT NULL THEN p.epoch ELSE b.value END >= m.patience;

-- name: log_chunk_validation
-- After a chunk that validated: each epoch's validation scores go on each model's last
-- training_log row of that epoch (as log_validation: a model with fewer batches than others
-- took its epoch's last step earlier, perhaps in the chunk before).
UPDATE training_log AS t SET eval_loss = v.value, eval_accuracy = a.value, eval_mse = s.value
FROM step_tape AS v
JOIN step_tape AS a ON a.model = v.model AND a.kind = 'eval_accuracy' AND a.row = v.row
JOIN step_tape AS s ON s.model = v.model AND s.kind = 'eval_mse' AND s.row = v.row
WHERE v.kind = 'eval_loss' AND t.model = v.model AND t.run = $run AND t.epoch = v.layer
  AND t.step = (SELECT MAX(l.step) FROM training_log AS l
                WHERE l.model = t.model AND l.run = t.run AND l.epoch = t.epoch);

-- name: chunk_keep_best
-- After a chunk, the best parameters it found replace the model's best_weights, with their
-- epoch (the run's best_epoch is set by chunk_set_best_epoch).
INSERT INTO best_weights
SELECT b.model, CAST(e.value AS INTEGER), b.layer, CAST(b.row AS INTEGER), b.col, b.value
FROM step_tape AS b JOIN step_tape AS e ON e.model = b.model AND e.kind = 'best_epoch'
WHERE b.kind = 'best';

-- name: chunk_clear_best
-- (before chunk_keep_best) the old best weights of a model whose best the chunk moved
DELETE FROM best_weights
WHERE model IN (SELECT t.model FROM step_tape AS t WHERE t.kind = 'best');

-- name: chunk_set_best_epoch
-- The run's best epoch, as the chunk left it.
UPDATE runs AS r SET best_epoch = CAST(t.value AS INTEGER)
FROM step_tape AS t
WHERE t.kind = 'best_epoch' AND t.model = r.model AND r.run = $run;

-- name: chunk_stopped
-- The step at whose end the chunk's early stopping stopped (NULL: it did not).
SELECT MAX(t.row) FROM step_tape AS t WHERE t.kind = 'stopped';
