"""Crash safety: SIGKILL at random moments, Ctrl-C, divergence; every time the database
holds the weights of exactly one completed step, and resuming ends where an uninterrupted
run ends, bit for bit.

SQLNET_KILLS sets the number of kills (20 in CI; try 200 for a longer run).
"""
import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import numpy as np
import pytest

from conftest import model_connection, params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.train import Settings, train

KILLS = int(os.environ.get("SQLNET_KILLS", "20"))
WIDTHS, ACTS = [3, 4, 1], ["tanh", "identity"]
EPOCHS = max(60, 4 * KILLS)  # about 24 steps per kill, so that the run outlasts the kills
BATCH, LR, SEED = 4, 0.05, 11


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(24, 3))
    Y = np.sin(X[:, :1]) + 0.1 * X[:, 1:2]
    data = write_csv(d / "data.csv", ["a", "b", "c", "y"], [list(x) + list(y) for x, y in zip(X, Y)])
    with Database(d / "whole.duckdb") as db:        # the uninterrupted run
        train(db, Source(str(data)), ["y"], settings=Settings(
            epochs=EPOCHS, hidden=[4], activation="tanh", loss="mse", lr=LR, batch_size=BATCH, seed=SEED))
        whole = params_as_arrays(M.parameters(db))
    return d, data, X, Y, whole


def cli(*args):
    return [sys.executable, "-m", "sqlnet", *map(str, args)]


def state(path):
    """(steps logged, weights) of a database after a kill; it must open."""
    con = model_connection(path)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'sqlnet'").fetchall()}
        if "runs" not in tables or not con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]:
            return None
        steps = [r[0] for r in con.execute("SELECT step FROM training_log ORDER BY step").fetchall()]
        db = Database(con)
        return steps, params_as_arrays(M.parameters(db))
    finally:
        con.close()


def _finished(path) -> bool:
    con = model_connection(path)
    try:
        return con.execute("SELECT finished_at IS NOT NULL FROM runs ORDER BY run DESC "
                           "LIMIT 1").fetchone()[0]
    finally:
        con.close()


def test_sigkill_at_random_moments_then_resume(setup):
    d, data, X, Y, (Ww, bw) = setup
    W0, b0 = ref.init_weights(WIDTHS, ACTS, SEED)
    rnd, kills, campaign = random.Random(KILLS), 0, 0
    while kills < KILLS:                   # a run that ends before the kills do is checked,
        campaign += 1                      # and the next kills go to a fresh database
        kills = _kill_and_resume(d / f"killed{campaign}.duckdb", data, X, Y, W0, b0, (Ww, bw),
                                 rnd, kills)


