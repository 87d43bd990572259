"""The command line as a user runs it: results, warm start, and every bad input refused cleanly."""
import csv
import os
import re

import duckdb
import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.db import Database


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(path):
    """Every table's rows, sorted: the database's content."""
    if not os.path.exists(path):
        return None
    con = duckdb.connect(str(path))
    try:
        names = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                            "ORDER BY ALL").fetchall()
        return {f"{s}.{n}": sorted(map(repr, con.execute(f'SELECT * FROM "{s}"."{n}"').fetchall()))
                for s, n in names}
    finally:
        con.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small classifier trained through the CLI, and its data."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    data = write_csv(d / "data.csv", ["a", "b", "c", "label"], [list(x) + [l] for x, l in zip(X, labels)])
    db = d / "m.duckdb"
    assert main(["train", str(db), "--data", str(data), "--target", "label", "--hidden", "4",
                 "--epochs", "3", "--batch-size", "10", "--quiet"]) == 0
    return d, db, data


def test_train_predict_evaluate(trained, capsys, tmp_path):
    d, db, data = trained
    code, out, err = run(capsys, "evaluate", db, "--data", data, "--target", "label")
    assert code == 0 and out.startswith("rows 30  loss ") and "accuracy" in out
    out_csv = tmp_path / "p.csv"
    code, out, _ = run(capsys, "predict", db, "--data", data, "--out", out_csv)
    assert code == 0
    rows = list(csv.DictReader(open(out_csv)))
    assert [int(r["row"]) for r in rows] == list(range(30))
    assert {r["prediction"] for r in rows} <= {"up", "down"}
    assert all(0.5 <= float(r["probability"]) <= 1 for r in rows)
    code, out, _ = run(capsys, "inspect", db)
    assert code == 0 and "loss cross_entropy" in out and "relu" in out and "softmax" in out
    code, out, _ = run(capsys, "sql", db, "SELECT COUNT(*) AS n FROM training_log")
    assert code == 0 and out.split() == ["n", "9"]
    code, out, _ = run(capsys, "sql", db, "SELECT label FROM classes ORDER BY class")
    assert out.split() == ["label", "down", "up"]


def test_module_entry_point():
    import subprocess, sys
    r = subprocess.run([sys.executable, "-m", "sqlnet", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout


def test_sql_command_starts_without_sqlglot(trained):
    """`sqlnet sql` hands the text to the engine: it imports neither sqlglot nor sqlnet's
    statements (70 ms of a 0.2 s process), so it stays within 1.2 x `import duckdb, sqlglot`."""
    import subprocess, sys
    _, db, _ = trained
    code = ("import sys; from sqlnet.cli import main; "
            f"assert main(['sql', {str(db)!r}, 'SELECT 41 + 1 AS n']) == 0; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlglot' "
            "or m in ('sqlnet.queries', 'sqlnet.db', 'sqlnet.model')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["n", "42", "[]"]


def test_activation_help_names_every_activation():
    from sqlnet.cli import ACTIVATION_HELP
    assert all(a in ACTIVATION_HELP for a in M.ACTIVATIONS)


def test_init_then_train_warm_start_from_sql_edits(tmp_path, capsys):
    """init, change a weight with SQL, train: training continues from the edited weights."""
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(9, 2)), rng.normal(size=(9, 1))
    data = write_csv(tmp_path / "r.csv", ["x0", "x1", "y"], [list(x) + list(y) for x, y in zip(X, Y)])
    db = tmp_path / "w.duckdb"
    assert run(capsys, "init", db, "--layers", "2,3,1", "--activation", "tanh", "--loss", "mse",
               "--seed", "7")[0] == 0
    assert run(capsys, "sql", db, "UPDATE weights SET value = 0.5 WHERE layer = 1 AND row = 0")[0] == 0
    with Database(db) as d:
        W0, b0 = params_as_arrays(M.parameters(d))
    assert (W0[0][0] == 0.5).all()
    code, out, err = run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "2",
                         "--batch-size", "0", "--lr", "0.2", "--quiet")
    assert code == 0, err
    with Database(db) as d:
        W1, b1 = params_as_arrays(M.parameters(d))
    Wr, br, _ = ref.train(W0, b0, ["tanh", "identity"], "mse", X, Y, 0.2, 0, 2, seed=7)
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # A second run continues the epoch and step count.
    assert run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "1", "--quiet")[0] == 0
    code, out, _ = run(capsys, "sql", db, "SELECT max(epoch), max(step), max(run) FROM training_log")
    assert out.split()[-3:] == ["3", "3", "2"]


