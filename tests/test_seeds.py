"""The worked examples of the four seed documents, reproduced with their own numbers."""
import numpy as np
import pytest

from sqlnet import model as M
from sqlnet.data import Source
from sqlnet.examples import EXAMPLES, run_example, setup, targets
from sqlnet.predict import evaluate
from sqlnet.train import Settings, train


def step_once(db, name):
    ex = EXAMPLES[name]
    setup(db, ex)
    train(db, Source(table="example_data", own=True), targets(ex), settings=Settings(epochs=ex.epochs))
    return ex


def tape(db, kind, layer):
    rows = db.sql("SELECT row, col, value FROM last_step WHERE kind = ? AND layer = ? "
                  "ORDER BY row, col", [kind, layer]).fetchall()
    R, C = 1 + max(r for r, _, _ in rows), 1 + max(c for _, c, _ in rows)
    out = np.zeros((R, C))
    for r, c, v in rows:
        out[r, c] = v
    return out


def loss(db):
    return db.sql("SELECT value FROM last_step WHERE kind = 'loss'").fetchone()[0]


def params(db):
    return [(np.array(W), np.array(b)) for W, b in M.parameters(db)]


def test_tinyml_003(db):
    step_once(db, "tinyml")
    np.testing.assert_allclose(tape(db, "activation", 2), [[0.8265, 0.88325]], rtol=1e-12)
    assert loss(db) == pytest.approx(0.39465, abs=5e-6)        # the document rounds to 5 places
    np.testing.assert_allclose(tape(db, "delta", 1), [[0.3985375, 0.4695125]], rtol=1e-12)
    (W1, b1), (W2, b2) = params(db)
    # The document's text says b1 = 0.40 before the step; its code (and the forward values it
    # prints) use 0.30, so the correct new b1 is 0.30 − 0.1·∂L/∂b1.
    np.testing.assert_allclose(b1, [0.30 - 0.03985375, 0.30 - 0.04695125], rtol=1e-12)
    np.testing.assert_allclose(W2, [[0.5 + 0.1 * 0.1635 * 0.545, 0.55 - 0.1 * 0.87325 * 0.545],
                                    [0.6 + 0.1 * 0.1635 * 0.59, 0.65 - 0.1 * 0.87325 * 0.59]],
                               rtol=1e-12)
    after = evaluate(db, Source(table="example_data", own=True), ["y0", "y1"])["loss"]
    assert after == pytest.approx(0.2384542802724947, rel=1e-12)  # the document's new loss


