"""sqlnet export DB --to score.sql: scoring SQL that runs where sqlnet is not.

Each model's file is run in a fresh database with no sqlnet table (a new DuckDB connection,
a new PostgreSQL database, a new Spark session) and applied to a table of new rows. Its
answers must be `sqlnet predict`'s, and a classifier's per-class probabilities the numpy
reference's, to 1e-12; a row with an empty feature gets NULL outputs.
"""
import csv
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pytest

import reference as ref
from conftest import write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.predict import predict
from sqlnet.queries import quoted

TOL = 1e-12
MISSING = 999          # the key of the row (or sample) with an empty value, added to the new rows


@dataclass
class Case:
    """A trained model, its new rows, and what sqlnet says about them."""

    name: str
    db: Path
    data: Path          # the new rows: wide with an `id` (0, 1, ... in file order), or long cells
    long: bool = False
    features: list = field(default_factory=list)
    columns: list = field(default_factory=list)    # the answer's columns, after the key
    want: dict = field(default_factory=dict)       # key -> predict's answer
    probabilities: dict = field(default_factory=dict)  # key -> the reference's, per class

    def file(self, dialect: str) -> str:
        path = self.db.with_name(f"{self.name}_{dialect}.sql")
        flags = ["--long"] if self.long else []
        assert main(["export", str(self.db), "--to", str(path), "--dialect", dialect, *flags]) == 0
        return path.read_text()

    def rows(self) -> list[list]:
        with open(self.data, newline="") as f:
            return [[_number(v) for v in r] for r in list(csv.reader(f))[1:]]

    def header(self) -> list[str]:
        with open(self.data, newline="") as f:
            return next(csv.reader(f))


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _train(db: Path, data: Path, *flags) -> None:
    assert main(["train", str(db), "--data", str(data), "--epochs", "4", "--batch-size", "8",
                 "--quiet", *flags]) == 0


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict:
    """Each model trained in a directory of its own files, with its new rows and sqlnet's
    answers for them."""
    d = tmp_path_factory.mktemp("scoring")
    rng = np.random.default_rng(5)
    out = {}
    for build in (_classifier, _regressor, _long, _binary, _long_standardized):
        case = build(d, rng)
        _expect(case)
        out[case.name] = case
    return out


def _classifier(d: Path, rng) -> Case:
    """Standardized features, named as sqlnet's own columns are (and one with a space)."""
    scale, shift = np.array([1.0, 10.0, 0.1]), np.array([0.0, 5.0, 1.0])
    X = rng.normal(size=(60, 3)) * scale + shift
    labels = np.where(X[:, 0] + X[:, 1] / 10 > 0.5, "yes", np.where(X[:, 2] > 1, "maybe", "no"))
    names = ["value", "row", "sepal width"]
    write_csv(d / "cls.csv", [*names, "label"], [[*x, y] for x, y in zip(X, labels)])
    new = rng.normal(size=(15, 3)) * scale + shift
    write_csv(d / "cls_new.csv", ["id", *names], [[i, *x] for i, x in enumerate(new)])
    _train(d / "cls.duckdb", d / "cls.csv", "--target", "label", "--hidden", "5,4",
           "--activation", "tanh", "--standardize")
    return Case("classifier", d / "cls.duckdb", d / "cls_new.csv")


def _regressor(d: Path, rng) -> Case:
    """Two targets; a new row with an exact zero; features named as the SQL's own columns."""
    X = rng.normal(size=(50, 4))
    Y = np.c_[X @ [1.0, -2.0, 0.5, 0.0] + 0.3, np.sin(X[:, 0])]
    names = ["x1", "u", "k", "col"]
    write_csv(d / "reg.csv", [*names, "y1", "y2"], [[*x, *y] for x, y in zip(X, Y)])
    new = rng.normal(size=(12, 4))
    new[3, 1] = 0.0
    write_csv(d / "reg_new.csv", ["id", *names], [[i, *x] for i, x in enumerate(new)])
    _train(d / "reg.duckdb", d / "reg.csv", "--target", "y1,y2", "--hidden", "4")
    return Case("regressor", d / "reg.duckdb", d / "reg_new.csv")


