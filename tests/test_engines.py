"""The same SQL phases on every engine: DuckDB, PostgreSQL and Spark SQL give the numbers of
the numpy reference, the seed documents and each other, at the tolerances of the DuckDB tests.

PostgreSQL is a throwaway server and Spark runs in local[2] (tests/servers.py). Spark's steps
cost seconds each, so it trains a sample of the random architectures.
"""
import csv

import numpy as np
import pytest

import test_reference
import test_seeds
from conftest import params_as_arrays
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.errors import SqlnetError
from sqlnet.predict import evaluate, predict
from sqlnet.train import Settings, train

SEEDS = ["tinyml_003", "sql_000", "sigmoid_001", "julia_002"]
# Every loss and activation and batch kind on PostgreSQL; one case per loss on Spark.
PG_CASES = test_reference.CASES[::3] + test_reference.CASES[1::9]
SPARK_CASES = [c for c in test_reference.CASES if c[2] != 1][::10]


@pytest.fixture
def engine_db(engine_target):
    db = Database(engine_target.target, warehouse=engine_target.warehouse)
    yield db
    db.close()


def _open(engine_target):
    return Database(engine_target.target, warehouse=engine_target.warehouse)


@pytest.mark.parametrize("name", SEEDS)
def test_seed_examples(engine_target, name):
    if engine_target.name == "spark" and name == "julia_002":
        pytest.skip("154 epochs of single-sample steps: about an hour at Spark's seconds a step")
    with _open(engine_target) as engine_db:
        _seed(engine_db, name)


def _seed(engine_db, name):
    getattr(test_seeds, f"test_{name}")(engine_db)


@pytest.mark.parametrize("case", PG_CASES, ids=["-".join(map(str, c)) for c in PG_CASES])
def test_random_architectures(tmp_path, engine_target, case):
    if engine_target.name == "duckdb":
        pytest.skip("test_reference.py trains every case on DuckDB")
    if engine_target.name == "spark" and case not in SPARK_CASES:
        pytest.skip("Spark trains a sample of the cases (seconds per step)")
    with _open(engine_target) as db:
        test_reference.test_training_matches_reference(tmp_path, db, *case)


def _cli(engine_target, *args) -> int:
    extra = ["--warehouse", str(engine_target.warehouse)] if engine_target.warehouse else []
    return main([*args, *extra])


def test_every_command(tmp_path, engine_target, capsys):
    """init, train, inspect, evaluate, predict, sql and example on the engine give what the
    same commands give on DuckDB."""
    assert main(["dataset", "iris", "--dir", str(tmp_path)]) == 0
    data, test = str(tmp_path / "iris_train.csv"), str(tmp_path / "iris_test.csv")
    reference = str(tmp_path / "reference.duckdb")
    outputs = {}
    for target, run in ((reference, main), (engine_target.target,
                                            lambda a: _cli(engine_target, *a))):
        capsys.readouterr()
        assert run(["init", target, "--layers", "4,6,3", "--loss", "cross_entropy",
                    "--batch-size", "40"]) == 0
        assert run(["train", target, "--data", data, "--target", "species", "--epochs", "2",
                    "--lr", "0.2", "--optimizer", "adam"]) == 0
        assert run(["inspect", target]) == 0
        assert run(["evaluate", target, "--data", test, "--target", "species"]) == 0
        out = tmp_path / f"{len(outputs)}.csv"
        assert run(["predict", target, "--data", test, "--out", str(out)]) == 0
        assert run(["sql", target, "SELECT COUNT(*) AS n FROM training_log"]) == 0
        text = capsys.readouterr().out
        outputs[target] = (text, list(csv.reader(open(out))))
    (ref_text, ref_rows), (text, rows) = outputs[reference], outputs[engine_target.target]
    assert [r[:2] for r in rows] == [r[:2] for r in ref_rows]  # the same rows and labels
    got = np.array([float(r[2]) for r in rows[1:]])
    want = np.array([float(r[2]) for r in ref_rows[1:]])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert _numbers(text, "loss") == pytest.approx(_numbers(ref_text, "loss"), rel=1e-9)
    assert len(_numbers(text, "loss")) >= 2   # train's and evaluate's loss
    assert text.split()[-1] == ref_text.split()[-1] == "6"   # sql: 2 epochs of 3 steps


def test_example(engine_target, capsys):
    target = engine_target.target
    assert _cli(engine_target, "example", "tinyml", "--db", target) == 0
    out = capsys.readouterr().out
    assert "0.8265" in out and "0.2384542802724947" in out


def test_failed_step_keeps_the_weights(tmp_path, engine_target):
    """A step that diverges is rolled back on every engine (on Spark: the catalog file is not
    rewritten), and a new connection sees the weights of before."""
    path = test_seeds_data(tmp_path)
    with _open(engine_target) as db:
        train(db, Source(path), ["y"], settings=Settings(epochs=1, hidden=[3], lr=0.01, seed=3))
        before = M.parameters(db)
        with pytest.raises(SqlnetError, match="training diverged at epoch 2, step"):
            train(db, Source(path), ["y"], settings=Settings(epochs=1, lr=1e308))
    with _open(engine_target) as db:
        after = M.parameters(db)
        runs = db.sql("SELECT COUNT(*) FROM runs").fetchone()[0]
    for (W0, b0), (W1, b1) in zip(before, after):
        np.testing.assert_array_equal(np.array(W0), np.array(W1))
        np.testing.assert_array_equal(np.array(b0), np.array(b1))
    assert runs >= 1


