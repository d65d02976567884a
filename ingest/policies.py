"""Storage policies: how long each table keeps rows and when TimescaleDB compresses them.

Device-level rows (WiFi and BLE sightings keyed by rotating hashes) are kept no longer than the site's key-rotation
window plus one day of grace for late data, so a device can never be linked beyond what the privacy mode allows.
On TimescaleDB the policies are background jobs (``add_retention_policy``, ``add_compression_policy``); on plain
PostgreSQL ingest calls :func:`enforce_retention` periodically. ``dead_letter`` is a plain table in both modes, so
ingest purges it in both (:func:`purge_dead_letters`): a refused payload may hold device keys and is kept no longer
than device-level rows; the letter's metadata (topic, reason, detail, size, hash) stays ``dead_letter_days``.
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
    dead_letter_days: int = 90  # dead letters' metadata rows; their payloads go after dead_letter_payload_days

    @property
    def dead_letter_payload_days(self) -> int:
        """A refused payload may hold any device key: kept as long as the shortest-kept device-level table."""
        return min(self.retention_days[table] for table in DEVICE_TABLES)

    @classmethod
    def for_privacy(cls, rotation_days: int, *, dead_letter_days: int = 90, **overrides: int) -> StoragePolicy:
        """Device-level tables keep rotation window + 1 day; other tables keep the defaults unless overridden."""
        days = {**cls().retention_days, **overrides}
        for table in DEVICE_TABLES:
            days[table] = min(days.get(table, rotation_days + 1), rotation_days + 1)
        unknown = set(days) - set(RAW_TABLES)
        if unknown:
            raise ValueError(f"no retention for unknown tables {sorted(unknown)}")
        return cls(retention_days=days, dead_letter_days=dead_letter_days)


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


def enforce_retention(conn: psycopg.Connection, policy: StoragePolicy, *, raw_tables: bool = True) -> dict[str, int]:
    """Delete rows older than each raw table's retention (plain PostgreSQL; ``raw_tables=False`` on TimescaleDB,
    whose jobs do that) and purge dead letters (both modes); returns rows deleted (or payloads removed) per table."""
    deleted = {}
    for table, days in policy.retention_days.items() if raw_tables else ():
        cur = conn.execute(f"DELETE FROM {table} WHERE ts < now() - make_interval(days => %s)", (days,))
        deleted[table] = cur.rowcount
    deleted.update(purge_dead_letters(conn, policy))
    return deleted


def purge_dead_letters(conn: psycopg.Connection, policy: StoragePolicy) -> dict[str, int]:
    """Remove dead-letter payloads older than the device-row retention (the row stays, ``payload_kept`` becomes
    'expired'), and whole dead letters older than ``dead_letter_days``."""
    rows = conn.execute("DELETE FROM dead_letter WHERE received < now() - make_interval(days => %s)",
                        (policy.dead_letter_days,)).rowcount
    payloads = conn.execute(
        "UPDATE dead_letter SET payload = NULL, payload_kept = 'expired'"
        " WHERE payload IS NOT NULL AND received < now() - make_interval(days => %s)",
        (policy.dead_letter_payload_days,)).rowcount
    return {"dead_letter payloads": payloads, "dead_letter": rows}
