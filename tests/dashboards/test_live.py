"""Live metrics against a real database with known rows, and the Live page's callbacks on top of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import psycopg
import pytest

from mallsense.site import load_site
from models import live

pytestmark = pytest.mark.integration
SITE = load_site()
# 2026-11-14 12:00 in Asia/Shanghai is 04:00 UTC; local midnight is 16:00 UTC the day before
NOON = datetime(2026, 11, 14, 4, 0, tzinfo=UTC)
LOCAL_MIDNIGHT = datetime(2026, 11, 13, 16, 0, tzinfo=UTC)


def seed(dsn: str) -> None:
    crossings = []
    for i in range(30):  # 30 entries and 10 exits through e-south this morning, one per 2 minutes from 10:00
        crossings.append((NOON - timedelta(hours=2) + timedelta(minutes=2 * i), "e-south", "in"))
    for i in range(10):
        crossings.append((NOON - timedelta(minutes=50) + timedelta(minutes=5 * i), "e-west", "out"))
    crossings.append((LOCAL_MIDNIGHT - timedelta(minutes=1), "e-south", "in"))  # yesterday: not counted today
    crossings.append((NOON + timedelta(hours=1), "e-south", "in"))  # after "now": not counted
    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy("COPY crossing (ts, site, sensor, seq, line, direction, track) FROM STDIN") as cp:
            for k, (ts, line, direction) in enumerate(crossings):
                cp.write_row((ts, "demo-mall", f"cam-{line}", k, line, direction, k))
        with conn.cursor().copy("COPY track_position (ts, site, sensor, seq, track, floor, x, y) FROM STDIN") as cp:
            for k in range(50):
                cp.write_row((NOON - timedelta(minutes=5), "demo-mall", "cam-f1-atrium", 0, k, "f1",
                              100.5 if k % 2 else 103.5, 40.5))
            cp.write_row((NOON - timedelta(hours=1), "demo-mall", "cam-f1-atrium", 0, 99, "f1", 1.0, 1.0))
            for k in range(10):  # near the newest crossing, which is the cockpit's clock
                cp.write_row((NOON + timedelta(minutes=55), "demo-mall", "cam-f1-atrium", 2, k, "f1", 50.0, 40.0))
        with conn.cursor().copy("COPY occupancy (ts, site, sensor, seq, zone, count) FROM STDIN") as cp:
            cp.write_row((NOON - timedelta(minutes=3), "demo-mall", "cam-f1-atrium", 0, "f1-atrium", 7))
            cp.write_row((NOON - timedelta(minutes=1), "demo-mall", "cam-f1-atrium", 1, "f1-atrium", 9))
            cp.write_row((NOON - timedelta(minutes=1), "demo-mall", "cam-f2-west", 1, "f2-mall-west", 4))
        conn.execute("INSERT INTO node_state (site, node, status, ts, health, received)"
                     " VALUES ('demo-mall', 'node-f1-w', 'online', %s, '{\"outbox_depth\": 3}', now())", (NOON,))


@pytest.fixture
def seeded(db_dsn):
    seed(db_dsn)
    return db_dsn


def test_occupancy_counts_today_only_and_in_view_uses_latest_snapshots(seeded):
    with psycopg.connect(seeded) as conn:
        occ = live.occupancy_now(conn, SITE, NOON)
    assert (occ.entries_today, occ.exits_today, occ.people) == (30, 10, 20)
    assert occ.in_view_by_floor == {"b1": 0, "f1": 9, "f2": 4}


def test_data_clock_is_the_newest_crossing(seeded):
    with psycopg.connect(seeded) as conn:
        assert live.data_clock(conn, "demo-mall") == NOON + timedelta(hours=1)
        assert live.data_clock(conn, "other-mall") is None


def test_entrance_flows_bucket_by_five_minutes(seeded):
    with psycopg.connect(seeded) as conn:
        rows = live.entrance_flows(conn, "demo-mall", NOON - timedelta(hours=3), NOON)
        totals = live.entrance_totals(conn, "demo-mall", LOCAL_MIDNIGHT, NOON)
    assert sum(r[2] for r in rows) == 30 and sum(r[3] for r in rows) == 10
    assert all(r[0].minute % 5 == 0 and r[0].second == 0 for r in rows)
    assert max(r[2] for r in rows) == 3  # one entry every 2 minutes: at most 3 in a 5-minute bucket
    assert totals == {"e-south": (30, 0), "e-west": (0, 10)}


def test_heatmap_bins_in_sql(seeded):
    with psycopg.connect(seeded) as conn:
        cells = live.heatmap(conn, "demo-mall", "f1", NOON - timedelta(minutes=15), NOON, cell_m=2.0)
    assert sorted(cells) == [(101.0, 41.0, 25), (103.0, 41.0, 25)]


def test_node_health(seeded):
    with psycopg.connect(seeded) as conn:
        nodes = live.node_health(conn, "demo-mall")
    assert [(n.node, n.status, n.outbox_depth) for n in nodes] == [("node-f1-w", "online", 3)]
    assert nodes[0].age_s < 60


def test_live_page_callbacks_fill_every_panel(seeded):
    from dashboards.app import create_app

    create_app(seeded, SITE)  # registers and imports the pages
    from dashboards.pages import live as page
    clock, occupancy, figure, totals, health = page.refresh_live(0)
    assert "mall time" in clock and "13:00:00" in clock  # newest crossing, in Asia/Shanghai
    assert "People in the mall now" in str(occupancy)
    assert isinstance(figure, go.Figure) and len(figure.data) >= 2
    assert "South main entrance" in str(totals)
    heat = page.refresh_heatmap(0, "f1")
    assert any(isinstance(t, go.Heatmap) for t in heat.data)
    assert "node-f1-w" in str(health)


def test_live_page_says_why_it_is_empty(db_dsn):
    from dashboards.app import create_app

    create_app(db_dsn, SITE)
    from dashboards.pages import live as page
    clock, occupancy, _figure, _totals, health = page.refresh_live(0)
    assert clock == "waiting for data"
    assert "No crossings received yet" in str(occupancy)
    assert "No edge node has reported yet" in str(health)
