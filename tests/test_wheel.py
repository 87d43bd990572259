"""A wheel built from the repository works outside the checkout, sql/ files included."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_runs_outside_the_checkout(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("sqlnet-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "sqlnet/sql/forward.sql" in names and "sqlnet/datasets/iris_train.csv" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c",
                          "import sqlnet.queries as q, sys; print(q.sql_dir()); "
                          "from sqlnet.cli import main; sys.exit(main(['example', 'tinyml']))"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert str(site) in run.stdout.splitlines()[0]          # the packaged sql/, not the checkout's
    assert "loss afterwards: 0.2384542802724947" in run.stdout