def test_init_is_seeded_he_or_xavier(tmp_path, capsys):
    widths, acts = [3, 5, 4, 2], ["relu", "relu", "tanh"]
    got = {}
    for seed in (3, 3, 4):
        db = tmp_path / f"i{seed}-{len(got)}.duckdb"
        run(capsys, "init", db, "--layers", "3,5,4,2", "--output-activation", "tanh", "--seed", seed)
        with Database(db) as d:
            W, b = params_as_arrays(M.parameters(d))
        got.setdefault(seed, []).append(W)
        Wr, _ = ref.init_weights(widths, acts, seed)
        for w, wr in zip(W, Wr):
            np.testing.assert_allclose(w, wr, rtol=1e-12)   # the documented hash, in SQL
        assert all((x == 0).all() for x in b)
        assert np.abs(W[0]).max() <= np.sqrt(6 / 3) and np.abs(W[2]).max() <= np.sqrt(6 / 6)
    assert all((a == c).all() for a, c in zip(*got[3]))      # same seed, same bits
    assert not (got[3][0][0] == got[4][0][0]).any()          # another seed, other weights


def test_sparse_inputs_store_only_nonzeros(tmp_path, capsys):
    X = np.array([[0, 1.5, 0], [0, 0, 0], [2, 0, 0], [0, 0, -1]])
    data = write_csv(tmp_path / "s.csv", ["a", "b", "c", "y"], [list(x) + [i % 2] for i, x in enumerate(X)])
    db = tmp_path / "s.duckdb"
    assert run(capsys, "train", db, "--data", data, "--target", "y", "--loss", "bce",
               "--epochs", "1", "--quiet")[0] == 0
    code, out, _ = run(capsys, "sql", db, "SELECT COUNT(*) FROM train_inputs")
    assert out.split()[-1] == "3"                    # 3 non-zeros of 12 cells
    code, out, _ = run(capsys, "sql", db, "SELECT COUNT(*) FROM train_targets")
    assert out.split()[-1] == "2"                    # the two 1s
    code, out, _ = run(capsys, "sql", db, "SELECT COUNT(*) FROM last_step WHERE kind = 'z' AND layer = 1")
    assert out.split()[-1] == "4"                    # every sample got its Z, the empty one too


def test_parquet_and_table_sources(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    csv_path = write_csv(tmp_path / "r.csv", ["p", "q", "t1", "t2"], [list(x) + list(y) for x, y in zip(X, Y)])
    pq = tmp_path / "r.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{csv_path}')) TO '{pq}' (FORMAT parquet)")
    db = tmp_path / "r.duckdb"
    assert run(capsys, "train", db, "--data", pq, "--target", "t1,t2", "--hidden", "3",
               "--epochs", "1", "--quiet")[0] == 0
    assert run(capsys, "sql", db, f"CREATE TABLE main.mine AS SELECT * FROM read_csv('{csv_path}')")[0] == 0
    code, out, err = run(capsys, "evaluate", db, "--table", "mine", "--target", "t1,t2")
    assert code == 0 and "mse" in out and "mae" in out, err
    code, out, _ = run(capsys, "predict", db, "--table", "mine")
    header, *lines = out.strip().splitlines()
    assert header == "row,t1,t2" and len(lines) == 8


