"""Property-based tests: random networks against the reference, random files against the loader."""
import csv
import io
import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import params_as_arrays, write_csv
import reference as ref
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.data import Source
from sqlnet.db import Database
from sqlnet.train import Settings, train

ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]


@st.composite
def problems(draw):
    loss = draw(st.sampled_from(["half_sse", "mse", "cross_entropy", "bce"]))
    n_in, k = draw(st.integers(1, 4)), draw(st.integers(2, 3))
    hidden = draw(st.lists(st.integers(1, 4), max_size=3))
    n = draw(st.integers(k, 9))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)) * (rng.random(size=(n, n_in)) < 0.7)
    if loss == "cross_entropy":
        labels = np.arange(n) % k
        Y, cells = np.eye(k)[labels], [[f"c{l}"] for l in labels]
    elif loss == "bce":
        Y = (rng.random(size=(n, k)) < 0.5).astype(float)
        cells = Y.tolist()
    else:
        Y = rng.normal(size=(n, k))
        cells = Y.tolist()
    out = None if loss in ("cross_entropy", "bce") else draw(st.sampled_from(["identity", "sigmoid", "tanh"]))
    return dict(loss=loss, act=draw(st.sampled_from(ACTS)), hidden=hidden, X=X, Y=Y, cells=cells,
                out=out, seed=seed, batch=draw(st.sampled_from([0, 1, 2, 3])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_sql_gradients_equal_the_reference(p):
    with tempfile.TemporaryDirectory() as d:
        n_in, tn = p["X"].shape[1], (["t"] if p["loss"] == "cross_entropy" else [f"t{j}" for j in range(p["Y"].shape[1])])
        path = write_csv(d + "/p.csv", [f"x{j}" for j in range(n_in)] + tn,
                         [list(x) + c for x, c in zip(p["X"], p["cells"])])
        with Database(":memory:") as db:
            train(db, Source(str(path)), tn, settings=Settings(
                epochs=0, hidden=p["hidden"], activation=p["act"], output_activation=p["out"],
                loss=p["loss"], lr=0.05, batch_size=p["batch"], seed=p["seed"] % 1000, shuffle=False))
            net = M.load(db)
            W0, b0 = params_as_arrays(M.parameters(db))
            train(db, Source(str(path)), tn, settings=Settings(epochs=1))
            size = p["batch"] or len(p["X"])
            last = list(range(len(p["X"])))[((len(p["X"]) - 1) // size) * size:]
            Wr, br, _ = ref.train(W0, b0, net.activations, p["loss"], p["X"], p["Y"], 0.05,
                                  p["batch"], 1, seed=0, shuffle=False,
                                  max_steps=(len(p["X"]) - 1) // size)
            _, gW, gb = ref.gradients(Wr, br, net.activations, p["loss"], p["X"][last], p["Y"][last])
            for layer, (gw, g) in enumerate(zip(gW, gb), start=1):
                rows = db.sql("SELECT row, col, value FROM last_step WHERE kind = 'gradient' "
                              "AND layer = ?", [layer]).fetchall()
                got_w, got_b = np.zeros_like(gw), np.zeros_like(g)
                for r, c, v in rows:
                    if r < 0:
                        got_b[c] = v
                    else:
                        got_w[r, c] = v
                np.testing.assert_allclose(got_w, gw, rtol=1e-9, atol=1e-12)   # ∂L/∂W
                np.testing.assert_allclose(got_b, g, rtol=1e-9, atol=1e-12)    # ∂L/∂b


CELLS = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
                  st.integers(-5, 5).map(str), st.sampled_from(["", "nan", "inf", "abc", '"1,5"', " 2 ", "1e999", "-0"]),
                  st.text(alphabet='ab,"\n\r;é ', max_size=4))


@st.composite
def tables(draw):
    width = draw(st.integers(1, 4))
    header = draw(st.lists(st.sampled_from(["a", "b", "y", "a b", "ä", ""]), min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(CELLS, min_size=max(0, width - 1), max_size=width + 1), max_size=6))
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    return text.getvalue().encode()


@st.composite
def numeric_tables(draw):
    """Mostly well-formed numeric tables, so that the loading path is exercised too."""
    number = st.one_of(st.floats(-1e6, 1e6, allow_nan=False, width=32).map(repr),
                       st.integers(-9, 9).map(str), st.just("0"))
    rows = draw(st.lists(st.lists(st.one_of(number, st.sampled_from(["", "nan"])) if draw(st.booleans())
                                  else number, min_size=3, max_size=3), min_size=1, max_size=6))
    return ("a,b,y\n" + "".join(",".join(r) + "\n" for r in rows)).encode()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(tables(), numeric_tables(), st.binary(max_size=200)))
def test_loader_loads_or_refuses_cleanly(content):
    with tempfile.TemporaryDirectory() as d:
        path, db = os.path.join(d, "f.csv"), os.path.join(d, "m.duckdb")
        with open(path, "wb") as f:
            f.write(content)
        import contextlib
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["train", db, "--data", path, "--target", "y", "--epochs", "0", "--quiet"])
        assert code in (0, 2), err.getvalue()
        lines = err.getvalue().strip().splitlines()
        if code == 2:
            assert len(lines) == 1 and lines[0].startswith("sqlnet: error: ")
            assert not os.path.exists(db)             # nothing left behind
        else:
            _check_loaded(path, db)


def _check_loaded(path, db):
    """What was loaded is what the file says: every stored input is its cell's number."""
    with Database(db) as d:
        names = [r[0] for r in d.sql("SELECT name FROM feature_names ORDER BY col").fetchall()]
        stored = {(r, c): v for r, c, v in d.sql("SELECT row, col, value FROM train_inputs").fetchall()}
        n = d.sql("SELECT COUNT(*) FROM train_rows").fetchone()[0]
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows)
    for r, row in enumerate(rows):
        for c, name in enumerate(names):
            cell = row[name].strip()
            want = float(cell) if cell not in ("true", "false") else float(cell == "true")
            assert stored.get((r, c), 0.0) == want
