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

-- name: store_group
-- Which group a model stands for.
INSERT INTO model_groups VALUES ($model, $column, $value);

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
-- Every model of the pass gets model 0's feature names ...
INSERT INTO feature_names SELECT m.model, f.col, f.name
FROM feature_names AS f CROSS JOIN (SELECT model FROM :models) AS m
WHERE f.model = 0 AND m.model <> 0;

-- name: copy_targets
-- ... target names ...
INSERT INTO target_names SELECT m.model, t.col, t.name
FROM target_names AS t CROSS JOIN (SELECT model FROM :models) AS m
WHERE t.model = 0 AND m.model <> 0;

-- name: copy_classes
-- ... and classes (every model has the output units of all the data's labels).
INSERT INTO classes SELECT m.model, c.class, c.label
FROM classes AS c CROSS JOIN (SELECT model FROM :models) AS m
WHERE c.model = 0 AND m.model <> 0;

-- name: model_count
-- How many models the database holds.
SELECT COUNT(*) FROM models;
