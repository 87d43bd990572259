-- The model in the database. These names and meanings are a contract: users query them.
-- Every model table carries a `model` key (0 for a database's single model).

-- name: meta
-- Marks a database as holding sqlnet tables, and which schema version wrote them.
CREATE TABLE IF NOT EXISTS sqlnet_meta (key VARCHAR, value VARCHAR);

-- name: models
-- One row per model: the settings the phases join (each model's own learning rate, loss, seed).
-- The training controls after created_at are described in the README's options table.
CREATE TABLE IF NOT EXISTS models (
  model INTEGER, task VARCHAR, loss VARCHAR, lr DOUBLE, seed BIGINT,
  batch_size BIGINT, shuffle BOOLEAN, created_at TIMESTAMP,
  optimizer VARCHAR DEFAULT 'sgd', momentum DOUBLE DEFAULT 0.9, alpha DOUBLE DEFAULT 0.99,
  beta1 DOUBLE DEFAULT 0.9, beta2 DOUBLE DEFAULT 0.999, eps DOUBLE DEFAULT 1e-8,
  weight_decay DOUBLE DEFAULT 0.0, l1 DOUBLE DEFAULT 0.0, clip_norm DOUBLE,
  lr_schedule VARCHAR DEFAULT 'constant', gamma DOUBLE DEFAULT 0.1,
  step_size INTEGER DEFAULT 10, power DOUBLE DEFAULT 0.5, dropout DOUBLE DEFAULT 0.0,
  standardize BOOLEAN DEFAULT false, patience INTEGER, min_delta DOUBLE DEFAULT 0.0,
  class_weight VARCHAR
);

-- name: layers
-- The architecture: layer 1 maps the inputs to the first hidden layer; the last is the output.
CREATE TABLE IF NOT EXISTS layers (
  model INTEGER, layer INTEGER, fan_in INTEGER, fan_out INTEGER, activation VARCHAR
);

-- name: weights
-- W of each layer: row is the unit in the layer below, col the unit in this layer (Z = A·W + b).
CREATE TABLE IF NOT EXISTS weights (
  model INTEGER, layer INTEGER, row INTEGER, col INTEGER, value DOUBLE
);

-- name: biases
-- b of each layer, one value per unit (col) of the layer.
CREATE TABLE IF NOT EXISTS biases (model INTEGER, layer INTEGER, col INTEGER, value DOUBLE);

-- name: feature_names
-- The input columns in the order of the weights' rows of layer 1.
CREATE TABLE IF NOT EXISTS feature_names (model INTEGER, col INTEGER, name VARCHAR);

-- name: target_names
-- The target columns (for cross_entropy: the one column holding the class labels).
CREATE TABLE IF NOT EXISTS target_names (model INTEGER, col INTEGER, name VARCHAR);

-- name: classes
-- Class labels of a cross_entropy model; class is the output unit (col) that stands for label.
CREATE TABLE IF NOT EXISTS classes (model INTEGER, class INTEGER, label VARCHAR);

-- name: train_rows
-- The samples of the last training data, by row number in file order (0-based).
CREATE TABLE IF NOT EXISTS train_rows (model INTEGER, row BIGINT);

-- name: train_inputs
-- The last training data's inputs as (row, col, value); exact zeros are not stored.
CREATE TABLE IF NOT EXISTS train_inputs (model INTEGER, row BIGINT, col INTEGER, value DOUBLE);

-- name: train_targets
-- Its targets as (row, col, value): class labels one-hot, zeros not stored.
CREATE TABLE IF NOT EXISTS train_targets (model INTEGER, row BIGINT, col INTEGER, value DOUBLE);

-- name: runs
-- One row per `sqlnet train`: it covers epochs first_epoch .. first_epoch + epochs − 1;
-- finished_at stays NULL until it ends, so an interrupted run can be resumed.
-- stopped says how it ended (completed, early_stopping); best_epoch is the epoch whose
-- weights the model kept when it was validated. arguments are the flags of `sqlnet train`
-- that define the run, as JSON: a rerun with --resume and the same ones continues it.
CREATE TABLE IF NOT EXISTS runs (
  model INTEGER, run INTEGER, source VARCHAR, first_epoch INTEGER, epochs INTEGER,
  batch_size BIGINT, lr DOUBLE, started_at TIMESTAMP, finished_at TIMESTAMP,
  stopped VARCHAR, best_epoch INTEGER, keep_history BOOLEAN DEFAULT false, arguments VARCHAR
);

-- name: training_log
-- One row per optimizer step: the batch's loss before the step, the learning rate it used,
-- and the step's wall time. The last step of an epoch also carries the validation scores
-- after it (eval_accuracy for classifiers, eval_mse for regression), when there is
-- validation data.
CREATE TABLE IF NOT EXISTS training_log (
  model INTEGER, run INTEGER, epoch INTEGER, step INTEGER, batch_size BIGINT,
  loss DOUBLE, lr DOUBLE, wall_ms DOUBLE, logged_at TIMESTAMP,
  eval_loss DOUBLE, eval_accuracy DOUBLE, eval_mse DOUBLE
);

-- name: last_step
-- The intermediates of the last training step: kind is z, activation, delta, gradient or loss.
-- Gradient rows with row = -1 are the biases' gradients.
CREATE TABLE IF NOT EXISTS last_step (
  model INTEGER, kind VARCHAR, layer INTEGER, row BIGINT, col INTEGER, value DOUBLE
);

-- name: optimizer_state
-- The optimizer's memory per parameter, named as PyTorch names it: momentum_buffer
-- (momentum, nesterov), square_avg (rmsprop), exp_avg and exp_avg_sq (adam, adamw).
-- A bias is row −1. The row named step, on layer 0, counts the optimizer's steps.
CREATE TABLE IF NOT EXISTS optimizer_state (
  model INTEGER, name VARCHAR, layer INTEGER, row INTEGER, col INTEGER, value DOUBLE
);

-- name: valid_rows
-- Validation samples (--validation-data or --validation-split), numbered from 0.
CREATE TABLE IF NOT EXISTS valid_rows (model INTEGER, row BIGINT);

-- name: valid_inputs
-- Their inputs, zeros not stored.
CREATE TABLE IF NOT EXISTS valid_inputs (model INTEGER, row BIGINT, col INTEGER, value DOUBLE);

-- name: valid_targets
-- Their targets, as train_targets.
CREATE TABLE IF NOT EXISTS valid_targets (model INTEGER, row BIGINT, col INTEGER, value DOUBLE);

-- name: best_weights
-- The weights of the best validated epoch so far (a bias is row −1): early stopping goes back
-- to them.
CREATE TABLE IF NOT EXISTS best_weights (
  model INTEGER, epoch INTEGER, layer INTEGER, row INTEGER, col INTEGER, value DOUBLE
);

-- name: weight_history
-- With --keep-history: every parameter after every epoch (a bias is row −1).
CREATE TABLE IF NOT EXISTS weight_history (
  model INTEGER, run INTEGER, epoch INTEGER, layer INTEGER, row INTEGER, col INTEGER,
  value DOUBLE
);

-- name: standardization
-- With --standardize: each feature's mean and standard deviation over the training data
-- (a constant feature gets std 1). Inputs are (x − mean) / std in training and prediction.
CREATE TABLE IF NOT EXISTS standardization (model INTEGER, col INTEGER, mean DOUBLE, std DOUBLE);

-- name: class_weights
-- With --class-weight: each class's weight in the cross_entropy loss (PyTorch's weight=).
CREATE TABLE IF NOT EXISTS class_weights (model INTEGER, class INTEGER, weight DOUBLE);

-- name: model_groups
-- With --group-by: the group each model stands for (column and value of the data).
CREATE TABLE IF NOT EXISTS model_groups (model INTEGER, group_column VARCHAR, value VARCHAR);

-- name: sweep_results
-- A sweep's leaderboard: every model's settings, its final training loss, and its scores
-- on the validation rows (when there are any).
CREATE TABLE IF NOT EXISTS sweep_results (
  sweep INTEGER, model INTEGER, lr DOUBLE, hidden VARCHAR, seed BIGINT, batch_size BIGINT,
  train_loss DOUBLE, eval_loss DOUBLE, eval_accuracy DOUBLE, eval_mse DOUBLE, rank INTEGER
);

-- name: training_info
-- BigQuery ML's ML.TRAINING_INFO: one row per epoch of every run.
CREATE OR REPLACE VIEW training_info AS
SELECT model, run, epoch AS iteration, AVG(loss) AS loss,
       MAX(eval_loss) AS eval_loss, MAX(eval_accuracy) AS eval_accuracy,
       MAX(eval_mse) AS eval_mse, MAX(lr) AS learning_rate, SUM(wall_ms) AS duration_ms
FROM training_log GROUP BY model, run, epoch;
