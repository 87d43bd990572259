"""A float64 numpy baseline for the iris workload: 4-20-3, sigmoid hidden layer, identity
output, mse (PyTorch's MSELoss convention, as sqlnet's `mse`), full-batch SGD. The initial
weights are sqlnet's own (read from a model sqlnet created with 0 epochs), so the weights
after k steps can be compared with sqlnet's and the recursive CTE's."""
from __future__ import annotations

import time

import numpy as np


def sigmoid(z):
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def train(X, Y, W1, b1, W2, b2, lr, steps):
    W1, b1, W2, b2 = W1.copy(), b1.copy(), W2.copy(), b2.copy()
    n, k = Y.shape
    for _ in range(steps):
        A1 = sigmoid(X @ W1 + b1)
        A2 = A1 @ W2 + b2
        D2 = 2.0 * (A2 - Y) / (n * k)
        D1 = (D2 @ W2.T) * A1 * (1.0 - A1)
        gW2, gb2 = A1.T @ D2, D2.sum(axis=0)
        gW1, gb1 = X.T @ D1, D1.sum(axis=0)
        W1 -= lr * gW1
        b1 -= lr * gb1
        W2 -= lr * gW2
        b2 -= lr * gb2
    return W1, b1, W2, b2


def iris_arrays(spec):
    """X, Y and sqlnet's initial weights for the iris workload."""
    import duckdb
    import datasets
    from sqlnet import model as M
    from sqlnet.data import Source
    from sqlnet.db import Database
    from sqlnet.train import Settings, train as sq_train
    db = Database(duckdb.connect())
    sq_train(db, Source(datasets.iris()), datasets.IRIS_TARGETS, quiet=True,
             settings=Settings(epochs=0, hidden=[20], activation="sigmoid", loss="mse",
                               lr=spec["lr"], batch_size=0, seed=spec.get("seed", 0)))
    n = db.sql("SELECT COUNT(*) FROM train_rows").fetchone()[0]
    X, Y = np.zeros((n, 4)), np.zeros((n, 3))
    for r, c, v in db.sql("SELECT row, col, value FROM train_inputs").fetchall():
        X[r, c] = v
    for r, c, v in db.sql("SELECT row, col, value FROM train_targets").fetchall():
        Y[r, c] = v
    (W1, b1), (W2, b2) = [(np.array(W), np.array(b)) for W, b in M.parameters(db)]
    return db, X, Y, W1, b1, W2, b2


def run_iris(spec):
    _, X, Y, W1, b1, W2, b2 = iris_arrays(spec)
    times = []
    for _ in range(spec.get("repeats", 3)):
        t = time.perf_counter()
        train(X, Y, W1, b1, W2, b2, spec["lr"], spec["steps"])
        times.append(time.perf_counter() - t)
    return {"times_s": times, "steps": spec["steps"]}
