"""The README's examples beyond the main job: its Python blocks and its later sh blocks run."""
import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from sqlnet.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
# Every sh block but the main job and the install-and-test line (both run by
# test_readme.py), in README order.
SH = [code.strip() for lang, code in BLOCKS
      if lang == "sh" and "pip install" not in code]


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_examples_run(code, tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    printed = re.search(r"It prints `(.*?)`", README.split(code, 1)[1]).group(1)
    assert out.strip() == printed                           # what the README says it prints


def run_sh(block: str, where: Path) -> list[str]:
    """Each `sqlnet ...` command of a block (joined by && or on its own line), in where."""
    outputs = []
    old = os.getcwd()
    os.chdir(where)
    try:
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            for part in filter(None, (p.strip() for p in line.split("&&"))):
                argv = shlex.split(part)
                assert argv[0] == "sqlnet", part
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    assert main(argv[1:]) == 0, part
                outputs.append(buf.getvalue())
    finally:
        os.chdir(old)
    return outputs


@pytest.fixture(scope="module")
def sh_outputs(tmp_path_factory):
    """The sh blocks after the main job, run in order in one directory."""
    here = tmp_path_factory.mktemp("readme-eco")
    return [run_sh(block, here) for block in SH]