def _long(d: Path, rng) -> Case:
    """A classifier of sparse long inputs: documents of words; new ones with unknown words."""
    cells = []
    for r in range(40):
        words = rng.choice(30, size=4, replace=False)
        cells += [(r, f"w{w}", float(rng.integers(1, 3))) for w in words]
        cells.append((r, "label", float(words.min() < 8)))
    write_csv(d / "docs.csv", ["row", "col", "value"], cells)
    new = []
    for r in (3, 7, 10, 22, 100):      # w30 to w35 are words the model has never seen
        new += [(r, f"w{w}", float(rng.integers(1, 3))) for w in rng.choice(36, 3, replace=False)]
    new.append((55, "w99", 1.0))       # a sample of unknown words only: its biases decide
    write_csv(d / "docs_new.csv", ["row", "col", "value"], new)
    _train(d / "docs.duckdb", d / "docs.csv", "--long", "--target", "label",
           "--loss", "cross_entropy", "--hidden", "3")
    return Case("long", d / "docs.duckdb", d / "docs_new.csv", long=True)


def _binary(d: Path, rng) -> Case:
    """bce, and no hidden layer (DuckDB and PostgreSQL only)."""
    X = rng.normal(size=(40, 2))
    write_csv(d / "bin.csv", ["a", "b", "y"], [[*x, float(x[0] > x[1])] for x in X])
    new = rng.normal(size=(6, 2))
    write_csv(d / "bin_new.csv", ["id", "a", "b"], [[i, *x] for i, x in enumerate(new)])
    _train(d / "bin.duckdb", d / "bin.csv", "--target", "y", "--loss", "bce")
    return Case("binary", d / "bin.duckdb", d / "bin_new.csv")


def _long_standardized(d: Path, rng) -> Case:
    """A regressor of long inputs with --standardize: absent cells count as scaled zeros
    (DuckDB and PostgreSQL only)."""
    cells = [(r, f"w{w}", float(rng.integers(1, 4))) for r in range(30)
             for w in rng.choice(12, size=3, replace=False)]
    cells += [(r, "y", float(sum(v for row, _, v in cells if row == r))) for r in range(30)]
    write_csv(d / "sums.csv", ["row", "col", "value"], cells)
    write_csv(d / "sums_new.csv", ["row", "col", "value"],
              [(4, "w1", 2.0), (4, "w7", 1.0), (9, "w99", 5.0), (12, "w11", 3.0)])
    _train(d / "sums.duckdb", d / "sums.csv", "--long", "--target", "y", "--hidden", "3",
           "--activation", "sigmoid", "--standardize")
    return Case("long_standardized", d / "sums.duckdb", d / "sums_new.csv", long=True)


def _expect(case: Case) -> None:
    """predict's answers, and the numpy reference's class probabilities."""
    with Database(case.db) as db:
        columns, rows = predict(db, Source(str(case.data), long=case.long))
        net = M.load(db)
        case.features = M.feature_names(db)
        Ws, bs = (list(map(np.array, p)) for p in zip(*M.parameters(db)))
        stats = db.sql("SELECT mean, std FROM standardization ORDER BY col").fetchall()
        labels = [r[0] for r in db.sql("SELECT label FROM classes ORDER BY class").fetchall()]
    case.want = {r[0]: r[1:] for r in rows}
    case.columns = columns[1:] + [f"probability_{label}" for label in labels]
    if labels:
        X = _dense(case)
        if stats:
            X = (X - np.array(stats)[:, 0]) / np.array(stats)[:, 1]
        P = ref.forward(Ws, bs, net.activations, X)[1][-1]
        case.probabilities = dict(zip(sorted(case.want), P))


def _dense(case: Case) -> np.ndarray:
    """The new rows' features as a matrix, rows by key (long data: unknown words left out)."""
    rows, header = case.rows(), case.header()
    if not case.long:
        return np.array([[r[header.index(f)] for f in case.features] for r in rows], dtype=float)
    keys = sorted({r[0] for r in rows})
    X = np.zeros((len(keys), len(case.features)))
    for row, col, value in rows:
        if col in case.features:
            X[keys.index(row), case.features.index(col)] = value
    return X


