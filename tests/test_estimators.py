"""sqlnet.MLPClassifier and MLPRegressor: the CLI's numbers, every kind of input, sklearn's checks."""
import csv
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import sqlnet
from conftest import params_as_arrays, write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.db import Database

rng = np.random.default_rng(11)
X = rng.normal(size=(40, 3))
LABELS = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]
Y2 = np.column_stack([X[:, 0] - X[:, 2], X[:, 1] * 0.5])
SETTINGS = dict(hidden_layer_sizes=(5,), learning_rate=0.3, batch_size=7, max_epochs=3, random_state=4)
CLI = ["--hidden", "5", "--lr", "0.3", "--batch-size", "7", "--epochs", "3", "--seed", "4", "--quiet"]


def cli(*argv):
    assert main([str(a) for a in argv]) == 0


def read_csv(path):
    return list(csv.DictReader(open(path)))


@pytest.fixture(scope="module")
def classifier():
    return sqlnet.MLPClassifier(**SETTINGS).fit(X, LABELS)


def test_classifier_equals_the_cli(classifier, tmp_path):
    """The same settings through `sqlnet train` give the same weights, bit for bit."""
    data = write_csv(tmp_path / "c.csv", ["p", "q", "r", "label"], [list(x) + [l] for x, l in zip(X, LABELS)])
    db = tmp_path / "c.duckdb"
    cli("train", db, "--data", data, "--target", "label", *CLI)
    with Database(db) as d:
        W, b = params_as_arrays(M.parameters(d))
    for got, want in zip(classifier.coefs_ + classifier.intercepts_, W + b):
        assert np.array_equal(got, want)                     # the same SQL ran
    cli("predict", db, "--data", data, "--out", tmp_path / "p.csv")
    rows = read_csv(tmp_path / "p.csv")
    proba = classifier.predict_proba(X)
    assert classifier.predict(X).tolist() == [r["prediction"] for r in rows]
    np.testing.assert_allclose(proba.max(axis=1), [float(r["probability"]) for r in rows],
                               rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert classifier.classes_.tolist() == ["a", "b", "c"]
    assert classifier.n_iter_ == 3 and len(classifier.loss_curve_) == 3
    assert classifier.score(X, LABELS) == np.mean(classifier.predict(X) == LABELS)


def test_regressor_equals_the_cli(tmp_path):
    reg = sqlnet.MLPRegressor(**SETTINGS, activation="tanh").fit(X, Y2)
    data = write_csv(tmp_path / "r.csv", ["p", "q", "r", "t1", "t2"], [list(x) + list(y) for x, y in zip(X, Y2)])
    db = tmp_path / "r.duckdb"
    cli("train", db, "--data", data, "--target", "t1,t2", "--activation", "tanh", *CLI)
    cli("predict", db, "--data", data, "--out", tmp_path / "p.csv")
    rows = read_csv(tmp_path / "p.csv")
    want = np.array([[float(r["t1"]), float(r["t2"])] for r in rows])
    assert np.array_equal(reg.predict(X), want)
    one = sqlnet.MLPRegressor(**{**SETTINGS, "learning_rate": 0.05}).fit(X, Y2[:, 0])
    assert one.predict(X).shape == (40,)                     # one target in, one column out
    p = one.predict(X)
    r2 = 1 - ((Y2[:, 0] - p) ** 2).sum() / ((Y2[:, 0] - Y2[:, 0].mean()) ** 2).sum()
    assert abs(one.score(X, Y2[:, 0]) - r2) < 1e-12


def test_training_controls_equal_the_cli(tmp_path):
    """The estimators' optimizer, penalty, schedule, dropout and standardization parameters
    are `sqlnet train`'s flags of the same names."""
    params = dict(optimizer="adam", weight_decay=0.01, lr_schedule="cosine", dropout=0.2,
                  standardize=True, clip_norm=1.0)
    clf = sqlnet.MLPClassifier(**{**SETTINGS, "learning_rate": 0.01}, **params).fit(X, LABELS)
    data = write_csv(tmp_path / "c.csv", ["p", "q", "r", "label"], [list(x) + [l] for x, l in zip(X, LABELS)])
    db = tmp_path / "c.duckdb"
    cli("train", db, "--data", data, "--target", "label", *CLI, "--lr", "0.01", "--optimizer", "adam",
        "--weight-decay", "0.01", "--lr-schedule", "cosine", "--dropout", "0.2", "--standardize",
        "--clip-norm", "1")
    with Database(db) as d:
        W, b = params_as_arrays(M.parameters(d))
    for got, want in zip(clf.coefs_ + clf.intercepts_, W + b):
        assert np.array_equal(got, want)
    assert clf.get_params()["optimizer"] == "adam"


@pytest.mark.parametrize("kind", ["list", "pandas", "polars", "arrow", "duckdb"])
def test_every_kind_of_input_gives_the_same_model(classifier, kind):
    names = ["p", "q", "r"]
    if kind == "list":
        Xk, yk = X.tolist(), LABELS.tolist()
    elif kind == "pandas":
        pd = pytest.importorskip("pandas")
        Xk, yk = pd.DataFrame(X, columns=names), pd.Series(LABELS)
    elif kind == "polars":
        pl = pytest.importorskip("polars")
        Xk, yk = pl.DataFrame(X, schema=names), pl.Series(LABELS)
    elif kind == "arrow":
        pa = pytest.importorskip("pyarrow")
        Xk, yk = pa.table({n: X[:, i] for i, n in enumerate(names)}), pa.chunked_array([LABELS])
    else:
        import duckdb
        con = duckdb.connect()
        con.register("xs", {n: X[:, i] for i, n in enumerate(names)})
        con.register("ys", {"label": LABELS})
        Xk, yk = con.sql("SELECT * FROM xs"), con.sql("SELECT * FROM ys")
    clf = sqlnet.MLPClassifier(**SETTINGS).fit(Xk, yk)
    for got, want in zip(clf.coefs_ + clf.intercepts_, classifier.coefs_ + classifier.intercepts_):
        assert np.array_equal(got, want)
    assert np.array_equal(clf.predict_proba(Xk), classifier.predict_proba(X))


def test_database_file_keeps_the_model(tmp_path, capsys):
    path = tmp_path / "est.duckdb"
    import duckdb
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE mine AS SELECT 42 AS answer")
    con.close()
    clf = sqlnet.MLPClassifier(**SETTINGS, database=str(path)).fit(X, LABELS)
    write_csv(tmp_path / "x.csv", ["x0", "x1", "x2"], X)
    capsys.readouterr()
    cli("predict", path, "--data", tmp_path / "x.csv")       # the file holds a usable model
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["prediction"] for r in rows] == clf.predict(X).tolist()  # classes by their labels
    clf.fit(X, LABELS)                                       # fit starts afresh ...
    with Database(path) as d:
        assert d.sql("SELECT count(DISTINCT run), max(epoch) FROM training_log").fetchone() == (1, 3)
        assert d.sql("SELECT * FROM mine").fetchall() == [(42,)]   # ... and leaves other tables
        assert "sqlnet_estimator_input" not in d.tables()
    clf.set_params(warm_start=True, max_epochs=2).fit(X, LABELS)   # warm_start continues
    with Database(path) as d:
        assert d.sql("SELECT count(DISTINCT run), max(epoch) FROM training_log").fetchone() == (2, 5)


