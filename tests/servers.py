"""Throwaway database servers for the tests, and the checks that say whether an engine can run.

An engine that cannot run makes its tests skip with a reason starting "engine:", or fail
with that reason where SQLNET_REQUIRE_ENGINES=1 (as CI sets it).
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_MAJOR = 15
# Settings for a server whose data may be lost: no waiting on the disk, no WAL beyond what
# crash recovery needs, no JIT compiling (slow for small queries).
PG_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "1GB",
    "jit": "off",
    "timezone": "UTC",
}


def engine_unavailable(engine: str, reason: str):
    """Skip the test (or fail it where SQLNET_REQUIRE_ENGINES=1): the engine cannot run here."""
    message = f"engine: {engine} unavailable: {reason}"
    if os.environ.get("SQLNET_REQUIRE_ENGINES") == "1":
        raise pytest.fail.Exception(message, pytrace=False) from None
    raise pytest.skip.Exception(message) from None


def pg_bindir() -> Path | None:
    """Where PostgreSQL 15's initdb and pg_ctl are, or None."""
    candidates = [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def java_major() -> int | None:
    """The major version of `java` on PATH (8 for 1.8), or None where there is none."""
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if out.returncode or not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a fresh temporary directory, on 127.0.0.1 and a free port.

    Run as root, initdb and pg_ctl run as the postgres OS user, who owns the directory.
    """

    host = "127.0.0.1"
    user = "postgres"

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="sqlnet-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = None
        self.running = False
        self.as_root = os.geteuid() == 0

    def _run(self, *args):
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=120)
        if out.returncode:
            raise RuntimeError(f"{args[0]} failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-2000:]}")

    def start(self, tries: int = 3):
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                  "--no-locale", "--no-sync", "--no-instructions")
        for attempt in range(tries):  # another process may take the free port before we do
            self.port = free_port()
            opts = f"-F -p {self.port} -k {self.dir} " + " ".join(f"-c {k}={v}" for k, v in PG_SETTINGS.items())
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "-o", opts)
                self.running = True
                return self
            except RuntimeError as e:
                if attempt == tries - 1:
                    log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                    raise RuntimeError(f"{e}\n{log}") from None

    def stop(self):
        """Stop the server (at once: its data is thrown away) and remove its directory."""
        if self.running:
            self.running = False
            try:
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def _admin(self, sql: str):
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database's URL."""
        name = f"t_{secrets.token_hex(6)}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str):
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def start_postgres() -> PostgresServer:
    """A running throwaway server, or the test skips (fails under SQLNET_REQUIRE_ENGINES=1) saying why."""
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        engine_unavailable("postgres", f"psycopg is not installed ({e}); pip install -e '.[postgres]'")
    bindir = pg_bindir()
    if bindir is None:
        engine_unavailable("postgres", f"no PostgreSQL {PG_MAJOR} initdb/pg_ctl (apt-get install postgresql-{PG_MAJOR})")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        engine_unavailable("postgres", "running as root, and no runuser to start the server as postgres")
    server = PostgresServer(bindir)
    atexit.register(server.stop)  # also where the session does not end its fixtures
    try:
        return server.start()
    except (RuntimeError, LookupError, OSError, subprocess.TimeoutExpired) as e:  # LookupError: no postgres user
        server.stop()
        engine_unavailable("postgres", f"the server did not start: {e}")


def check_spark():
    """Skip (or fail) unless pyspark imports and a Java >= 17 runs."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        engine_unavailable("spark", f"pyspark is not installed ({e}); pip install -e '.[spark]'")
    major = java_major()
    if major is None:
        engine_unavailable("spark", "`java -version` does not run (apt-get install openjdk-17-jre-headless)")
    if major < 17:
        engine_unavailable("spark", f"Spark 4 needs Java >= 17, `java` is {major}")
