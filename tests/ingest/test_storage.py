"""Schema migrations: idempotent, same relation names on plain PostgreSQL and on TimescaleDB."""

from __future__ import annotations

import psycopg
import pytest

from ingest.storage import RAW_TABLES, migrate, storage_mode, timescale_available

pytestmark = pytest.mark.integration
RELATIONS = {*RAW_TABLES, "ingest_batch", "node_state", "dead_letter", "member", "pos_transaction"}


def relations(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}


def test_plain_postgresql_schema_is_complete_and_idempotent(empty_db_dsn):
    first = migrate(empty_db_dsn, use_timescale=False)
    assert first.applied and not first.timescale
    assert relations(empty_db_dsn) >= RELATIONS
    again = migrate(empty_db_dsn, use_timescale=False)
    assert again.applied == []
    with psycopg.connect(empty_db_dsn) as conn:
        assert storage_mode(conn) == "postgresql"


def test_timescaledb_turns_raw_tables_into_hypertables(empty_db_dsn):
    with psycopg.connect(empty_db_dsn) as conn:
        if not timescale_available(conn):
            pytest.skip("the timescaledb extension is not installed on this machine (plain PostgreSQL covered above)")
    info = migrate(empty_db_dsn)
    assert info.timescale
    assert relations(empty_db_dsn) >= RELATIONS
    with psycopg.connect(empty_db_dsn) as conn:
        hypertables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
        assert storage_mode(conn).startswith("timescaledb")
    assert hypertables == set(RAW_TABLES)
    assert migrate(empty_db_dsn).applied == []


def test_installed_but_not_preloaded_timescaledb_falls_back_to_plain(tmp_path):
    from mallsense.services import PostgresServer

    server = PostgresServer(tmp_path / "pg", fast=True, timescale=False).start()
    try:
        info = migrate(server.dsn)
        assert not info.timescale
        assert relations(server.dsn) >= RELATIONS
    finally:
        server.stop("immediate")
