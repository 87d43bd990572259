"""Validation, early stopping, standardization, class weights and history, each checked
against the numpy reference or recomputed from the logged numbers."""
import math

import duckdb
import numpy as np
import pytest

from conftest import as_version_2, model_connection, params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import SCHEMA_VERSION, Database
from sqlnet.predict import predict
from sqlnet.train import Settings, Validation, train

RTOL, ATOL = 1e-9, 1e-12


def regression_data(tmp_path, n=24, seed=0, name="d.csv", scale=(1.0, 50.0, 0.01)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * np.array(scale) + np.array([0.0, 100.0, 0.0])
    X[rng.random(size=X.shape) < 0.2] = 0.0
    Y = np.tanh(X[:, :1] + X[:, 2:] * 30) + 0.01 * X[:, 1:2]
    path = write_csv(tmp_path / name, ["a", "b", "c", "y"], [list(x) + list(y) for x, y in zip(X, Y)])
    return path, X, Y


def model_with(db, path, target, **settings):
    train(db, Source(str(path)), target, settings=Settings(epochs=0, **settings))
    return M.load(db), params_as_arrays(M.parameters(db))


def test_standardize_trains_on_scaled_inputs_and_predicts_with_them(tmp_path, db):
    path, X, Y = regression_data(tmp_path)
    net, (W0, b0) = model_with(db, path, ["y"], hidden=[3], activation="tanh", loss="mse",
                               lr=0.05, batch_size=5, seed=3, controls={"standardize": True})
    train(db, Source(str(path)), ["y"], settings=Settings(epochs=3))
    mean, std = X.mean(axis=0), X.std(axis=0)
    stats = np.array(db.sql("SELECT mean, std FROM standardization ORDER BY col").fetchall())
    np.testing.assert_allclose(stats[:, 0], mean, rtol=1e-12)
    np.testing.assert_allclose(stats[:, 1], std, rtol=1e-12)
    Xs = (X - mean) / std
    Wr, br, _ = ref.train(W0, b0, net.activations, "mse", Xs, Y, 0.05, 5, 3, 3)
    W1, b1 = params_as_arrays(M.parameters(db))
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    test, Xt, _ = regression_data(tmp_path, n=7, seed=9, name="t.csv")
    _, rows = predict(db, Source(str(test)))
    _, As = ref.forward(Wr, br, net.activations, (Xt - mean) / std)
    np.testing.assert_allclose([r[1] for r in rows], As[-1][:, 0], rtol=RTOL, atol=ATOL)
    # a warm start keeps the statistics the weights were learned for
    other, _, _ = regression_data(tmp_path, n=10, seed=5, name="o.csv")
    train(db, Source(str(other)), ["y"], settings=Settings(epochs=1))
    again = np.array(db.sql("SELECT mean, std FROM standardization ORDER BY col").fetchall())
    assert np.array_equal(again, stats)


def test_validation_split_holds_out_seeded_rows_and_scores_every_epoch(tmp_path, db):
    path, X, Y = regression_data(tmp_path, n=30)
    net, (W0, b0) = model_with(db, path, ["y"], hidden=[4], activation="tanh", loss="mse",
                               lr=0.05, batch_size=6, seed=4)
    train(db, Source(str(path)), ["y"], settings=Settings(
        epochs=4, validation=Validation(split=0.2), keep_history=True))
    held = [r[0] for r in db.sql("SELECT row FROM valid_rows ORDER BY row").fetchall()]
    kept = [r[0] for r in db.sql("SELECT row FROM train_rows ORDER BY row").fetchall()]
    assert len(held) == 6 and sorted(held + kept) == list(range(30))
    want = sorted(range(30), key=lambda r: (ref.chain(4 * 1000037 + 7, r), r))[:6]
    assert held == sorted(want)                                   # the seed's rows
    # training used only the kept rows, in their seeded order
    Wr, br, losses = ref.train(W0, b0, net.activations, "mse", X[kept], Y[kept], 0.05, 6, 4, 4,
                               rows=kept)
    logged = db.sql("SELECT loss FROM training_log ORDER BY step").fetchall()
    np.testing.assert_allclose([r[0] for r in logged], losses, rtol=RTOL, atol=ATOL)
    # every epoch's validation loss and MSE, from that epoch's weights (weight_history)
    for epoch, eval_loss, eval_mse in db.sql(
            "SELECT epoch, eval_loss, eval_mse FROM training_log WHERE eval_loss IS NOT NULL "
            "ORDER BY epoch").fetchall():
        W, b = history(db, net, epoch)
        _, As = ref.forward(W, b, net.activations, X[held])
        mse = ((As[-1] - Y[held]) ** 2).mean()
        assert eval_loss == pytest.approx(mse, rel=RTOL) and eval_mse == pytest.approx(mse, rel=RTOL)
    info = db.sql("SELECT iteration, loss, eval_loss, learning_rate FROM training_info "
                  "ORDER BY iteration").fetchall()
    assert [r[0] for r in info] == [1, 2, 3, 4]
    np.testing.assert_allclose([r[1] for r in info], np.array(losses).reshape(4, -1).mean(axis=1),
                               rtol=1e-12)
    # the model keeps the best epoch's weights
    best = min(info, key=lambda r: r[2])[0]
    assert db.sql("SELECT best_epoch, stopped FROM runs ORDER BY run DESC").fetchone() == (best, "completed")
    W, b = history(db, net, best)
    W1, b1 = params_as_arrays(M.parameters(db))
    assert all(np.array_equal(x, y) for x, y in zip(W1 + b1, W + b))


def history(db, net, epoch):
    W = [np.zeros((net.widths[i], net.widths[i + 1])) for i in range(net.depth)]
    b = [np.zeros(net.widths[i + 1]) for i in range(net.depth)]
    for layer, row, col, value in db.sql("SELECT layer, row, col, value FROM weight_history "
                                         "WHERE epoch = ?", [epoch]).fetchall():
        if row < 0:
            b[layer - 1][col] = value
        else:
            W[layer - 1][row, col] = value
    return W, b


def test_early_stopping_stops_after_patience_and_keeps_the_best_weights(tmp_path, db):
    path, X, Y = regression_data(tmp_path, n=30)
    noise, _, _ = regression_data(tmp_path, n=12, seed=77, name="v.csv")
    net, _ = model_with(db, path, ["y"], hidden=[4], activation="tanh", loss="mse", lr=0.3,
                        batch_size=3, seed=2, controls={"patience": 2, "min_delta": 1e-3})
    r = train(db, Source(str(path)), ["y"], settings=Settings(
        epochs=40, validation=Validation(source=Source(str(noise))), keep_history=True))
    losses = [v for _, v in db.sql("SELECT epoch, eval_loss FROM training_log "
                                   "WHERE eval_loss IS NOT NULL ORDER BY epoch").fetchall()]
    # Keras's rule, recomputed from the logged validation losses
    best, best_epoch, stop = math.inf, None, None
    for epoch, v in enumerate(losses, start=1):
        if v < best - 1e-3:
            best, best_epoch = v, epoch
        if epoch - best_epoch >= 2:
            stop = epoch
            break
    assert stop is not None and stop < 40, losses                 # it did stop early
    assert r.stopped == "early_stopping" and len(losses) == stop
    assert db.sql("SELECT stopped, best_epoch, finished_at IS NOT NULL FROM runs ORDER BY run DESC").fetchone() == \
        ("early_stopping", best_epoch, True)
    W, b = history(db, net, best_epoch)
    W1, b1 = params_as_arrays(M.parameters(db))
    assert all(np.array_equal(x, y) for x, y in zip(W1 + b1, W + b))


def test_class_weights_balanced_and_explicit_match_the_reference(tmp_path, db):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(20, 2))
    labels = np.array(["a"] * 12 + ["b"] * 5 + ["c"] * 3)
    path = write_csv(tmp_path / "c.csv", ["x0", "x1", "label"], [list(x) + [l] for x, l in zip(X, labels)])
    Y = np.eye(3)[[{"a": 0, "b": 1, "c": 2}[l] for l in labels]]
    for spec, weights in (("balanced", 20 / (3 * np.array([12.0, 5.0, 3.0]))),
                          ("c=4,a=0.5", np.array([0.5, 1.0, 4.0]))):
        with Database(":memory:") as d:
            net, (W0, b0) = model_with(d, path, ["label"], hidden=[3], lr=0.1, batch_size=7,
                                       seed=1, controls={"class_weight": spec})
            got_w = [r[0] for r in d.sql("SELECT weight FROM class_weights ORDER BY class").fetchall()]
            np.testing.assert_allclose(got_w, weights, rtol=1e-12)
            train(d, Source(str(path)), ["label"], settings=Settings(epochs=3))
            Wr, br, losses = ref.train(W0, b0, net.activations, "cross_entropy", X, Y, 0.1, 7, 3, 1,
                                       class_weights=weights)
            W1, b1 = params_as_arrays(M.parameters(d))
            for got, want in zip(W1 + b1, Wr + br):
                np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
            logged = [r[0] for r in d.sql("SELECT loss FROM training_log ORDER BY step").fetchall()]
            np.testing.assert_allclose(logged, losses, rtol=RTOL, atol=ATOL)


