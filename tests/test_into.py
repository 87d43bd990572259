"""predict --into (predictions as a table the database computes), train --query (a one-off
join as training data) and train --resume with a run's own arguments (a script run again).

The --into tables are compared with predict's CSV output (the same SQL: to 1e-12) and with
the float64 reference's forward pass (to 1e-9); every bad input is one line, exit 2, and the
database (every table, the user's too) unchanged.
"""
import csv

import duckdb
import numpy as np
import pytest

import reference as ref
from conftest import params_as_arrays, write_csv
from test_cli import run, snapshot
from sqlnet import MLPClassifier, MLPRegressor
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.predict import predict
from sqlnet.train import Settings, train

TIGHT = 1e-12    # --into against the CSV: the same statements, so the same numbers
REF = 1e-9       # against the numpy reference, as tests/test_reference.py


def _sql(path, text):
    """Another client's SQL: the user's tables first, then the model's (schema sqlnet)."""
    con = duckdb.connect(str(path))
    if con.execute("SELECT COUNT(*) FROM duckdb_schemas() WHERE schema_name = 'sqlnet'").fetchone()[0]:
        con.execute("SET search_path = 'main,sqlnet'")
    try:
        return con.execute(text).fetchall()
    finally:
        con.close()


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _reference_outputs(db_path, X):
    """The output layer's activations by the numpy reference, from the stored weights."""
    with Database(db_path) as db:
        Ws, bs = params_as_arrays(M.parameters(db))
        acts = M.load(db).activations
    return ref.forward(Ws, bs, acts, X)[1][-1]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A 3-class classifier trained through the CLI; a user table `visits` (an id, the
    features, the label) in its database."""
    d = tmp_path_factory.mktemp("into")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    labels = np.select([X[:, 0] > 0.5, X[:, 1] > 0], ["high", "mid"], "low")
    data = write_csv(d / "visits.csv", ["visit_id", "a", "b", "c", "label"],
                     [[100 + i, *x, l] for i, (x, l) in enumerate(zip(X.tolist(), labels))])
    db = d / "c.duckdb"
    assert main(["train", str(db), "--data", str(data), "--features", "a,b,c", "--target",
                 "label", "--hidden", "5", "--epochs", "4", "--batch-size", "8", "--quiet"]) == 0
    _sql(db, f"CREATE TABLE visits AS SELECT * FROM read_csv('{data}') ORDER BY visit_id DESC")
    return d, db, data, X[::-1]        # the table holds the rows in reverse


def test_into_classifier_equals_the_csv_and_the_reference(classifier, capsys, tmp_path):
    d, db, _, X = classifier
    out = tmp_path / "p.csv"
    assert run(capsys, "predict", db, "--table", "visits", "--out", out)[0] == 0
    code, printed, err = run(capsys, "predict", db, "--table", "visits", "--into", "scored",
                             "--keep", "visit_id,label")
    assert code == 0, err
    assert printed.startswith("wrote 40 predictions to table scored: row, visit_id, label, "
                              "prediction, probability, probability_high, probability_low, "
                              "probability_mid")
    got = _sql(db, "SELECT * FROM scored ORDER BY row")
    want = _csv(out)
    assert [r[0] for r in got] == [int(w["row"]) for w in want] == list(range(40))
    assert [r[1] for r in got] == list(range(139, 99, -1))          # the key, in table order
    assert [r[3] for r in got] == [w["prediction"] for w in want]
    np.testing.assert_allclose([r[4] for r in got], [float(w["probability"]) for w in want],
                               rtol=TIGHT, atol=0)
    P = np.array([r[5:] for r in got])
    np.testing.assert_allclose(P, _reference_outputs(db, X), rtol=REF, atol=1e-15)
    assert np.array_equal(P.max(axis=1), [r[4] for r in got])      # the answer's probability
    types = dict(_sql(db, "SELECT column_name, data_type FROM duckdb_columns() "
                          "WHERE table_name = 'scored'"))
    assert types["row"] == "BIGINT" and types["visit_id"] == "BIGINT"
    assert types["probability_mid"] == "DOUBLE"


def test_into_regressor_keeps_columns_and_replaces_only_when_asked(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 2))
    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 0] * X[:, 1]])
    data = write_csv(tmp_path / "r.csv", ["id", "p", "q", "t1", "t2"],
                     [[i, *x, *y] for i, (x, y) in enumerate(zip(X.tolist(), Y.tolist()))])
    db = tmp_path / "r.duckdb"
    assert main(["train", str(db), "--data", str(data), "--features", "p,q", "--target",
                 "t1,t2", "--hidden", "4", "--epochs", "2", "--quiet"]) == 0
    out = tmp_path / "r.csv.out"
    assert run(capsys, "predict", db, "--data", data, "--out", out)[0] == 0
    assert run(capsys, "predict", db, "--data", data, "--into", "fitted", "--keep", "id")[0] == 0
    got = _sql(db, "SELECT * FROM fitted ORDER BY row")
    want = _csv(out)
    assert [r[:2] for r in got] == [(i, i) for i in range(25)]
    np.testing.assert_allclose([r[2:] for r in got],
                               [[float(w["t1"]), float(w["t2"])] for w in want], rtol=TIGHT)
    np.testing.assert_allclose([r[2:] for r in got], _reference_outputs(db, X), rtol=REF,
                               atol=1e-15)
    before = snapshot(db)
    code, _, err = run(capsys, "predict", db, "--data", data, "--into", "fitted")
    assert code == 2 and "--replace" in err and snapshot(db) == before
    code, _, err = run(capsys, "predict", db, "--data", data, "--into", "other", "--keep", "t1")
    assert code == 2 and "would have 't1' and 't1' both" in err and snapshot(db) == before
    code, printed, _ = run(capsys, "predict", db, "--data", data, "--into", "FITTED", "--replace")
    assert code == 0 and printed.startswith("wrote 25 predictions to table FITTED: row, t1, t2")
    assert [c for c, _ in _sql(db, "SELECT column_name, 1 FROM duckdb_columns() "
                                   "WHERE table_name ILIKE 'fitted'")] == ["row", "t1", "t2"]


def test_into_with_one_model_per_group(tmp_path, capsys):
    """--group-by databases: each row predicted by its group's model, as the CSV."""
    rng = np.random.default_rng(7)
    rows = [[i, g, *rng.normal(size=2)] for i, g in enumerate(["x"] * 9 + ["y"] * 7)]
    data = write_csv(tmp_path / "g.csv", ["id", "g", "a", "t"], rows)
    db = tmp_path / "g.duckdb"
    assert main(["train", str(db), "--data", str(data), "--features", "a", "--target", "t",
                 "--group-by", "g", "--hidden", "2", "--epochs", "2", "--quiet"]) == 0
    out = tmp_path / "g.out"
    assert run(capsys, "predict", db, "--data", data, "--out", out)[0] == 0
    assert run(capsys, "predict", db, "--data", data, "--into", "by_group", "--keep", "g,id")[0] == 0
    got = _sql(db, "SELECT row, g, id, t FROM by_group ORDER BY row")
    assert [r[1] for r in got] == ["x"] * 9 + ["y"] * 7 and [r[2] for r in got] == list(range(16))
    np.testing.assert_allclose([r[3] for r in got], [float(w["t"]) for w in _csv(out)], rtol=TIGHT)


