"""Training controls: every optimizer, schedule and regularizer, and dropout, trained in SQL
for 20 steps, equal the numpy reference (PyTorch's update rules) to 1e-9 relative."""
import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.data import Source
from sqlnet.train import Settings, train

RTOL, ATOL = 1e-9, 1e-12
N, BATCH, EPOCHS = 15, 4, 5          # 4 batches an epoch: 20 steps

CASES = {
    "sgd": {},
    "momentum": {"optimizer": "momentum", "momentum": 0.8},
    "nesterov": {"optimizer": "nesterov"},
    "rmsprop": {"optimizer": "rmsprop", "alpha": 0.9},
    "adam": {"optimizer": "adam"},
    "adamw": {"optimizer": "adamw", "weight_decay": 0.05},
    "adam-betas": {"optimizer": "adam", "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
    "step": {"lr_schedule": "step", "gamma": 0.5, "step_size": 2},
    "exponential": {"lr_schedule": "exponential", "gamma": 0.8},
    "inv": {"lr_schedule": "inv", "gamma": 0.3, "power": 0.7},
    "cosine": {"lr_schedule": "cosine", "optimizer": "momentum"},
    "weight-decay-sgd": {"weight_decay": 0.1},
    "weight-decay-adam": {"optimizer": "adam", "weight_decay": 0.1},
    "l1": {"l1": 0.02},
    "l1-rmsprop": {"optimizer": "rmsprop", "l1": 0.01},
    "clip": {"clip_norm": 0.05},
    "clip-adam-decay": {"optimizer": "adam", "clip_norm": 0.1, "weight_decay": 0.01, "l1": 0.01},
    "dropout": {"dropout": 0.3},
    "dropout-nesterov": {"optimizer": "nesterov", "dropout": 0.5, "momentum": 0.5},
}
LOSSES = ["mse", "cross_entropy", "half_sse", "bce"]
ACTS = ["relu", "tanh", "sigmoid", "leaky_relu", "identity"]


def data(rng, loss, n_in, k):
    X = rng.normal(size=(N, n_in))
    X[rng.random(size=X.shape) < 0.25] = 0.0
    if loss == "cross_entropy":
        labels = np.arange(N) % k
        rng.shuffle(labels)
        return X, np.eye(k)[labels], [[f"c{l}"] for l in labels]
    if loss == "bce":
        Y = (rng.random(size=(N, k)) < 0.5).astype(float)
        return X, Y, Y.tolist()
    Y = rng.normal(size=(N, k))
    return X, Y, Y.tolist()


def setup_case(tmp_path, db, name, controls, lr=0.05):
    i = list(CASES).index(name)
    rng = np.random.default_rng(100 + i)
    loss, act = LOSSES[i % len(LOSSES)], ACTS[i % len(ACTS)]
    n_in, k = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    hidden = [int(w) for w in rng.integers(2, 6, size=1 + i % 3)]
    X, Y, ycols = data(rng, loss, n_in, k)
    feats = [f"x{j}" for j in range(n_in)]
    tnames = ["label"] if loss == "cross_entropy" else [f"y{j}" for j in range(k)]
    path = write_csv(tmp_path / "d.csv", feats + tnames, [list(x) + y for x, y in zip(X, ycols)])
    train(db, Source(str(path)), tnames, settings=Settings(
        epochs=0, hidden=hidden, activation=act, loss=loss, lr=lr, batch_size=BATCH, seed=i,
        controls=controls))
    return path, tnames, X, Y, loss, i


@pytest.mark.parametrize("name", CASES)
def test_controls_match_reference(tmp_path, db, name):
    controls = CASES[name]
    path, tnames, X, Y, loss, seed = setup_case(tmp_path, db, name, controls)
    net = M.load(db)
    W0, b0 = params_as_arrays(M.parameters(db))
    train(db, Source(str(path)), tnames, settings=Settings(epochs=EPOCHS))
    W1, b1 = params_as_arrays(M.parameters(db))
    c = ref.Controls(**{**controls, **({"weight_decay": 0.01} if controls.get("optimizer") == "adamw"
                                       and "weight_decay" not in controls else {})})
    Wr, br, losses = ref.train(W0, b0, net.activations, loss, X, Y, 0.05, BATCH, EPOCHS, seed,
                               controls=c)
    assert len(losses) == 20 and all(np.isfinite(w).all() for w in Wr + br)
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)      # weights after 20 steps
    logged = db.sql("SELECT loss, lr FROM training_log ORDER BY step").fetchall()
    np.testing.assert_allclose([r[0] for r in logged], losses, rtol=RTOL, atol=ATOL)
    rates = [ref.scheduled_lr(c, 0.05, e, EPOCHS) for e in range(EPOCHS) for _ in range(4)]
    np.testing.assert_allclose([r[1] for r in logged], rates, rtol=1e-12)  # every step's lr


