"""export and import: .npz exactly, PyTorch state_dicts through a torch round trip, bad files refused."""
import csv
import io

import numpy as np
import pytest

from conftest import params_as_arrays, write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.db import Database
from test_cli import snapshot

rng = np.random.default_rng(21)
X = rng.normal(size=(25, 4))
LABELS = np.array(["l", "m", "r"])[np.digitize(X[:, 0] + X[:, 3], [-0.5, 0.5])]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trained(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", ["a", "b", "c", "d", "y"], [list(x) + [l] for x, l in zip(X, LABELS)])
    db = tmp_path / "m.duckdb"
    assert run(capsys, "train", db, "--data", data, "--target", "y", "--hidden", "6,5",
               "--activation", "tanh", "--epochs", "3", "--batch-size", "5", "--quiet")[0] == 0
    return tmp_path, db, data


def probabilities(capsys, db, data):
    """sqlnet predict's class probabilities, as the CLI prints them."""
    code, out, _ = run(capsys, "predict", db, "--data", data)
    assert code == 0
    return [(r["prediction"], float(r["probability"])) for r in csv.DictReader(io.StringIO(out))]


def test_npz_round_trip_is_exact(trained, capsys):
    d, db, data = trained
    code, out, _ = run(capsys, "export", db, "--to", d / "m.npz")
    assert code == 0 and out.strip() == f"wrote {d / 'm.npz'} (npz): layers 4,6,5,3"
    f = np.load(d / "m.npz")
    assert sorted(k for k in f.files if not k.startswith("meta.")) == \
        ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    assert f["0.weight"].shape == (6, 4) and f["meta.activations"].tolist() == ["tanh", "tanh", "softmax"]
    with Database(db) as con:
        W, b = params_as_arrays(M.parameters(con))
    assert np.array_equal(f["2.weight"], W[1].T) and np.array_equal(f["4.bias"], b[2])
    # Into another model of the same shape (other seed, other weights): the same numbers.
    other = d / "o.duckdb"
    assert run(capsys, "train", other, "--data", data, "--target", "y", "--hidden", "6,5",
               "--activation", "tanh", "--epochs", "0", "--seed", "9", "--quiet")[0] == 0
    assert probabilities(capsys, other, data) != probabilities(capsys, db, data)
    assert run(capsys, "import", other, "--from", d / "m.npz")[0] == 0
    with Database(other) as con:
        W2, b2 = params_as_arrays(M.parameters(con))
    for got, want in zip(W2 + b2, W + b):
        assert np.array_equal(got, want)                      # bit for bit
    assert probabilities(capsys, other, data) == probabilities(capsys, db, data)


def test_pytorch_round_trip(trained, capsys):
    torch = pytest.importorskip("torch", reason="PyTorch is optional; the .pt format needs it")
    d, db, data = trained
    assert run(capsys, "export", db, "--to", d / "m.pt")[0] == 0
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 5),
                              torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    net.load_state_dict(torch.load(d / "m.pt", weights_only=True))
    x = torch.tensor(X, dtype=torch.float64)
    with torch.no_grad():
        p = torch.softmax(net(x), dim=1).numpy()
    got = probabilities(capsys, db, data)
    classes = np.array(["l", "m", "r"])
    assert [g[0] for g in got] == classes[p.argmax(axis=1)].tolist()
    np.testing.assert_allclose([g[1] for g in got], p.max(axis=1), rtol=1e-12)   # forward agrees
    # A step of training in PyTorch, then back into the database.
    y = torch.tensor(np.searchsorted(classes, LABELS))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    torch.save(net.state_dict(), d / "stepped.pt")
    assert run(capsys, "import", db, "--from", d / "stepped.pt")[0] == 0
    with torch.no_grad():
        p = torch.softmax(net(x), dim=1).numpy()
    got = probabilities(capsys, db, data)
    np.testing.assert_allclose([g[1] for g in got], p.max(axis=1), rtol=1e-12)
    with Database(db) as con:
        from sqlnet.interop import torch_module
        module = torch_module(con, output=True)
    assert [type(m).__name__ for m in module] == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Softmax"]
    with torch.no_grad():
        np.testing.assert_allclose(module(x).numpy(), p, rtol=1e-12)


BAD = [
    ("shapes", "wide.npz", "layer 1 of the model takes weights 6×4"),
    ("layers", "deep.npz", "missing 4.bias, 4.weight"),
    ("not finite", "nan.npz", "not all finite"),
    ("missing file", "none.npz", "no such file"),
    ("not npz", "junk.npz", "cannot read"),
    ("suffix", "weights.txt", "name the file .npz"),
]


@pytest.mark.parametrize("case,name,message", BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_refused_and_change_nothing(trained, capsys, case, name, message):
    d, db, _ = trained
    f = {f"{2 * i}.weight": np.zeros((o, n)) for i, (n, o) in enumerate([(4, 6), (6, 5), (5, 3)])}
    f.update({f"{2 * i}.bias": np.zeros(o) for i, o in enumerate([6, 5, 3])})
    np.savez(d / "wide.npz", **{**f, "0.weight": np.zeros((6, 5))})
    np.savez(d / "deep.npz", **{k: v for k, v in f.items() if not k.startswith("4.")})
    np.savez(d / "nan.npz", **{**f, "2.bias": np.full(5, np.nan)})
    (d / "junk.npz").write_bytes(b"not a zip file")
    (d / "weights.txt").write_text("1 2 3")
    before = snapshot(db)
    code, out, err = run(capsys, "import", db, "--from", d / name)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert snapshot(db) == before


def test_export_needs_a_model_and_a_folder(trained, capsys):
    d, db, _ = trained
    code, _, err = run(capsys, "export", d / "none.duckdb", "--to", d / "x.npz")
    assert code == 2 and "no such database" in err and not (d / "none.duckdb").exists()
    code, _, err = run(capsys, "export", db, "--to", d / "no" / "x.npz")
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
