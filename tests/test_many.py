"""Many models in one pass: each has exactly (to 1e-12) the weights it would have alone."""
import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.predict import evaluate, predict
from sqlnet.train import Settings, train

RTOL, ATOL = 1e-12, 1e-15
GROUPS = {"north": 14, "south": 9, "west": 5}          # groups of unequal size


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    d = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(11)
    rows, alone = [], {}
    for g, n in GROUPS.items():
        X = rng.normal(size=(n, 3))
        labels = np.where(X[:, 0] * (1 if g == "north" else -1) > 0, "yes", "no")
        alone[g] = [list(x) + [l] for x, l in zip(X, labels)]
        rows += [[g] + r for r in alone[g]]
    order = rng.permutation(len(rows))                  # the groups interleaved in the file
    rows = [rows[i] for i in order]
    path = write_csv(d / "all.csv", ["region", "a", "b", "c", "label"], rows)
    files = {}
    for g in GROUPS:                                    # each group's rows, in file order
        files[g] = write_csv(d / f"{g}.csv", ["a", "b", "c", "label"],
                             [r[1:] for r in rows if r[0] == g])
    return d, path, files


SETTINGS = dict(hidden=[4], activation="tanh", lr=0.1, batch_size=4, seed=7)


CASES = {"sgd": ({}, None),
         "adam-dropout-cosine": ({"optimizer": "adam", "dropout": 0.3, "lr_schedule": "cosine"}, None),
         "validated-standardized-weighted": ({"standardize": True, "class_weight": "balanced",
                                              "optimizer": "momentum"}, 0.3),
         "early-stopping": ({"patience": 2, "min_delta": 0.005, "optimizer": "momentum"}, 0.3)}


