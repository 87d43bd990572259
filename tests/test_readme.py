"""Every command and query of the README works as written."""
import re
import shlex
from pathlib import Path

import pytest

from sqlnet.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
MAIN = next(code for lang, code in BLOCKS if lang == "sh" and "sqlnet train" in code).strip()
QUERIES = [code.strip() for lang, code in BLOCKS if lang == "sql"]


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """The README's first command, run step by step in an empty directory."""
    here = tmp_path_factory.mktemp("readme")
    outputs = []
    import contextlib, io, os
    old = os.getcwd()
    os.chdir(here)
    try:
        for part in MAIN.split("&&"):
            argv = shlex.split(part)
            if argv[:2] == ["pip", "install"]:
                continue                       # the test environment has sqlnet installed
            assert argv[0] == "sqlnet"
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert main(argv[1:]) == 0, part
            outputs.append(buf.getvalue())
    finally:
        os.chdir(old)
    return here, outputs


def test_main_job_trains_and_reports_accuracy(main_job):
    _, outputs = main_job
    scores = next(o for o in outputs if o.startswith("rows "))
    accuracy = float(re.search(r"accuracy ([0-9.]+)", scores).group(1))
    assert accuracy >= 0.9                     # held-out iris flowers
    assert outputs[-1].split()[:4] == ["layer", "row", "col", "value"]
    assert len(outputs[-1].strip().splitlines()) == 6


def test_printed_output_is_what_the_job_prints(main_job):
    _, outputs = main_job
    shown = README.split("It prints")[1].split("```")[1]
    for line in ("rows 30  loss 0.160841  accuracy 0.966667",):
        assert line in shown and line in "".join(outputs)


@pytest.mark.parametrize("query", QUERIES, ids=[q.split("\n")[0][:40] for q in QUERIES])
def test_inspection_queries_run(main_job, query, capsys):
    here, _ = main_job
    assert main(["sql", str(here / "iris.duckdb"), query]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) >= 2                       # a header and at least one row


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(l for l in ci.splitlines() if "pytest" in l).strip()
    assert command in README
