-- Many models in one pass: one model per group of the data (--group-by), or one per
-- setting of a sweep. Every model trains on its own rows, numbered from 0 in file order as
-- if they were its own file, so that it gets exactly the weights it would get alone.

-- name: group_values
-- The distinct values of the group column, in sorted order: model k is the k-th.
SELECT CAST(DENSE_RANK() OVER (ORDER BY g.value) - 1 AS INTEGER) AS model,
       CAST(g.value AS VARCHAR) AS value
FROM (SELECT DISTINCT :group AS value FROM staging AS s) AS g
ORDER BY model;

-- name: null_groups
-- Empty cells in the group column: refused, with the first one's row.
SELECT COUNT(*) AS n, MIN(rowid) - (SELECT MIN(rowid) FROM staging) AS first_row
FROM staging AS s WHERE :group IS NULL;

-- name: row_models
-- Each loaded row's model (the model of its group value) and its number within the group.
CREATE OR REPLACE TEMP TABLE row_models AS
SELECT r.row, g.model,
       CAST(ROW_NUMBER() OVER (PARTITION BY g.model ORDER BY r.row) - 1 AS BIGINT) AS local_row
FROM (SELECT CAST(s.rowid - (SELECT MIN(rowid) FROM staging) AS BIGINT) AS row,
             CAST(:group AS VARCHAR) AS value
      FROM staging AS s) AS r
LEFT JOIN model_groups AS g ON g.value = r.value;

-- name: unknown_groups
-- Group values that no model stands for (at predict, or a warm start on new groups).
SELECT DISTINCT CAST(:group AS VARCHAR) AS value FROM staging AS s
WHERE CAST(:group AS VARCHAR) NOT IN (SELECT g.value FROM model_groups AS g)
ORDER BY value LIMIT 5;

-- name: sweep_models
-- A sweep: every loaded row goes to every model of the pass, under its own number.
CREATE OR REPLACE TEMP TABLE row_models AS
SELECT r.row, m.model, r.row AS local_row
FROM (SELECT DISTINCT row FROM loaded_rows) AS r CROSS JOIN (SELECT model FROM :models) AS m;

-- name: fan_out_rows
-- The loaded rows under their models ...
CREATE OR REPLACE TEMP TABLE loaded_rows AS
SELECT m.model, CASE WHEN $local THEN m.local_row ELSE r.row END AS row, r.batch
FROM loaded_rows AS r JOIN row_models AS m ON m.row = r.row;

-- name: fan_out_inputs
-- ... with their inputs ...
CREATE OR REPLACE TEMP TABLE loaded_inputs AS
SELECT x.batch, m.model, CASE WHEN $local THEN m.local_row ELSE x.row END AS row, x.col, x.value
FROM loaded_inputs AS x JOIN row_models AS m ON m.row = x.row;

-- name: fan_out_targets
-- ... and targets.
CREATE OR REPLACE TEMP TABLE loaded_targets AS
SELECT y.batch, m.model, CASE WHEN $local THEN m.local_row ELSE y.row END AS row, y.col, y.value
FROM loaded_targets AS y JOIN row_models AS m ON m.row = y.row;

-- name: copy_names
-- Every model of the pass gets the first model's feature names ...
INSERT INTO feature_names SELECT m.model, f.col, f.name
FROM feature_names AS f CROSS JOIN (SELECT model FROM :models) AS m
WHERE f.model = $first AND m.model <> $first;

-- name: copy_targets
-- ... target names ...
INSERT INTO target_names SELECT m.model, t.col, t.name
FROM target_names AS t CROSS JOIN (SELECT model FROM :models) AS m
WHERE t.model = $first AND m.model <> $first;

