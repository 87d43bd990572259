-- What `sqlnet inspect` shows: a model at a glance.

-- name: layer_stats
-- Per layer: shape, activation, and the spread of its weights and biases.
SELECT l.layer, l.fan_in, l.fan_out, l.activation,
       w.n AS weights, w.mean, w.std, w.min, w.max, w.l2 AS l2_norm, b.mean AS bias_mean
FROM layers AS l
JOIN (SELECT model, layer, COUNT(*) AS n, AVG(value) AS mean, STDDEV_POP(value) AS std,
             MIN(value) AS min, MAX(value) AS max, SQRT(SUM(value * value)) AS l2
      FROM weights GROUP BY model, layer) AS w ON w.model = l.model AND w.layer = l.layer
JOIN (SELECT model, layer, AVG(value) AS mean FROM biases GROUP BY model, layer) AS b
  ON b.model = l.model AND b.layer = l.layer
WHERE l.model = $model
ORDER BY l.layer;

-- name: training_summary
-- How much training the model has had.
SELECT COUNT(DISTINCT run) AS runs, COALESCE(MAX(epoch), 0) AS epochs, COUNT(*) AS steps,
       SUM(wall_ms) / 1000.0 AS seconds
FROM training_log WHERE model = $model;

-- name: epoch_losses
-- The mean batch loss of the last epochs.
SELECT epoch, AVG(loss) AS mean_loss, COUNT(*) AS steps
FROM training_log WHERE model = $model
GROUP BY epoch ORDER BY epoch DESC LIMIT 5;

-- name: model_summary
-- A named model at a glance (`sqlnet models`): how many models (keys) it holds, the rows it
-- last trained on, its runs, the last epoch's mean loss of its first model, and when it last
-- trained.
SELECT (SELECT COUNT(*) FROM models) AS models,
       (SELECT COUNT(DISTINCT row) FROM train_rows) AS rows,
       (SELECT COUNT(*) FROM runs) AS runs,
       (SELECT i.loss FROM training_info AS i WHERE i.model = $model
        ORDER BY i.run DESC, i.iteration DESC LIMIT 1) AS last_loss,
       (SELECT date_trunc('second', MAX(COALESCE(r.finished_at, r.started_at))) FROM runs AS r)
         AS last_trained;