def test_keep_history_has_every_epoch(tmp_path, db):
    path, X, Y = regression_data(tmp_path)
    net, _ = model_with(db, path, ["y"], hidden=[2], loss="mse", batch_size=8)
    train(db, Source(str(path)), ["y"], settings=Settings(epochs=3, keep_history=True))
    counts = db.sql("SELECT epoch, COUNT(*) FROM weight_history GROUP BY epoch ORDER BY epoch").fetchall()
    assert counts == [(1, 11), (2, 11), (3, 11)]            # 3·2 + 2 weights, 2 + 1 biases
    W, b = history(db, net, 3)
    W1, b1 = params_as_arrays(M.parameters(db))
    assert all(np.array_equal(x, y) for x, y in zip(W1 + b1, W + b))
    train(db, Source(str(path)), ["y"], settings=Settings(epochs=1))
    assert db.sql("SELECT COUNT(*) FROM weight_history WHERE epoch = 4").fetchone()[0] == 0


def test_cli_flags_reach_the_model(tmp_path, capsys):
    path, X, Y = regression_data(tmp_path)
    db = tmp_path / "m.duckdb"
    code = main(["train", str(db), "--data", str(path), "--target", "y", "--hidden", "3",
                 "--epochs", "6", "--optimizer", "adamw", "--lr", "0.01", "--lr-schedule", "step",
                 "--gamma", "0.5", "--step-size", "2", "--clip-norm", "1", "--dropout", "0.1",
                 "--standardize", "--validation-split", "0.25", "--patience", "50",
                 "--keep-history", "--quiet"])
    assert code == 0, capsys.readouterr().err
    con = model_connection(db)
    row = con.execute("SELECT optimizer, weight_decay, lr_schedule, gamma, step_size, clip_norm, "
                      "dropout, standardize, patience FROM models").fetchone()
    assert row == ("adamw", 0.01, "step", 0.5, 2, 1.0, 0.1, True, 50)
    rates = [r[0] for r in con.execute("SELECT learning_rate FROM training_info ORDER BY iteration").fetchall()]
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025], rel=1e-12)
    assert con.execute("SELECT COUNT(*) FROM valid_rows").fetchone()[0] == 6
    con.close()


