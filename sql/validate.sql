-- Validation, standardization, class weights and history: what a run keeps beside the
-- training data, and what it does at the end of every epoch.

-- name: held_out
-- --validation-split: the share $share of the loaded rows with the lowest :key, the `mix`
-- hash of (seed, row); the same seed holds out the same rows.
CREATE OR REPLACE TEMP TABLE held_out AS
SELECT o.model, o.row FROM (
  SELECT r.model, r.row, ROW_NUMBER() OVER (PARTITION BY r.model ORDER BY :key, r.row) AS position,
         COUNT(*) OVER (PARTITION BY r.model) AS n
  FROM loaded_rows AS r JOIN models AS m ON m.model = r.model) AS o
WHERE o.position <= ROUND(o.n * $share);

-- name: no_held_out
-- Without --validation-split nothing is held out.
CREATE OR REPLACE TEMP TABLE held_out AS SELECT model, row FROM loaded_rows WHERE false;

-- name: drop_held_out
-- The held-out rows leave the loaded training data ...
DELETE FROM loaded_rows AS x
WHERE EXISTS (SELECT 1 FROM held_out AS h WHERE h.model = x.model AND h.row = x.row);

-- name: drop_held_out_inputs
-- ... with their inputs ...
DELETE FROM loaded_inputs AS x
WHERE EXISTS (SELECT 1 FROM held_out AS h WHERE h.model = x.model AND h.row = x.row);

-- name: drop_held_out_targets
-- ... and targets.
DELETE FROM loaded_targets AS x
WHERE EXISTS (SELECT 1 FROM held_out AS h WHERE h.model = x.model AND h.row = x.row);

-- name: clear_valid_rows
-- A run's validation data replaces the last run's.
DELETE FROM valid_rows WHERE model = $model;

-- name: clear_valid_inputs
-- (as clear_valid_rows)
DELETE FROM valid_inputs WHERE model = $model;

-- name: clear_valid_targets
-- (as clear_valid_rows)
DELETE FROM valid_targets WHERE model = $model;

-- name: store_valid_rows
-- The loaded rows of :rows become validation rows (all of a --validation-data file, or the
-- held-out ones) ...
INSERT INTO valid_rows SELECT x.model, x.row FROM loaded_rows AS x
WHERE EXISTS (SELECT 1 FROM :rows AS h WHERE h.model = x.model AND h.row = x.row);

-- name: store_valid_inputs
-- ... with their inputs,
INSERT INTO valid_inputs SELECT x.model, x.row, x.col, x.value FROM loaded_inputs AS x
WHERE EXISTS (SELECT 1 FROM :rows AS h WHERE h.model = x.model AND h.row = x.row);

-- name: store_valid_targets
-- ... and their targets.
INSERT INTO valid_targets SELECT x.model, x.row, x.col, x.value FROM loaded_targets AS x
WHERE EXISTS (SELECT 1 FROM :rows AS h WHERE h.model = x.model AND h.row = x.row);

-- name: valid_count
-- How many validation rows the model has.
SELECT COUNT(*) FROM valid_rows WHERE model = $model;

-- name: eval_rows
-- The validation rows as one batch (batch 0), for the forward phase.
CREATE OR REPLACE TEMP TABLE eval_rows AS SELECT model, row, 0 AS batch FROM valid_rows;

-- name: eval_inputs
-- Their inputs.
CREATE OR REPLACE TEMP TABLE eval_inputs AS
SELECT 0 AS batch, model, row, col, value FROM valid_inputs;

-- name: eval_targets
-- Their targets.
CREATE OR REPLACE TEMP TABLE eval_targets AS
SELECT 0 AS batch, model, row, col, value FROM valid_targets;

-- name: log_validation
-- The validation scores (per model) go on the training_log row of each model's last step of
-- the epoch (a model with fewer batches than others took its last step earlier).
UPDATE training_log AS t
SET eval_loss = v.loss, eval_accuracy = v.accuracy, eval_mse = v.mse
FROM :scores AS v
WHERE t.model = v.model AND t.run = $run AND t.epoch = $epoch
  AND t.step = (SELECT MAX(l.step) FROM training_log AS l
                WHERE l.model = t.model AND l.run = t.run AND l.epoch = t.epoch);