@pytest.mark.parametrize("name", CASES)
def test_group_models_equal_models_trained_alone(grouped, name):
    from sqlnet.train import Validation
    d, path, files = grouped
    controls, split = CASES[name]
    valid = (lambda: Validation(split=split)) if split else (lambda: None)
    epochs = 12 if "patience" in controls else 3
    with Database(":memory:") as db:
        train(db, Source(str(path)), ["label"], settings=Settings(
            epochs=epochs, group_by="region", controls=controls, validation=valid(), **SETTINGS))
        stops = db.sql("SELECT model, stopped, best_epoch FROM runs WHERE run = 1 "
                       "ORDER BY model").fetchall()
        groups = db.sql("SELECT model, value FROM model_groups ORDER BY model").fetchall()
        assert [v for _, v in groups] == sorted(GROUPS)
        together = {v: params_as_arrays(M.parameters(db, m)) for m, v in groups}
        logged = {v: db.sql("SELECT loss, COALESCE(eval_loss, -1) FROM training_log "
                            "WHERE model = ? ORDER BY step", [m]).fetchall() for m, v in groups}
    for g in GROUPS:
        with Database(":memory:") as db:
            train(db, Source(str(files[g])), ["label"], settings=Settings(
                epochs=epochs, controls=controls, validation=valid(), **SETTINGS))
            stop_alone = db.sql("SELECT stopped, best_epoch FROM runs").fetchone()
            W, b = params_as_arrays(M.parameters(db))
            alone_log = db.sql("SELECT loss, COALESCE(eval_loss, -1) FROM training_log "
                               "ORDER BY step").fetchall()
        for got, want in zip(together[g][0] + together[g][1], W + b):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        held = round(GROUPS[g] * split) if split else 0
        assert len(logged[g]) == len(alone_log)
        if "patience" not in controls:
            assert len(alone_log) == 3 * -(-(GROUPS[g] - held) // 4)
        assert stops[sorted(GROUPS).index(g)][1:] == stop_alone         # how and when it stopped
    if "patience" in controls:
        assert {s[1] for s in stops} == {"early_stopping", "completed"}  # one stopped, others went on
        np.testing.assert_allclose(logged[g], alone_log, rtol=RTOL, atol=ATOL)


def test_predict_routes_each_row_to_its_groups_model(grouped, tmp_path, capsys):
    d, path, files = grouped
    db = tmp_path / "g.duckdb"
    assert main(["train", str(db), "--data", str(path), "--target", "label", "--group-by",
                 "region", "--hidden", "4", "--epochs", "2", "--quiet"]) == 0
    with Database(db) as together:
        _, rows = predict(together, Source(str(path)))
        scores = evaluate(together, Source(str(path)), ["label"])
    regions = [r[0] for r in np.genfromtxt(path, delimiter=",", dtype=str, skip_header=1)]
    by_group = {}
    for g in GROUPS:
        alone = tmp_path / f"{g}.duckdb"
        assert main(["train", str(alone), "--data", str(files[g]), "--target", "label",
                     "--hidden", "4", "--epochs", "2", "--quiet"]) == 0
        with Database(alone) as a:
            by_group[g] = iter(predict(a, Source(str(files[g])))[1])
    for (row, label, p), region in zip(rows, regions):            # file order kept
        _, want_label, want_p = next(by_group[region])
        assert label == want_label and p == pytest.approx(want_p, rel=RTOL)
    assert scores["rows"] == sum(GROUPS.values()) and 0 <= scores["accuracy"] <= 1
    # a file with a group no model was trained for is refused in one line
    bad = write_csv(tmp_path / "bad.csv", ["region", "a", "b", "c"], [["east", 1.0, 2.0, 3.0]])
    capsys.readouterr()
    assert main(["predict", str(db), "--data", str(bad)]) == 2
    assert "'east'" in capsys.readouterr().err


def test_group_by_refusals(grouped, tmp_path, capsys):
    d, path, files = grouped
    db = tmp_path / "r.duckdb"
    for flags, message in ((["--group-by", "nope"], "no group column"),
                           (["--group-by", "region", "--patience", "3"], "needs validation")):
        assert main(["train", str(db), "--data", str(path), "--target", "label", "--epochs", "1",
                     "--quiet", *flags]) == 2
        assert message in capsys.readouterr().err
    assert main(["train", str(db), "--data", str(path), "--target", "label", "--epochs", "1",
                 "--group-by", "region", "--quiet"]) == 0
    assert main(["train", str(db), "--data", str(path), "--target", "label", "--epochs", "1",
                 "--quiet"]) == 2
    assert "--group-by region" in capsys.readouterr().err


def run_sweep(path, grid, base, validation=None):
    from sqlnet.sweep import sweep
    with Database(":memory:") as db:
        board = sweep(db, Source(str(path)), ["label"], grid, Settings(**base, validation=validation),
                      keep_best=True)
        together = {m: params_as_arrays(M.parameters(db, m)) for m in range(len(board) + 1)}
        evals = db.sql("SELECT model, epoch, eval_loss FROM training_log "
                       "WHERE eval_loss IS NOT NULL ORDER BY model, epoch").fetchall()
        settings = db.sql("SELECT m.model, lr, seed, batch_size, COUNT(*) - 1 AS depth "
                          "FROM models AS m JOIN layers AS l ON l.model = m.model "
                          "WHERE m.model > 0 GROUP BY ALL ORDER BY m.model").fetchall()
    return board, together, evals, settings


def test_sweep_models_equal_models_trained_alone(grouped):
    from sqlnet.sweep import Grid
    from sqlnet.train import Validation
    path = grouped[2]["north"]
    grid = Grid(lr=[0.05, 0.2], hidden=[[3], [2, 3]], seed=[1, 2], batch_size=[4, 0])
    base = dict(epochs=3, activation="tanh", controls={"optimizer": "momentum"})
    board, together, _, settings = run_sweep(path, grid, base)
    assert len(board) == 16 and [r[0] for r in board] == list(range(1, 17))
    for model, lr, seed, batch, depth in settings:          # 16 models, in two passes
        with Database(":memory:") as alone:
            train(alone, Source(str(path)), ["label"], settings=Settings(
                **base, lr=lr, seed=seed, batch_size=batch, hidden=[3] if depth == 1 else [2, 3]))
            W, b = params_as_arrays(M.parameters(alone))
        for got, want in zip(together[model][0] + together[model][1], W + b):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    best = board[0][1]                                       # --keep-best: model 0 is the best
    for got, want in zip(together[0][0] + together[0][1], together[best][0] + together[best][1]):
        assert np.array_equal(got, want)
    # with a validation split (the first seed's rows) and standardization, every epoch's
    # validation loss, and the best epoch's weights
    base = dict(base, controls={"optimizer": "momentum", "standardize": True})
    grid = Grid(lr=[0.05, 0.2], hidden=[[3]], seed=[1], batch_size=[4, 0])
    board, together, evals, settings = run_sweep(path, grid, base, Validation(split=0.25))
    assert all(r[7] is not None for r in board)               # ranked by validation loss
    for model, lr, seed, batch, depth in settings:
        with Database(":memory:") as alone:
            train(alone, Source(str(path)), ["label"], settings=Settings(
                **base, lr=lr, seed=seed, batch_size=batch, hidden=[3],
                validation=Validation(split=0.25)))
            want = alone.sql("SELECT epoch, eval_loss FROM training_log "
                             "WHERE eval_loss IS NOT NULL ORDER BY epoch").fetchall()
            W, b = params_as_arrays(M.parameters(alone))
        got = [(e, v) for m, e, v in evals if m == model]
        assert [e for e, _ in got] == [1, 2, 3]
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=RTOL)
        for g, w in zip(together[model][0] + together[model][1], W + b):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_sweep_cli_prints_a_leaderboard(grouped, tmp_path, capsys):
    path = grouped[2]["south"]
    db = tmp_path / "s.duckdb"
    assert main(["sweep", str(db), "--data", str(path), "--target", "label", "--lr", "0.05,0.5",
                 "--hidden", "2,3x2", "--seed", "0,1", "--epochs", "2", "--validation-split",
                 "0.3", "--keep-best", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "sweep of 8 models; the leaderboard is in sweep_results:"
    assert out[1].split()[:4] == ["rank", "model", "lr", "hidden"] and len(out) == 2 + 8 + 1
    assert main(["evaluate", str(db), "--data", str(path), "--target", "label"]) == 0
    assert main(["sweep", str(db), "--data", str(path), "--target", "label"]) == 2
    assert "new database" in capsys.readouterr().err
