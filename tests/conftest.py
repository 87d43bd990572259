import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from servers import check_spark, start_postgres

from sqlnet.db import Database


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in r])
    return path


def model_connection(path, model: str = "sqlnet"):
    """A plain DuckDB connection to a database file, looking in a model's schema first (as
    any DuckDB client can: SET search_path)."""
    import duckdb
    con = duckdb.connect(str(path))
    if con.execute("SELECT COUNT(*) FROM duckdb_schemas() WHERE schema_name = ?", [model]).fetchone()[0]:
        con.execute(f"SET search_path = '{model},main'")   # (a run killed early made none yet)
    return con


def as_version_2(path) -> None:
    """Make a database file look as schema version 2 left it: the default model's tables in
    the user's schema, main."""
    import duckdb
    con = duckdb.connect(str(path))
    views = con.execute("SELECT view_name, sql FROM duckdb_views() WHERE schema_name = 'sqlnet'").fetchall()
    for name, in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'sqlnet'").fetchall():
        con.execute(f'CREATE TABLE main."{name}" AS SELECT * FROM sqlnet."{name}"')
    con.execute("DROP SCHEMA sqlnet CASCADE")
    for _, sql in views:
        con.execute(sql.replace("sqlnet.", ""))
    con.execute("UPDATE sqlnet_meta SET value = '2' WHERE key = 'schema_version'")
    con.close()


def params_as_arrays(params):
    return [np.array(W, dtype=float) for W, _ in params], [np.array(b, dtype=float) for _, b in params]


@pytest.fixture
def db():
    d = Database(":memory:")
    yield d
    d.close()


# Engines besides DuckDB. Where one cannot run here, its tests skip saying "engine: ..."
# (fail under SQLNET_REQUIRE_ENGINES=1, as in CI); `-m "not postgres and not spark"` leaves them out.


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL 15 server for the session: .host, .port, .url(), .create_database()."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a new empty database on the session's server, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def spark_available():
    check_spark()
    # Spark looks its host's name up before reading any setting: where that name does not
    # resolve it cannot start, unless told its address here.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("SPARK_LOCAL_HOSTNAME", "localhost")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers run this venv's Python


@pytest.fixture
def spark_warehouse(spark_available, tmp_path):
    """A new empty directory for a test's Spark tables."""
    path = tmp_path / "spark-warehouse"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def spark_session(spark_available, tmp_path_factory):
    """One local Spark for the session, which SparkSession.builder.getOrCreate() then returns.

    Static settings (the warehouse directory among them) are fixed by this first start.
    """
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("sqlnet-tests")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


@dataclass
class EngineTarget:
    name: str  # "duckdb", "postgres" or "spark"
    target: str  # what Database() takes: a DuckDB file, a postgresql:// URL, "spark:local[2]"
    warehouse: Path | None = None  # Spark's table directory (Spark only)


@pytest.fixture(params=[
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
])
def engine_target(request, tmp_path):
    """Each engine in turn, with a new empty database (or warehouse) for the test."""
    if request.param == "duckdb":
        return EngineTarget("duckdb", str(tmp_path / "model.duckdb"))
    if request.param == "postgres":
        return EngineTarget("postgres", request.getfixturevalue("postgres_url"))
    request.getfixturevalue("spark_session")
    return EngineTarget("spark", "spark:local[2]", request.getfixturevalue("spark_warehouse"))
