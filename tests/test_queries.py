"""The named statements of sql/: each parsed when first used, and no name defined twice."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqlnet import queries

ROOT = Path(__file__).resolve().parent.parent


def test_a_command_parses_only_the_statements_it_asks_for():
    # A fresh interpreter: importing the CLI parses nothing, query("gradient") parses one.
    code = ("from sqlnet import cli, queries as q\n"
            "n = lambda: q.parsed.cache_info().currsize\n"
            "before = n(); q.query('gradient'); q.query('gradient'); one = n()\n"
            "names = len(q.statements()); known = 'mix' in q.statements(); after = n()\n"
            "q.statements()['mix']\n"
            "print(before, one, after, n(), names > 200, known)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=ROOT, check=True)
    assert r.stdout.split() == ["0", "1", "1", "2", "True", "True"]


def test_a_name_defined_twice_is_refused(tmp_path, monkeypatch):
    (tmp_path / "a.sql").write_text("-- name: twice\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: once\nSELECT 2;\n-- name: twice\nSELECT 3;\n")
    monkeypatch.setattr(queries, "sql_dir", lambda: tmp_path)
    queries._texts.cache_clear()
    try:
        with pytest.raises(ValueError, match="'twice' is named twice"):
            queries.query("once")
    finally:
        monkeypatch.undo()
        queries._texts.cache_clear()
    assert queries.query("gradient") is not None