def test_pickle_keeps_predictions(classifier):
    again = pickle.loads(pickle.dumps(classifier))
    assert np.array_equal(again.predict_proba(X), classifier.predict_proba(X))


def test_bad_settings_are_value_errors_at_fit():
    clf = sqlnet.MLPClassifier(activation="gelu")            # constructing never raises
    with pytest.raises(ValueError, match="unknown activation"):
        clf.fit(X, LABELS)
    with pytest.raises(ValueError, match="only one class"):
        sqlnet.MLPClassifier().fit(X, ["a"] * len(X))
    with pytest.raises(ValueError, match="diverged"):
        sqlnet.MLPRegressor(learning_rate=50.0, max_epochs=3).fit(X, Y2 * 1000)


def test_works_without_scikit_learn():
    """With sklearn unimportable, the estimators keep get_params, set_params and score."""
    code = """
import sys; sys.modules['sklearn'] = None
import numpy as np, sqlnet, sqlnet.estimators as E
assert not E.HAVE_SKLEARN
rng = np.random.default_rng(0); X = rng.normal(size=(30, 2)); y = (X[:, 0] > 0).astype(int)
c = sqlnet.MLPClassifier(max_epochs=5, learning_rate=0.5)
assert c.get_params()["max_epochs"] == 5 and c.set_params(max_epochs=8).max_epochs == 8
assert c.fit(X, y).score(X, y) > 0.8
r = sqlnet.MLPRegressor(max_epochs=5).fit(X, X[:, 0] * 2)
assert r.score(X, X[:, 0] * 2) > 0.5 and r.predict(X).shape == (30,)
try:
    c.set_params(nope=1)
except ValueError:
    print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:
    parametrize_with_checks = None

# Settings that learn sklearn's small check data sets within a few full-batch steps; tanh
# keeps the regressor's SGD stable on its unscaled targets (values in the hundreds).
CHECKED = [sqlnet.MLPClassifier(hidden_layer_sizes=(8,), batch_size=0, max_epochs=10, learning_rate=0.5),
           sqlnet.MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", batch_size=0,
                               max_epochs=10, learning_rate=0.1)]


if parametrize_with_checks is not None:
    # Every check applies and passes: none is skipped or expected to fail.
    @parametrize_with_checks(CHECKED)
    def test_sklearn_estimator_checks(estimator, check):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(estimator)
else:
    def test_sklearn_estimator_checks():
        pytest.skip("scikit-learn is not installed")


def test_pipeline_with_standard_scaler():
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    Xs = X * [100.0, 0.01, 5.0] + 3.0                        # badly scaled features
    pipe = make_pipeline(StandardScaler(), sqlnet.MLPClassifier(**SETTINGS)).fit(Xs, LABELS)
    scaled = StandardScaler().fit_transform(Xs)
    alone = sqlnet.MLPClassifier(**SETTINGS).fit(scaled, LABELS)
    assert np.array_equal(pipe.predict_proba(Xs), alone.predict_proba(scaled))
    assert pipe.score(Xs, LABELS) == alone.score(scaled, LABELS) > 0.7


# The README's digits figures: sqlnet and sklearn's MLPClassifier with the same settings.
DIGITS = dict(hidden=32, lr=0.2, batch_size=32, epochs=8)


def digits_scores():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    Xd, yd = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(Xd / 16.0, yd, test_size=0.25, random_state=0, stratify=yd)
    ours = sqlnet.MLPClassifier(hidden_layer_sizes=(DIGITS["hidden"],), learning_rate=DIGITS["lr"],
                                batch_size=DIGITS["batch_size"], max_epochs=DIGITS["epochs"],
                                random_state=0).fit(Xtr, ytr)
    theirs = MLPClassifier(hidden_layer_sizes=(DIGITS["hidden"],), solver="sgd", momentum=0,
                           nesterovs_momentum=False, alpha=0, learning_rate_init=DIGITS["lr"],
                           batch_size=DIGITS["batch_size"], max_iter=DIGITS["epochs"],
                           random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                      # it has not converged: few epochs
        theirs.fit(Xtr, ytr)
    return ours.score(Xte, yte), theirs.score(Xte, yte)


def test_digits_within_two_points_of_sklearn():
    ours, theirs = digits_scores()
    assert ours >= theirs - 0.02, (ours, theirs)
    from pathlib import Path
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"sqlnet {ours:.1%}" in readme and f"scikit-learn {theirs:.1%}" in readme