def test_python_api_into(classifier):
    d, db, data, _ = classifier
    with Database(db) as con:
        names, n = predict(con, Source(path=str(data)), into="api_scored", keep=["visit_id"])
        _, rows = predict(con, Source(path=str(data)))
    assert n == 40 and names[:4] == ["row", "visit_id", "prediction", "probability"]
    got = _sql(db, "SELECT row, prediction, probability FROM api_scored ORDER BY row")
    assert [g[:2] for g in got] == [r[:2] for r in rows]
    np.testing.assert_allclose([g[2] for g in got], [r[2] for r in rows], rtol=TIGHT)


def test_estimators_predict_into(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    path = tmp_path / "e.duckdb"
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_epochs=3, database=str(path)).fit(X, y)
    assert clf.predict(X[:7], into="answers") is None
    got = _sql(path, "SELECT row, prediction, probability_no, probability_yes FROM answers "
                     "ORDER BY row")
    assert [g[1] for g in got] == clf.predict(X[:7]).tolist()
    np.testing.assert_allclose([g[2:] for g in got], clf.predict_proba(X[:7]), rtol=TIGHT)
    clf.set_params(warm_start=True).fit(X, y)            # the stored labels still match
    with pytest.raises(ValueError, match="--replace"):
        clf.predict(X, into="answers")
    clf.predict(X, into="answers", replace=True)
    assert _sql(path, "SELECT COUNT(*) FROM answers") == [(30,)]
    reg = MLPRegressor(max_epochs=2).fit(X, X[:, :2])
    reg.predict(X, into="fitted")
    got = reg._db.sql("SELECT y0, y1 FROM fitted ORDER BY row").fetchall()
    np.testing.assert_allclose(got, reg.predict(X), rtol=TIGHT)


