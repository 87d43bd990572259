"""Many steps per statement (sqlnet.phases.chunk, DuckDB's recursive CTE): the same training
as one statement per step (the portable path) and as the numpy reference, to 1e-9; killed
and resumed, the same bits as an uninterrupted run."""
import numpy as np
import pytest
import reference as ref
from conftest import params_as_arrays, write_csv

from sqlnet import model as M
from sqlnet import train as T
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.train import Settings, Validation, train

RTOL, ATOL = 1e-9, 1e-12
N = 15
CHUNK = T._chunk  # the loop's chunk function, before any test wraps it

# name: (settings, epochs, chunk length (0: the model's own), validation, history)
CASES = {
    "full-batch-mse-spans-epochs": (dict(hidden=[5], activation="sigmoid", loss="mse",
                                         batch_size=0, controls={"lr_schedule": "cosine"}),
                                    30, 0, None, False),
    "no-shuffle-crosses-epochs-mid-epoch": (dict(hidden=[4, 3], activation="tanh", loss="half_sse",
                                                 batch_size=4, shuffle=False,
                                                 controls={"optimizer": "rmsprop", "l1": 0.01}),
                                            6, 7, None, False),
    "adam-dropout-class-weights": (dict(hidden=[4], activation="relu", loss="cross_entropy",
                                        batch_size=4, controls={"optimizer": "adam", "dropout": 0.3,
                                                                "class_weight": "balanced"}),
                                   5, 0, None, False),
    "momentum-clip-bce-short-chunks": (dict(hidden=[3], activation="leaky_relu", loss="bce",
                                            batch_size=2, controls={"optimizer": "momentum",
                                                                    "clip_norm": 0.5}),
                                       3, 3, None, False),
    "validation-history-nesterov": (dict(hidden=[4], activation="relu", loss="cross_entropy",
                                         batch_size=3, controls={"optimizer": "nesterov",
                                                                 "patience": 50,
                                                                 "lr_schedule": "step",
                                                                 "step_size": 2}),
                                    4, 0, Validation(split=0.2), True),
    # shuffled epochs, validation at every epoch's end and early stopping, inside chunks that
    # span epochs (the stopping epoch's last step taken again alone, for last_step)
    "shuffled-validation-early-stopping": (dict(hidden=[4], activation="relu",
                                                loss="cross_entropy", batch_size=4,
                                                controls={"optimizer": "adam", "patience": 2,
                                                          "min_delta": 0.02}),
                                           30, 0, Validation(split=0.3), False),
    "shuffled-validation-dropout-mse": (dict(hidden=[3, 3], activation="tanh", loss="mse",
                                             batch_size=3, controls={"dropout": 0.2,
                                                                     "lr_schedule": "exponential",
                                                                     "gamma": 0.9}),
                                        5, 0, Validation(split=0.2), False),
}


def dataset(tmp_path, loss, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 3))
    X[rng.random(size=X.shape) < 0.3] = 0.0
    X[2] = 0.0                                    # a sample with no stored input
    if loss == "cross_entropy":
        labels = np.arange(N) % 3
        rng.shuffle(labels)
        Y, cols, names = np.eye(3)[labels], [[f"c{l}"] for l in labels], ["label"]
    elif loss == "bce":
        Y = (rng.random(size=(N, 2)) < 0.5).astype(float)
        cols, names = Y.tolist(), ["y0", "y1"]
    else:
        Y = rng.normal(size=(N, 2))
        cols, names = Y.tolist(), ["y0", "y1"]
    path = write_csv(tmp_path / f"{loss}.csv", ["a", "b", "c"] + names,
                     [list(x) + y for x, y in zip(X, cols)])
    return path, names, X, Y


QUERIES = {
    "weights": "SELECT layer, row, col, value FROM weights ORDER BY ALL",
    "biases": "SELECT layer, col, value FROM biases ORDER BY ALL",
    "state": "SELECT name, layer, row, col, value FROM optimizer_state ORDER BY name, layer, row, col",
    "log": "SELECT step, epoch, batch_size, loss, lr, eval_loss FROM training_log ORDER BY step",
    "last_step": "SELECT kind, layer, row, col, value FROM last_step ORDER BY kind, layer, row, col",
    "history": "SELECT epoch, layer, row, col, value FROM weight_history ORDER BY ALL",
    "runs": "SELECT run, stopped, best_epoch FROM runs ORDER BY run",
}


