"""Every `sqlnet` line of the README's other shell examples runs as written, in the
directory where the main job left its files."""
import re
import shlex

import pytest

from sqlnet.cli import main
from test_readme import BLOCKS, MAIN, main_job  # noqa: F401 (a fixture)

LINES = [line.strip() for lang, code in BLOCKS if lang == "sh" and code.strip() != MAIN
         for line in code.splitlines() if line.strip().startswith("sqlnet ")]


def test_there_are_examples():
    assert any("--optimizer adam" in line for line in LINES)


def test_examples_run_in_order(main_job, capsys, monkeypatch):
    here, _ = main_job
    monkeypatch.chdir(here)
    for line in LINES:
        assert main(shlex.split(line)[1:]) == 0, (line, capsys.readouterr().err)
        out = capsys.readouterr().out
        if "gradcheck" in line:            # the example's gradients agree with the differences
            errors = [float(r.split()[3]) for r in out.splitlines()[2:]]
            assert errors and max(errors) < 1e-4, out
        if line.startswith("sqlnet evaluate"):
            assert float(re.search(r"accuracy ([0-9.]+)", out).group(1)) >= 0.85, out
