"""--format for sql and inspect, and inspect's sparkline of the loss per epoch."""
import csv
import io
import json

import numpy as np
import pytest

from conftest import write_csv
from sqlnet.cli import main
from sqlnet.db import Database
from sqlnet.show import BARS, sparkline

QUERY = "SELECT layer, fan_in, activation, CAST(NULL AS DOUBLE) AS nothing, 0.125 AS x FROM layers ORDER BY layer"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("show")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(24, 2))
    data = write_csv(d / "r.csv", ["a", "b", "y"], [list(x) + [x[0] - 2 * x[1]] for x in X])
    path = d / "m.duckdb"
    assert main(["train", str(path), "--data", str(data), "--target", "y", "--hidden", "4",
                 "--activation", "tanh", "--epochs", "7", "--batch-size", "6", "--lr", "0.05",
                 "--quiet"]) == 0
    return path


def test_sql_formats_carry_the_same_rows(db, capsys):
    table = run(capsys, "sql", db, QUERY).splitlines()
    assert table[0].split() == ["layer", "fan_in", "activation", "nothing", "x"]
    assert table[1].split() == ["1", "2", "tanh", "NULL", "0.125"]
    rows = list(csv.reader(io.StringIO(run(capsys, "sql", db, QUERY, "--format", "csv"))))
    assert rows == [["layer", "fan_in", "activation", "nothing", "x"],
                    ["1", "2", "tanh", "", "0.125"], ["2", "4", "identity", "", "0.125"]]
    doc = json.loads(run(capsys, "sql", db, QUERY, "--format", "json"))
    assert doc == [{"layer": 1, "fan_in": 2, "activation": "tanh", "nothing": None, "x": 0.125},
                   {"layer": 2, "fan_in": 4, "activation": "identity", "nothing": None, "x": 0.125}]
    md = run(capsys, "sql", db, QUERY, "--format", "markdown").splitlines()
    assert md == ["| layer | fan_in | activation | nothing | x |", "|---:|---:|---|---:|---:|",
                  "| 1 | 2 | tanh | NULL | 0.125 |", "| 2 | 4 | identity | NULL | 0.125 |"]


def test_inspect_json_matches_the_database(db, capsys):
    doc = json.loads(run(capsys, "inspect", db, "--format", "json"))
    with Database(db, read_only=True) as d:
        want = d.sql("SELECT epoch, avg(loss) FROM training_log GROUP BY epoch ORDER BY epoch").fetchall()
        l2 = d.sql("SELECT sqrt(sum(value * value)) FROM weights WHERE layer = 2").fetchone()[0]
    assert doc["model"]["widths"] == [2, 4, 1] and doc["model"]["activations"] == ["tanh", "identity"]
    assert [(e["epoch"], e["mean_loss"]) for e in doc["epochs"]] == want
    assert abs(doc["layers"][1]["l2_norm"] - l2) < 1e-12
    assert doc["training"]["steps"] == 28 and doc["loss_sparkline"] == sparkline([w[1] for w in want])


def test_inspect_prints_a_sparkline_of_the_loss(db, capsys):
    out = run(capsys, "inspect", db)
    line = next(l for l in out.splitlines() if l.startswith("loss per epoch: "))
    bars = line.split()[3]
    assert len(bars) == 7 and set(bars) <= set(BARS)
    assert bars[0] == "█" and bars[-1] == "▁"                # the loss fell, highest first
    for fmt in ("csv", "markdown"):
        assert f"loss per epoch: {bars}" in run(capsys, "inspect", db, "--format", fmt)


def test_sparkline_scale():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BARS
    assert sparkline([2.0, 2.0]) == "▄▄"                      # flat: the middle
    assert sparkline([1.0, float("nan"), 0.0]) == "█ ▁"
    assert len(sparkline(list(range(500)))) == 60             # long runs fit one line
    assert sparkline([]) == ""
