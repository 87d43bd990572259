-- Initialization from the model's seed: every weight is a uniform draw from (−bound, bound),
-- bound = √(6 / fan_in) (He, for relu-like units) or √(6 / (fan_in + fan_out)) (Xavier/Glorot).
-- The draw u ∈ [0, 1) is the `mix` hash of (seed, layer, row, col); biases start at 0.

-- name: forget_models
-- A table's rows of the models about to be created (:models), if their keys were used before.
DELETE FROM :table WHERE model IN (SELECT model FROM :models);

-- name: init_weights
-- W[row, col] = (2u − 1) · bound, for every layer of model $model
INSERT INTO weights
SELECT l.model, l.layer, r.row, c.col,
       (2.0 * :u / 2147483647.0 - 1.0)
       * SQRT(6.0 / CASE WHEN l.activation IN ('relu', 'leaky_relu') THEN l.fan_in
                         ELSE l.fan_in + l.fan_out END) AS value
FROM layers AS l
JOIN models AS m ON m.model = l.model
JOIN (SELECT CAST(n.i AS INTEGER) AS row FROM range(0, $max_width) AS n(i)) AS r ON r.row < l.fan_in
JOIN (SELECT CAST(n.i AS INTEGER) AS col FROM range(0, $max_width) AS n(i)) AS c ON c.col < l.fan_out
WHERE l.model = $model;

-- name: init_biases
-- b = 0
INSERT INTO biases
SELECT l.model, l.layer, c.col, 0.0 AS value
FROM layers AS l
JOIN (SELECT CAST(n.i AS INTEGER) AS col FROM range(0, $max_width) AS n(i)) AS c ON c.col < l.fan_out
WHERE l.model IN (SELECT model FROM :models);
