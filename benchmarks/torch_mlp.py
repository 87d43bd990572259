"""PyTorch CPU float64 baselines: the same networks, losses, SGD and batch sizes as sqlnet.

spec: data (digits | mnist | sparse), mode (dense | sparse), threads, epochs (timed, after
one untimed warm-up epoch), plus the network settings. Each epoch reshuffles with a seeded
torch.randperm; the batch gather (and for sparse mode, building the sparse batch) is timed
as part of the step, as sqlnet's batch selection is.
"""
from __future__ import annotations

import time

import numpy as np


def _data(spec):
    import duckdb
    import datasets
    con = duckdb.connect()
    if spec["data"] == "digits":
        a = con.execute(f"SELECT * FROM read_csv('{datasets.digits()}')").fetchnumpy()
        X = np.stack([a[f"p{i}"].astype(np.float64) for i in range(64)], axis=1)
        return X, a["label"].astype(np.int64), None
    if spec["data"] == "mnist":
        a = con.execute(f"SELECT * FROM '{datasets.mnist(spec.get('rows', 60000))}'").fetchnumpy()
        X = np.stack([a[f"p{i}"] for i in range(784)], axis=1).astype(np.float64)
        return X, a["label"].astype(np.int64), None
    xs, ys = datasets.sparse_wide()
    x = con.execute(f"SELECT row, col, value FROM '{xs}' ORDER BY row, col").fetchnumpy()
    y = con.execute(f"SELECT label FROM '{ys}' ORDER BY row").fetchnumpy()["label"].astype(np.int64)
    import scipy.sparse as sp
    X = sp.csr_matrix((x["value"], (x["row"], x["col"])), shape=(datasets.SPARSE_N, datasets.SPARSE_D))
    return None, y, X


def run(spec):
    import torch
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    X, y, Xs = _data(spec)
    s = spec["settings"]
    widths = [X.shape[1] if X is not None else Xs.shape[1], *s["hidden"], int(y.max()) + 1]
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[s["activation"]]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1], dtype=torch.float64))
        if i < len(widths) - 2:
            layers.append(act())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=s["lr"])
    lossf = torch.nn.CrossEntropyLoss()
    yt = torch.from_numpy(y)
    n = len(y)
    bs = s["batch_size"] or n
    sparse = spec.get("mode") == "sparse"
    if spec["data"] == "sparse" and not sparse:
        X = Xs.toarray()  # 10,000 x 50,000 float64: 4 GB, built before timing
    Xt = torch.from_numpy(X) if X is not None else None
    first, rest = net[0], net[1:]

    def epoch():
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            if sparse:
                sub = Xs[idx.numpy()].tocoo()
                xb = torch.sparse_coo_tensor(np.vstack([sub.row, sub.col]), sub.data,
                                             size=sub.shape, dtype=torch.float64)
                z = torch.sparse.mm(xb, first.weight.t()) + first.bias
                out = rest(z)
            else:
                out = net(Xt[idx])
            loss = lossf(out, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    epoch()  # warm-up, untimed
    times = []
    for _ in range(spec.get("epochs", 3)):
        t = time.perf_counter()
        last = epoch()
        times.append(time.perf_counter() - t)
    return {"times_s": times, "threads": spec["threads"], "mode": spec.get("mode", "dense"),
            "last_loss": last}