def test_seeds_data(tmp_path) -> str:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2))
    path = tmp_path / "d.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "y"])
        for x in X:
            w.writerow([x[0], x[1], 3 * x[0] - x[1]])
    return str(path)


test_seeds_data.__test__ = False


def test_bad_url_is_one_line(capsys):
    assert main(["inspect", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sqlnet: error: cannot connect to postgresql://nobody@127.0.0.1:1/none")
    assert len(err.strip().splitlines()) == 1


def test_readme_engine_examples(tmp_path, engine_target, monkeypatch):
    """The README's PostgreSQL and Spark blocks, against the test's server or warehouse."""
    import re

    from test_readme_ecosystem import ENGINE_BLOCK, README, run_sh
    if engine_target.name == "duckdb":
        pytest.skip("the README's DuckDB examples are test_readme*.py's")
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", README, re.S) if ENGINE_BLOCK.search(b)]
    mine = [b for b in blocks if ("postgresql://" in b) == (engine_target.name == "postgres")]
    assert mine
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "iris"]) == 0
    for block in mine:
        block = block.replace("postgresql://postgres@127.0.0.1:5432/models", engine_target.target)
        block = block.replace("--warehouse spark-warehouse", f"--warehouse {engine_target.warehouse}")
        out = run_sh(block)
        assert "accuracy" in out or "model 0" in out or "total" in out


def _numbers(text: str, word: str) -> list[float]:
    import re
    return [float(m) for m in re.findall(rf"{word} ([-0-9.e]+)", text)]


def test_killed_run_resumes(tmp_path, engine_target):
    """SIGKILL after the first epoch, then --resume: the weights of an uninterrupted run (the
    DuckDB crash tests kill at random moments; here the engine's own commit is what is tested)."""
    import signal
    import subprocess
    import sys
    if engine_target.name == "duckdb":
        pytest.skip("test_crash.py kills DuckDB runs")
    data = test_seeds_data(tmp_path)
    flags = ["--data", data, "--target", "y", "--hidden", "3", "--batch-size", "6", "--lr",
             "0.05", "--seed", "5", "--epochs", "2", "--optimizer", "momentum"]
    extra = ["--warehouse", str(engine_target.warehouse)] if engine_target.warehouse else []
    cli = [sys.executable, "-m", "sqlnet"]
    p = subprocess.Popen([*cli, "train", engine_target.target, *flags, *extra],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    while line and not line.startswith("epoch 1/2"):
        line = p.stderr.readline()
    p.send_signal(signal.SIGKILL)
    p.wait()
    with _open(engine_target) as db:
        done = db.sql("SELECT COUNT(*) FROM training_log").fetchone()[0]
    assert 0 < done < 4, done                               # killed in the middle of the run
    r = subprocess.run([*cli, "train", engine_target.target, "--resume", "--quiet", *extra],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    whole = tmp_path / "whole.duckdb"
    assert main(["train", str(whole), *flags, "--quiet"]) == 0
    with _open(engine_target) as got, Database(whole) as want:
        assert got.sql("SELECT COUNT(*) FROM training_log").fetchone()[0] == 4
        for (W0, b0), (W1, b1) in zip(M.parameters(got), M.parameters(want)):
            np.testing.assert_allclose(np.array(W0), np.array(W1), rtol=1e-12)
            np.testing.assert_allclose(np.array(b0), np.array(b1), rtol=1e-12)


def test_long_data(tmp_path, engine_target):
    """Long (row, col, value) cells train, evaluate and predict on the engine as on DuckDB."""
    from test_long import sparse_data, write_cells
    rows, X, Y, cells = sparse_data(np.random.default_rng(11), 12, 20, "cross_entropy", 3)
    path = str(write_cells(tmp_path / "cells.parquet", cells))
    s = dict(epochs=1, hidden=[4], loss="cross_entropy", lr=0.3, batch_size=0, seed=1)
    got = {}
    for name, target, warehouse in (("duckdb", str(tmp_path / "ref.duckdb"), None),
                                    ("engine", engine_target.target, engine_target.warehouse)):
        with Database(target, warehouse=warehouse) as db:
            train(db, Source(path, long=True), ["label"], settings=Settings(**s), quiet=True)
            got[name] = (params_as_arrays(M.parameters(db)),
                         evaluate(db, Source(path, long=True), ["label"]),
                         predict(db, Source(path, long=True))[1])
    (Wd, bd), ed, pd = got["duckdb"]
    (We, be), ee, pe = got["engine"]
    for a, b in zip(We + be, Wd + bd):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert ee["rows"] == ed["rows"] == 12 and ee["loss"] == pytest.approx(ed["loss"], rel=1e-9)
    assert [r[:2] for r in pe] == [r[:2] for r in pd]