def test_sql_000(db):
    step_once(db, "sql")
    np.testing.assert_allclose(tape(db, "z", 1), [[50, 59]], rtol=1e-15)
    np.testing.assert_allclose(tape(db, "activation", 2), [[291, 400, 509]], rtol=1e-15)
    assert loss(db) == pytest.approx(0.5 + 0.5 + 8)            # the post's loss vector, summed
    # The post's gradients: ∂L/∂W2 = h·(y_out − target), then back through W2 and the relu.
    np.testing.assert_allclose(tape(db, "delta", 1), [[15, 33]], rtol=1e-15)
    (W1, b1), (W2, b2) = params(db)
    np.testing.assert_allclose(W2, [[-4, -3, -17], [-1.9, -0.9, -17.6]], rtol=1e-12)
    np.testing.assert_allclose(W1, [[0.5, -0.3], [-0.5, -4.9], [-1.5, -9.5]], rtol=1e-12)
    # Node biases move by lr·δ. The post's bias per edge would move each unit's summed bias
    # fan_in times as far (b2 → [4.8, 4.8, 4.2], b1 → [1.5, −3.9]); one bias per unit is the
    # usual network, and what sqlnet trains.
    np.testing.assert_allclose(b2, [4.9, 4.9, 4.6], rtol=1e-12)
    np.testing.assert_allclose(b1, [4.5, 2.7], rtol=1e-12)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_sigmoid_001(db):
    step_once(db, "sigmoid")
    X = np.array(EXAMPLES["sigmoid"].X)
    y = np.array([[1.0], [0.85], [0.4]])
    W1, W2 = np.array([[.25], [1], [.25], [1]]), np.array([[.5]])
    # The values the document prints, to its 8 decimals:
    np.testing.assert_allclose(tape(db, "activation", 1),
                               [[0.78583498], [0.70056714], [0.73105858]], atol=5e-9)
    out = tape(db, "activation", 2)
    np.testing.assert_allclose(out, [[0.59698483], [0.58668634], [0.59037826]], atol=5e-9)
    np.testing.assert_allclose(2 * (y - out), [[0.80603034], [0.52662731], [-0.38075651]], atol=5e-9)
    # Its derivative is σ(ŷ)(1 − σ(ŷ)), the sigmoid applied twice; its new W2 = 0.66591155 and
    # W1 come from that mistake, which this recomputation shows ...
    h, o = sigmoid(X @ W1), sigmoid(sigmoid(X @ W1) @ W2)
    wrong = 2 * (y - o) * sigmoid(o) * (1 - sigmoid(o))
    assert (W2 + h.T @ wrong)[0, 0] == pytest.approx(0.66591155, abs=5e-9)
    # ... while the correct step uses ŷ(1 − ŷ). sqlnet's step (half_sse with lr 2·n = 6, the
    # same as the document's Σ(y − ŷ)² with no learning rate) is the correct one:
    d2 = 2 * (y - o) * o * (1 - o)
    d1 = (d2 @ W2.T) * h * (1 - h)
    (nW1, _), (nW2, _) = params(db)
    np.testing.assert_allclose(nW2, W2 + h.T @ d2, rtol=1e-12)
    np.testing.assert_allclose(nW1, W1 + X.T @ d1, rtol=1e-12)
    assert nW2[0, 0] != pytest.approx(0.66591155, abs=1e-3)


def julia_train(beta, epochs):
    """The document's train! loop, transcribed: per sample, in order, old weights for all."""
    W1, W2, b1, b2 = 1.15, 0.35, 0.0, 0.0
    errors = []
    for _ in range(epochs):
        for x in range(13):
            y = 5 * x + 3
            a1 = W1 * x + b1
            a2 = W2 * a1 + b2
            d2 = a2 - y
            d1 = W2 * d2
            b2 -= beta * d2
            b1 -= beta * d1
            W2 -= beta * d2 * a1
            W1 -= beta * d1 * x
            errors.append((y - a2) ** 2)
    return (W1, W2, b1, b2), errors


def test_julia_002(db):
    ex = step_once(db, "julia")
    (W1, b1), (W2, b2) = params(db)
    (jW1, jW2, jb1, jb2), errors = julia_train(ex.lr, ex.epochs)
    # Same per-sample order and update order as the document's code, step for step:
    np.testing.assert_allclose([W1[0, 0], W2[0, 0], b1[0], b2[0]], [jW1, jW2, jb1, jb2], rtol=1e-9)
    logged = [2 * r[0] for r in db.sql("SELECT loss FROM training_log ORDER BY step").fetchall()]
    np.testing.assert_allclose(logged, errors, rtol=1e-9, atol=1e-12)  # residuals near 0 cancel
    # And the trained network reproduces f(x) = 5x + 3:
    xs = np.arange(13.0)
    assert np.max(np.abs(W2[0, 0] * (W1[0, 0] * xs + b1[0]) + b2[0] - (5 * xs + 3))) < 1e-3
    assert errors[-1] < 1e-8      # the document ends at 1.068e-09 with its own rate


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_prints_every_phase(db, name, capsys):
    if EXAMPLES[name].epochs > 1:
        EXAMPLES[name].epochs, epochs = 3, EXAMPLES[name].epochs
    else:
        epochs = None
    try:
        import io
        buf = io.StringIO()
        run_example(db, EXAMPLES[name], out=buf)
    finally:
        if epochs:
            EXAMPLES[name].epochs = epochs
    text = buf.getvalue()
    assert "weights after training" in text and "loss afterwards" in text
    if EXAMPLES[name].epochs == 1:
        for part in ("Z1 =", "A2 =", "Δ1 =", "∂L/∂W1", "∂L/∂b2"):
            assert part in text
