"""models.live against a real PostgreSQL holding known rows: exact counts, bucket edges and local-midnight edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from pandas.testing import assert_frame_equal
from psycopg_pool import ConnectionPool

from ingest import rollups
from mallsense.site import Site, load_site
from models import live
from tests.dashboards.rows import (
    MIDNIGHT,
    NOW,
    SITE_ID,
    add_batch,
    add_crossings,
    add_dead_letter,
    add_node_state,
    add_occupancy,
    add_positions,
    add_wifi_counts,
    local,
)

pytestmark = pytest.mark.integration
SITE = load_site()
US = timedelta(microseconds=1)


@pytest.fixture
def conn(pg_dsn: str):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


def with_timezone(site: Site, timezone: str) -> Site:
    return site.model_copy(update={"site": site.site.model_copy(update={"timezone": timezone})})


def flows_frame(rows: list[tuple[datetime, str, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=live.FLOW_COLUMNS)
    return frame.astype({"bucket": "datetime64[us, UTC]", "entries": "int64", "exits": "int64"})


# --------------------------------------------------------------------------------------------------- clock
def test_data_clock_is_the_newest_crossing_of_the_site(conn):
    assert live.data_clock(conn, "demo-mall") is None
    add_crossings(conn, [(NOW - timedelta(minutes=5), "e-south", "in"), (NOW, "e-west", "out"),
                         (NOW - timedelta(hours=1), "e-north", "in")])
    add_crossings(conn, [(NOW + timedelta(hours=1), "e-south", "in")], site="other-mall")
    assert live.data_clock(conn, "demo-mall") == NOW
    assert live.data_clock(conn, "nowhere") is None


def test_data_clock_never_runs_ahead_of_the_wall_clock(conn):
    add_crossings(conn, [(datetime.now(UTC) + timedelta(days=2), "e-south", "in")])
    before = datetime.now(UTC)
    clock = live.data_clock(conn, "demo-mall")
    assert clock is not None and before - timedelta(seconds=5) <= clock <= datetime.now(UTC)


def test_functions_accept_a_pool(pg_dsn):
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True) as pool:
        with pool.connection() as conn:
            add_crossings(conn, [(NOW, "e-south", "in")])
        assert live.data_clock(pool, "demo-mall") == NOW
        assert live.occupancy_now(pool, SITE, NOW).people == 1


# --------------------------------------------------------------------------------------------------- occupancy
def test_occupancy_counts_every_entrance_line_since_local_midnight(conn):
    add_crossings(conn, [
        *[(local(2025, 6, 14, 10, k), "e-south", "in") for k in range(5)],  # f1
        *[(local(2025, 6, 14, 11, k), "e-park-west", "in") for k in range(3)],  # b1 (car park lifts count too)
        *[(local(2025, 6, 14, 11, 30 + k), "e-west", "out") for k in range(2)],  # f1
        *[(local(2025, 6, 14, 11, 40 + k), "e-park-east", "out") for k in range(4)],  # b1
        (MIDNIGHT - US, "e-south", "in"),  # yesterday, by one microsecond
        (MIDNIGHT, "e-south", "in"),  # the first instant of today
        (NOW, "e-north", "in"),  # "now" itself counts
        (NOW + US, "e-north", "in"),  # after now
        (local(2025, 6, 14, 11, 0), "shop-door", "in"),  # not an entrance line
    ])
    add_crossings(conn, [(local(2025, 6, 14, 11, 0), "e-south", "in")], site="other-mall")
    occ = live.occupancy_now(conn, SITE, NOW)
    assert (occ.entries, occ.exits, occ.people) == (10, 6, 4)
    assert occ.day_start == MIDNIGHT and occ.as_of == NOW
    assert [(f.floor, f.entries, f.exits, f.net) for f in occ.floors] == [
        ("f2", 0, 0, 0), ("f1", 7, 2, 5), ("b1", 3, 4, -1)]


def test_occupancy_is_never_negative(conn):
    add_crossings(conn, [(local(2025, 6, 14, 9, k), "e-south", "out") for k in range(3)])
    occ = live.occupancy_now(conn, SITE, NOW)
    assert (occ.entries, occ.exits, occ.people) == (0, 3, 0)


def test_in_view_sums_each_zones_latest_recent_snapshot_per_floor(conn):
    add_occupancy(conn, [
        (NOW - timedelta(minutes=3), "f1-atrium", 7),
        (NOW - timedelta(minutes=1), "f1-atrium", 9),  # latest for the atrium
        (NOW - timedelta(minutes=2), "f1-mall-west", 3),
        (NOW - timedelta(minutes=1), "f2-mall-west", 4),
        (NOW - timedelta(minutes=6), "b1-atrium", 50),  # too old to count as "in view"
        (NOW + timedelta(minutes=1), "f2-mall-west", 99),  # after now
        (NOW - timedelta(minutes=1), "no-such-zone", 1000),
    ])
    occ = live.occupancy_now(conn, SITE, NOW)
    assert {f.floor: f.in_view for f in occ.floors} == {"f2": 4, "f1": 12, "b1": None}


def test_wifi_estimates_sum_each_sensors_latest_finished_interval_per_floor(conn):
    add_wifi_counts(conn, [
        (NOW - timedelta(minutes=15), "wifi-f1-1", 40.0),  # started too long ago
        (NOW - timedelta(minutes=10), "wifi-f1-1", 12.0),
        (NOW - timedelta(minutes=5), "wifi-f1-1", 14.0),  # latest finished: ends exactly now
        (NOW - timedelta(minutes=5), "wifi-f1-2", 6.5),
        (NOW - timedelta(minutes=2), "wifi-f1-2", 99.0),  # still open at NOW
        (NOW - timedelta(minutes=5), "wifi-f2-1", 3.0),
        (NOW - timedelta(minutes=20), "wifi-b1-1", 8.0),  # stale
    ])
    occ = live.occupancy_now(conn, SITE, NOW)
    assert {f.floor: f.wifi_people for f in occ.floors} == {"f2": 3.0, "f1": 20.5, "b1": None}


@pytest.mark.parametrize(("now", "midnight_utc"), [
    (datetime(2025, 3, 30, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")), datetime(2025, 3, 29, 23, 0, tzinfo=UTC)),
    (datetime(2025, 10, 26, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")), datetime(2025, 10, 25, 22, 0, tzinfo=UTC)),
    (datetime(2025, 6, 14, 0, 30, tzinfo=ZoneInfo("America/New_York")), datetime(2025, 6, 14, 4, 0, tzinfo=UTC)),
], ids=["dst-starts", "dst-ends", "west-of-utc"])
def test_the_day_starts_at_local_midnight_across_daylight_saving_changes(conn, now, midnight_utc):
    site = with_timezone(SITE, now.tzinfo.key)
    add_crossings(conn, [(midnight_utc - US, "e-south", "in"), (midnight_utc, "e-south", "in"),
                         (midnight_utc + timedelta(minutes=10), "e-west", "in")])
    occ = live.occupancy_now(conn, site, now)
    assert occ.day_start == midnight_utc
    assert (occ.entries, occ.people) == (2, 2)


# --------------------------------------------------------------------------------------------------- entrances
def seed_flows(conn: psycopg.Connection) -> None:
    add_crossings(conn, [
        (local(2025, 6, 14, 9, 59, 59), "e-south", "in"),  # before the window
        (local(2025, 6, 14, 10, 0), "e-south", "in"),
        (local(2025, 6, 14, 10, 1), "e-south", "out"),
        (local(2025, 6, 14, 10, 2), "e-west", "in"),
        (local(2025, 6, 14, 10, 4, 59, 999999), "e-south", "in"),
        (local(2025, 6, 14, 10, 5), "e-south", "in"),
        (local(2025, 6, 14, 10, 14), "e-south", "in"),
        (local(2025, 6, 14, 10, 15), "e-south", "in"),  # the window's end is exclusive
    ])


def test_entrance_flows_in_five_minute_buckets(conn):
    seed_flows(conn)
    flows = live.entrance_flows(conn, "demo-mall", local(2025, 6, 14, 10, 0), local(2025, 6, 14, 10, 15))
    assert_frame_equal(flows, flows_frame([
        (local(2025, 6, 14, 10, 0), "e-south", 2, 1),
        (local(2025, 6, 14, 10, 0), "e-west", 1, 0),
        (local(2025, 6, 14, 10, 5), "e-south", 1, 0),
        (local(2025, 6, 14, 10, 10), "e-south", 1, 0),
    ]))


def test_entrance_flows_bucket_size_and_line_filter(conn):
    seed_flows(conn)
    since, until = local(2025, 6, 14, 10, 0), local(2025, 6, 14, 10, 15)
    coarse = live.entrance_flows(conn, "demo-mall", since, until, "15 minutes")
    assert_frame_equal(coarse, flows_frame([(since, "e-south", 4, 1), (since, "e-west", 1, 0)]))
    same = live.entrance_flows(conn, "demo-mall", since, until, timedelta(minutes=15))
    assert_frame_equal(same, coarse)
    west = live.entrance_flows(conn, "demo-mall", since, until, lines=["e-west"])
    assert_frame_equal(west, flows_frame([(since, "e-west", 1, 0)]))
    nothing = live.entrance_flows(conn, "demo-mall", since, until, lines=[])
    assert nothing.empty and list(nothing.columns) == live.FLOW_COLUMNS


def test_hourly_buckets_follow_the_local_clock_with_a_local_origin(conn):
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: hours from the UTC origin start at half past, locally
    add_crossings(conn, [(local(2025, 6, 14, 10, 10, tz=kolkata), "e-south", "in")])
    since, until = local(2025, 6, 14, 9, tz=kolkata), local(2025, 6, 14, 12, tz=kolkata)
    utc_aligned = live.entrance_flows(conn, "demo-mall", since, until, "1 hour")
    assert utc_aligned["bucket"].iloc[0] == pd.Timestamp(local(2025, 6, 14, 9, 30, tz=kolkata))
    local_aligned = live.entrance_flows(conn, "demo-mall", since, until, "1 hour",
                                        origin=local(2025, 6, 14, tz=kolkata))
    assert local_aligned["bucket"].iloc[0] == pd.Timestamp(local(2025, 6, 14, 10, tz=kolkata))


def test_entrance_totals(conn):
    seed_flows(conn)
    add_crossings(conn, [(local(2025, 6, 14, 10, 3), "e-south", "in")], site="other-mall")
    totals = live.entrance_totals(conn, "demo-mall", MIDNIGHT, live.through(local(2025, 6, 14, 10, 15)))
    expected = pd.DataFrame({"line": ["e-south", "e-west"], "entries": [6, 1], "exits": [1, 0]})
    assert_frame_equal(totals, expected)
    empty = live.entrance_totals(conn, "demo-mall", NOW, NOW)
    assert empty.empty and list(empty.columns) == live.TOTAL_COLUMNS


# --------------------------------------------------------------------------------------------------- heatmap
def test_heatmap_bins_positions_in_sql(conn):
    t = NOW - timedelta(minutes=5)
    add_positions(conn, [
        *[(t, "f1", 0.5, 0.5)] * 3,
        (t, "f1", 1.99, 0.1),  # same 2 m cell
        (t, "f1", 2.0, 0.0),  # next cell to the right
        (t, "f1", -0.5, 3.0),  # negative coordinates floor downwards
        *[(t, "f1", 101.3, 40.2)] * 10,
        (NOW - timedelta(minutes=15) - US, "f1", 0.5, 0.5),  # before the window
        (NOW, "f1", 0.5, 0.5),  # the end is exclusive
        (t, "f2", 0.5, 0.5),  # another floor
    ])
    add_positions(conn, [(t, "f1", 0.5, 0.5)], site="other-mall")
    cells = live.heatmap(conn, "demo-mall", "f1", NOW - timedelta(minutes=15), NOW, cell_m=2.0)
    expected = pd.DataFrame({"ix": [0, 1, -1, 50], "iy": [0, 0, 1, 20], "x": [1.0, 3.0, -1.0, 101.0],
                             "y": [1.0, 1.0, 3.0, 41.0], "positions": [4, 1, 1, 10]})
    assert_frame_equal(cells, expected)


def test_heatmap_cells_sum_to_the_rows_in_the_window(conn):
    t0 = NOW - timedelta(minutes=15)
    rows = [(t0 + timedelta(seconds=k), "f2", (k * 7.3) % 200, (k * 3.1) % 80) for k in range(900)]
    add_positions(conn, rows)
    for cell_m in (1.0, 2.0, 5.0):
        cells = live.heatmap(conn, "demo-mall", "f2", t0, NOW, cell_m=cell_m)
        assert cells["positions"].sum() == 900
        assert not cells.duplicated(["ix", "iy"]).any()
    with pytest.raises(ValueError, match="positive"):
        live.heatmap(conn, "demo-mall", "f2", t0, NOW, cell_m=0)
    empty = live.heatmap(conn, "demo-mall", "b1", t0, NOW)
    assert empty.empty and list(empty.columns) == live.HEATMAP_COLUMNS


# --------------------------------------------------------------------------------------------------- health
def test_sensor_health_joins_node_state_with_the_newest_batches(conn):
    s = timedelta(seconds=1)
    add_node_state(conn, "node-a", "online", 5 * s, {"uptime_s": 10, "published": 3, "outbox_depth": 3,
                                                     "outbox_dropped": 1, "sensors": {}})
    add_batch(conn, "node-a", "cam-1", 1, 100 * s)
    add_batch(conn, "node-a", "cam-1", 2, 2 * s)  # the newest batch of cam-1 (highest seq)
    add_batch(conn, "node-a", "wifi-1", 7, 50 * s)
    add_node_state(conn, "node-b", "offline", 10 * s)  # its last will
    add_batch(conn, "node-c", "ble-1", 1, 300 * s)  # data but no state
    add_node_state(conn, "node-d", "online", 120 * s)  # state, no health, no data, gone quiet
    add_node_state(conn, "node-x", "online", s, site="other-mall")
    nodes = {n.node: n for n in live.sensor_health(conn, "demo-mall")}
    assert list(nodes) == ["node-a", "node-b", "node-c", "node-d"]
    a, b, c, d = (nodes[k] for k in ("node-a", "node-b", "node-c", "node-d"))
    assert (a.status, a.outbox_depth, a.outbox_dropped, a.sensors) == ("online", 3, 1, 2)
    assert a.last_batch_age_s == pytest.approx(2, abs=3) and a.state_age_s == pytest.approx(5, abs=3)
    assert a.last_heard_s == pytest.approx(2, abs=3)
    assert (b.status, b.sensors, b.last_batch_received) == ("offline", 0, None)
    assert (c.status, c.state_ts, c.sensors) == (None, None, 1)
    assert (d.outbox_depth, d.last_batch_age_s) == (None, None)
    assert {k: n.condition for k, n in nodes.items()} == {
        "node-a": "online", "node-b": "offline", "node-c": "silent", "node-d": "silent"}
    assert live.NodeHealth.never_heard("node-z").condition == "unknown"
    assert live.sensor_health(conn, "nowhere") == []


def test_dead_letters_counts_the_sites_topics_in_the_window(conn):
    add_dead_letter(conn, "mallsense/v1/demo-mall/node-a/crossing/cam-1", timedelta(minutes=10))
    add_dead_letter(conn, "mallsense/v1/demo-mall/node-a/state", timedelta(minutes=59))
    add_dead_letter(conn, "mallsense/v1/demo-mall/node-a/crossing/cam-1", timedelta(hours=2))  # too old
    add_dead_letter(conn, "mallsense/v1/demo-mall-2/node-a/crossing/cam-1", timedelta(minutes=1))  # another site
    add_dead_letter(conn, "not/a/mallsense/topic", timedelta(minutes=1))
    assert live.dead_letters(conn, "demo-mall") == 2
    assert live.dead_letters(conn, "demo-mall", timedelta(minutes=30)) == 1


def test_today_against_the_same_weekday_of_past_weeks_at_the_same_clock_time(conn):
    site = load_site()
    today = [(NOW - timedelta(minutes=m), "e-south", "in") for m in range(1, 31)]  # 30 in before noon
    week1 = [(NOW - timedelta(days=7, minutes=m), "e-north", "in") for m in range(1, 21)]  # 20 by noon ...
    week1 += [(NOW - timedelta(days=7) + timedelta(minutes=m), "e-north", "in") for m in range(1, 50)]  # ... later
    week2 = [(NOW - timedelta(days=14, hours=1), "e-west", "in")] * 10 + [(NOW - timedelta(days=14, hours=13),
                                                                          "e-west", "in")]  # the day before
    add_crossings(conn, today + week1 + week2)
    rollups.refresh(conn, NOW - timedelta(days=30))
    past = live.same_time_past_weeks(conn, site, NOW, weeks=4)
    assert past == [((NOW - timedelta(days=7)).date(), 20), ((NOW - timedelta(days=14)).date(), 10)]


def test_vip_arrivals_are_first_sightings_of_vip_members_in_the_window(conn):
    site = load_site()
    conn.execute("INSERT INTO member (site, member_id, joined, tier, consent_app, device_key) VALUES"
                 " (%s, 'M1', '2024-01-01', 'vip', true, 'a' ), (%s, 'M2', '2024-01-01', 'vip', true, 'b'),"
                 " (%s, 'M3', '2024-01-01', 'gold', true, 'c'), (%s, 'M4', '2024-01-01', 'vip', false, 'd')",
                 (SITE_ID,) * 4)
    with conn.cursor().copy("COPY ble_sighting (ts, site, sensor, seq, dev, rssi, frame) FROM STDIN") as copy:
        for ts, dev in ((NOW - timedelta(minutes=10), "a"), (NOW - timedelta(minutes=3), "a"),  # M1 arrives
                        (NOW - timedelta(hours=2), "b"), (NOW - timedelta(minutes=5), "b"),  # M2 came earlier
                        (NOW - timedelta(minutes=5), "c"), (NOW - timedelta(minutes=5), "d")):  # not VIP / no consent
            copy.write_row((ts, SITE_ID, "ble-f1-1", 1, dev, -70, "ibeacon"))
    arrivals = live.vip_arrivals(conn, site, NOW, window=timedelta(minutes=30))
    assert [(a.member_id, a.arrived) for a in arrivals] == [("M1", NOW - timedelta(minutes=10))]