def _kill_and_resume(db, data, X, Y, W0, b0, whole, rnd, kills):
    """Kill one run until it ends (or KILLS is reached), checking the database after each
    kill; then check that the finished run equals the uninterrupted one bit for bit."""
    first = cli("train", db, "--data", data, "--target", "y", "--hidden", 4, "--activation", "tanh",
                "--loss", "mse", "--lr", LR, "--batch-size", BATCH, "--seed", SEED,
                "--epochs", EPOCHS, "--quiet")
    finished = False
    while not finished:
        s = state(db) if db.exists() else None
        p = subprocess.Popen(first if s is None else cli("train", db, "--resume", "--quiet"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < KILLS:
            time.sleep(rnd.uniform(0.3, 1.6))
        if p.poll() is None and kills < KILLS:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            s = state(db)
            if s is None:
                continue                      # killed before the run's setup committed
            steps, (W, b) = s
            assert steps == list(range(1, len(steps) + 1))     # one log row per step, no gaps
            Wr, br, _ = ref.train(W0, b0, ACTS, "mse", X, Y, LR, BATCH, EPOCHS, SEED,
                                  max_steps=len(steps))
            for got, want in zip(W + b, Wr + br):               # the weights of that very step
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
            finished = _finished(db)          # killed after the run's end committed
        else:
            assert p.wait() == 0, p.stderr.read().decode()
            finished = True
    steps, (W, b) = state(db)
    assert steps == list(range(1, EPOCHS * 6 + 1))
    for got, want in zip(W + b, whole[0] + whole[1]):
        assert np.array_equal(got, want)                       # bit for bit
    return kills


def test_ctrl_c_stops_at_a_step_boundary_and_resumes(setup):
    d, data, X, Y, _ = setup
    db, whole = d / "interrupted.duckdb", d / "whole-in-chunks-of-5.duckdb"
    flags = ["--data", data, "--target", "y", "--hidden", 4, "--activation", "tanh", "--loss",
             "mse", "--lr", LR, "--batch-size", BATCH, "--seed", SEED, "--epochs", EPOCHS]
    # chunks of 5 steps (else one chunk takes nearly the whole run, and Ctrl-C waits for its
    # end), in the uninterrupted run too: the same chunks give the same bits
    env = {**os.environ, "SQLNET_CHUNK_STEPS": "5"}
    assert subprocess.run(cli("train", whole, *flags, "--quiet"), env=env).returncode == 0
    _, (Ww, bw) = state(whole)
    p = subprocess.Popen(cli("train", db, *flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    line = p.stderr.readline()                 # the first progress line: training is under way
    assert line.startswith("epoch ")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert "interrupted before epoch" in err and f"sqlnet train {db} --resume" in err
    assert "Traceback" not in err
    r = subprocess.run(cli("train", db, "--resume", "--quiet"), capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    steps, (W, b) = state(db)
    assert steps == list(range(1, EPOCHS * 6 + 1))
    for got, want in zip(W + b, Ww + bw):
        assert np.array_equal(got, want)
    r = subprocess.run(cli("train", db, "--resume"), capture_output=True, text=True)
    assert r.returncode == 2 and "nothing to resume" in r.stderr


def test_divergence_stops_with_the_last_finite_weights(tmp_path, capsys):
    from sqlnet.cli import main
    data = write_csv(tmp_path / "d.csv", ["x", "y"], [[i, 1e6 * i] for i in range(10)])
    db = tmp_path / "d.duckdb"
    code = main(["train", str(db), "--data", str(data), "--target", "y", "--lr", "1000",
                 "--batch-size", "0", "--epochs", "200", "--activation", "identity", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "diverged" in err and len(err.strip().splitlines()) == 1
    with Database(db) as d:
        W, b = params_as_arrays(M.parameters(d))
        last = d.sql("SELECT MAX(step), COUNT(*) FROM training_log").fetchone()
    assert all(np.isfinite(w).all() for w in W + b)
    assert last[0] == last[1] and last[0] >= 1              # the finite steps stayed


def test_snapshot_can_be_read_while_training(setup, tmp_path):
    d, data, *_ = setup
    db, snap = tmp_path / "s.duckdb", tmp_path / "snap.duckdb"
    p = subprocess.Popen(cli("train", db, "--data", data, "--target", "y", "--hidden", 4,
                             "--epochs", 200, "--batch-size", 4, "--snapshot", snap),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr.readline().startswith("epoch ")
        busy = subprocess.run(cli("inspect", db), capture_output=True, text=True)
        assert busy.returncode == 2 and "in use by process" in busy.stderr
        assert "Traceback" not in busy.stderr
        seen = subprocess.run(cli("sql", snap, "SELECT COUNT(*) FROM weights"), capture_output=True, text=True)
        assert seen.returncode == 0 and seen.stdout.split()[-1] == "16", seen.stderr
        info = subprocess.run(cli("sql", snap, "SELECT MIN(iteration) FROM training_info"),
                              capture_output=True, text=True)
        assert info.returncode == 0 and info.stdout.split()[-1] == "1", info.stderr
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)


def kill_after_first_epoch_then_resume(tmp_path, flags, epochs, steps, chunk=None, rerun=False):
    """Train uninterrupted; train again, killed once its first epoch is done (of `epochs`
    epochs, `steps` steps), then resumed. Returns the two databases, open. chunk: the most
    steps a chunk takes (SQLNET_CHUNK_STEPS), in all three processes. rerun: the killed
    command is `train ... --resume` with the flags, and is resumed by running it again (as
    a script is run again after a crash), rather than by `train DB --resume` alone."""
    env = {**os.environ, **({"SQLNET_CHUNK_STEPS": str(chunk)} if chunk else {})}
    whole, killed = tmp_path / "whole.duckdb", tmp_path / "killed.duckdb"
    assert subprocess.run(cli("train", whole, *flags), capture_output=True, env=env).returncode == 0
    again = ["--resume"] if rerun else []
    p = subprocess.Popen(cli("train", killed, *flags, *again), stderr=subprocess.PIPE, text=True,
                         env=env)
    assert p.stderr.readline().startswith(f"epoch 1/{epochs}")   # the first epoch is done
    p.send_signal(signal.SIGKILL)
    p.wait()
    con = model_connection(killed)
    done = con.execute("SELECT COUNT(DISTINCT step) FROM training_log").fetchone()[0]
    con.close()
    assert 0 < done < steps and not _finished(killed)          # killed in the middle of the run
    r = subprocess.run(cli("train", killed, *(flags if rerun else []), "--resume", "--quiet"),
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return model_connection(killed), model_connection(whole)


def test_resume_with_training_controls_equals_an_uninterrupted_run(setup, tmp_path):
    """Adam's state, dropout masks, the schedule, validation and history all survive a kill."""
    d, data, *_ = setup
    flags = ["--data", data, "--target", "y", "--hidden", 4, "--activation", "tanh", "--lr", 0.01,
             "--batch-size", BATCH, "--seed", SEED, "--epochs", 40, "--optimizer", "adam",
             "--dropout", 0.2, "--lr-schedule", "cosine", "--validation-split", 0.25,
             "--patience", 100, "--keep-history"]
    got, want = kill_after_first_epoch_then_resume(tmp_path, flags, 40, 200)
    for q in ["SELECT layer, row, col, value FROM weights ORDER BY ALL",
              "SELECT layer, col, value FROM biases ORDER BY ALL",
              "SELECT name, layer, row, col, value FROM optimizer_state ORDER BY ALL",
              "SELECT epoch, layer, row, col, value FROM weight_history ORDER BY ALL",
              "SELECT step, loss, lr, eval_loss FROM training_log ORDER BY step",
              "SELECT stopped, best_epoch FROM runs"]:
        assert got.execute(q).fetchall() == want.execute(q).fetchall(), q
    steps = got.execute("SELECT COUNT(*) FROM training_log").fetchone()[0]
    assert steps == 40 * 5                          # 18 rows train, in batches of 4


def test_a_killed_group_by_run_resumes_to_the_same_bits(tmp_path):
    """One model per group, groups of unequal size, killed mid-run and resumed."""
    rng = np.random.default_rng(6)
    rows = [[g, *rng.normal(size=3)] for g in ["a"] * 14 + ["b"] * 9 + ["c"] * 5]
    rng.shuffle(rows)
    data = tmp_path / "g.csv"
    write_csv(data, ["g", "x", "y", "t"], rows)
    flags = ["--data", data, "--target", "t", "--group-by", "g", "--hidden", 3, "--lr", 0.05,
             "--batch-size", 4, "--epochs", 60, "--optimizer", "momentum"]
    got, want = kill_after_first_epoch_then_resume(tmp_path, flags, 60, 60 * 4, chunk=7)
    for q in ["SELECT model, layer, row, col, value FROM weights ORDER BY ALL",
              "SELECT model, layer, col, value FROM biases ORDER BY ALL",
              "SELECT model, name, layer, row, col, value FROM optimizer_state ORDER BY ALL",
              "SELECT model, step, loss FROM training_log ORDER BY ALL"]:
        assert got.execute(q).fetchall() == want.execute(q).fetchall(), q


def test_a_killed_run_of_shuffled_validated_group_chunks_resumes_to_the_same_bits(tmp_path):
    """Chunks of 7 steps that cross shuffled epochs, validate at every epoch's end inside the
    chunk, and train one model per group (groups of unequal size, early stopping per model):
    killed after the first epoch's chunk, resumed, the same bits as an uninterrupted run."""
    rng = np.random.default_rng(8)
    rows = [[g, *rng.normal(size=3)] for g in ["a"] * 16 + ["b"] * 11 + ["c"] * 7]
    rng.shuffle(rows)
    data = tmp_path / "g.csv"
    write_csv(data, ["g", "x", "y", "t"], rows)
    flags = ["--data", data, "--target", "t", "--group-by", "g", "--hidden", 3, "--lr", 0.1,
             "--batch-size", 3, "--epochs", 40, "--optimizer", "adam", "--validation-split",
             0.25, "--patience", 4, "--min-delta", 0.001]
    got, want = kill_after_first_epoch_then_resume(tmp_path, flags, 40, 40 * 4, chunk=7)
    for q in ["SELECT model, layer, row, col, value FROM weights ORDER BY ALL",
              "SELECT model, layer, col, value FROM biases ORDER BY ALL",
              "SELECT model, name, layer, row, col, value FROM optimizer_state ORDER BY ALL",
              "SELECT model, epoch, layer, row, col, value FROM best_weights ORDER BY ALL",
              "SELECT model, step, loss, eval_loss, eval_accuracy FROM training_log ORDER BY ALL",
              "SELECT model, stopped, best_epoch FROM runs ORDER BY ALL"]:
        assert got.execute(q).fetchall() == want.execute(q).fetchall(), q


def test_a_killed_script_resumes_when_run_again(setup, tmp_path):
    """`train ... --resume` with a run's own arguments: on a new database it starts the run;
    killed, the same command again continues it, to the bits of an uninterrupted run."""
    d, data, *_ = setup
    flags = ["--data", data, "--target", "y", "--hidden", 4, "--activation", "tanh", "--lr", 0.01,
             "--batch-size", BATCH, "--seed", SEED, "--epochs", 40, "--optimizer", "adam",
             "--validation-split", 0.25]
    got, want = kill_after_first_epoch_then_resume(tmp_path, flags, 40, 200, rerun=True)
    for q in ["SELECT layer, row, col, value FROM weights ORDER BY ALL",
              "SELECT name, layer, row, col, value FROM optimizer_state ORDER BY ALL",
              "SELECT step, loss, lr, eval_loss FROM training_log ORDER BY step",
              "SELECT run, stopped, best_epoch FROM runs"]:
        assert got.execute(q).fetchall() == want.execute(q).fetchall(), q
    got.close()
    again = subprocess.run(cli("train", tmp_path / "killed.duckdb", *flags, "--resume"),
                           capture_output=True, text=True)    # finished: nothing more to do
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
    assert state(tmp_path / "killed.duckdb")[0] == list(range(1, 201))


def test_a_killed_run_from_a_query_resumes_when_run_again(tmp_path):
    """--query: a join of two tables, numbered in its ORDER BY's order; killed, and run again."""
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 3))
    for name in ("whole", "killed"):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"))
        con.execute("CREATE TABLE features AS SELECT * FROM (VALUES " + ", ".join(
            f"({i}, {x[0]!r}, {x[1]!r})" for i, x in enumerate(X.tolist())) + ") AS t(id, a, b)")
        con.execute("CREATE TABLE labels AS SELECT * FROM (VALUES " + ", ".join(
            f"({i}, {float(np.sin(x[0])) + x[2]!r})" for i, x in enumerate(X.tolist()))
            + ") AS t(id, y)")
        con.close()
    query = "SELECT f.a, f.b, l.y FROM features AS f JOIN labels AS l USING (id) ORDER BY id DESC"
    flags = ["--query", query, "--target", "y", "--hidden", 3, "--lr", 0.05, "--batch-size", 4,
             "--seed", 5, "--epochs", 40]
    got, want = kill_after_first_epoch_then_resume(tmp_path, flags, 40, 40 * 8, rerun=True)
    for q in ["SELECT layer, row, col, value FROM weights ORDER BY ALL",
              "SELECT step, loss FROM training_log ORDER BY step",
              "SELECT row, col, value FROM train_inputs ORDER BY ALL"]:
        assert got.execute(q).fetchall() == want.execute(q).fetchall(), q
    first = got.execute("SELECT value FROM train_inputs WHERE row = 0 AND col = 0").fetchone()
    assert first == (X[29, 0],)                     # row 0 is the query's first: id 29