BAD = [
    ("missing file", ["train", "{db}", "--data", "{d}/nope.csv", "--target", "label"], "no such file"),
    ("empty file", ["train", "{db}", "--data", "{d}/empty.csv", "--target", "label"], "is empty"),
    ("header only", ["train", "{db}", "--data", "{d}/header.csv", "--target", "label"], "no data rows"),
    ("unknown target", ["train", "{db}", "--data", "{data}", "--target", "nope"], "target"),
    ("non-numeric feature", ["train", "{db2}", "--data", "{d}/text.csv", "--target", "y"], "not numeric"),
    ("empty cell", ["train", "{db2}", "--data", "{d}/hole.csv", "--target", "y"], "empty, NaN"),
    ("no model", ["predict", "{d}/user.duckdb", "--data", "{data}"], "holds no sqlnet model"),
    ("missing feature", ["evaluate", "{db}", "--data", "{d}/short.csv", "--target", "label"], "no feature column"),
    ("unseen label", ["evaluate", "{db}", "--data", "{d}/newlabel.csv", "--target", "label"], "no class for"),
    ("not a database", ["inspect", "{d}/empty.csv"], "cannot open"),
    ("no such database", ["inspect", "{d}/none.duckdb"], "no such database"),
    ("no such directory", ["train", "{d}/no/dir/m.duckdb", "--data", "{data}", "--target", "label"], "does not exist"),
    ("lr 0", ["train", "{db}", "--data", "{data}", "--target", "label", "--lr", "0"], "learning rate"),
    ("negative epochs", ["train", "{db}", "--data", "{data}", "--target", "label", "--epochs", "-1"], "epochs"),
    ("negative batch", ["train", "{db}", "--data", "{data}", "--target", "label", "--batch-size", "-2"], "batch size"),
    ("width 0", ["train", "{db2}", "--data", "{data}", "--target", "label", "--hidden", "0"], "at least 1"),
    ("unknown activation", ["train", "{db2}", "--data", "{data}", "--target", "label", "--activation", "gelu"], "unknown activation"),
    ("unknown loss", ["train", "{db2}", "--data", "{data}", "--target", "label", "--loss", "hinge"], "unknown loss"),
    ("missing option", ["train", "{db}", "--data", "{data}"], "--target"),
    ("ragged rows", ["train", "{db2}", "--data", "{d}/ragged.csv", "--target", "y"], "do not all have"),
    ("short row", ["train", "{db2}", "--data", "{d}/short_row.csv", "--target", "y"], "do not all have"),
    ("duplicate columns", ["train", "{db2}", "--data", "{d}/dup.csv", "--target", "y"], "more than once"),
    ("NaN feature", ["train", "{db2}", "--data", "{d}/nanx.csv", "--target", "y"], "empty, NaN"),
    ("NaN target", ["train", "{db2}", "--data", "{d}/nany.csv", "--target", "y"], "empty, NaN"),
    ("infinite feature", ["train", "{db2}", "--data", "{d}/infx.csv", "--target", "y"], "empty, NaN"),
    ("empty label", ["evaluate", "{db}", "--data", "{d}/nolabel.csv", "--target", "label"], "empty cell"),
    ("random bytes", ["train", "{db2}", "--data", "{d}/bytes.csv", "--target", "y"], "cannot read"),
    ("no threads", ["train", "{db}", "--data", "{data}", "--target", "label", "--threads", "0"], "--threads"),
    ("threads word", ["train", "{db}", "--data", "{data}", "--target", "label", "--threads", "many"], "--threads"),
    ("unknown optimizer", ["train", "{db}", "--data", "{data}", "--target", "label", "--optimizer", "adamax"], "unknown optimizer"),
    ("resume without target", ["train", "{db}", "--resume", "--data", "{data}"], "--target"),
    ("resume nothing", ["train", "{db}", "--resume"], "nothing to resume"),
    ("reshape a model", ["train", "{db}", "--data", "{data}", "--target", "label", "--hidden", "9"], "already holds"),
    ("wrong target", ["train", "{db}", "--data", "{d}/text.csv", "--target", "y"], "trained on target"),
]


