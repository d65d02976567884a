"""Known rows for the cockpit tests, written straight into the observation tables (as ingest would store them)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import psycopg

SITE_ID = "demo-mall"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo mall's time zone
_seq = count(1)


def local(*args: int, tz: ZoneInfo = SHANGHAI) -> datetime:
    """An aware datetime on the mall's clock (or ``tz``'s)."""
    return datetime(*args, tzinfo=tz)


NOW = local(2025, 6, 14, 12, 0)  # a Saturday noon at the demo mall; 04:00 UTC
MIDNIGHT = local(2025, 6, 14)  # its local midnight: 2025-06-13 16:00 UTC


def add_crossings(conn: psycopg.Connection, rows: Iterable[tuple[datetime, str, str]], site: str = SITE_ID) -> int:
    """(ts, line, direction) rows; returns how many were written."""
    n = 0
    with conn.cursor().copy("COPY crossing (ts, site, sensor, seq, line, direction, track) FROM STDIN") as copy:
        for ts, line, direction in rows:
            copy.write_row((ts, site, f"cam-{line}", next(_seq), line, direction, n))
            n += 1
    return n


def add_positions(conn: psycopg.Connection, rows: Iterable[tuple[datetime, str, float, float]],
                  site: str = SITE_ID) -> int:
    """(ts, floor, x, y) rows; returns how many were written."""
    n = 0
    with conn.cursor().copy("COPY track_position (ts, site, sensor, seq, track, floor, x, y) FROM STDIN") as copy:
        for ts, floor, x, y in rows:
            copy.write_row((ts, site, f"cam-{floor}", next(_seq), n, floor, x, y))
            n += 1
    return n


def add_occupancy(conn: psycopg.Connection, rows: Iterable[tuple[datetime, str, int]], site: str = SITE_ID) -> None:
    """(ts, zone, people) camera snapshots."""
    with conn.cursor().copy("COPY occupancy (ts, site, sensor, seq, zone, count) FROM STDIN") as copy:
        for ts, zone, people in rows:
            copy.write_row((ts, site, f"cam-{zone}", next(_seq), zone, people))


def add_wifi_counts(conn: psycopg.Connection, rows: Iterable[tuple[datetime, str, float]], site: str = SITE_ID,
                    interval_s: int = 300) -> None:
    """(interval start, sensor, people) WiFi estimates."""
    with conn.cursor().copy("COPY wifi_count (ts, site, sensor, seq, interval_s, probes, keys, randomized_keys,"
                            " devices, fixtures, people) FROM STDIN") as copy:
        for ts, sensor, people in rows:
            copy.write_row((ts, site, sensor, next(_seq), interval_s, 10, 5, 4, people, 0, people))


def add_node_state(conn: psycopg.Connection, node: str, status: str, heard_ago: timedelta,
                   health: dict | None = None, site: str = SITE_ID) -> None:
    """A node's retained state, stored ``heard_ago`` before the database's now()."""
    conn.execute(
        "INSERT INTO node_state (site, node, status, ts, health, received)"
        " VALUES (%s, %s, %s, now() - %s, %s, now() - %s)",
        (site, node, status, heard_ago, json.dumps(health) if health is not None else None, heard_ago),
    )


def add_batch(conn: psycopg.Connection, node: str, sensor: str, seq: int, received_ago: timedelta,
              site: str = SITE_ID) -> None:
    """An ingest_batch row (the idempotency record of one data batch)."""
    conn.execute(
        "INSERT INTO ingest_batch (site, sensor, seq, kind, node, sent, received, n_obs)"
        " VALUES (%s, %s, %s, 'crossing', %s, now() - %s, now() - %s, 1)",
        (site, sensor, seq, node, received_ago, received_ago),
    )


def add_dead_letter(conn: psycopg.Connection, topic: str, received_ago: timedelta) -> None:
    conn.execute(
        "INSERT INTO dead_letter (received, topic, reason, detail, payload) VALUES (now() - %s, %s, 'schema', '', '')",
        (received_ago, topic),
    )
