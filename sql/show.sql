-- What the ecosystem commands read: `inspect`'s sparkline, `plot`'s curves, `trace`'s sample.

-- name: loss_per_epoch
-- The mean batch loss and the mean learning rate of every epoch, oldest first.
SELECT epoch, AVG(loss) AS mean_loss, AVG(lr) AS lr, COUNT(*) AS steps
FROM training_log WHERE model = $model
GROUP BY epoch ORDER BY epoch;

-- name: layer_weights
-- One layer's weights, for a histogram.
SELECT value FROM weights WHERE model = $model AND layer = $layer;
