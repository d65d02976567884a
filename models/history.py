"""Reading a period of history for the metrics: local days of a site, from the rollups where they exist.

Counts (line flows, zone occupancy, people per camera) come from the 1-hour rollups (continuous aggregates on
TimescaleDB, refreshed tables on PostgreSQL) and are grouped into the site's local days in SQL. Device-level data
(BLE sightings of consented app users), transactions and members come from their tables. Every query is
parameterized; every function takes a connection or a pool (see :mod:`models.live`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd

from mallsense.geometry import contains
from mallsense.site import Site
from models.live import Database, _connection


@dataclass(frozen=True)
class Period:
    """Local days ``first``..``last`` (inclusive) of ``site``."""

    site: Site
    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"period ends ({self.last}) before it starts ({self.first})")

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.site.site.tz)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=self.site.site.tz)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def params(self, **more: object) -> dict[str, object]:
        return {"site": self.site.site.id, "since": self.since, "until": self.until,
                "tz": self.site.site.timezone, **more}

    def hourly_rollups_align(self) -> bool:
        """Whether the site's UTC offset is a whole number of hours (1-hour buckets then fall in one local day)."""
        return all((d.utcoffset() or timedelta()) % timedelta(hours=1) == timedelta()
                   for d in (self.since, self.until))


def _rollup(period: Period, family: str) -> str:
    return f"{family}_1h" if period.hourly_rollups_align() else f"{family}_5m"


def _frame(db: Database, query: str, params: dict, columns: list[str]) -> pd.DataFrame:
    with _connection(db) as conn:
        rows = conn.execute(query, params).fetchall()
    return pd.DataFrame(rows, columns=columns)


def line_days(db: Database, period: Period, lines: list[str], *, raw: bool = False) -> pd.DataFrame:
    """Entries and exits per local day and line (entrances or store doors): columns day, line, entries, exits.

    ``raw=True`` aggregates the raw ``crossing`` table instead of the rollup (benchmarks and cross-checks)."""
    source = """(SELECT ts AS bucket, line, (direction = 'in')::int AS entries, (direction = 'out')::int AS exits,
                 site FROM crossing)""" if raw else _rollup(period, "entrance_flow")
    frame = _frame(db, f"""
        SELECT (bucket AT TIME ZONE %(tz)s)::date AS day, line, sum(entries)::bigint, sum(exits)::bigint
        FROM {source} AS f
        WHERE site = %(site)s AND bucket >= %(since)s AND bucket < %(until)s AND line = ANY(%(lines)s)
        GROUP BY 1, 2 ORDER BY 1, 2
    """, period.params(lines=list(lines)), ["day", "line", "entries", "exits"])
    return frame.astype({"entries": "int64", "exits": "int64"})


def line_hours(db: Database, period: Period, lines: list[str], *, raw: bool = False) -> pd.DataFrame:
    """Entries and exits per local clock hour summed over the period: columns hour, entries, exits."""
    source = """(SELECT ts AS bucket, line, (direction = 'in')::int AS entries, (direction = 'out')::int AS exits,
                 site FROM crossing)""" if raw else _rollup(period, "entrance_flow")
    frame = _frame(db, f"""
        SELECT extract(hour FROM bucket AT TIME ZONE %(tz)s)::int AS hour, sum(entries)::bigint, sum(exits)::bigint
        FROM {source} AS f
        WHERE site = %(site)s AND bucket >= %(since)s AND bucket < %(until)s AND line = ANY(%(lines)s)
        GROUP BY 1 ORDER BY 1
    """, period.params(lines=list(lines)), ["hour", "entries", "exits"])
    return frame.astype({"entries": "int64", "exits": "int64"})


def zone_occupancy(db: Database, period: Period, *, raw: bool = False) -> pd.DataFrame:
    """Mean people per zone over the site's opening hours: columns zone, mean_count, max_count."""
    opens, closes = period.site.site.opens, period.site.site.closes
    source = """(SELECT ts AS bucket, site, zone, count::float8 AS mean_count, count AS max_count, 1 AS samples
                 FROM occupancy)""" if raw else _rollup(period, "zone_occupancy")
    return _frame(db, f"""
        SELECT zone, sum(mean_count * samples) / nullif(sum(samples), 0), max(max_count)
        FROM {source} AS z
        WHERE site = %(site)s AND bucket >= %(since)s AND bucket < %(until)s
          AND (bucket AT TIME ZONE %(tz)s)::time >= %(opens)s AND (bucket AT TIME ZONE %(tz)s)::time < %(closes)s
        GROUP BY zone ORDER BY zone
    """, period.params(opens=opens, closes=closes), ["zone", "mean_count", "max_count"])


