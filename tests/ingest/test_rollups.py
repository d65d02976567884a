"""Rollups hold the same numbers as the raw tables, on plain PostgreSQL and on TimescaleDB, under the same names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest import rollups
from ingest.storage import migrate, timescale_available

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 14, 1, 58, tzinfo=UTC)


def seed(conn: psycopg.Connection) -> None:
    rows = []
    for i in range(600):  # one crossing every 20 s for 200 minutes, 2 lines, 2 in : 1 out
        rows.append((T0 + timedelta(seconds=20 * i), "demo", "cam", i, f"e{i % 2}", "out" if i % 3 == 0 else "in", i))
    with conn.cursor().copy("COPY crossing (ts, site, sensor, seq, line, direction, track) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    with conn.cursor().copy("COPY track_position (ts, site, sensor, seq, track, floor, x, y) FROM STDIN") as copy:
        for i in range(100):
            copy.write_row((T0 + timedelta(seconds=i), "demo", "cam", i, i, "f1", 1.0 + (i % 2) * 2.5, 3.0))


@pytest.fixture(params=["postgresql", "timescaledb"])
def mode_dsn(request, empty_db_dsn):
    if request.param == "timescaledb":
        with psycopg.connect(empty_db_dsn) as conn:
            if not timescale_available(conn):
                pytest.skip("timescaledb extension not installed here")
    migrate(empty_db_dsn, use_timescale=request.param == "timescaledb")
    return empty_db_dsn


def test_rollups_match_raw_counts(mode_dsn):
    with psycopg.connect(mode_dsn, autocommit=True) as conn:
        seed(conn)
        rollups.refresh(conn, T0 - timedelta(days=1))
        for width in rollups.WIDTHS:
            got = conn.execute(
                f"SELECT line, sum(entries), sum(exits) FROM entrance_flow_{width} GROUP BY line ORDER BY line"
            ).fetchall()
            assert got == [("e0", 200, 100), ("e1", 200, 100)], width
        five = conn.execute("SELECT count(*) FROM entrance_flow_5m WHERE line = 'e0'").fetchone()[0]
        assert five == 41  # 200 minutes starting at 01:58 touch 41 five-minute buckets
        cells = conn.execute("SELECT cell_x, cell_y, positions FROM floor_density_1h ORDER BY cell_x").fetchall()
        assert cells == [(0, 1, 50), (1, 1, 50)]


def test_plain_refresh_recomputes_late_data(empty_db_dsn):
    migrate(empty_db_dsn, use_timescale=False)
    with psycopg.connect(empty_db_dsn, autocommit=True) as conn:
        seed(conn)
        rollups.refresh(conn, T0)
        late = T0 + timedelta(minutes=1)
        conn.execute("INSERT INTO crossing VALUES (%s, 'demo', 'cam', 999, 'e0', 'in', 1)", (late,))
        before = conn.execute("SELECT sum(entries) FROM entrance_flow_1d WHERE line = 'e0'").fetchone()[0]
        rollups.refresh(conn, T0 + timedelta(minutes=1))
        after = conn.execute("SELECT sum(entries) FROM entrance_flow_1d WHERE line = 'e0'").fetchone()[0]
    assert (before, after) == (200, 201)
