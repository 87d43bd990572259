-- Prediction and evaluation: the forward phase over all loaded rows (batch 0), then the
-- outputs turned into answers and scores. :out is Aᴸ, :y the targets.

-- name: predicted_class
-- A classifier's answer: the class with the highest probability (the lowest class on a tie).
SELECT p.model, p.row, c.label AS prediction, p.value AS probability
FROM (SELECT a.model, a.row, a.col, a.value,
             ROW_NUMBER() OVER (PARTITION BY a.model, a.row ORDER BY a.value DESC, a.col) AS rank
      FROM :out AS a) AS p
JOIN classes AS c ON c.model = p.model AND c.class = p.col
WHERE p.rank = 1;

-- name: output_column
-- One output unit as a column of the answer (the driver names it after its target).
SELECT MAX(CASE WHEN a.col = :col THEN a.value END) AS value FROM :out AS a;

-- name: accuracy_classes
-- Per model: the share of samples whose highest output is their class.
SELECT p.model, AVG(CASE WHEN y.col = p.col THEN 1.0 ELSE 0.0 END) AS accuracy,
       CAST(NULL AS DOUBLE) AS mse, CAST(NULL AS DOUBLE) AS mae
FROM (SELECT a.model, a.row, a.col,
             ROW_NUMBER() OVER (PARTITION BY a.model, a.row ORDER BY a.value DESC, a.col) AS rank
      FROM :out AS a) AS p
JOIN :y AS y ON y.model = p.model AND y.row = p.row
WHERE p.rank = 1
GROUP BY p.model;

-- name: accuracy_binary
-- Per model: the share of outputs on the right side of 0.5.
SELECT a.model,
       AVG(CASE WHEN (a.value >= 0.5) = (COALESCE(y.value, 0.0) >= 0.5) THEN 1.0 ELSE 0.0 END)
         AS accuracy,
       CAST(NULL AS DOUBLE) AS mse, CAST(NULL AS DOUBLE) AS mae
FROM :out AS a
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col
GROUP BY a.model;

-- name: regression_errors
-- Per model: mean squared and mean absolute error over samples and outputs.
SELECT a.model, CAST(NULL AS DOUBLE) AS accuracy,
       AVG((a.value - COALESCE(y.value, 0.0)) * (a.value - COALESCE(y.value, 0.0))) AS mse,
       AVG(ABS(a.value - COALESCE(y.value, 0.0))) AS mae
FROM :out AS a
LEFT JOIN :y AS y ON y.model = a.model AND y.row = a.row AND y.col = a.col
GROUP BY a.model;

-- name: scores
-- Per model: its loss, its metrics, and its number of samples.
SELECT l.model, l.value AS loss, m.accuracy, m.mse, m.mae,
       (SELECT COUNT(*) FROM batch_rows AS r WHERE r.model = l.model) AS n
FROM loss AS l LEFT JOIN :metrics AS m ON m.model = l.model;

-- name: kept_columns
-- The source's columns that `predict --into ... --keep` copies beside the predictions, by
-- data row, numbered as keep_rows numbers them (the driver adds the kept columns).
SELECT CAST(s.rowid - (SELECT MIN(rowid) FROM staging) AS BIGINT) AS sqlnet_data_row
FROM staging AS s;
