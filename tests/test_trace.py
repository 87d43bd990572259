"""sqlnet trace: one sample's Z, A, Δ and gradients equal the reference's; the model stays as it was."""
import json

import numpy as np
import pytest

import reference as ref
from conftest import params_as_arrays, write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.trace import trace
from test_cli import snapshot

rng = np.random.default_rng(31)
X = rng.normal(size=(12, 3))
X[4, 1] = 0.0                                                # a zero input is not stored
Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
LABELS = np.array(["cat", "dog", "emu"])[np.argmax(X, axis=1)]
CASES = {
    "regression": (["--target", "y1,y2", "--hidden", "4,3", "--activation", "tanh", "--loss", "mse"],
                   ["tanh", "tanh", "identity"], "mse"),
    "classifier": (["--target", "label", "--hidden", "5", "--activation", "sigmoid"],
                   ["sigmoid", "softmax"], "cross_entropy"),
}


def reference_trace(Ws, bs, acts, loss, x, y):
    """Z, A and Δ per layer, and the gradients, for one sample, from tests/reference.py."""
    Zs, As = ref.forward(Ws, bs, acts, x)
    L, delta = ref.loss_and_delta(loss, Zs[-1], As[-1], y, acts[-1])
    deltas = [delta]
    for i in range(len(Ws) - 1, 0, -1):
        deltas.insert(0, (deltas[0] @ Ws[i].T) * ref.dact(acts[i - 1], Zs[i - 1]))
    L2, gW, gb = ref.gradients(Ws, bs, acts, loss, x, y)
    assert L == L2
    return L, Zs, As[1:], deltas, gW, gb


@pytest.fixture(scope="module", params=list(CASES))
def trained(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("trace")
    args, acts, loss = CASES[request.param]
    data = write_csv(d / "d.csv", ["a", "b", "c", "y1", "y2", "label"],
                     [list(x) + list(y) + [l] for x, y, l in zip(X, Y, LABELS)])
    db = d / "m.duckdb"
    assert main(["train", str(db), "--data", str(data), "--features", "a,b,c", *args,
                 "--epochs", "2", "--batch-size", "5", "--quiet"]) == 0
    with Database(db, read_only=True) as con:
        Ws, bs = params_as_arrays(M.parameters(con))
        classes = [r[0] for r in con.sql("SELECT label FROM classes ORDER BY class").fetchall()]
    T = (LABELS[:, None] == np.array(classes)[None, :]).astype(float) if classes else Y
    return db, data, Ws, bs, acts, loss, T


@pytest.mark.parametrize("row", [0, 4, 11])
def test_trace_equals_the_reference(trained, row):
    db, data, Ws, bs, acts, loss, T = trained
    with Database(db, read_only=True) as con:
        t = trace(con, Source(path=str(data)), row)
    L, Zs, As, deltas, gW, gb = reference_trace(Ws, bs, acts, loss, X[[row]], T[[row]])
    assert abs(t.loss - L) < 1e-12
    np.testing.assert_allclose(t.inputs, X[row], rtol=0, atol=0)
    for layer, z, a, dl, g, b in zip(t.layers, Zs, As, deltas, gW, gb):
        np.testing.assert_allclose(layer.z, z[0], rtol=1e-9, atol=1e-12)          # forward
        np.testing.assert_allclose(layer.a, a[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.delta, dl[0], rtol=1e-9, atol=1e-12)     # backward
        np.testing.assert_allclose(layer.gradient, g, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.bias_gradient, b, rtol=1e-9, atol=1e-12)


def test_cli_prints_it_and_changes_nothing(trained, capsys):
    db, data, Ws, bs, acts, loss, T = trained
    before = snapshot(db)
    assert main(["trace", str(db), "--data", str(data), "--row", "3", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    L, Zs, As, deltas, gW, gb = reference_trace(Ws, bs, acts, loss, X[[3]], T[[3]])
    assert doc["row"] == 3 and abs(doc["loss"] - L) < 1e-12
    np.testing.assert_allclose(doc["layers"][-1]["gradient"], gW[-1], rtol=1e-9, atol=1e-12)
    assert main(["trace", str(db), "--data", str(data), "--row", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"sample 3: loss {L:.6g}\n")
    assert f"layer {len(Ws)} ({Ws[-1].shape[0]} → {Ws[-1].shape[1]}, {acts[-1]})" in out
    assert snapshot(db) == before                            # the model is as it was


@pytest.mark.parametrize("row", ["-1", "12"])
def test_row_out_of_range_is_one_line(trained, capsys, row):
    db, data, *_ = trained
    assert main(["trace", str(db), "--data", str(data), "--row", row]) == 2
    err = capsys.readouterr().err
    assert "--row must be between 0 and 11" in err and len(err.strip().splitlines()) == 1


def test_trace_sees_the_inputs_as_standardized_training_saw_them(tmp_path):
    data = write_csv(tmp_path / "s.csv", ["a", "b", "c", "y1", "y2"],
                     [list(x * [1.0, 100.0, 0.01]) + list(y) for x, y in zip(X, Y)])
    db = tmp_path / "s.duckdb"
    assert main(["train", str(db), "--data", str(data), "--target", "y1,y2", "--hidden", "3",
                 "--activation", "tanh", "--standardize", "--epochs", "1", "--quiet"]) == 0
    raw = X * [1.0, 100.0, 0.01]
    Xs = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    with Database(db, read_only=True) as con:
        Ws, bs = params_as_arrays(M.parameters(con))
        t = trace(con, Source(path=str(data)), 5)
    L, Zs, As, deltas, gW, gb = reference_trace(Ws, bs, ["tanh", "identity"], "mse", Xs[[5]], Y[[5]])
    assert abs(t.loss - L) < 1e-12
    np.testing.assert_allclose(t.layers[0].z, Zs[0][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t.layers[1].delta, deltas[1][0], rtol=1e-9, atol=1e-12)
