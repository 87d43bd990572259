-- Data in: a CSV or Parquet file, or a table, becomes (row, col, value) tables.
-- :label is the user's label column, qualified by the alias s of staging.
-- Rows are numbered in file order (0-based): rowid counts in insertion order, from an offset
-- while the transaction is open, hence rowid − MIN(rowid). Exact zeros are not stored.

-- name: stage_csv
-- The file as a table, columns and types as DuckDB's sniffer reads them.
CREATE OR REPLACE TEMP TABLE staging AS SELECT * FROM read_csv($path, header = true);

-- name: stage_parquet
-- A Parquet file as a table.
CREATE OR REPLACE TEMP TABLE staging AS SELECT * FROM read_parquet($path);

-- name: stage_table
-- A table of the database (its name quoted by sqlglot) copied as it is.
CREATE OR REPLACE TEMP TABLE staging AS SELECT * FROM :source;

-- name: stage_table_numbered
-- The same on an engine without DuckDB's rowid: sqlnet_row numbers the rows.
CREATE OR REPLACE TEMP TABLE staging AS SELECT s.*, ROW_NUMBER() OVER () AS sqlnet_row FROM :source AS s;

-- name: staged_numbers
-- The chosen numeric columns, long: :columns is a SELECT of the row number and each column
-- cast to DOUBLE under its position as name ("0", "1", ...), an empty cell read as NaN.
-- Zeros are dropped here, as sqlnet never stores them (NaN and ±∞ stay: they are not 0), so
-- sparse data does not stage a cell per zero.
CREATE OR REPLACE TEMP TABLE staged_long AS
SELECT CAST(u.row AS BIGINT) AS row, CAST(u.name AS INTEGER) AS col, u.value
FROM (UNPIVOT (SELECT * FROM :columns) ON COLUMNS(* EXCLUDE (row))
      INTO NAME name VALUE value) AS u
WHERE u.value <> 0;

-- name: bad_values
-- Empty, NaN and infinite cells: the first few, so that the error can name one.
SELECT col, COUNT(*) AS cells, MIN(row) AS first_row
FROM staged_long WHERE NOT isfinite(value)
GROUP BY col ORDER BY col;

-- name: row_count
-- How many samples were staged.
SELECT COUNT(*) AS n FROM staging;

-- name: new_classes
-- The class labels of a label column, sorted as the column's type sorts (numbers as numbers).
SELECT $model AS model, CAST(DENSE_RANK() OVER (ORDER BY s.label) - 1 AS INTEGER) AS class,
       CAST(s.label AS VARCHAR) AS label
FROM (SELECT DISTINCT :label AS label FROM staging AS s) AS s;

-- name: stored_class_count
-- How many classes the model has (none before its first training data names them).
SELECT COUNT(*) AS n FROM classes AS c WHERE c.model = $model;

-- name: unknown_labels
-- Labels the model has no class for.
SELECT DISTINCT CAST(:label AS VARCHAR) AS label FROM staging AS s
WHERE CAST(:label AS VARCHAR) NOT IN (SELECT c.label FROM classes AS c WHERE c.model = $model)
ORDER BY label LIMIT 5;

-- name: null_labels
-- Empty label cells: refused, with the first one's row.
SELECT COUNT(*) AS n, MIN(rowid) - (SELECT MIN(rowid) FROM staging) AS first_row
FROM staging AS s WHERE :label IS NULL;

-- name: class_targets
-- One-hot targets: a 1 in the column of the row's class; the zeros are not stored.
SELECT $model AS model, CAST(s.rowid - (SELECT MIN(rowid) FROM staging) AS BIGINT) AS row,
       c.class AS col, 1.0 AS value
FROM staging AS s JOIN classes AS c ON c.model = $model AND c.label = CAST(:label AS VARCHAR);

-- name: keep_rows
-- The loaded samples, in batch 0 (evaluation and prediction see them all at once).
CREATE OR REPLACE TEMP TABLE loaded_rows AS
SELECT $model AS model, CAST(rowid - (SELECT MIN(rowid) FROM staging) AS BIGINT) AS row, 0 AS batch
FROM staging;

-- name: keep_inputs
-- The loaded inputs without their zeros.
CREATE OR REPLACE TEMP TABLE loaded_inputs AS
SELECT 0 AS batch, $model AS model, row, col, value FROM staged_long WHERE value <> 0;

-- name: keep_numeric_targets
-- The loaded targets of a regression or bce model, without their zeros.
CREATE OR REPLACE TEMP TABLE loaded_targets AS
SELECT 0 AS batch, $model AS model, row, col, value FROM staged_long WHERE value <> 0;

-- name: keep_class_targets
-- The loaded targets of a classifier, one-hot.
CREATE OR REPLACE TEMP TABLE loaded_targets AS
SELECT 0 AS batch, t.* FROM (SELECT * FROM :class_targets) AS t;

-- name: out_of_unit_range
-- bce targets must be probabilities.
SELECT COUNT(*) AS n, MIN(row) AS first_row FROM staged_long WHERE value < 0 OR value > 1;

-- name: clear_train_rows
-- The loaded data replaces the model's training data, in the run's transaction.
DELETE FROM train_rows WHERE model = $model;

-- name: clear_train_inputs
-- (as clear_train_rows)
DELETE FROM train_inputs WHERE model = $model;

-- name: clear_train_targets
-- (as clear_train_rows)
DELETE FROM train_targets WHERE model = $model;

-- name: store_train_rows
-- The loaded samples become the training samples.
INSERT INTO train_rows SELECT model, row FROM loaded_rows;

-- name: store_train_inputs
-- ... and their inputs,
INSERT INTO train_inputs SELECT model, row, col, value FROM loaded_inputs;

-- name: store_train_targets
-- ... and their targets.
INSERT INTO train_targets SELECT model, row, col, value FROM loaded_targets;

-- name: store_classes
-- A first training run's labels become the model's classes.
INSERT INTO classes SELECT * FROM (SELECT * FROM :new_classes) AS c;

-- name: class_count
-- How many classes a label column has: a new classifier's output width.
SELECT COUNT(DISTINCT :label) AS n FROM staging AS s;

-- name: row_count_loaded
-- How many rows are loaded (after a split).
SELECT COUNT(*) FROM loaded_rows;
