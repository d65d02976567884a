"""The cockpit tests use the suite's private PostgreSQL: a new, fully migrated database per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def pg_dsn(db_dsn: str) -> str:
    """DSN of a new database on the suite's own server, with the whole schema (see tests/conftest.py)."""
    return db_dsn
