"""Storage policies: how long each table keeps rows and when TimescaleDB compresses them.

Device-level rows (WiFi and BLE sightings keyed by rotating hashes) are kept no longer than the site's key-rotation
window plus one day of grace for late data, so a device can never be linked beyond what the privacy mode allows.
On TimescaleDB the policies are background jobs (``add_retention_policy``, ``add_compression_policy``); on plain
PostgreSQL ingest calls :func:`enforce_retention` periodically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from ingest.storage import RAW_TABLES

log = logging.getLogger(__name__)
DEVICE_TABLES = ("wifi_sighting", "ble_sighting")


@dataclass(frozen=True)
class StoragePolicy:
    """Retention in days per raw table, and the age after which TimescaleDB compresses chunks."""

    retention_days: dict[str, int] = field(default_factory=lambda: {
        "crossing": 800, "occupancy": 400, "track_position": 90, "wifi_sighting": 2, "wifi_count": 800,
        "ble_sighting": 2, "zone_event": 400})
    compress_after_days: int = 7

    @classmethod
    def for_privacy(cls, rotation_days: int, **overrides: int) -> StoragePolicy:
        """Device-level tables keep rotation window + 1 day; other tables keep the defaults unless overridden."""
        days = {**cls().retention_days, **overrides}
        for table in DEVICE_TABLES:
            days[table] = min(days.get(table, rotation_days + 1), rotation_days + 1)
        unknown = set(days) - set(RAW_TABLES)
        if unknown:
            raise ValueError(f"no retention for unknown tables {sorted(unknown)}")
        return cls(retention_days=days)


def apply_timescale(conn: psycopg.Connection, policy: StoragePolicy) -> None:
    """Install compression and retention jobs (idempotent; autocommit connection)."""
    for table in RAW_TABLES:
        conn.execute(
            f"ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = 'site, sensor',"
            " timescaledb.compress_orderby = 'ts DESC')"
        )
        conn.execute("SELECT remove_compression_policy(%s::regclass, if_exists => true)", (table,))
        conn.execute("SELECT add_compression_policy(%s::regclass, make_interval(days => %s))",
                     (table, policy.compress_after_days))
        conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => true)", (table,))
        conn.execute("SELECT add_retention_policy(%s::regclass, make_interval(days => %s))",
                     (table, policy.retention_days[table]))


def enforce_retention(conn: psycopg.Connection, policy: StoragePolicy) -> dict[str, int]:
    """Plain PostgreSQL: delete rows older than each table's retention; returns rows deleted per table."""
    deleted = {}
    for table, days in policy.retention_days.items():
        cur = conn.execute(f"DELETE FROM {table} WHERE ts < now() - make_interval(days => %s)", (days,))
        deleted[table] = cur.rowcount
    return deleted
