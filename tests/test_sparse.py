"""Wide sparse inputs (a batch stores fewer inputs than layer 1 has, as bag-of-words data):
plain SGD keeps layer 1's products and moves only the weights the batch reached
(sqlnet.phases.steps, sparse). The trained weights and every step's loss equal the numpy
reference to 1e-9, with plain SGD (the sparse path), with clipping (the sparse path too),
and with optimizers whose state moves every weight (the dense path, chosen for them)."""
import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet import train as T
from sqlnet.data import Source
from sqlnet.train import Settings, train

RTOL, ATOL = 1e-9, 1e-12
N, D, K, BATCH, EPOCHS = 24, 60, 3, 5, 2   # 60 inputs, about 2.5 stored per sample

CASES = {
    "sgd": {},
    "sgd-clip": {"clip_norm": 0.5},
    "momentum": {"optimizer": "momentum", "momentum": 0.8},
    "adam": {"optimizer": "adam"},
    "sgd-decay": {"weight_decay": 0.01},
}


def wide_sparse(rng):
    X = np.zeros((N, D))
    for i in range(N):
        if i == 5:
            continue                              # a sample with no stored input at all
        cols = rng.choice(D, size=int(rng.integers(1, 5)), replace=False)
        X[i, cols] = rng.uniform(0.1, 1.0, size=len(cols))
    labels = np.arange(N) % K
    rng.shuffle(labels)
    return X, np.eye(K)[labels], [[f"c{l}"] for l in labels]


@pytest.mark.parametrize("chunk", [1, 0])     # one statement per step; chunks (the default)
@pytest.mark.parametrize("name", CASES)
def test_wide_sparse_training_matches_reference(tmp_path, db, monkeypatch, name, chunk):
    controls = CASES[name]
    monkeypatch.setattr(T, "CHUNK_STEPS", chunk)
    rng = np.random.default_rng(7 + list(CASES).index(name))
    X, Y, ycols = wide_sparse(rng)
    feats = [f"x{j}" for j in range(D)]
    path = write_csv(tmp_path / "d.csv", feats + ["label"],
                     [list(x) + y for x, y in zip(X, ycols)])
    train(db, Source(str(path)), ["label"], settings=Settings(
        epochs=0, hidden=[4], activation="relu", loss="cross_entropy", lr=0.3,
        batch_size=BATCH, seed=3, controls=controls))
    net = M.load(db)
    assert T.sparse_data(db, net)                   # the data is wide and sparse enough
    seen = []
    steps = T.step_statements
    monkeypatch.setattr(T, "step_statements",
                        lambda n, **k: seen.append(k.get("sparse")) or steps(n, **k))
    W0, b0 = params_as_arrays(M.parameters(db))
    train(db, Source(str(path)), ["label"], settings=Settings(epochs=EPOCHS))
    W1, b1 = params_as_arrays(M.parameters(db))
    c = ref.Controls(**controls)
    Wr, br, losses = ref.train(W0, b0, net.activations, "cross_entropy", X, Y, 0.3, BATCH,
                               EPOCHS, seed=3, controls=c)
    assert seen == [True]
    st = T.Statements.for_run(db, net, 1)
    by_rowid = "clip_norm" not in controls and controls.get("optimizer", "sgd") == "sgd" \
        and not controls.get("weight_decay")      # the lean step hands W¹ over by rowid
    assert ("param_rowid" in st.step.sql("duckdb")) == by_rowid
    assert "param_rowid" not in st.step_full.sql("duckdb")     # last_step keeps the keys
    assert len(st.update_lean) == len(st.update) + by_rowid
    assert all(np.isfinite(w).all() for w in Wr + br)
    untouched = ~X.any(axis=0)                      # inputs no sample has: rows of W¹
    assert untouched.any()
    if controls.get("weight_decay"):   # decay moves every weight, reached or not
        assert not np.allclose(W1[0][untouched], W0[0][untouched])
    else:                              # a weight no batch ever reached stays exactly as it was
        np.testing.assert_array_equal(W1[0][untouched], W0[0][untouched])
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    logged = [r[0] for r in db.sql("SELECT loss FROM training_log ORDER BY step").fetchall()]
    np.testing.assert_allclose(logged, losses, rtol=RTOL, atol=ATOL)


def test_the_sparse_step_reads_layer_1_weights_only_through_its_products():
    """The composed statement: with sparse, layer 1's weights are read once (p1), and the
    gradient and update take them from there; optimizers with state keep the dense path."""
    from sqlnet import phases
    net = M.Network([50, 4, 2], loss="cross_entropy").check()
    lean, _ = phases.steps(net, sparse=True)
    sql = lean.sql("duckdb")
    assert "p1" in sql and "param" in sql
    assert sql.count("FROM weights AS w") + sql.count("JOIN weights AS w") == 4  # p1, z2, Δ¹, params
    assert "w.layer > 1" in sql
    adam = M.Network([50, 4, 2], loss="cross_entropy",
                     controls=M.Controls(optimizer="adam")).check()
    assert "p1" not in phases.steps(adam, sparse=True)[0].sql("duckdb")
