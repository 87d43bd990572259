"""Any name works as a name and never executes: quotes, semicolons, spaces, unicode, keywords."""
import csv

import numpy as np

from conftest import write_csv
from sqlnet.cli import main

NAMES = ['x"; DROP TABLE weights; --', "select", "row", "värde", "a b", "'; DELETE FROM models; --"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, *capsys.readouterr()


def test_every_command_takes_hostile_names(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, len(NAMES) - 1))
    labels = ["x'); DROP TABLE biases; --" if v > 0 else "ok" for v in X[:, 0]]
    target = NAMES[-1]
    data = write_csv(tmp_path / "h.csv", NAMES, [list(x) + [l] for x, l in zip(X, labels)])
    db = tmp_path / "h.duckdb"
    features = ",".join(NAMES[1:-1])                # the first name has a comma-free subset
    code, out, err = run(capsys, "train", db, "--data", data, "--target", target, "--hidden", "3",
                         "--epochs", "2", "--quiet")
    assert code == 0, err
    code, out, err = run(capsys, "sql", db, "SELECT name FROM feature_names ORDER BY col")
    assert out.splitlines()[1:] == [n.rjust(max(map(len, NAMES[:-1]))) for n in NAMES[:-1]]
    table = 'my "table"; DROP TABLE layers; --'
    quoted = '"' + table.replace('"', '""') + '"'
    assert run(capsys, "sql", db, f"CREATE TABLE main.{quoted} AS SELECT * FROM read_csv('{data}')")[0] == 0
    for argv in (["evaluate", db, "--table", table, "--target", target],
                 ["predict", db, "--table", table],
                 ["evaluate", db, "--data", data, "--target", target],
                 ["train", db, "--table", table, "--target", target, "--epochs", "1", "--quiet"],
                 ["inspect", db]):
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
    code, out, _ = run(capsys, "sql", db, "SELECT label FROM classes ORDER BY class")
    assert "x'); DROP TABLE biases; --" in out
    code, out, _ = run(capsys, "sql", db, "SELECT COUNT(*) FROM information_schema.tables "
                       "WHERE table_name IN ('weights', 'biases', 'layers', 'models')")
    assert out.split()[-1] == "4"                   # nothing was dropped
    # --features takes names too (those without commas):
    db2 = tmp_path / "h2.duckdb"
    code, out, err = run(capsys, "train", db2, "--data", data, "--target", target,
                         "--features", features, "--epochs", "1", "--quiet")
    assert code == 0, err


def test_a_missing_hostile_table_is_refused(tmp_path, capsys):
    db = tmp_path / "e.duckdb"
    code, out, err = run(capsys, "train", db, "--table", 'x"; DROP TABLE y; --', "--target", "t")
    assert code == 2 and "has no table" in err and len(err.strip().splitlines()) == 1


def test_group_by_sweep_gradcheck_and_class_weights_take_hostile_names(tmp_path, capsys):
    """The commands and flags that came later: a hostile group column and group values, a
    hostile target in sweep and gradcheck, and a hostile class label in --class-weight."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 2))
    group = 'g"; DROP TABLE weights; --'
    values = ["'; DELETE FROM models; --", "select"]
    label = "x'); DROP TABLE biases; --"
    target = "row"
    rows = [[values[i % 2], *x, label if x[0] > 0 else "ok"] for i, x in enumerate(X)]
    data = write_csv(tmp_path / "g.csv", [group, "värde", "a b", target], rows)
    db = tmp_path / "g.duckdb"
    for argv in (["train", db, "--data", data, "--target", target, "--group-by", group,
                  "--hidden", "2", "--epochs", "1", "--quiet"],
                 ["predict", db, "--data", data],
                 ["evaluate", db, "--data", data, "--target", target]):
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
    code, out, _ = run(capsys, "sql", db, "SELECT value FROM model_groups ORDER BY model")
    assert values[0] in out and values[1] in out
    plain = write_csv(tmp_path / "p.csv", ["värde", "a b", target], [r[1:] for r in rows])
    s = tmp_path / "s.duckdb"
    for argv in (["sweep", s, "--data", plain, "--target", target, "--seed", "0,1", "--epochs", "1",
                  "--keep-best", "--quiet"],
                 ["gradcheck", s, "--data", plain, "--target", target],
                 ["train", tmp_path / "w.duckdb", "--data", plain, "--target", target, "--epochs", "1",
                  "--class-weight", f"{label}=3", "--quiet"]):
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
    for path in (db, s):
        code, out, _ = run(capsys, "sql", path, "SELECT COUNT(*) FROM information_schema.tables "
                           "WHERE table_name IN ('weights', 'biases', 'layers', 'models')")
        assert out.split()[-1] == "4"               # nothing was dropped


def test_predict_into_takes_hostile_names(tmp_path, capsys):
    """--into's table, --keep's columns and the class labels in probability_<label> columns
    are names, never SQL; row is the table's own column, so keeping a column "row" is refused."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, len(NAMES) - 1))
    labels = ["x'); DROP TABLE biases; --" if v > 0 else "ok" for v in X[:, 0]]
    data = write_csv(tmp_path / "h.csv", NAMES, [list(x) + [l] for x, l in zip(X, labels)])
    db = tmp_path / "h.duckdb"
    assert run(capsys, "train", db, "--data", data, "--target", NAMES[-1], "--epochs", "1",
               "--quiet")[0] == 0
    into = 'p"; DROP TABLE weights; --'
    keep = ",".join([NAMES[0], "select", "a b", "värde"])
    code, out, err = run(capsys, "predict", db, "--data", data, "--into", into, "--keep", keep)
    assert code == 0, err
    quoted = '"' + into.replace('"', '""') + '"'
    code, out, err = run(capsys, "sql", db, f"SELECT * FROM {quoted}", "--format", "csv")
    header, *rows = list(csv.reader(out.splitlines()))
    assert header == ["row", NAMES[0], "select", "a b", "värde", "prediction", "probability",
                      "probability_ok", "probability_x'); DROP TABLE biases; --"]
    assert len(rows) == 10, err
    code, out, err = run(capsys, "predict", db, "--data", data, "--into", "q", "--keep", "row")
    assert code == 2 and "'row' and 'row' both" in err
    code, out, _ = run(capsys, "sql", db, "SELECT COUNT(*) FROM information_schema.tables "
                       "WHERE table_name IN ('weights', 'biases')")
    assert out.split()[-1] == "2"                   # nothing was dropped
