-- The model in the database. These names and meanings are a contract: users query them.
-- Every model table carries a `model` key (0 for a database's single model).

-- name: meta
-- Marks a database as holding sqlnet tables, and which schema version wrote them.
CREATE TABLE IF NOT EXISTS sqlnet_meta (key VARCHAR, value VARCHAR);

-- name: models
-- One row per model: the settings the phases join (each model's own learning rate, loss, seed).
CREATE TABLE IF NOT EXISTS models (
  model INTEGER, task VARCHAR, loss VARCHAR, lr DOUBLE, seed BIGINT,
  batch_size BIGINT, shuffle BOOLEAN, created_at TIMESTAMP
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
CREATE TABLE IF NOT EXISTS runs (
  model INTEGER, run INTEGER, source VARCHAR, first_epoch INTEGER, epochs INTEGER,
  batch_size BIGINT, lr DOUBLE, started_at TIMESTAMP, finished_at TIMESTAMP
);

-- name: training_log
-- One row per optimizer step: the batch's loss before the step, and the step's wall time.
CREATE TABLE IF NOT EXISTS training_log (
  model INTEGER, run INTEGER, epoch INTEGER, step INTEGER, batch_size BIGINT,
  loss DOUBLE, lr DOUBLE, wall_ms DOUBLE, logged_at TIMESTAMP
);

-- name: last_step
-- The intermediates of the last training step: kind is z, activation, delta, gradient or loss.
-- Gradient rows with row = -1 are the biases' gradients.
CREATE TABLE IF NOT EXISTS last_step (
  model INTEGER, kind VARCHAR, layer INTEGER, row BIGINT, col INTEGER, value DOUBLE
);
