"""Database schema management: migrations, and TimescaleDB features when the extension is available.

The same relation names exist in both modes; only their physical form differs (hypertables vs plain tables).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import psycopg

from ingest import rollups

if TYPE_CHECKING:
    from ingest.policies import StoragePolicy

log = logging.getLogger(__name__)

RAW_TABLES = ("crossing", "occupancy", "track_position", "wifi_sighting", "wifi_count", "ble_sighting", "zone_event")


@dataclass(frozen=True)
class StorageInfo:
    timescale: bool
    timescale_version: str | None
    applied: list[str]


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("ingest") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def schema_version() -> str:
    """A short digest of every migration's name and text: equal digests, equal schemas."""
    return hashlib.sha256("\n".join(f"{n}\n{t}" for n, t in _migrations()).encode()).hexdigest()[:12]


def timescale_available(conn: psycopg.Connection) -> bool:
    """The extension is installed on the server *and* preloaded (it cannot be created otherwise)."""
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if row is None:
        return False
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        return True
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
    if "timescaledb" not in preload:
        log.warning("timescaledb is installed but not in shared_preload_libraries: using plain PostgreSQL")
        return False
    return True


def migrate(dsn: str, *, use_timescale: bool | None = None, policy: StoragePolicy | None = None) -> StorageInfo:
    """Bring the database to the current schema (idempotent). ``use_timescale=None`` means: if installed.

    With a ``policy`` on TimescaleDB, compression and retention jobs are installed too (plain PostgreSQL: ingest
    enforces retention itself; ``dead_letter`` is a plain table in both modes, purged by ingest's retention job).
    Tests and the demo, which replay past days, leave it out.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration (name text PRIMARY KEY, applied timestamptz DEFAULT now())"
        )
        # one migrator at a time: several ingest workers may start together
        conn.execute("SELECT pg_advisory_lock(hashtext('mallsense.migrate'))")
        try:
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migration")}
            applied = []
            for name, sql in _migrations():
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migration (name) VALUES (%s)", (name,))
                applied.append(name)
                log.info("applied migration %s", name)
            want_ts = timescale_available(conn) if use_timescale is None else use_timescale
            version = _enable_timescale(conn) if want_ts else None
            applied += rollups.ensure(conn, timescale=version is not None)
            if policy is not None and version is not None:
                from ingest.policies import apply_timescale

                apply_timescale(conn, policy)
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(hashtext('mallsense.migrate'))")
    return StorageInfo(timescale=version is not None, timescale_version=version, applied=applied)


def _enable_timescale(conn: psycopg.Connection) -> str:
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]
    for table in RAW_TABLES:
        conn.execute(
            "SELECT create_hypertable(%s::regclass, 'ts', chunk_time_interval => INTERVAL '1 day',"
            " if_not_exists => true, migrate_data => true)",
            (table,),
        )
    return version


def storage_mode(conn: psycopg.Connection) -> str:
    """'timescaledb <version>' or 'postgresql' (what the cockpit and `mallsense status` show)."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return f"timescaledb {row[0]}" if row else "postgresql"