def run(monkeypatch, tmp_path, name, chunk):
    """Train case `name` with chunks of at most `chunk` steps (1: a statement per step);
    returns every table that training writes, and how many chunks ran."""
    settings, epochs, _, validation, history = CASES[name]
    path, targets, *_ = dataset(tmp_path, settings["loss"])
    calls = []
    monkeypatch.setattr(T, "CHUNK_STEPS", chunk)
    monkeypatch.setattr(T, "_chunk", lambda *a, **k: calls.append(a[-1]) or CHUNK(*a, **k))
    with Database(":memory:") as db:
        train(db, Source(str(path)), targets, settings=Settings(
            epochs=epochs, lr=0.05, seed=7, validation=validation, keep_history=history, **settings))
        return {k: db.sql(q).fetchall() for k, q in QUERIES.items()}, calls


def close(got, want, what):
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        keys = [(x, y) for x, y in zip(g, w) if not isinstance(x, float)]
        assert all(x == y for x, y in keys), (what, g, w)      # keys, steps, epochs, sizes: equal
        nums = [(x, y) for x, y in zip(g, w) if isinstance(x, float)]
        np.testing.assert_allclose([x for x, _ in nums], [y for _, y in nums],
                                   rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("name", CASES)
def test_chunks_equal_one_statement_per_step(monkeypatch, tmp_path, name):
    steps, calls_steps = run(monkeypatch, tmp_path, name, 1)
    chunks, calls = run(monkeypatch, tmp_path, name, CASES[name][2])
    assert calls_steps == [] and calls and max(calls) > 1        # the chunk path did run
    assert chunks["log"][-1][0] == len(chunks["log"])            # one log row per step
    for what in QUERIES:
        close(chunks[what], steps[what], what)
    assert {r[0] for r in chunks["last_step"]} >= {"z", "activation", "delta", "gradient", "loss"}
    if name == "shuffled-validation-early-stopping":           # it did stop, before the end
        assert chunks["runs"][0][1] == "early_stopping" and len(chunks["log"]) < 30 * 3


@pytest.mark.parametrize("name", ["adam-dropout-class-weights", "validation-history-nesterov"])
def test_chunks_planned_without_join_order_are_the_same(monkeypatch, tmp_path, name):
    """A large network's chunk is planned without DuckDB's join_order pass (a plan choice,
    not a change of the SQL): the same training, and the setting is back afterwards."""
    steps, _ = run(monkeypatch, tmp_path, name, 1)
    monkeypatch.setattr(T, "CHUNK_JOIN_ORDER_WORK", 0)   # every network counts as large
    seen = []
    from sqlnet.engines.duck import DuckDB
    off = DuckDB.optimizers_off
    monkeypatch.setattr(DuckDB, "optimizers_off", lambda self, names: seen.append(
        (names, self.con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]))
        or off(self, names))
    chunks, calls = run(monkeypatch, tmp_path, name, CASES[name][2])
    assert calls and seen and all(s == ("join_order", "") for s in seen)
    for what in QUERIES:
        close(chunks[what], steps[what], what)
    with Database(":memory:") as db:
        with db.engine.optimizers_off("join_order"):
            assert db.sql("SELECT current_setting('disabled_optimizers')").fetchone()[0] \
                == "join_order"
        assert db.sql("SELECT current_setting('disabled_optimizers')").fetchone()[0] == ""