@pytest.mark.parametrize("case,argv,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(trained, tmp_path, capsys, case, argv, message):
    d, db, data = trained
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("a,b,c,label\n")
    (d / "text.csv").write_text("a,b,y\n1,x,0\n2,y,1\n")
    (d / "hole.csv").write_text("a,b,y\n1,2,0\n3,,1\n")
    (d / "short.csv").write_text("a,b,label\n1,2,up\n")
    (d / "newlabel.csv").write_text("a,b,c,label\n1,2,3,sideways\n")
    (d / "ragged.csv").write_text("a,b,y\n1,2,3\n4,5\n6,7,8,9\n")
    (d / "short_row.csv").write_text("a,b,y\n1,2,3\n4,5\n6,7,8\n9,10,11\n")
    (d / "dup.csv").write_text("a,a,y\n1,2,3\n4,5,6\n")
    (d / "nanx.csv").write_text("a,b,y\n1,nan,3\n4,5,6\n")
    (d / "nany.csv").write_text("a,b,y\n1,2,3\n4,5,nan\n")
    (d / "infx.csv").write_text("a,b,y\n1,1e999,3\n4,5,6\n")
    (d / "nolabel.csv").write_text("a,b,c,label\n1,2,3,up\n1,2,3,\n")
    (d / "bytes.csv").write_bytes(bytes(range(256)) * 3)
    user = d / "user.duckdb"
    if not user.exists():
        con = duckdb.connect(str(user))
        con.execute("CREATE TABLE sales AS SELECT 1 AS id, 9.5 AS amount")
        con.close()
    db2 = tmp_path / "fresh.duckdb"
    args = [a.format(db=db, db2=db2, d=d, data=data) for a in argv]
    before = {p: snapshot(p) for p in (db, user)}
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sqlnet: error: ") and message in lines[0], err
    assert "Traceback" not in err + out
    assert {p: snapshot(p) for p in (db, user)} == before    # nothing changed
    assert not db2.exists()                                   # nothing half-created


def test_no_shuffle_features_and_progress(tmp_path, capsys):
    """--no-shuffle keeps file order, --features picks the inputs, progress goes to stderr."""
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(7, 3)), rng.normal(size=(7, 1))
    data = write_csv(tmp_path / "n.csv", ["x0", "x1", "skip", "y"], [list(x) + list(y) for x, y in zip(X, Y)])
    db = tmp_path / "n.duckdb"
    code, _, err = run(capsys, "train", db, "--data", data, "--target", "y", "--features", "x0,x1",
                       "--epochs", "0", "--hidden", "2", "--activation", "sigmoid", "--loss", "half_sse")
    assert code == 0
    with Database(db) as d:
        W0, b0 = params_as_arrays(M.parameters(d))
        assert [r[0] for r in d.sql("SELECT name FROM feature_names ORDER BY col").fetchall()] == ["x0", "x1"]
    code, out, err = run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "2",
                         "--batch-size", "2", "--lr", "0.5", "--no-shuffle")
    assert code == 0 and "epoch 2/2  loss " in err and "samples/s" in err   # progress lines
    with Database(db) as d:
        W1, b1 = params_as_arrays(M.parameters(d))
    Wr, br, _ = ref.train(W0, b0, ["sigmoid", "identity"], "half_sse", X[:, :2], Y, 0.5, 2, 2,
                          seed=0, shuffle=False)
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    shuffled, _, _ = ref.train(W0, b0, ["sigmoid", "identity"], "half_sse", X[:, :2], Y, 0.5, 2, 2, seed=0)
    assert not np.allclose(shuffled[0], W1[0], rtol=1e-9)    # the flag made a difference


