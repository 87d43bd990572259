"""The test fixtures' own engines: a throwaway PostgreSQL server and a local Spark."""

import os

import pytest


@pytest.mark.postgres
def test_postgres_server_works(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL 15")
        conn.execute("CREATE TABLE t (id int, x double precision)")
        conn.execute("INSERT INTO t VALUES (1, 0.5), (2, -1.25)")
        assert conn.execute("SELECT id, x FROM t ORDER BY id").fetchall() == [(1, 0.5), (2, -1.25)]


@pytest.mark.postgres
def test_each_postgres_url_is_a_new_empty_database(postgres_server, postgres_url):
    import psycopg

    other = postgres_server.create_database()
    try:
        assert other != postgres_url
        assert other.startswith(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/t_")
        for url in (postgres_url, other):
            with psycopg.connect(url) as conn:
                tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
                assert tables == 0
        with psycopg.connect(other) as conn:
            conn.execute("CREATE TABLE only_here (i int)")
        with psycopg.connect(postgres_url) as conn:
            assert conn.execute("SELECT to_regclass('only_here')").fetchone()[0] is None
    finally:
        postgres_server.drop_database(other)
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert other.rsplit("/", 1)[1] not in names and postgres_url.rsplit("/", 1)[1] in names


@pytest.mark.postgres
@pytest.mark.skipif(os.geteuid() != 0, reason="only as root does the server run as another user")
def test_postgres_data_belongs_to_postgres_user_as_root(postgres_server):
    import pwd

    postgres_uid = pwd.getpwnam("postgres").pw_uid
    assert postgres_server.dir.stat().st_uid == postgres_uid
    assert postgres_server.data.stat().st_uid == postgres_uid
    assert postgres_server.log.stat().st_uid == postgres_uid


@pytest.mark.spark
def test_spark_session_runs_sql(spark_session, spark_warehouse):
    assert spark_session.sql("SELECT 1 + 1 AS two").collect()[0].two == 2
    assert spark_warehouse.is_dir() and not any(spark_warehouse.iterdir())


def test_engine_target(engine_target, tmp_path):
    if engine_target.name == "duckdb":
        assert engine_target.target == str(tmp_path / "model.duckdb") and engine_target.warehouse is None
    elif engine_target.name == "postgres":
        assert engine_target.target.startswith("postgresql://") and engine_target.warehouse is None
    else:
        assert engine_target.target == "spark:local[2]" and engine_target.warehouse.is_dir()
