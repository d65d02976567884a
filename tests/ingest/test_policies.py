"""Sequence gaps are visible per sensor; retention follows the privacy mode; TimescaleDB gets its jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.policies import StoragePolicy, apply_timescale, enforce_retention
from ingest.storage import migrate, timescale_available

pytestmark = pytest.mark.integration


def test_sequence_gaps_per_sensor(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        for sensor, seqs in (("cam-1", [0, 1, 2, 5, 6, 9]), ("cam-2", [0, 1, 2])):
            for seq in seqs:
                conn.execute("INSERT INTO ingest_batch (site, sensor, seq, kind, node, sent, n_obs)"
                             " VALUES ('demo', %s, %s, 'crossing', 'n1', now(), 1)", (sensor, seq))
        gaps = conn.execute("SELECT sensor, first_missing, last_missing, missing FROM sequence_gap"
                            " ORDER BY sensor, first_missing").fetchall()
        assert gaps == [("cam-1", 3, 4, 2), ("cam-1", 7, 8, 2)]
        conn.execute("INSERT INTO ingest_batch (site, sensor, seq, kind, node, sent, n_obs)"
                     " VALUES ('demo', 'cam-1', 3, 'crossing', 'n1', now(), 1)")  # a late batch closes part
        assert conn.execute("SELECT first_missing, missing FROM sequence_gap ORDER BY 1").fetchall() == [
            (4, 1), (7, 2)]


def test_device_rows_never_outlive_the_privacy_window():
    strict = StoragePolicy.for_privacy(1)
    assert strict.retention_days["wifi_sighting"] == 2 and strict.retention_days["ble_sighting"] == 2
    assert StoragePolicy.for_privacy(30).retention_days["wifi_sighting"] == 2  # never longer than the default
    relaxed = StoragePolicy.for_privacy(30, wifi_sighting=60)
    assert relaxed.retention_days["wifi_sighting"] == 31
    with pytest.raises(ValueError, match="unknown tables"):
        StoragePolicy.for_privacy(1, visits=3)


def test_plain_retention_deletes_old_device_rows(db_dsn):
    now = datetime.now(UTC)
    with psycopg.connect(db_dsn) as conn:
        for age_days in (0, 1, 3, 10):
            conn.execute("INSERT INTO wifi_sighting (ts, site, sensor, seq, dev, rssi, randomized)"
                         " VALUES (%s, 'demo', 'w', 0, 'ab', -50, true)", (now - timedelta(days=age_days),))
            conn.execute("INSERT INTO crossing VALUES (%s, 'demo', 'c', 0, 'e1', 'in', 1)",
                         (now - timedelta(days=age_days),))
        deleted = enforce_retention(conn, StoragePolicy.for_privacy(1))
        assert deleted["wifi_sighting"] == 2 and deleted["crossing"] == 0
        assert conn.execute("SELECT count(*) FROM wifi_sighting").fetchone()[0] == 2


def test_timescaledb_jobs_follow_the_policy(empty_db_dsn):
    with psycopg.connect(empty_db_dsn) as conn:
        if not timescale_available(conn):
            pytest.skip("timescaledb extension not installed here")
    policy = StoragePolicy.for_privacy(1)
    migrate(empty_db_dsn, policy=policy)
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        apply_timescale(conn, policy)  # idempotent: a second run replaces, never duplicates
        jobs = conn.execute(
            "SELECT hypertable_name, proc_name, config FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_retention', 'policy_compression')").fetchall()
    retention = {t: c["drop_after"] for t, p, c in jobs if p == "policy_retention"}
    compression = {t for t, p, _ in jobs if p == "policy_compression"}
    assert retention["wifi_sighting"] == "2 days" and retention["crossing"] == "800 days"
    assert compression == set(policy.retention_days)
    assert len(jobs) == 2 * len(policy.retention_days)
