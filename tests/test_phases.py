"""sqlnet phases: the printed statements are the ones that run; run by hand, they take a step."""
import re

import numpy as np
import pytest
import sqlglot

import reference as ref
from conftest import params_as_arrays, write_csv
from sqlnet import model as M
from sqlnet.cli import main
from sqlnet.db import Database
from sqlnet.listing import phases
from sqlnet.queries import render

rng = np.random.default_rng(17)
X, Y = rng.normal(size=(11, 3)), rng.normal(size=(11, 2))
ACTS, LR, BATCH, SEED = ["sigmoid", "sigmoid", "tanh"], 0.2, 4, 5


@pytest.fixture
def fresh(tmp_path):
    """A model with its training data loaded and no step taken."""
    data = write_csv(tmp_path / "r.csv", ["a", "b", "c", "y1", "y2"], [list(x) + list(y) for x, y in zip(X, Y)])
    db = tmp_path / "m.duckdb"
    assert main(["train", str(db), "--data", str(data), "--target", "y1,y2", "--hidden", "4,3",
                 "--activation", "sigmoid", "--output-activation", "tanh", "--loss", "half_sse",
                 "--lr", str(LR), "--batch-size", str(BATCH), "--seed", str(SEED), "--epochs", "0",
                 "--quiet"]) == 0
    return db


def printed(capsys, *argv):
    assert main(["phases", *map(str, argv)]) == 0
    text = capsys.readouterr().out
    chunks = [c for c in text.split("\n\n") if re.match(r"-- \d+\. ", c)]
    return [(c.split("\n", 1)[0].split()[2], c.split("\n", 1)[1].rstrip().removesuffix(";")) for c in chunks], text


CHUNK_PATH = ["epoch_rows", "epoch_inputs", "epoch_targets", "batch_count", "chunk",
              "apply_weights", "apply_biases", "log_chunk"]
STEP_PATH = ["epoch_rows", "epoch_inputs", "epoch_targets", "step", "step_full", "apply_weights",
             "apply_biases", "log_step"]
BATCHES = -(-len(X) // BATCH)


def by_hand(fresh, stmts, values, steps):
    """Run the printed statements with these bound values; the weights against the
    reference's first `steps` SGD steps, and the logged losses."""
    with Database(fresh) as db:
        W0, b0 = params_as_arrays(M.parameters(db))
        for name, sql in stmts:
            db.sql(sql, {k: values[k] for k in set(re.findall(r"\$(\w+)", sql))})
        W1, b1 = params_as_arrays(M.parameters(db))
        logged = [r[0] for r in db.sql("SELECT loss FROM training_log ORDER BY step").fetchall()]
    Wr, br, losses = ref.train(W0, b0, ACTS, "half_sse", X, Y, LR, BATCH, 1, SEED, max_steps=steps)
    for got, want in zip(W1 + b1, Wr + br):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(logged, losses[:steps], rtol=1e-12, atol=1e-12)


def test_printed_statements_take_the_reference_steps(fresh, capsys):
    """DuckDB's listing: the chunk path (two steps in one statement), then a step's own."""
    stmts, _ = printed(capsys, fresh)
    assert [name for name, _ in stmts] == CHUNK_PATH + STEP_PATH
    by_hand(fresh, stmts[:len(CHUNK_PATH)], {
        "epoch": 1, "last": 1, "batches": BATCHES, "run": 1, "k": 2, "batch": 0, "first": 1,
        "done": 0, "epochs": 1, "slot": 0, "slots": BATCHES, "lo": 0, "hi": 1, "model": 0,
        "wall_ms": 0.0}, steps=2)


def test_printed_step_statements_take_the_reference_step(fresh, capsys):
    stmts, _ = printed(capsys, fresh)
    values = {"epoch": 1, "batch": 0, "run": 1, "step": 1, "wall_ms": 0.0, "e": 0, "epochs": 1,
              "batches": BATCHES}
    by_hand(fresh, [s for s in stmts[len(CHUNK_PATH):] if s[0] != "step_full"], values, steps=1)


def test_printed_text_is_what_the_loop_renders(fresh, capsys):
    stmts, _ = printed(capsys, fresh)
    with Database(fresh, read_only=True) as db:
        net = M.load(db)
    assert [sql for _, sql in stmts] == [render(p.tree) for p in phases(net, rows=len(X))]
    pretty, _ = printed(capsys, fresh, "--pretty")
    for (_, compact), (_, laid_out) in zip(stmts, pretty):
        assert "\n" in laid_out or len(laid_out) < 100
        assert sqlglot.parse_one(laid_out, read="duckdb").sql("duckdb", comments=False) == \
            sqlglot.parse_one(compact, read="duckdb").sql("duckdb")    # the same statement


@pytest.mark.parametrize("dialect", ["postgres", "spark"])
def test_other_dialects_are_transpiled_and_say_so(fresh, capsys, dialect):
    stmts, text = printed(capsys, fresh, "--dialect", dialect)
    assert f"As sqlnet runs them on {dialect}" in text
    assert [name for name, _ in stmts] == STEP_PATH[:3] + ["batch_count"] + STEP_PATH[3:]
    for _, sql in stmts:
        for one in sql.split(";\n"):                           # PostgreSQL replaces a table in 5
            sqlglot.parse_one(one, read=dialect)               # valid in that dialect's grammar
    duck, _ = printed(capsys, fresh)
    assert [s for _, s in stmts] != [s for _, s in duck]


def test_unknown_dialect_or_database(tmp_path, capsys):
    assert main(["phases", str(tmp_path / "none.duckdb")]) == 2
    assert "no such database" in capsys.readouterr().err
    assert main(["phases", str(tmp_path / "none.duckdb"), "--dialect", "oracle"]) == 2
    assert "invalid choice" in capsys.readouterr().err
