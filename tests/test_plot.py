"""sqlnet plot: a PNG of the curves that SQL gives, with weight histograms and a validation curve."""
import shutil

import numpy as np
import pytest

from conftest import write_csv
from sqlnet.cli import main
from sqlnet.db import Database

pytest.importorskip("matplotlib", reason="plot needs the optional matplotlib ([plot])")
from matplotlib.image import imread  # noqa: E402

from sqlnet.plot import curves  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("plot")
    rng = np.random.default_rng(8)
    X = rng.normal(size=(20, 2))
    data = write_csv(d / "r.csv", ["a", "b", "y"], [list(x) + [x[0] * x[1]] for x in X])
    db = d / "m.duckdb"
    assert main(["train", str(db), "--data", str(data), "--target", "y", "--hidden", "5,4",
                 "--epochs", "4", "--batch-size", "5", "--quiet"]) == 0
    assert main(["train", str(db), "--data", str(data), "--target", "y", "--epochs", "3",
                 "--lr", "0.03", "--quiet"]) == 0               # a second run, another rate
    return d, db


def drawn(path):
    img = imread(path)
    ink = (img[:, :, :3] < 0.9).any(axis=2).mean()              # share of non-white pixels
    return img.shape[:2], ink


def test_curves_are_the_training_log(trained):
    _, db = trained
    with Database(db, read_only=True) as d:
        c = curves(d)
        want = d.sql("SELECT epoch, avg(loss), avg(lr) FROM training_log GROUP BY epoch ORDER BY epoch").fetchall()
        steps = d.sql("SELECT loss FROM training_log ORDER BY step").fetchall()
    assert c["loss"] == ([w[0] for w in want], [w[1] for w in want])
    assert c["learning rate"][1] == [0.1] * 4 + [0.03] * 3
    assert c["step loss"][1] == [s[0] for s in steps] and len(steps) == 28
    assert "validation loss" not in c


def test_png_has_the_curves(trained, capsys):
    d, db = trained
    assert main(["plot", str(db), "--out", str(d / "c.png")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {d / 'c.png'}: loss, step loss, learning rate"
    size, ink = drawn(d / "c.png")
    assert size == (400, 1000) and 0.02 < ink < 0.5             # drawn, not blank
    assert main(["plot", str(db), "--out", str(d / "w.png"), "--weights"]) == 0
    assert "layer 1 weights, layer 2 weights, layer 3 weights" in capsys.readouterr().out
    size, ink_w = drawn(d / "w.png")
    assert size == (800, 1500) and ink_w > 0.02                 # a row of three histograms


def test_validation_loss_is_drawn_when_there_is_one(trained, capsys):
    d, db = trained
    copy = d / "validated.duckdb"
    shutil.copy(db, copy)
    data = d / "r.csv"
    assert main(["train", str(copy), "--data", str(data), "--target", "y", "--epochs", "3",
                 "--validation-split", "0.3", "--quiet"]) == 0
    with Database(copy) as con:
        c = curves(con)
        want = con.sql("SELECT iteration, eval_loss FROM training_info WHERE eval_loss IS NOT NULL "
                       "ORDER BY iteration").fetchall()
    assert c["validation loss"][0] == [8, 9, 10] == [r[0] for r in want]
    np.testing.assert_allclose(c["validation loss"][1], [r[1] for r in want], rtol=1e-12)
    capsys.readouterr()
    assert main(["plot", str(copy), "--out", str(d / "validated.png")]) == 0
    assert "validation loss" in capsys.readouterr().out


def test_untrained_or_unwritable_is_one_line(tmp_path, capsys):
    db = tmp_path / "i.duckdb"
    assert main(["init", str(db), "--layers", "2,3,1"]) == 0
    assert main(["plot", str(db), "--out", str(tmp_path / "x.png")]) == 2
    assert "not been trained" in capsys.readouterr().err
    assert main(["plot", str(db), "--out", str(tmp_path / "x.png"), "--weights"]) == 0
    assert main(["plot", str(db), "--out", str(tmp_path / "no" / "x.png"), "--weights"]) == 2
    assert main(["plot", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "y.png")]) == 2
    assert not (tmp_path / "none.duckdb").exists()
