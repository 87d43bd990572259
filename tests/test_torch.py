"""Where PyTorch is installed: sqlnet's optimizers and schedules against torch.optim itself,
on the same initial weights and the same batches, in float64."""
import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.data import Source
from sqlnet.train import Settings, train

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")

N, BATCH, EPOCHS, LR = 15, 4, 5, 0.05
CASES = {
    "sgd": ({}, lambda p: torch.optim.SGD(p, lr=LR)),
    "sgd-decay": ({"weight_decay": 0.1}, lambda p: torch.optim.SGD(p, lr=LR, weight_decay=0.1)),
    "momentum": ({"optimizer": "momentum", "momentum": 0.8},
                 lambda p: torch.optim.SGD(p, lr=LR, momentum=0.8)),
    "nesterov": ({"optimizer": "nesterov"},
                 lambda p: torch.optim.SGD(p, lr=LR, momentum=0.9, nesterov=True)),
    "rmsprop": ({"optimizer": "rmsprop", "alpha": 0.9},
                lambda p: torch.optim.RMSprop(p, lr=LR, alpha=0.9, eps=1e-8)),
    "adam": ({"optimizer": "adam", "weight_decay": 0.01},
             lambda p: torch.optim.Adam(p, lr=LR, weight_decay=0.01)),
    "adamw": ({"optimizer": "adamw"}, lambda p: torch.optim.AdamW(p, lr=LR)),
}
SCHEDULES = {
    "step": ({"lr_schedule": "step", "gamma": 0.5, "step_size": 2},
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    "exponential": ({"lr_schedule": "exponential", "gamma": 0.8},
                    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8)),
    "cosine": ({"lr_schedule": "cosine"},
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS)),
}


def run_both(tmp_path, db, controls, make_opt, make_sched=None, clip=None):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(N, 3))
    labels = np.arange(N) % 3
    rng.shuffle(labels)
    path = write_csv(tmp_path / "d.csv", ["a", "b", "c", "label"],
                     [list(x) + [f"k{l}"] for x, l in zip(X, labels)])
    settings = {**controls, **({"clip_norm": clip} if clip else {})}
    train(db, Source(str(path)), ["label"], settings=Settings(
        epochs=0, hidden=[4], activation="tanh", lr=LR, batch_size=BATCH, seed=3, controls=settings))
    (W0, b0) = params_as_arrays(M.parameters(db))
    train(db, Source(str(path)), ["label"], settings=Settings(epochs=EPOCHS))
    W1, b1 = params_as_arrays(M.parameters(db))

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).double()
    with torch.no_grad():
        for layer, W, b in zip((net[0], net[2]), W0, b0):
            layer.weight.copy_(torch.from_numpy(W.T))       # PyTorch's weight is out × in
            layer.bias.copy_(torch.from_numpy(b))
    opt = make_opt(net.parameters())
    sched = make_sched(opt) if make_sched else None
    x, y = torch.from_numpy(X), torch.from_numpy(labels)
    for epoch in range(1, EPOCHS + 1):
        rows = ref.order(N, 3, epoch)
        for start in range(0, N, BATCH):
            idx = rows[start:start + BATCH]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
        if sched:
            sched.step()
    want = [net[0].weight.detach().numpy().T, net[2].weight.detach().numpy().T,
            net[0].bias.detach().numpy(), net[2].bias.detach().numpy()]
    for got, w in zip(W1 + b1, want):
        np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_optimizer_matches_torch(tmp_path, db, name):
    controls, make = CASES[name]
    run_both(tmp_path, db, controls, make)


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_torch(tmp_path, db, name):
    controls, make_sched = SCHEDULES[name]
    run_both(tmp_path, db, {**controls, "optimizer": "momentum"},
             lambda p: torch.optim.SGD(p, lr=LR, momentum=0.9), make_sched)


def test_clipping_matches_torch(tmp_path, db):
    run_both(tmp_path, db, {"optimizer": "adam"}, lambda p: torch.optim.Adam(p, lr=LR), clip=0.05)
