"""The README's examples beyond the main job: every later sh block and every Python block,
run in README order in one directory (so that a block may use the files of the one before),
beside the iris files the main job writes.
"""
import contextlib
import importlib.util
import io
import re
import shlex
from pathlib import Path

import pytest

from sqlnet.cli import main

ENGINE_BLOCK = re.compile(r"postgresql://|spark:")  # test_engines.py runs these on real engines
README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
# The main job and the install-and-test line are test_readme.py's; everything else is here.
BLOCKS = [(m.group(1), m.group(2), m.end()) for m in re.finditer(r"```(\w*)\n(.*?)```", README, re.S)
          if m.group(1) == "python" or (m.group(1) == "sh" and "pip install" not in m.group(2)
                                        and not ENGINE_BLOCK.search(m.group(2)))]
OPTIONAL = ("sklearn", "torch", "matplotlib", "pandas", "polars", "pyarrow")
COMMAND_NEEDS = {".pt": "torch", "sqlnet plot": "matplotlib"}  # optional extras of commands


def run_sh(block: str) -> str:
    """Each `sqlnet ...` command of a block (one per line, or joined by &&)."""
    out = io.StringIO()
    for line in block.splitlines():
        line = line.split("  #")[0].strip()
        for part in filter(None, (p.strip() for p in line.split("&&"))):
            argv = shlex.split(part)
            assert argv[0] == "sqlnet", part
            one = io.StringIO()
            with contextlib.redirect_stdout(one):
                assert main(argv[1:]) == 0, part
            out.write(one.getvalue())
            if argv[1] == "gradcheck":      # the example's gradients agree with the differences
                errors = [float(r.split()[3]) for r in one.getvalue().splitlines()[2:]]
                assert errors and max(errors) < 1e-4, one.getvalue()
    return out.getvalue()


def run_python(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    return out.getvalue()


def test_examples_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "iris"]) == 0          # the examples use the main job's data files
    missing = set()
    for lang, code, end in BLOCKS:
        needs = {m for m in OPTIONAL if re.search(rf"^\s*(import|from) {m}\b", code, re.M)}
        needs |= {m for text, m in COMMAND_NEEDS.items() if lang == "sh" and text in code}
        absent = {m for m in needs if importlib.util.find_spec(m) is None}
        if absent:
            missing |= absent
            continue
        out = run_sh(code) if lang == "sh" else run_python(code)
        said = re.match(r"\s*It prints `(.*?)`", README[end:])
        if said:
            assert out.strip() == said.group(1)               # what the README says it prints
    if missing:
        pytest.skip(f"blocks that need {', '.join(sorted(missing))} were not run: not installed")
    assert len(BLOCKS) >= 2
