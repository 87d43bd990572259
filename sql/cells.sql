-- Data in, long: a file or table of (row, col, value) cells, staged in `staging`. A sample
-- is the cells of one row number; an absent cell is a zero, so sparse data keeps only its
-- non-zeros; col names a feature or a target.

-- name: cells_typed
-- The staged cells typed as sqlnet keeps them: the row number, the column's name as text
-- (features are named by it), the value as DOUBLE.
CREATE OR REPLACE TEMP TABLE staged_cells AS
SELECT CAST(s.row AS BIGINT) AS row, CAST(s.col AS VARCHAR) AS name, CAST(s.value AS DOUBLE) AS value
FROM staging AS s;

-- name: cells_bad
-- Cells that cannot be used, by what is wrong: a missing or negative row number, a missing
-- column name, an empty, NaN or infinite value; how many, and the first one's row.
SELECT 'row' AS what, COUNT(*) AS n, CAST(NULL AS BIGINT) AS first_row
FROM staged_cells AS c WHERE c.row IS NULL OR c.row < 0
UNION ALL
SELECT 'col' AS what, COUNT(*) AS n, MIN(c.row) AS first_row
FROM staged_cells AS c WHERE c.name IS NULL
UNION ALL
SELECT 'value' AS what, COUNT(*) AS n, MIN(c.row) AS first_row
FROM staged_cells AS c WHERE c.value IS NULL OR NOT isfinite(c.value);

-- name: cells_duplicate
-- A (row, col) given twice is refused rather than summed or overwritten: the first one.
SELECT c.row, c.name, COUNT(*) AS n FROM staged_cells AS c
GROUP BY c.row, c.name HAVING COUNT(*) > 1 ORDER BY c.row, c.name LIMIT 1;

-- name: cells_names
-- The column names the cells use (a new model's features are those that are no target).
SELECT c.name FROM staged_cells AS c GROUP BY c.name ORDER BY c.name;

-- name: cells_rows
-- The samples: every row number with a cell, in batch 0 as the wide loader leaves them.
CREATE OR REPLACE TEMP TABLE loaded_rows AS
SELECT $model AS model, r.row, 0 AS batch
FROM (SELECT DISTINCT c.row FROM staged_cells AS c) AS r;

-- name: cells_inputs
-- The inputs: each non-zero cell of a feature, under the feature's column number. Cells of
-- names the model has no input for are left out, as a vocabulary leaves out unknown words.
CREATE OR REPLACE TEMP TABLE loaded_inputs AS
SELECT 0 AS batch, $model AS model, c.row, f.col, c.value
FROM staged_cells AS c JOIN feature_names AS f ON f.model = $model AND f.name = c.name
WHERE c.value <> 0;

-- name: cells_numeric_targets
-- The targets of a regression or bce model: each non-zero cell of a target.
CREATE OR REPLACE TEMP TABLE loaded_targets AS
SELECT 0 AS batch, $model AS model, c.row, t.col, c.value
FROM staged_cells AS c JOIN target_names AS t ON t.model = $model AND t.name = c.name
WHERE c.value <> 0;

-- name: cells_out_of_unit_range
-- bce targets must be probabilities.
SELECT COUNT(*) AS n, MIN(y.row) AS first_row FROM loaded_targets AS y
WHERE y.value < 0 OR y.value > 1;

-- name: cells_labels
-- Each sample's class label: the value of its $target cell (0 when it has none), as text
-- without a ".0" when it is a whole number.
CREATE OR REPLACE TEMP TABLE cell_labels AS
SELECT l.row, l.value,
       CASE WHEN l.value = FLOOR(l.value) AND ABS(l.value) < 1e15
            THEN CAST(CAST(l.value AS BIGINT) AS VARCHAR) ELSE CAST(l.value AS VARCHAR) END AS label
FROM (SELECT r.row, COALESCE(c.value, 0.0) AS value
      FROM (SELECT DISTINCT d.row FROM staged_cells AS d) AS r
      LEFT JOIN staged_cells AS c ON c.row = r.row AND c.name = $target) AS l;

-- name: cells_class_count
-- How many classes the labels have: a new classifier's output width.
SELECT COUNT(DISTINCT l.label) AS n FROM cell_labels AS l;

-- name: cells_new_classes
-- The labels as classes, sorted numerically.
SELECT $model AS model, CAST(DENSE_RANK() OVER (ORDER BY l.value) - 1 AS INTEGER) AS class,
       l.label
FROM (SELECT DISTINCT d.value, d.label FROM cell_labels AS d) AS l;

-- name: cells_unknown_labels
-- Labels the model has no class for.
SELECT DISTINCT l.label FROM cell_labels AS l
WHERE l.label NOT IN (SELECT c.label FROM classes AS c WHERE c.model = $model)
ORDER BY l.label LIMIT 5;

-- name: cells_class_targets
-- One-hot targets: a 1 in the column of the sample's class.
CREATE OR REPLACE TEMP TABLE loaded_targets AS
SELECT 0 AS batch, $model AS model, l.row, c.class AS col, 1.0 AS value
FROM cell_labels AS l JOIN classes AS c ON c.model = $model AND c.label = l.label;

-- name: cells_has_row
-- Whether the data has a sample of row number $row (trace).
SELECT COUNT(*) AS n FROM loaded_rows AS r WHERE r.row = $row;