-- name: improved
-- Early stopping's test (Keras's), for every model of the pass: this epoch's validation loss
-- is below the best epoch's by more than min_delta, or there is no best epoch yet. The
-- models that improved are kept in a temporary table.
CREATE OR REPLACE TEMP TABLE improved AS
SELECT t.model
FROM training_log AS t
JOIN models AS m ON m.model = t.model
LEFT JOIN (SELECT l.model, l.eval_loss FROM training_log AS l
           JOIN runs AS r ON r.model = l.model AND r.run = l.run AND r.best_epoch = l.epoch
           WHERE l.eval_loss IS NOT NULL AND r.run = $run) AS b ON b.model = t.model
WHERE t.run = $run AND t.epoch = $epoch AND t.eval_loss IS NOT NULL
  AND COALESCE(t.eval_loss < b.eval_loss - m.min_delta, true);

-- name: set_best_epoch
-- This epoch becomes the best of the models that improved ...
UPDATE runs SET best_epoch = $epoch
WHERE run = $run AND model IN (SELECT i.model FROM improved AS i);

-- name: clear_best
-- ... their old best weights go ...
DELETE FROM best_weights WHERE model IN (SELECT i.model FROM improved AS i);

-- name: keep_best
-- ... and their weights and biases (row −1) now are kept.
INSERT INTO best_weights
SELECT w.model, $epoch, w.layer, w.row, w.col, w.value FROM weights AS w
WHERE w.model IN (SELECT i.model FROM improved AS i)
UNION ALL
SELECT b.model, $epoch, b.layer, -1, b.col, b.value FROM biases AS b
WHERE b.model IN (SELECT i.model FROM improved AS i);

-- name: clear_run_best
-- A new run starts without best weights.
DELETE FROM best_weights WHERE model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: best_epoch
-- The run's best epoch (NULL before the first validation).
SELECT best_epoch FROM runs WHERE model = $model AND run = $run;

-- name: restore_best_weights
-- The models go back to their best epoch's weights ...
UPDATE weights AS w SET value = k.value FROM best_weights AS k
WHERE k.model = w.model AND k.layer = w.layer AND k.row = w.row AND k.col = w.col
  AND w.model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: restore_best_biases
-- ... and biases.
UPDATE biases AS b SET value = k.value FROM best_weights AS k
WHERE k.model = b.model AND k.layer = b.layer AND k.row = -1 AND k.col = b.col
  AND b.model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: stop_run
-- How the run ended, for each model of the pass (unless early stopping stopped it before).
UPDATE runs SET stopped = COALESCE(stopped, $stopped), finished_at = CURRENT_TIMESTAMP
WHERE run = $run AND model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: stop_models
-- Early stopping, model by model: a model whose best validated epoch lies --patience epochs
-- back stops here; it trains no more in this run, and the other models of the pass go on.
UPDATE runs AS r SET stopped = 'early_stopping'
FROM models AS m
WHERE m.model = r.model AND r.run = $run AND r.stopped IS NULL AND m.patience IS NOT NULL
  AND $epoch - r.best_epoch >= m.patience AND $epoch < $last_epoch
  AND r.model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: still_training
-- How many models of the pass early stopping has not stopped.
SELECT COUNT(*) FROM runs
WHERE run = $run AND stopped IS NULL AND model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: stopped_models
-- How many models of the pass early stopping has stopped.
SELECT COUNT(*) FROM runs
WHERE run = $run AND stopped = 'early_stopping'
  AND model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: keep_history
-- --keep-history: the parameters after this epoch.
INSERT INTO weight_history
SELECT w.model, $run, $epoch, w.layer, w.row, w.col, w.value FROM weights AS w
WHERE w.model IN (SELECT DISTINCT t.model FROM train_rows AS t)
UNION ALL
SELECT b.model, $run, $epoch, b.layer, -1, b.col, b.value FROM biases AS b
WHERE b.model IN (SELECT DISTINCT t.model FROM train_rows AS t);

-- name: clear_standardization
-- Without --standardize, the pass's models keep no statistics.
DELETE FROM standardization WHERE model IN (SELECT DISTINCT r.model FROM loaded_rows AS r);

-- name: standardization_count
-- Whether the model has its statistics already (a warm start keeps them).
SELECT COUNT(*) FROM standardization WHERE model = $model;

