"""Long data, (row, col, value) cells with absent cells zero: training on it equals the numpy
reference; it equals the same data given wide; bad cells are refused in one line."""
import duckdb
import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.predict import evaluate, predict
from sqlnet.train import Settings, train

RTOL, ATOL = 1e-9, 1e-12


def write_cells(path, cells):
    """cells: (row, col, value) tuples, written as Parquet in the order given."""
    con = duckdb.connect()
    con.execute("CREATE TABLE c (row BIGINT, col VARCHAR, value DOUBLE)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?)", cells)
    con.execute("COPY c TO ? (FORMAT parquet)", [str(path)])
    con.close()
    return path


def sparse_data(rng, n, n_in, loss, k):
    """Wide sparse X (every feature non-zero somewhere), Y, and the same as shuffled cells
    under row numbers with gaps; a classifier's label-0 cells are left out (absent = 0)."""
    rows = np.sort(rng.choice(10 * n, size=n, replace=False))
    X = np.where(rng.random((n, n_in)) < 0.03, rng.normal(size=(n, n_in)), 0.0)
    X[3 + np.arange(n_in) % (n - 3), np.arange(n_in)] = 1.5
    X[2] = 0.0                                    # a sample whose only cell is its target
    if loss == "cross_entropy":
        labels = rng.integers(0, k, size=n)
        labels[2] = 1
        Y, tcells = np.eye(k)[labels], [("label", float(l)) for l in labels]
    else:
        Y = (rng.random((n, k)) < 0.5).astype(float) if loss == "bce" else rng.normal(size=(n, k))
        Y[2, 0] = 1.0
        tcells = [[(f"y{j}", v) for j, v in enumerate(y) if v != 0] for y in Y]
    cells = [(int(r), str(j), float(X[i, j])) for i, r in enumerate(rows) for j in range(n_in)
             if X[i, j] != 0]
    for i, r in enumerate(rows):
        if loss == "cross_entropy":
            if tcells[i][1] != 0:
                cells.append((int(r), *tcells[i]))
        else:
            cells += [(int(r), name, v) for name, v in tcells[i]]
    rng.shuffle(cells)
    return rows, X, Y, [tuple(c) for c in cells]


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "bce"])
def test_long_sparse_training_matches_reference(tmp_path, db, loss):
    """A 120-input sparse network from shuffled cells (numeric column names, sorted as
    numbers; row numbers with gaps) trains as the numpy reference does on the dense X."""
    rng = np.random.default_rng(["cross_entropy", "mse", "bce"].index(loss))
    n, n_in, k = 30, 120, 3
    rows, X, Y, cells = sparse_data(rng, n, n_in, loss, k)
    path = write_cells(tmp_path / "cells.parquet", cells)
    targets = ["label"] if loss == "cross_entropy" else [f"y{j}" for j in range(k)]
    s = Settings(epochs=0, hidden=[6], activation="tanh", loss=loss, lr=0.2, batch_size=8, seed=3)
    train(db, Source(str(path), long=True), targets, settings=s)
    assert M.feature_names(db) == [str(j) for j in range(n_in)]
    net = M.load(db)
    assert net.widths == [n_in, 6, k]
    W0, b0 = params_as_arrays(M.parameters(db))
    train(db, Source(str(path), long=True), targets, settings=Settings(epochs=2))
    W1, b1 = params_as_arrays(M.parameters(db))
    Wr, br, losses = ref.train(W0, b0, net.activations, loss, X, Y, 0.2, 8, 2, seed=3, rows=rows)
    assert all(np.isfinite(w).all() for w in Wr + br)
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    assert any(not np.allclose(a, b) for a, b in zip(W1 + b1, W0 + b0))
    logged = [r[0] for r in db.sql("SELECT loss FROM training_log ORDER BY step").fetchall()]
    np.testing.assert_allclose(logged, losses, rtol=RTOL, atol=ATOL)
    stored = db.sql("SELECT COUNT(*) FROM train_inputs").fetchone()[0]
    assert stored == np.count_nonzero(X)                       # zeros were never stored