def check(case: Case, names: list[str], got: dict) -> None:
    """The scoring SQL's answers (key -> row of names) against sqlnet's."""
    assert names == case.columns
    assert got.pop(MISSING) == (None,) * len(names)          # an empty value: NULL outputs
    assert sorted(got) == sorted(case.want)
    n = len(case.want[next(iter(case.want))])
    for key, want in case.want.items():
        answer = got[key]
        if case.probabilities:
            assert answer[0] == want[0]                             # the class
            assert abs(answer[1] - want[1]) <= TOL                  # its probability
            assert np.abs(np.array(answer[2:]) - case.probabilities[key]).max() <= TOL
        else:
            assert np.abs(np.array(answer) - np.array(want[:n])).max() <= TOL


def user_rows(case: Case) -> tuple[list[str], list[list]]:
    """The new rows as the user's table holds them, plus the one with an empty value."""
    header, rows = case.header(), case.rows()
    if case.long:
        return header, rows + [[MISSING, case.features[0], None], [MISSING, "w1", 1.0]]
    return header, rows + [[MISSING, None] + [1.0] * (len(header) - 2)]


def lateral(case: Case, dialect: str, table: str = "new_rows") -> str:
    """The query that scores the user's table with the function (PostgreSQL, Spark)."""
    if case.long:
        return ("SELECT d.row, s.* FROM (SELECT c.row, array_agg(c.col) AS cols, "
                f"array_agg(c.value) AS vals FROM {table} AS c GROUP BY c.row) AS d "
                "CROSS JOIN LATERAL score(d.cols, d.vals) AS s")
    args = ", ".join(f"t.{quoted(f, dialect)}" for f in case.features)
    return f"SELECT t.id, s.* FROM {table} AS t CROSS JOIN LATERAL score({args}) AS s"


def columns(header: list[str], types: list[str], dialect: str) -> str:
    return ", ".join(f"{quoted(h, dialect)} {t}" for h, t in zip(header, types))


def create(header: list[str], types: list[str], dialect: str) -> str:
    return f"CREATE TABLE new_rows ({columns(header, types, dialect)})"


def keyed(names: list[str], rows) -> tuple[list[str], dict]:
    return names[1:], {r[0]: tuple(r[1:]) for r in rows}


# --- DuckDB: a table macro ------------------------------------------------------------------

ALL = ["classifier", "regressor", "long", "binary", "long_standardized"]


@pytest.mark.parametrize("name", ALL)
def test_duckdb_macro_scores_a_table(cases, name):
    case = cases[name]
    con = duckdb.connect()                        # no sqlnet table in it
    con.execute(case.file("duckdb"))
    header, rows = user_rows(case)
    types = ["BIGINT", "VARCHAR", "DOUBLE"] if case.long else ["BIGINT"] + ["DOUBLE"] * (len(header) - 1)
    con.execute(create(header, types, "duckdb"))
    con.executemany(f"INSERT INTO new_rows VALUES ({', '.join('?' * len(header))})", rows)
    result = con.execute("SELECT * FROM score('new_rows')")
    names = [d[0] for d in result.description]
    kept = 1 if case.long else len(header)        # wide: the user's columns come first
    assert names[:kept] == (["row"] if case.long else header)
    got = {r[0]: r[kept:] for r in result.fetchall()}
    check(case, names[kept:], got)


# --- PostgreSQL: a set-returning SQL function, called with a lateral join --------------------

@pytest.mark.postgres
@pytest.mark.parametrize("name", ALL)
def test_postgres_function_scores_each_row(cases, name, postgres_url):
    import psycopg
    case = cases[name]
    header, rows = user_rows(case)
    types = ["bigint", "text", "double precision"] if case.long else \
        ["bigint"] + ["double precision"] * (len(header) - 1)
    with psycopg.connect(postgres_url, autocommit=True) as con:    # a new, empty database
        con.execute(case.file("postgres"))
        con.execute(create(header, types, "postgres"))
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO new_rows VALUES ({', '.join(['%s'] * len(header))})", rows)
        result = con.execute(lateral(case, "postgres"))
        names, got = keyed([d.name for d in result.description], result.fetchall())
    check(case, names, got)


# --- Spark: a SQL table function, called with a lateral join -------------------------------