def test_spanning_chunks_equal_the_reference(monkeypatch, tmp_path, db):
    """No shuffle, chunks of 7 steps over epochs of 4 batches: each chunk crosses an epoch
    boundary mid-epoch; adam, cosine schedule, dropout (its masks keyed by epoch and batch)."""
    monkeypatch.setattr(T, "CHUNK_STEPS", 7)
    path, targets, X, Y = dataset(tmp_path, "mse", seed=9)
    controls = {"optimizer": "adam", "lr_schedule": "cosine", "dropout": 0.2}
    train(db, Source(str(path)), targets, settings=Settings(
        epochs=0, hidden=[4, 3], activation="tanh", loss="mse", lr=0.05, batch_size=4, seed=5,
        shuffle=False, controls=controls))
    net = M.load(db)
    W0, b0 = params_as_arrays(M.parameters(db))
    train(db, Source(str(path)), targets, settings=Settings(epochs=6))
    W1, b1 = params_as_arrays(M.parameters(db))
    Wr, br, losses = ref.train(W0, b0, net.activations, "mse", X, Y, 0.05, 4, 6, 5, shuffle=False,
                               controls=ref.Controls(**controls))
    assert len(losses) == 24
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    logged = db.sql("SELECT loss, epoch FROM training_log ORDER BY step").fetchall()
    np.testing.assert_allclose([r[0] for r in logged], losses, rtol=RTOL, atol=ATOL)
    assert [r[1] for r in logged] == [e for e in range(1, 7) for _ in range(4)]


def test_a_diverging_chunk_stops_at_the_step_that_diverged(monkeypatch, tmp_path):
    """The chunk is rolled back and its steps retaken one by one: the database keeps every
    finite step, as with one statement per step."""
    data = write_csv(tmp_path / "d.csv", ["x", "y"], [[i, 1e6 * i] for i in range(10)])
    out = {}
    for chunk in (1, 50):
        monkeypatch.setattr(T, "CHUNK_STEPS", chunk)
        with Database(":memory:") as db:
            with pytest.raises(Exception, match="diverged at epoch"):
                train(db, Source(str(data)), ["y"], settings=Settings(
                    epochs=200, lr=1000, batch_size=0, activation="identity"))
            out[chunk] = db.sql("SELECT step, loss FROM training_log ORDER BY step").fetchall(), \
                params_as_arrays(M.parameters(db))
    assert out[50][0] == out[1][0] and len(out[1][0]) >= 1
    for got, want in zip(out[50][1][0] + out[50][1][1], out[1][1][0] + out[1][1][1]):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_only_duckdb_takes_chunks():
    assert T.chunk_applies("duckdb")
    assert not T.chunk_applies("postgres") and not T.chunk_applies("spark")
    assert T.returning_applies("duckdb") and not T.returning_applies("spark")


def test_the_separate_check_still_refuses_a_diverging_step(monkeypatch, tmp_path):
    """Statements(fold_check=False), an engine without RETURNING: step_check, then log_step."""
    monkeypatch.setattr(T, "CHUNK_STEPS", 1)
    monkeypatch.setattr(T, "returning_applies", lambda engine: False)
    data = write_csv(tmp_path / "d.csv", ["x", "y"], [[i, 1e6 * i] for i in range(10)])
    with Database(":memory:") as db:
        with pytest.raises(Exception, match="diverged at epoch"):
            train(db, Source(str(data)), ["y"], settings=Settings(
                epochs=200, lr=1000, batch_size=0, activation="identity"))
        last, rows = db.sql("SELECT MAX(step), COUNT(*) FROM training_log").fetchone()
        assert last == rows and rows >= 1
        W, b = params_as_arrays(M.parameters(db))
        assert all(np.isfinite(w).all() for w in W + b)


def test_a_killed_run_of_spanning_chunks_resumes_to_the_same_bits(monkeypatch, tmp_path):
    """Full batch, chunks of 5 steps that span epochs: killed after the first chunk, resumed."""
    from test_crash import kill_after_first_epoch_then_resume
    monkeypatch.setenv("SQLNET_CHUNK_STEPS", "5")
    path, targets, *_ = dataset(tmp_path, "mse")
    flags = ["--data", path, "--target", ",".join(targets), "--hidden", 3, "--lr", 0.05,
             "--batch-size", 0, "--epochs", 400, "--optimizer", "adam"]
    got, want = kill_after_first_epoch_then_resume(tmp_path, flags, 400, 400)
    for q in ["SELECT layer, row, col, value FROM weights ORDER BY ALL",
              "SELECT layer, col, value FROM biases ORDER BY ALL",
              "SELECT name, layer, row, col, value FROM optimizer_state ORDER BY ALL",
              "SELECT step, epoch, loss, lr FROM training_log ORDER BY step",
              "SELECT kind, layer, row, col, value FROM last_step ORDER BY ALL"]:
        assert got.execute(q).fetchall() == want.execute(q).fetchall(), q


