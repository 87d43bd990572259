"""Named models in the user's database: each model's tables in a schema of its own (a
namespace on Spark), the user's own tables read and never written, on every engine."""
import csv
import subprocess
import sys

import duckdb
import numpy as np
import pytest

from conftest import as_version_2, write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.db import Database
from sqlnet.queries import query

USER_TABLES = {"sales", "stores", "runs"}   # runs: a name sqlnet uses too


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _sales(rng, n=48):
    """A shop's sales: two numeric features, a label (big) and two amounts."""
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    big = np.where(x1 + 0.5 * x2 > 0, "yes", "no")
    return [(i, int(i % 3), float(a), float(b), str(c), float(2 * a - b), float(a * b))
            for i, (a, b, c) in enumerate(zip(x1, x2, big))]


class UserSide:
    """The user's own tables on one engine, reached without sqlnet."""

    def __init__(self, target, spark=None):
        self.target, self.spark = target, spark
        self.schema = {"duckdb": "main", "postgres": "public", "spark": "default"}[target.name]

    def sql(self, text: str) -> list[tuple]:
        if self.target.name == "duckdb":
            con = duckdb.connect(self.target.target)
            try:
                return con.execute(text).fetchall() if "SELECT" in text[:6] else con.execute(text) and []
            finally:
                con.close()
        if self.target.name == "postgres":
            import psycopg
            with psycopg.connect(self.target.target, autocommit=True) as con:
                cur = con.execute(text)
                return cur.fetchall() if cur.description else []
        return [tuple(r) for r in self.spark.sql(text).collect()]

    def create(self, rows) -> None:
        kind = "USING parquet " if self.target.name == "spark" else ""
        values = ", ".join(f"({i}, {s}, {a!r}, {b!r}, '{c}', {d!r}, {e!r})" for i, s, a, b, c, d, e in rows)
        for name in USER_TABLES | {"scores"}:
            self.sql(f"DROP TABLE IF EXISTS {self.schema}.{name}")
        self.sql(f"CREATE TABLE {self.schema}.sales {kind}AS SELECT * FROM (VALUES {values}) "
                 "AS v(id, store, x1, x2, big, amount, margin)")
        self.sql(f"CREATE TABLE {self.schema}.stores {kind}AS SELECT * FROM (VALUES (0, 'north'), "
                 "(1, 'south'), (2, 'east')) AS v(store, region)")
        self.sql(f"CREATE TABLE {self.schema}.runs {kind}AS SELECT * FROM (VALUES (1, 'marathon')) "
                 "AS v(run, kind)")

    def tables(self) -> set[str]:
        if self.target.name == "spark":
            return {t.name for t in self.spark.catalog.listTables(self.schema) if not t.isTemporary}
        return {r[0] for r in self.sql("SELECT table_name FROM information_schema.tables "
                                       f"WHERE table_schema = '{self.schema}'")}

    def checksum(self) -> dict:
        """Every user table's rows, sorted."""
        return {t: sorted(map(repr, self.sql(f"SELECT * FROM {self.schema}.{t}")))
                for t in sorted(USER_TABLES)}


@pytest.fixture
def user(engine_target, request):
    spark = request.getfixturevalue("spark_session") if engine_target.name == "spark" else None
    side = UserSide(engine_target, spark)
    side.create(_sales(np.random.default_rng(3)))
    yield side
    if spark is not None:
        for name in USER_TABLES | {"scores"}:
            spark.sql(f"DROP TABLE IF EXISTS default.{name}")


