-- Scoring without sqlnet (`sqlnet export DB --to score.sql`): the model as one SQL object with
-- its weights, biases, standardization and classes inlined as literals. It scores one sample
-- at a time, as a chain of one-row SELECTs with a column per unit (u0, u1, ...); long data's
-- layer 1 is one aggregate over the sample's cells. Nothing that reads the sample is a union,
-- an outer join or a window: Spark decorrelates such a function wrongly or not at all. `ok`
-- says that every value given was a number; where one was empty (NULL) every output is NULL,
-- where predict would refuse the sample.
-- In each statement whose last column is named u, the driver repeats that column once per
-- unit, renaming u (and the column u it reads) to u0, u1, ...

-- name: score_inputs
-- Wide data: feature i of the sample is the argument or column :x. (FROM a one-row table, not
-- from nothing: Spark inlines a chain of SELECTs from nothing into one expression, each
-- layer's repeated in every unit above it.)
SELECT CAST(:ok AS BOOLEAN) AS ok, CAST(:x AS DOUBLE) AS u FROM (VALUES (0)) AS one(k);

-- name: score_inputs_standardized
-- Wide data with --standardize: feature i as predict scales it, (x − mean) / std.
SELECT CAST(:ok AS BOOLEAN) AS ok, (CAST(:x AS DOUBLE) - :mean) / :std AS u
FROM (VALUES (0)) AS one(k);

-- name: score_cells
-- Long data: the sample's cells, given as two lists taken pairwise, their column names :cols
-- and their values :vals.
SELECT UNNEST(:cols) AS col, UNNEST(:vals) AS value;

-- name: score_cells_linear
-- Long data, Z¹ = A⁰·W¹ + b¹: the cells of the features they name joined to those features'
-- weights (score_weights: a row per feature, a column per unit), summed onto the bias :b
-- (a sample with no known feature gets the bias). Unknown names are left out, as predict
-- leaves them out.
SELECT COUNT(c.value) = COUNT(*) AS ok, :b + COALESCE(SUM(c.value * w.u), 0.0) AS u
FROM score_cells AS c JOIN score_weights AS w ON w.name = CAST(c.col AS VARCHAR);

-- name: score_cells_linear_standardized
-- Long data with --standardize: every feature counts, an absent one as (0 − mean) / std. :absent
-- is the sum of the unit's weights times those values; a cell given replaces its feature's
-- term by its own, (x − mean) / std.
SELECT COUNT(c.value) = COUNT(*) AS ok,
       :b + :absent + COALESCE(SUM(((c.value - w.mean) / w.std - (0.0 - w.mean) / w.std) * w.u), 0.0) AS u
FROM score_cells AS c JOIN score_weights AS w ON w.name = CAST(c.col AS VARCHAR);

-- name: score_linear
-- Zˡ = Aˡ⁻¹·Wˡ + bˡ: each unit's bias :b plus :products, the sum of the literal weights times
-- the columns of the layer below, :below.
SELECT l.ok, :b + :products AS u FROM :below AS l;

-- name: score_activate
-- Aˡ = f(Zˡ) unit by unit: :f is activations.sql's f of z.u.
SELECT z.ok, :f AS u FROM :z AS z;

-- name: score_softmax_top
-- Softmax, as predict's softmax_terms and softmax_output: first m, the largest Zᴸ (:top) ...
SELECT z.*, :top AS m FROM :z AS z;

-- name: score_softmax_exp
-- ... exp(Z − m) ...
SELECT t.ok, EXP(t.u - t.m) AS u FROM :t AS t;

-- name: score_softmax_sum
-- ... s, their sum (:sum) ...
SELECT e.*, :sum AS s FROM :e AS e;

-- name: score_softmax
-- ... and Aᴸ = exp(Z − m) / s.
SELECT e.ok, e.u / e.s AS u FROM :e AS e;

-- name: score_top
-- A classifier's highest probability, :top.
SELECT a.*, :top AS top FROM :a AS a;

-- name: score_class
-- The class whose probability is the highest, the first on a tie (as predict's
-- predicted_class): the driver takes one WHEN per class, in class order.
SELECT CASE WHEN a.u = a.top THEN :label END AS prediction FROM :a AS a;

-- name: score_classes_answer
-- A classifier's answer: its class (:prediction), its probability, then each class's.
SELECT CASE WHEN a.ok THEN :prediction END AS prediction,
       CASE WHEN a.ok THEN a.top END AS probability,
       CASE WHEN a.ok THEN a.u END AS u
FROM :a AS a;

-- name: score_outputs_answer
-- A regressor's answer: its outputs, one column per target (the driver names them).
SELECT CASE WHEN a.ok THEN a.u END AS u FROM :a AS a;

-- name: score_macro
-- The DuckDB object: a table macro of a table's name, tbl (the driver names it and gives it
-- its body).
CREATE OR REPLACE MACRO score(tbl) AS TABLE SELECT 1;

-- name: score_macro_wide
-- The DuckDB macro for wide data: every row of the table tbl, with its answer :scored (a
-- lateral subquery over the row's columns).
SELECT sqlnet_input.*, s.* FROM query_table(tbl) AS sqlnet_input, LATERAL (:scored) AS s;

-- name: score_macro_cells
-- The DuckDB macro for long data: every sample of the table tbl of (row, col, value) cells,
-- its cells gathered as two lists (in one order, so that they pair up), with its answer
-- :scored (a lateral subquery over them).
SELECT sqlnet_input.row, s.*
FROM (SELECT c.row, LIST(c.col ORDER BY c.col, c.value) AS cols,
             LIST(c.value ORDER BY c.col, c.value) AS vals
      FROM query_table(tbl) AS c GROUP BY c.row) AS sqlnet_input,
     LATERAL (:scored) AS s;

-- name: score_function
-- The PostgreSQL and Spark object: a function of one sample that returns its answer (the
-- driver names it and gives it its arguments, columns and body).
CREATE OR REPLACE FUNCTION score(x DOUBLE) RETURNS TABLE (y DOUBLE) RETURN SELECT 1;
