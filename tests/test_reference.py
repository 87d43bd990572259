"""Random architectures trained in SQL equal the numpy reference to 1e-9 relative."""
import itertools

import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.data import Source
from sqlnet.train import Settings, train

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
LOSSES = ["half_sse", "mse", "cross_entropy", "bce"]
CASES = [(loss, act, batch) for loss, act in itertools.product(LOSSES, ACTIVATIONS)
         for batch in (1, 7, 0)]
RTOL, ATOL = 1e-9, 1e-12  # relative, with an absolute floor for weights near zero


def make_data(rng, n, n_in, loss, k):
    X = rng.normal(size=(n, n_in))
    X[rng.random(size=X.shape) < 0.3] = 0.0   # sparse: zeros are not stored
    X[3] = 0.0                                # a sample with no stored input at all
    if loss == "cross_entropy":
        labels = np.arange(n) % k
        rng.shuffle(labels)
        Y = np.eye(k)[labels]
        cols = [[f"c{l}"] for l in labels]
    elif loss == "bce":
        Y = (rng.random(size=(n, k)) < 0.5).astype(float)
        cols = Y.tolist()
    else:
        Y = rng.normal(size=(n, k))
        Y[rng.random(size=Y.shape) < 0.2] = 0.0
        cols = Y.tolist()
    return X, Y, cols


@pytest.mark.parametrize("loss,act,batch", CASES)
def test_training_matches_reference(tmp_path, db, loss, act, batch):
    i = CASES.index((loss, act, batch))
    rng = np.random.default_rng(i)
    depth = 1 + i % 4
    n, n_in, k = 15, int(rng.integers(2, 5)), int(rng.integers(2, 4))
    hidden = [int(w) for w in rng.integers(1, 5, size=depth - 1)]
    X, Y, ycols = make_data(rng, n, n_in, loss, k)
    feats = [f"x{j}" for j in range(n_in)]
    tnames = ["label"] if loss == "cross_entropy" else [f"y{j}" for j in range(k)]
    path = write_csv(tmp_path / "d.csv", feats + tnames, [list(x) + y for x, y in zip(X, ycols)])
    epochs = {1: 2, 7: 2, 0: 4}[batch]
    out_act = None if loss in ("cross_entropy", "bce") else ["identity", "sigmoid", "tanh"][i % 3]
    s = Settings(epochs=0, hidden=hidden, activation=act, output_activation=out_act, loss=loss,
                 lr=0.1, batch_size=batch, seed=i)
    train(db, Source(str(path)), tnames, settings=s)           # creates the model only
    net = M.load(db)
    W0, b0 = params_as_arrays(M.parameters(db))
    train(db, Source(str(path)), tnames, settings=Settings(epochs=epochs))
    W1, b1 = params_as_arrays(M.parameters(db))
    Wr, br, losses = ref.train(W0, b0, net.activations, loss, X, Y, 0.1, batch, epochs, seed=i)
    assert all(np.isfinite(w).all() for w in Wr + br)            # a real comparison, not of NaNs
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)  # weights after training
    assert any(not np.allclose(a, b) for a, b in zip(W1 + b1, W0 + b0))  # training moved them
    logged = [r[0] for r in db.sql("SELECT loss FROM training_log ORDER BY step").fetchall()]
    np.testing.assert_allclose(logged, losses, rtol=RTOL, atol=ATOL)  # every step's loss