def test_optimizer_state_is_kept_in_a_table_and_survives_a_second_run(tmp_path, db):
    """Two runs of 2 and 3 epochs with adam equal one run of 5 (constant schedule): the
    moments and the step count live in optimizer_state."""
    controls = CASES["adam"]
    path, tnames, X, Y, loss, seed = setup_case(tmp_path, db, "adam", controls)
    net = M.load(db)
    W0, b0 = params_as_arrays(M.parameters(db))
    train(db, Source(str(path)), tnames, settings=Settings(epochs=2))
    kinds = dict(db.sql("SELECT name, COUNT(*) FROM optimizer_state GROUP BY name").fetchall())
    n_params = sum(w.size for w in W0) + sum(b.size for b in b0)
    assert kinds == {"exp_avg": n_params, "exp_avg_sq": n_params, "step": 1}
    assert db.sql("SELECT value FROM optimizer_state WHERE name = 'step'").fetchone()[0] == 8
    train(db, Source(str(path)), tnames, settings=Settings(epochs=3))
    W1, b1 = params_as_arrays(M.parameters(db))
    Wr, br, _ = ref.train(W0, b0, net.activations, loss, X, Y, 0.05, BATCH, EPOCHS, seed,
                          controls=ref.Controls(**controls))
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_changing_the_optimizer_starts_from_zero_state(tmp_path, db):
    path, tnames, *_ = setup_case(tmp_path, db, "momentum", CASES["momentum"])
    train(db, Source(str(path)), tnames, settings=Settings(epochs=1))
    assert db.sql("SELECT COUNT(*) FROM optimizer_state WHERE value <> 0").fetchone()[0] > 0
    train(db, Source(str(path)), tnames, settings=Settings(epochs=0, controls={"optimizer": "rmsprop"}))
    names = {r[0] for r in db.sql("SELECT DISTINCT name FROM optimizer_state").fetchall()}
    assert names == {"square_avg", "step"}
    assert db.sql("SELECT COUNT(*) FROM optimizer_state WHERE value <> 0").fetchone()[0] == 0


def test_dropout_zero_equals_no_dropout_and_masks_follow_the_seed(tmp_path, monkeypatch):
    import dataclasses
    from sqlnet import phases, train as T
    from sqlnet.db import Database

    def run(controls, seed=None, force_dropout_sql=False):
        with Database(":memory:") as d:
            path, tnames, *_ = setup_case(tmp_path, d, "dropout", controls)
            if seed is not None:    # the same initial weights, another dropout seed
                d.sql("UPDATE models SET seed = ?", [seed])
            with monkeypatch.context() as m:
                if force_dropout_sql:  # the dropout SQL runs, with the model's p = 0
                    def forced(net):
                        return dataclasses.replace(
                            net, controls=dataclasses.replace(net.controls, dropout=0.5))
                    m.setattr(T, "step_statements",
                              lambda net, **k: phases.steps(forced(net), **k))
                    m.setattr(T, "chunk_statement", lambda net, **k: phases.chunk(forced(net), **k))
                train(d, Source(str(path)), tnames, settings=Settings(epochs=2, shuffle=False))
            return params_as_arrays(M.parameters(d))

    def equal(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1]))

    def close(a, b):  # the dropout SQL is another statement, planned on its own: its sums
        return all(np.allclose(x, y, rtol=1e-12, atol=1e-15)  # may meet in another order
                   for x, y in zip(a[0] + a[1], b[0] + b[1]))

    plain = run({"dropout": 0.0})
    assert close(run({"dropout": 0.0}, force_dropout_sql=True), plain)    # P = 0: no dropout
    same = run({"dropout": 0.4}), run({"dropout": 0.4})
    assert equal(*same)                                                   # same seed, same masks
    assert not equal(same[0], plain)                                      # dropout does something
    assert not equal(run({"dropout": 0.4}, seed=12345), same[0])          # another seed, others


def test_gradient_norm_and_lr_are_on_the_last_step(tmp_path, db):
    path, tnames, *_ = setup_case(tmp_path, db, "clip", CASES["clip"])
    train(db, Source(str(path)), tnames, settings=Settings(epochs=1))
    kinds = {r[0] for r in db.sql("SELECT DISTINCT kind FROM last_step").fetchall()}
    assert {"gradient", "param", "lr", "grad_norm", "loss"} <= kinds
    norm = db.sql("SELECT value FROM last_step WHERE kind = 'grad_norm'").fetchone()[0]
    g = db.sql("SELECT sqrt(sum(value * value)) FROM last_step WHERE kind = 'gradient'").fetchone()[0]
    assert norm == pytest.approx(g, rel=1e-12)                 # the norm of the raw gradient
