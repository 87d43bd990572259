-- Batching: the samples of each epoch are put in a seeded order and cut into batches. The
-- epoch tables hold a block of epochs at once (one, or every epoch a chunk of many steps
-- reaches), and the inputs and targets are copied in batch order, so that a step's scan of
-- its batch skips the rest of the table by its zone maps.

-- name: epoch_rows
-- The order of the epochs in :epochs (a block, the first $epoch): each epoch sorted by
-- :key, the `mix` hash of (seed, epoch, row), or by row with --no-shuffle; position //
-- batch_size is the batch in the epoch (batch_size 0: the full batch). `batch` is the
-- batch's slot in the block, (epoch − $epoch) · $batches + that batch, $batches the most
-- batches a model of the pass has (batch_count), so that a chunk reads its steps' batches
-- as one range. A model that early stopping stopped in this run ($run) has no rows.
CREATE OR REPLACE TEMP TABLE epoch_rows AS
SELECT o.model, o.row, o.epoch,
       CAST((o.epoch - $epoch) * $batches
            + (o.position - 1) // CASE WHEN m.batch_size > 0 THEN m.batch_size ELSE o.n END
            AS INTEGER) AS batch
FROM (SELECT t.model, t.row, k.epoch, COUNT(*) OVER (PARTITION BY t.model, k.epoch) AS n,
             ROW_NUMBER() OVER (PARTITION BY t.model, k.epoch
                                ORDER BY CASE WHEN m.shuffle THEN :key ELSE 0 END, t.row) AS position
      FROM train_rows AS t JOIN models AS m ON m.model = t.model
      CROSS JOIN :epochs AS k
      WHERE NOT EXISTS (SELECT 1 FROM runs AS r
                        WHERE r.model = t.model AND r.run = $run
                          AND r.stopped = 'early_stopping')) AS o
JOIN models AS m ON m.model = o.model
ORDER BY batch, o.row;

-- name: one_epoch
-- A block of one epoch, $epoch: what epoch_rows orders on every engine.
SELECT CAST($epoch AS INTEGER) AS epoch;

-- name: epoch_range
-- A block of the epochs $epoch to $last, for a chunk of many steps (DuckDB).
SELECT CAST(k.range AS INTEGER) AS epoch FROM range($epoch, $last + 1) AS k;

-- name: epoch_inputs
-- The inputs in batch order.
CREATE OR REPLACE TEMP TABLE epoch_inputs AS
SELECT e.batch, x.model, x.row, x.col, x.value
FROM train_inputs AS x JOIN epoch_rows AS e ON e.model = x.model AND e.row = x.row
ORDER BY e.batch, x.row, x.col;

-- name: epoch_targets
-- The targets in batch order.
CREATE OR REPLACE TEMP TABLE epoch_targets AS
SELECT e.batch, y.model, y.row, y.col, y.value
FROM train_targets AS y JOIN epoch_rows AS e ON e.model = y.model AND e.row = y.row
ORDER BY e.batch, y.row, y.col;

-- name: batch_count
-- How many batches an epoch has: the most of any model of the pass that early stopping has
-- not stopped in run $run (a model with fewer skips the later steps). The driver's loop bound.
SELECT MAX(CASE WHEN m.batch_size > 0 THEN (n.n + m.batch_size - 1) // m.batch_size ELSE 1 END)
       AS batches
FROM (SELECT t.model, COUNT(*) AS n FROM train_rows AS t
      WHERE NOT EXISTS (SELECT 1 FROM runs AS r
                        WHERE r.model = t.model AND r.run = $run
                          AND r.stopped = 'early_stopping')
      GROUP BY t.model) AS n
JOIN models AS m ON m.model = n.model;

-- name: last_position
-- Where a model's training stands: its last epoch and step (0 before any).
SELECT COALESCE(MAX(epoch), 0) AS epoch, COALESCE(MAX(step), 0) AS step
FROM training_log WHERE model = $model;

-- name: epoch_loss
-- The mean batch loss of an epoch, for progress lines (over the pass's models).
SELECT AVG(loss) FROM training_log
WHERE epoch = $epoch AND model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: run_position
-- Where a run stands: its last logged epoch and step, and how many batches of that epoch
-- are done (0 and the model's last step before the run's first step). A run trains the
-- models that have training rows; one with fewer batches skips the later steps.
SELECT MAX(l.epoch) AS epoch,
       COALESCE(MAX(l.step), (SELECT COALESCE(MAX(step), 0) FROM training_log
                              WHERE model = $model)) AS step,
       COUNT(DISTINCT l.step) FILTER (WHERE l.epoch = (SELECT MAX(epoch) FROM training_log
                                                   WHERE model = $model AND run = $run)) AS done
FROM training_log AS l
WHERE l.run = $run AND l.model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: inputs_per_row
-- The mean count of stored (non-zero) inputs per training sample, and the samples: whether
-- a batch reaches only part of a wide first layer (sqlnet.train.sparse_data).
SELECT CAST(COUNT(*) AS DOUBLE) / GREATEST((SELECT COUNT(*) FROM train_rows), 1) AS per_row,
       (SELECT COUNT(*) FROM train_rows) AS n
FROM train_inputs;

-- name: run_arguments
-- Each run of a model: whether it finished and the arguments it was started with (JSON),
-- which a rerun with --resume is compared with.
SELECT run, finished_at IS NOT NULL AS finished, arguments FROM runs
WHERE model = $model ORDER BY run;

-- name: run_end
-- How a finished run ended: its last logged epoch and how it stopped.
SELECT MAX(l.epoch) AS epoch, MAX(r.stopped) AS stopped
FROM runs AS r LEFT JOIN training_log AS l ON l.model = r.model AND l.run = r.run
WHERE r.model = $model AND r.run = $run;