@pytest.mark.parametrize("flags,message", [
    (["--optimizer", "adagrad"], "unknown optimizer"),
    (["--lr-schedule", "linear"], "unknown lr schedule"),
    (["--dropout", "1.5"], "--dropout"),
    (["--momentum", "1"], "--momentum"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--clip-norm", "0"], "--clip-norm"),
    (["--validation-split", "1.5"], "--validation-split"),
    (["--validation-split", "0.1", "--validation-data", "x.csv"], "not both"),
    (["--patience", "0"], "--patience"),
    (["--patience", "3"], "needs validation data"),
    (["--class-weight", "a=x"], "--class-weight"),
    (["--class-weight", "balanced"], "cross_entropy"),
    (["--validation-data", "missing.csv"], "no such file"),
])
def test_bad_controls_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    path, _, _ = regression_data(tmp_path)
    db = tmp_path / "bad.duckdb"
    code = main(["train", str(db), "--data", str(path), "--target", "y", "--hidden", "2",
                 "--epochs", "1", "--quiet", *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not db.exists()                                  # nothing half-made is left


def test_a_schema_version_1_database_is_upgraded(tmp_path):
    path, _, _ = regression_data(tmp_path)
    db = tmp_path / "old.duckdb"
    assert main(["train", str(db), "--data", str(path), "--target", "y", "--hidden", "2",
                 "--epochs", "1", "--quiet"]) == 0
    as_version_2(db)
    con = duckdb.connect(str(db))     # make it look as version 1 wrote it
    for column in M.CONTROLS:
        con.execute(f"ALTER TABLE models DROP COLUMN {column}")
    for column in ("stopped", "best_epoch", "keep_history", "arguments"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    for column in ("eval_loss", "eval_accuracy", "eval_mse"):
        con.execute(f"ALTER TABLE training_log DROP COLUMN {column}")
    con.execute("DROP VIEW training_info")
    for t in ("optimizer_state", "valid_rows", "valid_inputs", "valid_targets", "best_weights",
              "weight_history", "standardization", "class_weights"):
        con.execute(f"DROP TABLE {t}")
    con.execute("UPDATE sqlnet_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    assert main(["inspect", str(db)]) == 0                    # read-only, as it is
    assert main(["train", str(db), "--data", str(path), "--target", "y", "--epochs", "1",
                 "--optimizer", "adam", "--quiet"]) == 0
    con = model_connection(db)
    assert con.execute("SELECT value FROM sqlnet_meta WHERE key = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    assert con.execute("SELECT optimizer FROM models").fetchone() == ("adam",)
    assert con.execute("SELECT COUNT(*) FROM training_log").fetchone()[0] == 2    # one step a run
    con.close()


def test_gradcheck_agrees_and_catches_a_wrong_derivative(tmp_path, capsys, monkeypatch):
    from sqlnet import phases
    from test_cli import snapshot
    path, X, Y = regression_data(tmp_path)
    db = tmp_path / "g.duckdb"
    assert main(["train", str(db), "--data", str(path), "--target", "y", "--hidden", "3",
                 "--activation", "tanh", "--epochs", "1", "--quiet"]) == 0
    before = snapshot(db)
    capsys.readouterr()
    assert main(["gradcheck", str(db), "--data", str(path), "--target", "y"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out[2:]]
    assert [r[:2] for r in rows] == [["1", "12"], ["2", "4"]]        # every parameter checked
    assert all(float(r[2]) < 1e-8 and float(r[3]) < 1e-4 for r in rows), out
    assert snapshot(db) == before                                   # rolled back
    real = phases.activation                                        # a derivative off by 2x
    monkeypatch.setattr(phases, "activation", lambda name, a="value": (
        real(name, a)[0], phases.exp.Mul(this=real(name, a)[1], expression=phases.number(2))))
    assert main(["gradcheck", str(db), "--data", str(path), "--target", "y"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert float(rows[0][3]) > 0.1                                  # layer 1 is caught