-- name: store_standardization
-- Each model's features' mean and population standard deviation over its loaded training
-- rows (not the held-out ones); the zeros that are not stored count too. A constant feature
-- gets std 1, as in scikit-learn.
INSERT INTO standardization
SELECT s.model, s.col, s.mean, CASE WHEN s.std > 0 THEN s.std ELSE 1.0 END AS std
FROM (SELECT c.model, c.col, c.mean,
             SQRT((COALESCE(SUM((x.value - c.mean) * (x.value - c.mean)), 0.0)
                   + (c.n - COUNT(x.value)) * c.mean * c.mean) / c.n) AS std
      FROM (SELECT f.model, f.col, MIN(n.n) AS n, COALESCE(SUM(x.value), 0.0) / MIN(n.n) AS mean
            FROM feature_names AS f
            JOIN (SELECT r.model, CAST(COUNT(*) AS DOUBLE) AS n FROM train_part AS r
                  GROUP BY r.model) AS n ON n.model = f.model
            LEFT JOIN loaded_inputs AS x
              ON x.model = f.model AND x.col = f.col
             AND EXISTS (SELECT 1 FROM train_part AS r WHERE r.model = x.model AND r.row = x.row)
            GROUP BY f.model, f.col) AS c
      LEFT JOIN loaded_inputs AS x
        ON x.model = c.model AND x.col = c.col
       AND EXISTS (SELECT 1 FROM train_part AS r WHERE r.model = x.model AND r.row = x.row)
      GROUP BY c.model, c.col, c.mean, c.n) AS s;

-- name: train_part
-- The loaded rows that are not held out: what standardization and class weights count.
CREATE OR REPLACE TEMP TABLE train_part AS
SELECT x.model, x.row FROM loaded_rows AS x
WHERE NOT EXISTS (SELECT 1 FROM held_out AS h WHERE h.model = x.model AND h.row = x.row);

-- name: standardized_inputs
-- (x − mean) / std for every loaded row and feature, zeros included; exact zeros of the
-- result are not stored.
CREATE OR REPLACE TEMP TABLE loaded_inputs AS
SELECT * FROM (
  SELECT r.batch, r.model, r.row, s.col,
         (COALESCE(x.value, 0.0) - s.mean) / s.std AS value
  FROM loaded_rows AS r
  JOIN standardization AS s ON s.model = r.model
  LEFT JOIN loaded_inputs AS x ON x.model = r.model AND x.row = r.row AND x.col = s.col) AS t
WHERE t.value <> 0;

-- name: clear_class_weights
-- New class weights replace old ones, for every model of the pass.
DELETE FROM class_weights WHERE model IN (SELECT DISTINCT r.model FROM loaded_rows AS r);

-- name: balanced_class_weights
-- scikit-learn's 'balanced', per model: n / (classes · n_class), counted over its training
-- targets (a class with no training rows weighs 1).
INSERT INTO class_weights
SELECT c.model, c.class,
       CASE WHEN COUNT(y.row) = 0 THEN 1.0
            ELSE CAST(MIN(n.n) AS DOUBLE) / (MIN(k.k) * COUNT(y.row)) END AS weight
FROM classes AS c
JOIN (SELECT model, COUNT(*) AS n FROM loaded_rows GROUP BY model) AS n ON n.model = c.model
JOIN (SELECT model, COUNT(*) AS k FROM classes GROUP BY model) AS k ON k.model = c.model
LEFT JOIN loaded_targets AS y ON y.model = c.model AND y.col = c.class
GROUP BY c.model, c.class;

-- name: unit_class_weights
-- Explicit weights start from 1 for every class of every model of the pass ...
INSERT INTO class_weights
SELECT c.model, c.class, 1.0 AS weight FROM classes AS c
WHERE c.model IN (SELECT DISTINCT r.model FROM loaded_rows AS r);

-- name: set_class_weight
-- ... and the named ones get theirs.
UPDATE class_weights SET weight = $weight
WHERE model IN (SELECT DISTINCT r.model FROM loaded_rows AS r)
  AND class = (SELECT c.class FROM classes AS c WHERE c.model = class_weights.model
                                               AND c.label = $label);

-- name: class_labels
-- The model's class labels.
SELECT label FROM classes WHERE model = $model ORDER BY class;

-- name: run_keeps_history
-- Whether the run was asked to --keep-history.
SELECT keep_history FROM runs WHERE model = $model AND run = $run;
