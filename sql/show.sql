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