def test_long_equals_wide_and_predicts_by_row_number(tmp_path):
    """The same data wide (CSV) and long (cells) gives the same model, bit for bit, and the
    same evaluation (unshuffled: the row numbers differ); predictions come back under the
    cells' row numbers."""
    rng = np.random.default_rng(5)
    X = np.round(rng.normal(size=(24, 3)), 3)
    X[X < -0.8] = 0.0
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, size=24)]
    wide = write_csv(tmp_path / "w.csv", ["f0", "f1", "f2", "label"],
                     [[*x, l] for x, l in zip(X, labels)])
    code = {"a": 0.0, "b": 1.0, "c": 2.0}
    cells = [(7 * i + 1, f"f{j}", float(x[j])) for i, x in enumerate(X) for j in range(3) if x[j]]
    cells += [(7 * i + 1, "label", code[l]) for i, l in enumerate(labels)]
    long = write_cells(tmp_path / "l.parquet", cells[::-1])
    dbs = {}
    for name, src in (("wide", Source(str(wide))), ("long", Source(str(long), long=True))):
        d = Database(str(tmp_path / f"{name}.duckdb"))
        train(d, src, ["label"], settings=Settings(epochs=3, hidden=[5], loss="cross_entropy",
                                                   batch_size=5, seed=2, shuffle=False))
        dbs[name] = (d, src)
    (dw, sw), (dl, sl) = dbs["wide"], dbs["long"]
    for (Ww, bw), (Wl, bl) in zip(M.parameters(dw), M.parameters(dl)):
        np.testing.assert_allclose(Wl, Ww, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(bl, bw, rtol=1e-12, atol=1e-15)
    ew, el = evaluate(dw, sw, ["label"]), evaluate(dl, sl, ["label"])
    assert ew["rows"] == el["rows"] == 24 and ew["accuracy"] == el["accuracy"]
    assert el["loss"] == pytest.approx(ew["loss"], rel=1e-12)
    _, pw = predict(dw, sw)
    _, pl = predict(dl, sl)
    assert [r[0] for r in pl] == [7 * i + 1 for i in range(24)]
    assert [code[r[1]] for r in pw] == [float(r[1]) for r in pl]
    np.testing.assert_allclose([r[2] for r in pl], [r[2] for r in pw], rtol=1e-12)
    for d, _ in dbs.values():
        d.close()


def test_long_unknown_features_are_left_out(tmp_path, db):
    """Predicting on cells of a column the model has no input for ignores them, as a
    vocabulary ignores unknown words; a sample with none of the model's features predicts
    from the biases alone."""
    train_cells = [(0, "a", 1.0), (0, "y", 1.0), (1, "b", 2.0), (1, "y", -1.0)]
    write_cells(tmp_path / "t.parquet", train_cells)
    train(db, Source(str(tmp_path / "t.parquet"), long=True), ["y"],
          settings=Settings(epochs=2, hidden=[3], batch_size=0))
    write_cells(tmp_path / "p.parquet", [(0, "a", 1.0), (0, "zzz", 9.0), (1, "zzz", 5.0)])
    write_cells(tmp_path / "q.parquet", [(0, "a", 1.0), (1, "b", 0.0)])
    _, with_unknown = predict(db, Source(str(tmp_path / "p.parquet"), long=True))
    _, without = predict(db, Source(str(tmp_path / "q.parquet"), long=True))
    assert with_unknown == without


BAD = {
    "dup": ([(0, "a", 1.0), (0, "a", 2.0), (0, "y", 1.0)], "2 cells for row 0, col 'a'"),
    "nan": ([(0, "a", float("nan")), (0, "y", 1.0)], "column 'value' of"),
    "neg": ([(-1, "a", 1.0), (0, "y", 1.0)], "empty or negative row number"),
    "notarget": ([(0, "a", 1.0)], "has no cells of target 'y'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_long_bad_cells_refused(tmp_path, capsys, case):
    cells, message = BAD[case]
    path = write_cells(tmp_path / "bad.parquet", cells)
    db = tmp_path / "m.duckdb"
    code = main(["train", str(db), "--data", str(path), "--long", "--target", "y", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not db.exists()                                   # nothing half-written


def test_long_wrong_columns_and_groups_refused(tmp_path, capsys):
    wide = write_csv(tmp_path / "w.csv", ["a", "y"], [[1, 2], [3, 4]])
    db = tmp_path / "m.duckdb"
    assert main(["train", str(db), "--data", str(wide), "--long", "--target", "y", "--quiet"]) == 2
    assert "long data has columns row, col and value" in capsys.readouterr().err
    cells = write_cells(tmp_path / "c.parquet", [(0, "a", 1.0), (0, "y", 2.0)])
    assert main(["train", str(db), "--data", str(cells), "--long", "--target", "y",
                 "--group-by", "a", "--quiet"]) == 2
    assert "long data, which has no group column" in capsys.readouterr().err
    assert not db.exists()
