-- What the ecosystem commands read: `inspect`'s sparkline, `plot`'s curves, `trace`'s sample.

-- name: loss_per_epoch
-- The mean batch loss and the mean learning rate of every epoch, oldest first.
SELECT epoch, AVG(loss) AS mean_loss, AVG(lr) AS lr, COUNT(*) AS steps
FROM training_log WHERE model = $model
GROUP BY epoch ORDER BY epoch;

-- name: layer_weights
-- One layer's weights, for a histogram.
SELECT value FROM weights WHERE model = $model AND layer = $layer;

-- name: step_losses
-- Every step's loss, with its place in the epoch as a fraction, for the faint per-step curve.
SELECT epoch - 1 + (ROW_NUMBER() OVER (PARTITION BY epoch ORDER BY step))
                   / COUNT(*) OVER (PARTITION BY epoch) AS x,
       loss
FROM training_log WHERE model = $model ORDER BY step;

-- name: trace_rows
-- `sqlnet trace`: the one sample, alone in batch 0, from the rows `load` staged.
CREATE OR REPLACE TEMP TABLE trace_rows AS
SELECT model, row, batch FROM loaded_rows WHERE row = $row;

-- name: trace_inputs
-- (as trace_rows) its inputs,
CREATE OR REPLACE TEMP TABLE trace_inputs AS
SELECT batch, model, row, col, value FROM loaded_inputs WHERE row = $row;

-- name: trace_targets
-- ... and its targets.
CREATE OR REPLACE TEMP TABLE trace_targets AS
SELECT batch, model, row, col, value FROM loaded_targets WHERE row = $row;
