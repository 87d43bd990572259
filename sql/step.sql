-- A training step's forward, error and backward phases run as ONE statement: the driver
-- composes forward.sql, loss.sql and backward.sql into its common table expressions, and
-- the tape keeps every intermediate for the update phase and for users to inspect.

-- name: step
-- The step's tape: (model, kind, layer, row, col, value) for z, activation, delta, gradient, loss.
CREATE OR REPLACE TEMP TABLE step_tape AS SELECT * FROM :tape;

-- name: tape_rows
-- One intermediate matrix on the tape; the constant-1 column (col −1) stays off it.
SELECT t.model, :kind AS kind, :layer AS layer, CAST(t.row AS BIGINT) AS row,
       CAST(t.col AS INTEGER) AS col, t.value
FROM :source AS t WHERE t.col >= 0;

-- name: tape_loss
-- The batch's loss on the tape.
SELECT l.model, 'loss' AS kind, :layer AS layer, CAST(NULL AS BIGINT) AS row,
       CAST(NULL AS INTEGER) AS col, l.value
FROM :source AS l;

-- name: clear_last_step
-- Make room for the newest step's intermediates.
DELETE FROM last_step WHERE model IN (SELECT model FROM step_tape);

-- name: step_check
-- Divergence: how many of the step's loss, gradient and new parameter values are not
-- finite, and the loss. (log_step itself refuses a non-finite step; this says why, and is
-- the separate check for an engine without INSERT ... RETURNING.)
SELECT COUNT(*) FILTER (WHERE NOT isfinite(value)) AS bad,
       MAX(value) FILTER (WHERE kind = 'loss') AS loss
FROM step_tape WHERE kind IN ('loss', 'gradient', 'param', 'param_rowid');

-- name: attach_snapshot
-- A fresh snapshot file, attached for copying into.
ATTACH $path AS snapshot;

-- name: snapshot_schema
-- The model's schema in the snapshot file.
CREATE SCHEMA :schema;

-- name: copy_to_snapshot
-- One model table, copied whole into the snapshot (:target names the snapshot's schema).
CREATE TABLE :target AS SELECT * FROM :source;

-- name: set_threads
-- How many threads DuckDB runs the phases on (1: the same bits on every run).
SET threads = $n;

-- name: set_disabled_optimizers
-- DuckDB's optimizer passes left out, comma-separated ('' for none): a chunk of a large
-- network is planned without join_order (sqlnet.train.Chunks.optimizers_off).
SET disabled_optimizers = $names;