BAD_INTO = [
    ("existing table", ["--table", "visits", "--into", "visits"], "already"),
    ("existing, other case", ["--table", "visits", "--into", "VISITS"], "already"),
    ("a model table", ["--table", "visits", "--into", "weights", "--replace"], "sqlnet's own"),
    ("a model table, other case", ["--table", "visits", "--into", "Weights", "--replace"],
     "sqlnet's own"),
    ("a temporary table", ["--table", "visits", "--into", "staging"], "sqlnet's own"),
    ("sqlnet_ prefix", ["--table", "visits", "--into", "sqlnet_mine"], "sqlnet's own"),
    ("unknown --keep", ["--table", "visits", "--into", "x", "--keep", "visit_id,nope"],
     "no column 'nope'"),
    ("--keep clashes", ["--table", "visits", "--into", "x", "--keep", "label,label"], "both"),
    ("--keep without --into", ["--table", "visits", "--keep", "visit_id"], "go with --into"),
    ("--replace without --into", ["--table", "visits", "--replace"], "go with --into"),
    ("--out and --into", ["--table", "visits", "--into", "x", "--out", "p.csv"], "not allowed"),
    ("no name", ["--table", "visits", "--into", ""], "table name"),
]


@pytest.mark.parametrize("case,argv,message", BAD_INTO, ids=[b[0] for b in BAD_INTO])
def test_bad_into_is_one_line_exit_2_and_changes_nothing(classifier, capsys, case, argv,
                                                          message):
    _, db, _, _ = classifier
    before = snapshot(db)
    code, out, err = run(capsys, "predict", db, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in out + err
    assert snapshot(db) == before


def test_keep_refuses_long_data(tmp_path, capsys):
    cells = write_csv(tmp_path / "l.csv", ["row", "col", "value"],
                      [[r, c, float(r + k)] for r in range(6) for k, c in enumerate("aby")])
    db = tmp_path / "l.duckdb"
    assert main(["train", str(db), "--data", str(cells), "--long", "--target", "y",
                 "--epochs", "1", "--quiet"]) == 0
    before = snapshot(db)
    code, _, err = run(capsys, "predict", db, "--data", cells, "--long", "--into", "p",
                       "--keep", "row")
    assert code == 2 and "long data" in err and snapshot(db) == before
    assert run(capsys, "predict", db, "--data", cells, "--long", "--into", "p")[0] == 0
    assert _sql(db, "SELECT COUNT(*) FROM p") == [(6,)]


# --- train --query ---------------------------------------------------------------------

def test_train_from_a_query_equals_its_rows_as_a_file(classifier, tmp_path, capsys):
    """A join, numbered in its ORDER BY's order, trains the weights the same rows in that
    order as a CSV file give, bit for bit."""
    _, _, data, _ = classifier
    db, plain = tmp_path / "q.duckdb", tmp_path / "f.duckdb"
    _sql(db, f"CREATE TABLE f AS SELECT visit_id, a, b, c FROM read_csv('{data}')")
    _sql(db, f"CREATE TABLE l AS SELECT visit_id, label FROM read_csv('{data}')")
    ordered = write_csv(tmp_path / "ordered.csv", ["a", "b", "c", "label"],
                        _sql(db, "SELECT a, b, c, label FROM f JOIN l USING (visit_id) "
                                 "ORDER BY visit_id % 7, visit_id"))
    flags = ["--target", "label", "--hidden", "3", "--epochs", "3", "--batch-size", "5",
             "--quiet"]
    query = ("SELECT f.a, f.b, f.c, l.label FROM f JOIN l USING (visit_id)\n"
             "ORDER BY visit_id % 7, visit_id;")
    assert run(capsys, "train", db, "--query", query, *flags)[0] == 0
    assert run(capsys, "train", plain, "--data", ordered, *flags)[0] == 0
    q = "SELECT layer, row, col, value FROM weights ORDER BY ALL"
    assert _sql(db, q) == _sql(plain, q)
    assert _sql(db, "SELECT source FROM runs") == [
        (f"query {' '.join(query.split())!r}",)]
    code, out, _ = run(capsys, "evaluate", db, "--query", "SELECT * FROM f NATURAL JOIN l",
                       "--target", "label")
    assert code == 0 and out.startswith("rows 40 ")


BAD_QUERY = [
    ("syntax", "SELEC a FROM f", "--query failed"),
    ("no such table", "SELECT * FROM nowhere", "--query failed"),
    ("two statements", "SELECT 1 AS a; DROP TABLE f", "one query"),
    ("breaks out", "SELECT 1) AS s; DROP TABLE f; SELECT (1", "one query"),
    ("unbalanced", "SELECT (1 AS a", "unbalanced"),
    ("not a query", "DROP TABLE f", "--query failed"),
    ("empty", " ; ", "one query"),
    ("unclosed string", "SELECT 'a", "cannot be read"),
    ("no rows", "SELECT * FROM f WHERE false", "no data rows"),
]


@pytest.mark.parametrize("case,text,message", BAD_QUERY, ids=[b[0] for b in BAD_QUERY])
def test_bad_query_is_one_line_exit_2_and_changes_nothing(classifier, capsys, case, text,
                                                           message):
    _, db, _, _ = classifier
    _sql(db, "CREATE TABLE IF NOT EXISTS f AS SELECT 1.0 AS a, 'x' AS label")
    before = snapshot(db)
    code, out, err = run(capsys, "train", db, "--query", text, "--target", "label")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in out + err and snapshot(db) == before


# --- train --resume with the run's arguments --------------------------------------------

def test_resume_with_arguments_starts_skips_or_refuses(tmp_path, capsys):
    rng = np.random.default_rng(9)
    rows = [[*x, x[0] - 2 * x[1]] for x in rng.normal(size=(12, 2)).tolist()]
    data = write_csv(tmp_path / "d.csv", ["a", "b", "y"], rows)
    other = write_csv(tmp_path / "o.csv", ["a", "b", "y"], rows[::-1])
    db = tmp_path / "m.duckdb"
    flags = ["--data", data, "--target", "y", "--hidden", "3", "--lr", "0.05", "--epochs", "2",
             "--no-shuffle", "--quiet", "--resume"]
    code, out, err = run(capsys, "train", db, *flags)               # no run yet: starts it
    assert code == 0 and out.startswith("trained run 1: 2 epochs"), err
    before = snapshot(db)
    code, out, _ = run(capsys, "train", db, *flags)                 # finished: nothing to do
    assert code == 0 and "run 1 had these arguments and finished" in out
    assert snapshot(db) == before
    _sql(db, "UPDATE runs SET finished_at = NULL")                  # as if killed in its run
    before = snapshot(db)
    for change, message in [
            (["--lr", "0.1"], "the stored run has --lr 0.05, not 0.1"),
            (["--epochs", "3"], "the stored run has --epochs 2, not 3"),
            (["--data", other], f"the stored run reads --data {data}, not --data {other}"),
            (["--optimizer", "adam"], "the stored run has no --optimizer; this command gives "
                                      "--optimizer adam")]:
        changed = [other if a == data else a for a in flags] if change[0] == "--data" \
            else flags + change
        code, _, err = run(capsys, "train", db, *changed)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith("sqlnet: error: --resume: " + message), lines[0]
        assert snapshot(db) == before
    dropped = [a for a in flags if a != "--no-shuffle"]
    code, _, err = run(capsys, "train", db, *dropped)
    assert code == 2 and "the stored run has --no-shuffle; this command does not" in err
    _sql(db, "UPDATE runs SET finished_at = CURRENT_TIMESTAMP")
    code, out, err = run(capsys, "train", db, *[a for a in flags if a not in ("--hidden", "3")],
                         "--lr", "0.1")                              # other arguments: a new run
    assert code == 0 and out.startswith("trained run 2"), err


def test_resume_in_python(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 2))
    data = write_csv(tmp_path / "d.csv", ["a", "b", "y"], [[*x, sum(x)] for x in X.tolist()])
    with Database(tmp_path / "p.duckdb") as db:
        s = Settings(hidden=[2], epochs=2, lr=0.05)
        first = train(db, Source(str(data)), ["y"], settings=s, resume=True)
        again = train(db, Source(str(data)), ["y"], settings=s, resume=True)
        assert not first.done_before and again.done_before and again.run == first.run == 1
        assert again.steps == first.steps and again.loss == first.loss


