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
-- holds each batch's size n too. A chunk trains one model, $model: its settings (and class
-- weights) are read once, and inside the recursion every `model` column is that constant
-- (sqlnet.phases.chunk), so no join or GROUP BY carries the key.
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
  chunk_models AS MATERIALIZED (SELECT m.* FROM models AS m WHERE m.model = $model),
  chunk_class_weights AS MATERIALIZED (
    SELECT w.* FROM class_weights AS w WHERE w.model = $model),
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
-- The parameters, state and step count after the iteration before.
SELECT c.model, c.kind, c.layer, c.row, c.col, c.value FROM chunk_steps AS c
WHERE c.kind NOT IN ('loss', 'lr');

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
      WHERE c.kind = 'iteration' AND c.value < $k) AS i;

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
-- The iteration's weights and biases (row −1), as the update's `params` holds them; the
-- forward products read them too (chunk_linear).
SELECT c.model, c.layer, CAST(c.row AS INTEGER) AS row, c.col, c.value
FROM chunk_current AS c WHERE c.kind = 'param';

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
FROM chunk_current AS c WHERE c.kind NOT IN ('param', 'iteration');

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

