"""The README's main job as a plain PyTorch script, timed as a whole process (run.py's
user-paths workload): read iris_train.csv and iris_test.csv (written by `sqlnet dataset
iris`), train an MLP with relu hidden units and cross-entropy by SGD on shuffled
mini-batches, then print the test loss and accuracy.

    python benchmarks/torch_main_job.py --train iris_train.csv --test iris_test.csv \\
        --target species --hidden 16 --epochs 60 --batch-size 32 --lr 0.05

CPU, float64, torch's default threads; the CSV is read with the standard csv module, the
text labels sorted into class numbers (as sqlnet sorts them). The import of torch is part
of the process, so part of its time.
"""
from __future__ import annotations

import argparse
import csv


def read(path: str, target: str, classes=None):
    """Features (every column but the target, as floats) and the target's labels."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    feats = [c for c in rows[0] if c != target]
    X = [[float(r[c]) for c in feats] for r in rows]
    labels = [r[target] for r in rows]
    classes = classes or sorted(set(labels))
    return X, [classes.index(v) for v in labels], classes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import torch

    torch.manual_seed(a.seed)
    Xl, yl, classes = read(a.train, a.target)
    X, y = torch.tensor(Xl, dtype=torch.float64), torch.tensor(yl)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], a.hidden, dtype=torch.float64),
                              torch.nn.ReLU(),
                              torch.nn.Linear(a.hidden, len(classes), dtype=torch.float64))
    opt = torch.optim.SGD(net.parameters(), lr=a.lr)
    lossf = torch.nn.CrossEntropyLoss()
    n, steps = len(yl), 0
    for _ in range(a.epochs):
        order = torch.randperm(n)
        for i in range(0, n, a.batch_size):
            idx = order[i:i + a.batch_size]
            opt.zero_grad()
            loss = lossf(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
            steps += 1
    print(f"trained: {a.epochs} epochs, {steps} steps in total, {n} rows, "
          f"last batch's loss {loss.item():.6f}")

    Xt, yt, _ = read(a.test, a.target, classes)
    Xt, yt = torch.tensor(Xt, dtype=torch.float64), torch.tensor(yt)
    with torch.no_grad():
        out = net(Xt)
        test_loss = lossf(out, yt).item()
        acc = (out.argmax(dim=1) == yt).double().mean().item()
    print(f"rows {len(yt)}  loss {test_loss:.6f}  accuracy {acc:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