# --- on every engine ---------------------------------------------------------------------

def test_into_and_query_on_every_engine(engine_target, tmp_path, capsys):
    """predict --into on the engine gives predict's CSV numbers there; --replace replaces;
    a --query (with a % operator, which PostgreSQL's driver must receive as written) reads
    the table back in evaluate."""
    extra = ["--warehouse", str(engine_target.warehouse)] if engine_target.warehouse else []
    target = engine_target.target

    def cli(*argv):
        return run(capsys, *argv, *extra)
    assert main(["dataset", "iris", "--dir", str(tmp_path)]) == 0
    with open(tmp_path / "iris_test.csv", newline="") as f:
        rows = list(csv.reader(f))
    test = write_csv(tmp_path / "keyed.csv", ["id", *rows[0]],
                     [[i, *r] for i, r in enumerate(rows[1:])])
    assert cli("train", target, "--data", tmp_path / "iris_train.csv", "--target", "species",
               "--hidden", "4", "--epochs", "1", "--batch-size", "0", "--lr", "0.5",
               "--quiet")[0] == 0
    out = tmp_path / "p.csv"
    assert cli("predict", target, "--data", test, "--out", out)[0] == 0
    kept = "id,species,sepal_length,sepal_width,petal_length,petal_width"
    code, printed, err = cli("predict", target, "--data", test, "--into", "scored", "--keep", kept)
    assert code == 0 and printed.startswith("wrote 30 predictions to table scored"), err
    code, printed, err = cli("predict", target, "--data", test, "--into", "scored")
    assert code == 2 and "--replace" in err
    code, printed, err = cli("predict", target, "--data", test, "--into", "scored", "--keep",
                             kept, "--replace")
    assert code == 0, err
    code, printed, _ = cli("sql", target, "SELECT row, id, prediction, probability, "
                           "probability_setosa, probability_versicolor, probability_virginica "
                           "FROM scored ORDER BY row", "--format", "csv")
    got = list(csv.DictReader(printed.splitlines()))
    want = _csv(out)
    assert [int(g["row"]) for g in got] == [int(g["id"]) for g in got] == list(range(30))
    assert [g["prediction"] for g in got] == [w["prediction"] for w in want]
    np.testing.assert_allclose([float(g["probability"]) for g in got],
                               [float(w["probability"]) for w in want], rtol=TIGHT)
    total = [sum(float(g[f"probability_{c}"]) for c in ("setosa", "versicolor", "virginica"))
             for g in got]
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)
    virginica = sum(r[-1] == "virginica" for i, r in enumerate(rows[1:]) if i % 2 == 0)
    code, printed, err = cli("evaluate", target, "--query", "SELECT * FROM scored WHERE "
                             "species LIKE '%ca' AND id % 2 = 0 ORDER BY id", "--target", "species")
    assert code == 0 and printed.startswith(f"rows {virginica} "), err