def test_two_named_models_beside_the_users_tables(engine_target, user, capsys):
    """The issue's bar: the user's tables keep every row, the user's schema holds only them,
    two models train side by side, and dropping one leaves the other."""
    db = engine_target.target
    extra = ["--warehouse", engine_target.warehouse] if engine_target.warehouse else []
    before, theirs = user.checksum(), user.tables()   # (Spark's catalog is the session's)
    code, out, err = run(capsys, "train", db, "--model", "churn", "--table", "sales", "--features",
                         "x1,x2", "--target", "big", "--hidden", "3", "--epochs", "2",
                         "--batch-size", "0", "--quiet", *extra)
    assert code == 0, err
    code, out, err = run(capsys, "train", db, "--model", "demand", "--table", "sales", "--features",
                         "x1,x2", "--target", "amount,margin", "--hidden", "2", "--epochs", "1",
                         "--batch-size", "0", "--quiet", *extra)
    assert code == 0, err
    code, out, err = run(capsys, "models", db, "--format", "csv", *extra)
    assert code == 0, err
    lines = list(csv.reader(out.strip().splitlines()))
    assert lines[0] == ["name", "task", "layers", "models", "rows", "runs", "last_loss", "last_trained"]
    assert [ln[:6] for ln in lines[1:]] == [
        ["churn", "classification", "2,3,2", "1", "48", "1"],
        ["demand", "regression", "2,2,2", "1", "48", "1"]]
    # unqualified names: the model's tables first, then the user's
    code, out, err = run(capsys, "sql", db, "--model", "churn", "--format", "csv",
                         "SELECT COUNT(*) AS n FROM runs", *extra)
    assert out.split() == ["n", "1"], err
    code, out, err = run(capsys, "sql", db, "--model", "churn", "--format", "csv",
                         "SELECT COUNT(*) AS n FROM weights", *extra)
    assert out.split() == ["n", str(2 * 3 + 3 * 2)], err
    if engine_target.name != "spark":   # from any client, the same tables are churn.weights
        assert user.sql("SELECT COUNT(*) FROM churn.weights") == [(12,)]
        assert user.sql("SELECT COUNT(*) FROM runs") == [(1,)]
        assert user.sql("SELECT kind FROM runs") == [("marathon",)]
    code, out, err = run(capsys, "predict", db, "--model", "churn", "--table", "sales", "--into",
                         "scores", "--keep", "id", *extra)
    assert code == 0, err
    scored = user.sql(f"SELECT id, prediction FROM {user.schema}.scores ORDER BY id")
    assert [r[0] for r in scored] == list(range(48)) and {r[1] for r in scored} <= {"yes", "no"}
    code, out, err = run(capsys, "drop", db, "--model", "demand", *extra)
    assert code == 0, err
    code, out, err = run(capsys, "models", db, "--format", "csv", *extra)
    assert [ln.split(",")[0] for ln in out.strip().splitlines()[1:]] == ["churn"]
    code, out, err = run(capsys, "evaluate", db, "--model", "churn", "--table", "sales",
                         "--target", "big", *extra)
    assert code == 0 and "accuracy" in out, err
    assert user.checksum() == before
    assert user.tables() == theirs | {"scores"} and USER_TABLES <= theirs


