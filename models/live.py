"""Live operational metrics for the cockpit: the data clock, occupancy now, entrance flows, heatmaps, node health.

Definitions (also shown in the cockpit's help):
- footfall: entries through entrance lines per interval;
- occupancy: entries − exits through all entrance lines since the local start of the day, floored at zero;
- in view: people the overhead cameras count in the common areas at their latest snapshot.
Heavy work stays in SQL; functions return plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from mallsense.site import Site


@dataclass(frozen=True)
class Occupancy:
    now: datetime
    people: int
    entries_today: int
    exits_today: int
    in_view_by_floor: dict[str, int]


@dataclass(frozen=True)
class NodeHealth:
    node: str
    status: str
    last_seen: datetime
    outbox_depth: int | None
    age_s: float


def data_clock(conn: psycopg.Connection, site_id: str) -> datetime | None:
    """The newest crossing time (the cockpit's "now"; the demo replays simulated days), never ahead of wall time."""
    row = conn.execute(
        "SELECT max(ts) FROM crossing WHERE site = %s AND ts <= now() + interval '5 minutes'", (site_id,)
    ).fetchone()
    return row[0] if row and row[0] else None


def local_day_start(site: Site, now: datetime) -> datetime:
    local = now.astimezone(site.site.tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def occupancy_now(conn: psycopg.Connection, site: Site, now: datetime) -> Occupancy:
    since = local_day_start(site, now)
    entries, exits = conn.execute(
        "SELECT count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out')"
        " FROM crossing WHERE site = %s AND ts >= %s AND ts <= %s AND line = ANY(%s)",
        (site.site.id, since, now, [e.id for e in site.entrances]),
    ).fetchone()
    rows = conn.execute(
        "SELECT DISTINCT ON (zone) zone, count FROM occupancy WHERE site = %s AND ts > %s AND ts <= %s"
        " ORDER BY zone, ts DESC",
        (site.site.id, now - timedelta(minutes=5), now),
    ).fetchall()
    by_floor = {f.id: 0 for f in site.floors}
    for zone, count in rows:
        z = site.zone_by_id.get(zone)
        if z is not None:
            by_floor[z.floor] += count
    return Occupancy(now, max(0, entries - exits), entries, exits, by_floor)


def entrance_flows(conn: psycopg.Connection, site_id: str, since: datetime, until: datetime,
                   bucket_minutes: int = 5) -> list[tuple[datetime, str, int, int]]:
    """(bucket start, line, entries, exits) per entrance line and bucket, oldest first."""
    return conn.execute(
        "SELECT date_bin(make_interval(mins => %s), ts, TIMESTAMPTZ '2000-01-01') AS bucket, line,"
        " count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out')"
        " FROM crossing WHERE site = %s AND ts >= %s AND ts < %s GROUP BY 1, 2 ORDER BY 1, 2",
        (bucket_minutes, site_id, since, until),
    ).fetchall()


def entrance_totals(conn: psycopg.Connection, site_id: str, since: datetime,
                    until: datetime) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        "SELECT line, count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out')"
        " FROM crossing WHERE site = %s AND ts >= %s AND ts < %s GROUP BY line",
        (site_id, since, until),
    ).fetchall()
    return {line: (i, o) for line, i, o in rows}


def heatmap(conn: psycopg.Connection, site_id: str, floor: str, since: datetime, until: datetime,
            cell_m: float = 2.0) -> list[tuple[float, float, int]]:
    """(cell centre x, cell centre y, positions) on a square grid, binned in SQL."""
    return conn.execute(
        "SELECT (floor(x / %(c)s) + 0.5) * %(c)s, (floor(y / %(c)s) + 0.5) * %(c)s, count(*)"
        " FROM track_position WHERE site = %(site)s AND floor = %(floor)s AND ts >= %(since)s AND ts < %(until)s"
        " GROUP BY 1, 2",
        {"c": cell_m, "site": site_id, "floor": floor, "since": since, "until": until},
    ).fetchall()


def node_health(conn: psycopg.Connection, site_id: str, now: datetime | None = None) -> list[NodeHealth]:
    """Each edge node's last state (retained state topic) and how long ago it was heard (wall clock)."""
    wall = now or datetime.now(UTC)
    rows = conn.execute(
        "SELECT node, status, received, (health ->> 'outbox_depth')::int FROM node_state WHERE site = %s"
        " ORDER BY node",
        (site_id,),
    ).fetchall()
    return [NodeHealth(node, status, received, depth, (wall - received).total_seconds())
            for node, status, received, depth in rows]