@pytest.mark.spark
def test_spark_function_scores_each_row(cases, spark_session):
    """The three models in one new session (a Spark session is costly: one test for all)."""
    spark = spark_session.newSession()            # its own views: no sqlnet table in sight
    try:
        for case in (cases["classifier"], cases["regressor"], cases["long"]):
            spark.sql(case.file("spark"))
            header, rows = user_rows(case)
            types = ["bigint", "string", "double"] if case.long else \
                ["bigint"] + ["double"] * (len(header) - 1)
            spark.createDataFrame(rows, columns(header, types, "spark")).createOrReplaceTempView("new_rows")
            result = spark.sql(lateral(case, "spark"))
            names, got = keyed(result.columns, [tuple(r) for r in result.collect()])
            check(case, names, got)
    finally:
        spark.sql("DROP FUNCTION IF EXISTS score")


# --- the command ----------------------------------------------------------------------------

def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_says_what_it_wrote(cases, tmp_path, capsys):
    case = cases["regressor"]
    code, out, _ = run(capsys, "export", case.db, "--to", tmp_path / "s.sql")
    assert code == 0 and out == f"wrote {tmp_path / 's.sql'} (scoring SQL for duckdb): layers 4,4,2\n"
    assert (tmp_path / "s.sql").read_text().startswith("-- sqlnet scoring SQL for duckdb: a regressor")


@pytest.mark.parametrize("args, message", [
    (["--dialect", "oracle"], "argument --dialect: invalid choice: 'oracle'"),
    (["--to", "{tmp}/no/such/dir/s.sql"], "cannot write {tmp}/no/such/dir/s.sql: directory "
                                          "{tmp}/no/such/dir does not exist"),
    (["--to", "{tmp}/a_directory.sql"], "cannot write {tmp}/a_directory.sql: Is a directory"),
    (["--to", "{tmp}/w.npz", "--long"], "--dialect and --long go with scoring SQL: --to FILE.sql"),
    (["--to", "{tmp}/w.txt"], "{tmp}/w.txt: name the file .npz (numpy), .pt (PyTorch) or .sql "
                              "(scoring SQL)"),
])
def test_bad_export_is_one_line(cases, tmp_path, capsys, args, message):
    (tmp_path / "a_directory.sql").mkdir()
    to = ["--to", str(tmp_path / "s.sql")] if "--to" not in args else []
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = run(capsys, "export", cases["classifier"].db, *to, *argv)
    assert code == 2 and out == ""
    assert err.startswith("sqlnet: error: " + message.replace("{tmp}", str(tmp_path)))
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.sql").exists()


def test_models_by_group_are_refused(tmp_path, capsys):
    rows = [[g, x, 2.0 * x] for g in ("a", "b") for x in (0.0, 1.0, 2.0)]
    write_csv(tmp_path / "g.csv", ["g", "x", "y"], rows)
    assert run(capsys, "train", tmp_path / "g.duckdb", "--data", tmp_path / "g.csv", "--target",
               "y", "--group-by", "g", "--epochs", "1", "--quiet")[0] == 0
    code, _, err = run(capsys, "export", tmp_path / "g.duckdb", "--to", tmp_path / "s.sql")
    assert code == 2 and err == ("sqlnet: error: the database holds one model per 'g'; scoring "
                                 "SQL is written for a database of one model\n")


# --- the README's example in PostgreSQL, through psql ------------------------------------------

@pytest.mark.postgres
def test_readme_psql_example(tmp_path, postgres_url, monkeypatch, capsys):
    """The README's psql block, after `psql -f score_pg.sql`, in a new database."""
    import re
    import shutil
    import subprocess

    from servers import pg_bindir
    psql = shutil.which("psql") or str(pg_bindir() / "psql")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```psql\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "iris"]) == 0
    assert main(["train", "iris.duckdb", "--data", "iris_train.csv", "--target", "species",
                 "--hidden", "4", "--epochs", "2", "--quiet"]) == 0
    assert main(["export", "iris.duckdb", "--to", "score_pg.sql", "--dialect", "postgres"]) == 0
    Path("block.sql").write_text(block)
    for script in ("score_pg.sql", "block.sql"):
        out = subprocess.run([psql, postgres_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", script],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
    rows = [line.split("|") for line in out.stdout.splitlines() if line.count("|") == 2]
    assert len(rows) == 4 and rows[0][1].strip() == "prediction"    # a header and 3 flowers
    assert {r[1].strip() for r in rows[1:]} <= {"setosa", "versicolor", "virginica"}
