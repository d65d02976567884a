"""Suite-wide fixtures: a private PostgreSQL and a private Mosquitto on free ports, started by the tests themselves."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ingest.storage import migrate
from mallsense.services import MosquittoServer, PostgresServer
from tests.month import Month, build_month

REPO = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    return Path(os.environ.get("MALLSENSE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def service_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mallsense-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(service_root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(service_root / "pg", fast=True).start()
    yield server
    server.stop("immediate")


@pytest.fixture(scope="session")
def mqtt_server(service_root: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(service_root / "mqtt").start()
    yield server
    server.stop()


def _new_database(server: PostgresServer) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.dsn.replace("dbname=mallsense", f"dbname={name}")


@pytest.fixture
def db_dsn(pg_server: PostgresServer) -> str:
    """A new, migrated database on the suite's private server."""
    dsn = _new_database(pg_server)
    migrate(dsn)
    return dsn


@pytest.fixture
def empty_db_dsn(pg_server: PostgresServer) -> str:
    """A new database without the schema (for migration tests)."""
    return _new_database(pg_server)


@pytest.fixture(scope="session")
def month_db(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Month:
    """30 simulated days of the demo mall with ground truth, in a database of the suite's server (built once)."""
    return build_month(pg_server, tmp_path_factory.mktemp("month"))