def camera_people(db: Database, period: Period, *, raw: bool = False) -> pd.DataFrame:
    """People each camera saw per local day (distinct tracks per hour, summed): columns day, sensor, people."""
    if raw:
        query = """
            SELECT (h AT TIME ZONE %(tz)s)::date, sensor, sum(n)::bigint FROM (
                SELECT date_trunc('hour', ts) AS h, sensor, count(DISTINCT track) AS n FROM track_position
                WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s GROUP BY 1, 2) AS t
            GROUP BY 1, 2 ORDER BY 1, 2"""
    else:
        query = f"""
            SELECT (bucket AT TIME ZONE %(tz)s)::date AS day, sensor, sum(tracks)::bigint
            FROM {_rollup(period, "camera_tracks")}
            WHERE site = %(site)s AND bucket >= %(since)s AND bucket < %(until)s
            GROUP BY 1, 2 ORDER BY 1, 2"""
    return _frame(db, query, period.params(), ["day", "sensor", "people"])


def ble_sightings(db: Database, period: Period) -> pd.DataFrame:
    """Every BLE sighting of the period: columns ts (ms), dev, sensor, rssi, sorted by dev and ts."""
    frame = _frame(db, """
        SELECT (extract(epoch FROM ts) * 1000)::bigint, dev, sensor, rssi FROM ble_sighting
        WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s ORDER BY dev, ts
    """, period.params(), ["ts", "dev", "sensor", "rssi"])
    return frame.astype({"ts": "int64", "rssi": "int64"})


def sales(db: Database, period: Period) -> pd.DataFrame:
    """POS sales per local day and store: day, store_id, transactions, sales, member_transactions, member_sales
    (member = paid with a member card), from ``sales_day`` (kept current by imports and the analytics job)."""
    frame = _frame(db, """
        SELECT day, store_id, transactions, sales::float8, member_transactions, member_sales::float8 FROM sales_day
        WHERE site = %(site)s AND day >= %(first)s AND day <= %(last)s ORDER BY 1, 2
    """, period.params(first=period.first, last=period.last),
        ["day", "store_id", "transactions", "sales", "member_transactions", "member_sales"])
    return frame.astype({"transactions": "int64", "member_transactions": "int64"})


def raw_sales(db: Database, period: Period) -> pd.DataFrame:
    """The same as :func:`sales`, aggregated from every transaction (the baseline, and a cross-check)."""
    frame = _frame(db, """
        SELECT (ts AT TIME ZONE %(tz)s)::date, store_id, count(*), sum(amount)::float8,
               count(*) FILTER (WHERE member_id IS NOT NULL),
               coalesce(sum(amount) FILTER (WHERE member_id IS NOT NULL), 0)::float8
        FROM pos_transaction WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s GROUP BY 1, 2 ORDER BY 1, 2
    """, period.params(), ["day", "store_id", "transactions", "sales", "member_transactions", "member_sales"])
    return frame.astype({"transactions": "int64", "member_transactions": "int64"})


def member_purchases(db: Database, period: Period) -> pd.DataFrame:
    """Member-card purchases per member in the period: member_id, purchases, sales, last_day (local)."""
    frame = _frame(db, """
        SELECT member_id, count(*), sum(amount)::float8, max((ts AT TIME ZONE %(tz)s)::date) FROM pos_transaction
        WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s AND member_id IS NOT NULL GROUP BY 1
    """, period.params(), ["member_id", "purchases", "sales", "last_day"])
    return frame.astype({"purchases": "int64"})


def members(db: Database, site: Site) -> pd.DataFrame:
    """The CRM members without personal data: member_id, joined, tier, consent_app, device_key."""
    return _frame(db, """
        SELECT member_id, joined, tier, consent_app, device_key FROM member WHERE site = %(site)s ORDER BY member_id
    """, {"site": site.site.id}, ["member_id", "joined", "tier", "consent_app", "device_key"])


def store_of_scanner(site: Site) -> dict[str, str]:
    """BLE scanners that sit inside a shop, mapped to that shop's store id."""
    zones = site.zone_by_id
    out: dict[str, str] = {}
    for sensor in site.sensors:
        if sensor.kind != "ble":
            continue
        for store in site.stores:
            zone = zones[store.zone]
            if zone.floor == sensor.floor and contains(zone.polygon, sensor.position):
                out[sensor.id] = store.id
                break
    return out