MANY = {
    "group-by-adam-dropout-early-stopping": (
        dict(group_by="g", hidden=[4], activation="relu", loss="mse", batch_size=3,
             controls={"optimizer": "adam", "dropout": 0.2, "patience": 2, "min_delta": 0.01}),
        Validation(split=0.25)),
    "group-by-momentum-cosine": (
        dict(group_by="g", hidden=[3, 3], activation="tanh", loss="mse", batch_size=4,
             controls={"optimizer": "momentum", "lr_schedule": "cosine", "weight_decay": 0.01}),
        None),
}
MANY_QUERIES = {
    "weights": "SELECT model, layer, row, col, value FROM weights ORDER BY ALL",
    "biases": "SELECT model, layer, col, value FROM biases ORDER BY ALL",
    "state": "SELECT model, name, layer, row, col, value FROM optimizer_state ORDER BY ALL",
    "log": "SELECT model, step, epoch, batch_size, loss, lr, eval_loss FROM training_log "
           "ORDER BY model, step",
    "best": "SELECT model, epoch, layer, row, col, value FROM best_weights ORDER BY ALL",
    "runs": "SELECT model, run, stopped, best_epoch FROM runs ORDER BY ALL",
}


def spied(monkeypatch, chunk):
    """Chunks of at most `chunk` steps (1: a statement per step); the list the loop's chunk
    function appends each chunk's length to."""
    calls = []
    monkeypatch.setattr(T, "CHUNK_STEPS", chunk)
    monkeypatch.setattr(T, "_chunk", lambda *a, **k: calls.append(a[-1]) or CHUNK(*a, **k))
    return calls


def grouped(tmp_path):
    """Three groups of 17, 10 and 5 rows, interleaved: each model has its own batch count."""
    rng = np.random.default_rng(12)
    rows = [[g, *rng.normal(size=3), rng.normal()] for g in ["a"] * 17 + ["b"] * 10 + ["c"] * 5]
    rng.shuffle(rows)
    return write_csv(tmp_path / "g.csv", ["g", "x", "y", "z", "t"], rows)


@pytest.mark.parametrize("name", MANY)
def test_many_models_take_chunks_equal_to_one_statement_per_step(monkeypatch, tmp_path, name):
    """--group-by models train in chunks too, each with its own batches, settings and (with
    validation) stopping epoch: the same as a statement per step, to 1e-9."""
    settings, validation = MANY[name]
    path = grouped(tmp_path)
    out = {}
    for chunk in (1, 0):
        calls = spied(monkeypatch, chunk)
        with Database(":memory:") as db:
            train(db, Source(str(path)), ["t"], settings=Settings(
                epochs=25, lr=0.05, seed=3, validation=validation, **settings))
            out[chunk] = {k: db.sql(q).fetchall() for k, q in MANY_QUERIES.items()}
        assert bool(calls) == (chunk == 0) and (not calls or max(calls) > 1)
    for what in MANY_QUERIES:
        close(out[0][what], out[1][what], what)
    if validation:   # early stopping stopped some models and not others, or all of them
        assert "early_stopping" in {r[2] for r in out[0]["runs"]}


def test_a_sweep_takes_chunks_equal_to_one_statement_per_step(monkeypatch, tmp_path):
    """A sweep of models with their own batch sizes, learning rates and seeds, in chunks."""
    from sqlnet.sweep import Grid, sweep
    path = grouped(tmp_path)
    out = {}
    for chunk in (1, 0):
        calls = spied(monkeypatch, chunk)
        with Database(":memory:") as db:
            board = sweep(db, Source(str(path)), ["t"], Grid(
                lr=[0.01, 0.1], hidden=[[4]], seed=[0, 1], batch_size=[4, 7]),
                base=Settings(epochs=6, loss="mse", controls={"optimizer": "rmsprop"}),
                features=["x", "y", "z"])
            out[chunk] = {k: db.sql(q).fetchall() for k, q in MANY_QUERIES.items()}, board
        assert bool(calls) == (chunk == 0)
    for what in MANY_QUERIES:
        close(out[0][0][what], out[1][0][what], what)
    close(out[0][1], out[1][1], "leaderboard")