-- name: copy_classes
-- ... and classes (every model has the output units of all the data's labels).
INSERT INTO classes SELECT m.model, c.class, c.label
FROM classes AS c CROSS JOIN (SELECT model FROM :models) AS m
WHERE c.model = $first AND m.model <> $first;

-- name: model_count
-- How many models the database holds.
SELECT COUNT(*) FROM models;

-- name: pass_models
-- How many models this pass trains (those with training rows).
SELECT COUNT(DISTINCT model) FROM train_rows;

-- name: clear_all_train_rows
-- A sweep's pass replaces every model's training data ...
DELETE FROM train_rows;

-- name: clear_all_train_inputs
-- ... inputs ...
DELETE FROM train_inputs;

-- name: clear_all_train_targets
-- ... and targets.
DELETE FROM train_targets;

-- name: clear_all_valid_rows
-- ... and validation data ...
DELETE FROM valid_rows;

-- name: clear_all_valid_inputs
-- ... inputs ...
DELETE FROM valid_inputs;

-- name: clear_all_valid_targets
-- ... and targets.
DELETE FROM valid_targets;

-- name: leaderboard
-- Each model of the sweep: its settings, and the mean training loss and validation scores of
-- the epoch whose weights it kept (its best validated epoch, or its last), ranked by
-- validation loss (training loss without validation data).
INSERT INTO sweep_results
SELECT $sweep, r.model, m.lr, r.hidden, m.seed, m.batch_size, r.train_loss, r.eval_loss,
       r.eval_accuracy, r.eval_mse,
       CAST(RANK() OVER (ORDER BY COALESCE(r.eval_loss, r.train_loss), r.model) AS INTEGER)
FROM (SELECT l.model, AVG(l.loss) AS train_loss, MAX(l.eval_loss) AS eval_loss,
             MAX(l.eval_accuracy) AS eval_accuracy, MAX(l.eval_mse) AS eval_mse,
             (SELECT STRING_AGG(CAST(y.fan_out AS VARCHAR), 'x' ORDER BY y.layer)
              FROM layers AS y WHERE y.model = l.model AND y.layer < (SELECT MAX(z.layer)
                                                   FROM layers AS z WHERE z.model = l.model))
               AS hidden
      FROM training_log AS l
      WHERE l.model IN (SELECT v.model FROM :models AS v)
        AND l.epoch = (SELECT COALESCE(MAX(u.best_epoch), MAX(e.epoch))
                       FROM training_log AS e
                       LEFT JOIN runs AS u ON u.model = e.model AND u.run = e.run
                       WHERE e.model = l.model)
      GROUP BY l.model) AS r
JOIN models AS m ON m.model = r.model;

-- name: show_leaderboard
-- The sweep's leaderboard, best first.
SELECT rank, model, lr, hidden, seed, batch_size, train_loss, eval_loss, eval_accuracy, eval_mse
FROM sweep_results WHERE sweep = $sweep ORDER BY rank, model;

-- name: next_sweep
-- The number of a new sweep.
SELECT COALESCE(MAX(sweep), 0) + 1 FROM sweep_results;

-- name: keep_model
-- sweep --keep-best: the best model becomes model 0, the database's model: its settings ...
INSERT INTO models SELECT * REPLACE (0 AS model) FROM models WHERE model = $best;

-- name: keep_layers
-- ... architecture ...
INSERT INTO layers SELECT * REPLACE (0 AS model) FROM layers WHERE model = $best;

-- name: keep_weights
-- ... weights ...
INSERT INTO weights SELECT * REPLACE (0 AS model) FROM weights WHERE model = $best;

-- name: keep_biases
-- ... biases ...
INSERT INTO biases SELECT * REPLACE (0 AS model) FROM biases WHERE model = $best;

-- name: keep_features
-- ... feature names ...
INSERT INTO feature_names SELECT * REPLACE (0 AS model) FROM feature_names WHERE model = $best;

-- name: keep_targets
-- ... target names ...
INSERT INTO target_names SELECT * REPLACE (0 AS model) FROM target_names WHERE model = $best;

-- name: keep_classes
-- ... classes ...
INSERT INTO classes SELECT * REPLACE (0 AS model) FROM classes WHERE model = $best;

-- name: keep_runs
-- ... with its runs ...
INSERT INTO runs SELECT * REPLACE (0 AS model) FROM runs WHERE model = $best;

-- name: keep_log
-- ... and training log.
INSERT INTO training_log SELECT * REPLACE (0 AS model) FROM training_log WHERE model = $best;