@pytest.mark.parametrize("argv,message", [
    (["inspect", "{db}", "--model", "nope"], "holds no model 'nope'"),
    (["drop", "{db}", "--model", "nope"], "holds no model 'nope'"),
    (["train", "{db}", "--model", "Churn", "--table", "sales", "--target", "big"], "not a valid model name"),
    (["train", "{db}", "--model", "a-b", "--table", "sales", "--target", "big"], "not a valid model name"),
    (["train", "{db}", "--model", "main", "--table", "sales", "--target", "big"], "not a valid model name"),
    (["drop", "{db}"], "drop needs --model"),
])
def test_bad_model_names_are_one_line(tmp_path, capsys, argv, message):
    from test_cli import snapshot
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE sales AS SELECT 1.5 AS x1, 'yes' AS big")
    con.close()
    assert main(["train", str(db), "--model", "churn", "--table", "sales", "--target", "big",
                 "--hidden", "2", "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    before = snapshot(db)
    code, out, err = run(capsys, *[a.format(db=db) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(db) == before


def test_a_schema_the_user_made_is_not_taken(tmp_path, capsys):
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE sales AS SELECT 1.5 AS x1, 'yes' AS big")
    con.execute("CREATE SCHEMA finance")
    con.execute("CREATE TABLE finance.ledger AS SELECT 1 AS entry")
    con.execute("CREATE SCHEMA empty")
    con.close()
    code, _, err = run(capsys, "train", db, "--model", "finance", "--table", "sales", "--target",
                       "big", "--hidden", "2", "--epochs", "1", "--quiet")
    assert code == 2 and "schema 'finance' holding tables sqlnet did not make (ledger)" in err
    code, _, err = run(capsys, "train", db, "--model", "empty", "--table", "sales", "--target",
                       "big", "--hidden", "2", "--epochs", "1", "--quiet")
    assert code == 0, err          # an empty schema made for the model is used


def test_a_version_2_database_moves_into_the_default_schema(tmp_path, capsys):
    """Tables in the user's schema (as sqlnet 2 left them) are read where they are, and move
    into the schema sqlnet on the next write, rows and all."""
    rng = np.random.default_rng(4)
    data = write_csv(tmp_path / "d.csv", ["a", "b", "y"], rng.normal(size=(20, 3)))
    db = tmp_path / "old.duckdb"
    assert main(["train", str(db), "--data", str(data), "--target", "y", "--hidden", "3", "--epochs",
                 "2", "--quiet"]) == 0
    as_version_2(db)
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE customers AS SELECT 7 AS id")
    con.close()
    with Database(db, read_only=True) as old:
        assert old.legacy and old.model_names() == ["sqlnet"]
        params = M.parameters(old)
        log = old.rows(query("training_summary"), model=0)
    assert run(capsys, "inspect", db)[0] == 0              # read where it is
    assert main(["train", str(db), "--data", str(data), "--target", "y", "--epochs", "0",
                 "--quiet"]) == 0                           # a write: moved
    con = duckdb.connect(str(db))
    assert {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'main'").fetchall()} == {"customers"}
    con.close()
    with Database(db, read_only=True) as new:
        assert not new.legacy and new.schema == "sqlnet"
        assert M.parameters(new) == params
        assert new.rows(query("training_summary"), model=0) == log
        assert new.sql("SELECT value FROM sqlnet_meta WHERE key = 'schema_version'").fetchone() == ("3",)


@pytest.mark.postgres
def test_postgres_models_train_at_once_and_a_training_model_is_not_dropped(postgres_url, tmp_path):
    """Two processes train two models of one PostgreSQL database at the same time; while a
    model is training (its advisory lock held), neither a second run nor drop touches it."""
    import psycopg
    rng = np.random.default_rng(5)
    data = write_csv(tmp_path / "d.csv", ["a", "b", "y"], rng.normal(size=(30, 3)))
    cli = [sys.executable, "-m", "sqlnet", "train", postgres_url, "--data", str(data), "--target",
           "y", "--hidden", "3", "--epochs", "3", "--batch-size", "10", "--quiet"]
    procs = [subprocess.Popen([*cli, "--model", name], stderr=subprocess.PIPE, text=True)
             for name in ("left", "right")]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    with Database(postgres_url, model="left") as left, Database(postgres_url, model="right") as right:
        assert left.model_names() == ["left", "right"]
        assert M.parameters(left) == M.parameters(right)      # the same seed, data and settings
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('sqlnet'), hashtext('left'))")
        for argv in (["drop", postgres_url, "--model", "left"],
                     ["train", postgres_url, "--model", "left", "--data", str(data), "--target", "y"]):
            r = subprocess.run([sys.executable, "-m", "sqlnet", *argv], capture_output=True, text=True)
            assert r.returncode == 2 and "is being trained by another process" in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
    with Database(postgres_url, model="left") as left:
        assert left.has_model()


def test_estimators_keep_named_models_in_one_file(tmp_path):
    import sqlnet
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, "up", "down")
    path = str(tmp_path / "est.duckdb")
    settings = dict(hidden_layer_sizes=(4,), max_epochs=3, random_state=2)
    a = sqlnet.MLPClassifier(**settings, database=path, model="first").fit(X, y)
    b = sqlnet.MLPRegressor(**settings, database=path, model="second").fit(X, X[:, :2])
    alone = sqlnet.MLPClassifier(**settings).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), alone.predict_proba(X), rtol=1e-12)
    with Database(path, read_only=True) as db:
        assert db.model_names() == ["first", "second"]
    assert b.predict(X).shape == (40, 2)


def test_a_duckdb_model_that_is_training_is_not_dropped(tmp_path):
    """The file has one writer: while a run trains, drop gets one line naming the process."""
    rng = np.random.default_rng(7)
    data = write_csv(tmp_path / "d.csv", ["a", "b", "y"], rng.normal(size=(40, 3)))
    db = tmp_path / "busy.duckdb"
    cli = [sys.executable, "-m", "sqlnet"]
    p = subprocess.Popen([*cli, "train", str(db), "--model", "busy", "--data", str(data), "--target",
                          "y", "--hidden", "3", "--epochs", "100000", "--batch-size", "1"],
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr.readline().startswith("epoch 1/")          # it is training
        r = subprocess.run([*cli, "drop", str(db), "--model", "busy"], capture_output=True, text=True)
        assert r.returncode == 2 and "is in use by process" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    finally:
        p.kill()
        p.wait()
    with Database(db, read_only=True, model="busy") as after:
        assert after.has_model()