def test_read_only_database_is_refused(trained, tmp_path):
    """A database file the user cannot write: one line, exit 2, the file untouched."""
    import shutil, stat, subprocess, sys, tempfile
    _, db, data = trained
    here = tempfile.mkdtemp()
    os.chmod(here, 0o755)
    ro = os.path.join(here, "ro.duckdb")
    shutil.copy(db, ro)
    os.chmod(ro, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = open(ro, "rb").read()
    shutil.copy(data, os.path.join(here, "data.csv"))
    os.chmod(os.path.join(here, "data.csv"), 0o644)
    argv = [sys.executable, "-m", "sqlnet", "train", ro, "--data", os.path.join(here, "data.csv"),
            "--target", "label", "--epochs", "1"]
    as_nobody = (lambda: os.setuid(65534)) if os.geteuid() == 0 else None  # root writes anything
    try:
        reachable = subprocess.run([sys.executable, "-c", "import sqlnet"], preexec_fn=as_nobody,
                                   capture_output=True).returncode == 0
    except PermissionError:
        reachable = False
    if reachable:
        r = subprocess.run(argv, preexec_fn=as_nobody, capture_output=True, text=True)
        assert r.returncode == 2 and "is read-only" in r.stderr and "Traceback" not in r.stderr, r.stderr
    else:  # the interpreter is not reachable by another user here: check the same path in-process
        from unittest import mock
        with mock.patch("os.access", return_value=False):
            assert main(argv[3:]) == 2
    assert open(ro, "rb").read() == before


def test_threads_option(tmp_path, capsys):
    """--threads 2 trains the same network (to rounding); 0 threads is refused."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    data = write_csv(tmp_path / "t.csv", ["x0", "x1", "y"], [list(x) + list(y) for x, y in zip(X, Y)])
    db = tmp_path / "t.duckdb"
    assert run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "0", "--hidden", "3")[0] == 0
    with Database(db) as d:
        W0, b0 = params_as_arrays(M.parameters(d))
    code, _, err = run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "2",
                       "--batch-size", "3", "--threads", "2", "--quiet")
    assert code == 0, err
    with Database(db) as d:
        W1, b1 = params_as_arrays(M.parameters(d))
        assert d.sql("SELECT current_setting('threads')").fetchone()[0] >= 1
    Wr, br, _ = ref.train(W0, b0, ["relu", "identity"], "mse", X, Y, 0.1, 3, 2, seed=0)
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    code, _, err = run(capsys, "train", db, "--data", data, "--target", "y", "--threads", "0")
    assert code == 2 and "--threads" in err


def test_threads_auto(tmp_path, capsys, monkeypatch):
    """--threads auto (the default) trains a small step on one thread (the same bits every
    run) and a large one on every core; the setting is restored afterwards either way."""
    import os
    from sqlnet import train as T
    small = M.Network(widths=[2, 3, 1], activation="relu", loss="mse", lr=0.1, batch_size=3)
    large = M.Network(widths=[784, 128, 10], activation="relu", loss="cross_entropy", lr=0.1,
                      batch_size=256)
    assert T.thread_count(None, small, 10) == 1
    assert T.thread_count(None, large, 60000) == len(os.sched_getaffinity(0))
    assert T.thread_count(None, large, 2) == 1     # a batch of 2 samples is a small step
    assert T.thread_count(3, small, 10) == 3
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(10, 2)), rng.normal(size=(10, 1))
    data = write_csv(tmp_path / "t.csv", ["x0", "x1", "y"], [list(x) + list(y) for x, y in zip(X, Y)])
    db = tmp_path / "t.duckdb"
    monkeypatch.setattr(T, "AUTO_THREADS_WORK", 1)  # this tiny step counts as large
    seen = []
    orig = T.threads
    monkeypatch.setattr(T, "threads", lambda d, n: seen.append(n) or orig(d, n))
    code, _, err = run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "1",
                       "--hidden", "3", "--threads", "auto", "--quiet")
    assert code == 0, err
    assert seen == [len(os.sched_getaffinity(0))]


def test_progress_bar_with_eta_loss_and_speed(tmp_path, capsys, monkeypatch):
    """On a terminal (forced here) the progress is a tqdm bar: steps done of all, ETA, the
    epoch's mean loss and samples/s; the numbers are those of training_log."""
    pytest.importorskip("tqdm")
    monkeypatch.setenv("SQLNET_PROGRESS", "bar")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 2))
    data = write_csv(tmp_path / "b.csv", ["a", "b", "y"], [list(x) + [x[0]] for x in X])
    db = tmp_path / "b.duckdb"
    code, _, err = run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "3",
                       "--batch-size", "4", "--hidden", "2")
    assert code == 0, err
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("epoch 3/3") and "9/9" in final          # 3 epochs of 3 steps
    assert re.search(r"\[\d+:\d+<\d+:\d+", final) and "samples/s" in final  # the ETA field
    with Database(db) as d:
        loss = d.sql("SELECT AVG(loss) FROM training_log WHERE epoch = 3").fetchone()[0]
    assert f"loss {loss:.6g}" in final
    monkeypatch.setenv("SQLNET_PROGRESS", "lines")
    code, _, err = run(capsys, "train", db, "--data", data, "--target", "y", "--epochs", "1")
    assert err.startswith("epoch 4/4  loss ")
