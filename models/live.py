"""Live operational metrics: the data clock, occupancy now, entrance flows, position heatmaps and sensor health.

Metric definitions (the cockpit's help repeats them):

- **footfall**: entries through entrance lines per interval;
- **occupancy**: entries − exits through every entrance line of the site since the local start of the day (site time
  zone), never below zero;
- **in view**: people the overhead cameras count in the zones they cover, at each zone's latest snapshot.

Every function takes an open ``psycopg.Connection`` or a ``psycopg_pool.ConnectionPool`` and returns plain data
(dataclasses or pandas DataFrames). Aggregation happens in SQL, with parameters, and only relies on PostgreSQL 15
(``date_bin``), so it runs the same on plain PostgreSQL and on TimescaleDB. Time windows are half-open:
``since <= ts < until``; use :func:`through` to make a window end with (and include) an instant.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from mallsense.contract import TOPIC_ROOT, CameraAudit, CameraHealth
from mallsense.site import Site

log = logging.getLogger(__name__)
Database = psycopg.Connection | ConnectionPool
IN_VIEW_WINDOW = timedelta(minutes=5)  # a zone's camera snapshot older than this no longer counts as "in view"
WIFI_WINDOW = timedelta(minutes=15)  # a WiFi estimate interval that started earlier than this is stale
CAMERA_BEHIND = 0.9  # a camera whose detector runs on less of the frames meant for it is flagged in the cockpit
AUDIT_TARGET_PCT = 5.0  # a camera whose last audit measured a larger count error is flagged (docs/camera.md)
SILENT_AFTER_S = 60.0  # an online node not heard from for this long is "silent" (health is published every 10 s)
CONFLICT_WINDOW = timedelta(days=1)  # a sensor with seq_conflict dead letters this recent is flagged in the cockpit
DEFAULT_ORIGIN = datetime.fromisoformat("2000-01-01T00:00:00+00:00")  # date_bin's origin unless told otherwise

FLOW_COLUMNS = ["bucket", "line", "entries", "exits"]
TOTAL_COLUMNS = ["line", "entries", "exits"]
HEATMAP_COLUMNS = ["ix", "iy", "x", "y", "positions"]


@contextmanager
def _connection(db: Database) -> Iterator[psycopg.Connection]:
    """A connection from a pool (returned afterwards), or the connection itself."""
    if isinstance(db, ConnectionPool):
        with db.connection() as conn:
            yield conn
    else:
        yield db


def through(instant: datetime) -> datetime:
    """The exclusive end of a window that includes ``instant`` (timestamptz resolution is one microsecond)."""
    return instant + timedelta(microseconds=1)


def local_day_start(site: Site, now: datetime) -> datetime:
    """Midnight of ``now``'s day in the site's time zone (an aware datetime in that zone)."""
    local = now.astimezone(site.site.tz)
    return datetime(local.year, local.month, local.day, tzinfo=site.site.tz)


# --------------------------------------------------------------------------------------------------- the clock
def data_clock(db: Database, site_id: str) -> datetime | None:
    """The newest crossing's time, never later than the database's wall clock; ``None`` before the first crossing.

    The cockpit's "now" is this clock rather than the wall clock, because the demo replays a simulated day and a site
    whose cameras lag must not look empty. The newest crossing per line is found through the ``(site, line, ts)``
    index (a loose index scan over the lines), so the query stays cheap however long the table grows.
    """
    query = """
        WITH RECURSIVE line_ AS (
            (SELECT line FROM crossing WHERE site = %(site)s ORDER BY line LIMIT 1)
            UNION ALL
            SELECT (SELECT c.line FROM crossing c WHERE c.site = %(site)s AND c.line > l.line ORDER BY c.line LIMIT 1)
            FROM line_ l WHERE l.line IS NOT NULL
        )
        SELECT least(newest, now()) FROM (
            SELECT max(last.ts) AS newest
            FROM line_ l CROSS JOIN LATERAL (
                SELECT c.ts FROM crossing c WHERE c.site = %(site)s AND c.line = l.line ORDER BY c.ts DESC LIMIT 1
            ) AS last
            WHERE l.line IS NOT NULL
        ) AS clock
        WHERE newest IS NOT NULL
    """
    with _connection(db) as conn:
        row = conn.execute(query, {"site": site_id}).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------------------------------- occupancy
@dataclass(frozen=True)
class FloorOccupancy:
    """One floor's share of the count.

    ``entries``/``exits`` go through the entrance lines *on this floor* (a visitor who comes in from the car park and
    leaves by the street door adds to one floor and subtracts from another, so ``net`` may be negative). ``in_view``
    is the camera count in the floor's zones at their latest snapshot (``None`` when no camera reported lately).
    ``wifi_people`` is the sum of the floor's WiFi sensors' people estimates for their latest finished interval
    (``wifi_count``; ``None`` when none reported lately): an estimate from phones, for floors without cameras and as
    a cross-check, not a count.
    """

    floor: str
    entries: int
    exits: int
    in_view: int | None
    wifi_people: float | None = None

    @property
    def net(self) -> int:
        return self.entries - self.exits


@dataclass(frozen=True)
class Occupancy:
    """People in the mall at ``as_of``: entries − exits since ``day_start`` (local midnight), floored at zero."""

    as_of: datetime
    day_start: datetime
    people: int
    entries: int
    exits: int
    floors: list[FloorOccupancy]  # every floor of the site, top floor first


def occupancy_now(db: Database, site: Site, now: datetime) -> Occupancy:
    """Occupancy from every entrance line since the local start of ``now``'s day, up to and including ``now``."""
    day_start = local_day_start(site, now)
    entrances = site.entrances
    zones = site.zones
    with _connection(db) as conn:
        crossings = conn.execute(
            """
            SELECT e.floor, count(*) FILTER (WHERE c.direction = 'in'), count(*) FILTER (WHERE c.direction = 'out')
            FROM unnest(%(lines)s::text[], %(floors)s::text[]) AS e(line, floor)
            JOIN crossing c ON c.site = %(site)s AND c.line = e.line AND c.ts >= %(since)s AND c.ts <= %(now)s
            GROUP BY e.floor
            """,
            {"lines": [e.id for e in entrances], "floors": [e.floor for e in entrances], "site": site.site.id,
             "since": day_start, "now": now},
        ).fetchall()
        in_view = conn.execute(
            """
            WITH latest AS (
                SELECT DISTINCT ON (o.zone) o.zone, o.count FROM occupancy o
                WHERE o.site = %(site)s AND o.ts > %(since)s AND o.ts <= %(now)s
                ORDER BY o.zone, o.ts DESC
            )
            SELECT z.floor, sum(latest.count)::int
            FROM latest JOIN unnest(%(zones)s::text[], %(floors)s::text[]) AS z(zone, floor) USING (zone)
            GROUP BY z.floor
            """,
            {"site": site.site.id, "since": now - IN_VIEW_WINDOW, "now": now, "zones": [z.id for z in zones],
             "floors": [z.floor for z in zones]},
        ).fetchall()
        wifi = conn.execute(
            """
            WITH latest AS (
                SELECT DISTINCT ON (w.sensor) w.sensor, w.people FROM wifi_count w
                WHERE w.site = %(site)s AND w.ts > %(since)s
                  AND w.ts + make_interval(secs => w.interval_s) <= %(now)s
                ORDER BY w.sensor, w.ts DESC
            )
            SELECT s.floor, sum(latest.people)::float8
            FROM latest JOIN unnest(%(sensors)s::text[], %(floors)s::text[]) AS s(sensor, floor) USING (sensor)
            GROUP BY s.floor
            """,
            {"site": site.site.id, "since": now - WIFI_WINDOW, "now": now,
             "sensors": [s.id for s in site.sensors if s.kind == "wifi"],
             "floors": [s.floor for s in site.sensors if s.kind == "wifi"]},
        ).fetchall()
    by_floor = {floor: (entries, exits) for floor, entries, exits in crossings}
    seen = dict(in_view)
    heard = dict(wifi)
    floors = [
        FloorOccupancy(f.id, *by_floor.get(f.id, (0, 0)), in_view=seen.get(f.id), wifi_people=heard.get(f.id))
        for f in sorted(site.floors, key=lambda f: -f.level)
    ]
    entries = sum(f.entries for f in floors)
    exits = sum(f.exits for f in floors)
    return Occupancy(now, day_start, max(0, entries - exits), entries, exits, floors)


# --------------------------------------------------------------------------------------------------- entrances
def _line_filter(lines: Sequence[str] | None) -> sql.Composable:
    return sql.SQL(" AND line = ANY(%(lines)s)") if lines is not None else sql.SQL("")


def entrance_flows(db: Database, site_id: str, since: datetime, until: datetime,
                   bucket: str | timedelta = "5 minutes", *, lines: Sequence[str] | None = None,
                   origin: datetime = DEFAULT_ORIGIN) -> pd.DataFrame:
    """Entries and exits per line and time bucket in ``[since, until)``: columns bucket, line, entries, exits.

    ``bucket`` is an interval ("5 minutes" or a timedelta); buckets are ``date_bin(bucket, ts, origin)`` (plain
    PostgreSQL, no TimescaleDB needed), labelled by their start; only buckets with at least
    one crossing appear, oldest first. The default origin aligns buckets of up to an hour with the clock in every
    whole-hour time zone; pass the local midnight for coarser buckets. ``lines`` limits the result to those lines.
    """
    query = sql.SQL("""
        SELECT date_bin(%(bucket)s::interval, ts, %(origin)s) AS bucket, line,
               count(*) FILTER (WHERE direction = 'in')::int AS entries,
               count(*) FILTER (WHERE direction = 'out')::int AS exits
        FROM crossing WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s{lines}
        GROUP BY 1, 2 ORDER BY 1, 2
    """).format(lines=_line_filter(lines))
    params = {"bucket": bucket, "origin": origin, "site": site_id, "since": since, "until": until,
              "lines": list(lines or [])}
    with _connection(db) as conn:
        rows = conn.execute(query, params).fetchall()
    return _frame(rows, FLOW_COLUMNS, {"bucket": "datetime64[us, UTC]", "entries": "int64", "exits": "int64"})


def entrance_totals(db: Database, site_id: str, since: datetime, until: datetime, *,
                    lines: Sequence[str] | None = None) -> pd.DataFrame:
    """Entries and exits per line in ``[since, until)``: columns line, entries, exits (lines with crossings only)."""
    query = sql.SQL("""
        SELECT line, count(*) FILTER (WHERE direction = 'in')::int AS entries,
               count(*) FILTER (WHERE direction = 'out')::int AS exits
        FROM crossing WHERE site = %(site)s AND ts >= %(since)s AND ts < %(until)s{lines}
        GROUP BY line ORDER BY line
    """).format(lines=_line_filter(lines))
    with _connection(db) as conn:
        rows = conn.execute(query, {"site": site_id, "since": since, "until": until,
                                    "lines": list(lines or [])}).fetchall()
    return _frame(rows, TOTAL_COLUMNS, {"entries": "int64", "exits": "int64"})


# --------------------------------------------------------------------------------------------------- heatmap
def heatmap(db: Database, site_id: str, floor: str, since: datetime, until: datetime,
            cell_m: float = 2.0) -> pd.DataFrame:
    """Track positions on ``floor`` in ``[since, until)`` counted on a square grid anchored at the floor's origin.

    Columns: ix, iy (cell index: ``floor(x / cell_m)``), x, y (cell centre, metres), positions (rows in the cell).
    Only cells with positions appear. Smaller cells show more detail and noisier counts.
    """
    if not cell_m > 0:
        raise ValueError(f"cell_m must be positive, not {cell_m!r}")
    with _connection(db) as conn:
        rows = conn.execute(
            """
            SELECT ix, iy, (ix + 0.5) * %(c)s AS x, (iy + 0.5) * %(c)s AS y, positions
            FROM (
                SELECT floor(x / %(c)s)::int AS ix, floor(y / %(c)s)::int AS iy, count(*)::int AS positions
                FROM track_position
                WHERE site = %(site)s AND floor = %(floor)s AND ts >= %(since)s AND ts < %(until)s
                GROUP BY 1, 2
            ) AS cell
            ORDER BY iy, ix
            """,
            {"c": float(cell_m), "site": site_id, "floor": floor, "since": since, "until": until},
        ).fetchall()
    return _frame(rows, HEATMAP_COLUMNS, {"ix": "int64", "iy": "int64", "x": "float64", "y": "float64",
                                          "positions": "int64"})


# --------------------------------------------------------------------------------------------------- health
@dataclass(frozen=True)
class NodeHealth:
    """What the cockpit knows about one edge node. Ages are seconds on the database's clock (wall time)."""

    node: str
    status: str | None  # "online"/"offline" from the retained state topic; None: no state received yet
    state_ts: datetime | None  # the node's own time of that state
    state_age_s: float | None  # since ingest stored the state
    outbox_depth: int | None  # batches waiting on the node's disk (from its health report)
    outbox_dropped: int | None  # batches the node dropped because its outbox was full
    last_batch_received: datetime | None  # newest data batch stored from any of the node's sensors
    last_batch_age_s: float | None
    sensors: int  # sensors of this node that have delivered at least one batch
    cameras: dict[str, CameraHealth] = field(default_factory=dict)  # camera id -> load, from the health report
    # sensor id -> its batches refused as seq_conflict within CONFLICT_WINDOW: its sequence restarted without a new
    # epoch (an outbox lost or replaced), and those batches are in dead_letter, not in the data
    seq_conflicts: dict[str, int] = field(default_factory=dict)

    @property
    def cameras_behind(self) -> dict[str, float]:
        """Cameras whose detector ran on less than ``CAMERA_BEHIND`` of the frames meant for it: id -> share."""
        shares = {sensor: h.keeping_up for sensor, h in self.cameras.items()}
        return {sensor: share for sensor, share in shares.items() if share is not None and share < CAMERA_BEHIND}

    @property
    def cameras_off_target(self) -> dict[str, CameraAudit]:
        """Cameras whose last commissioning audit measured a count error above ``AUDIT_TARGET_PCT``: id -> audit."""
        return {sensor: h.audit for sensor, h in self.cameras.items()
                if h.audit is not None and h.audit.count_error_pct > AUDIT_TARGET_PCT}

    @classmethod
    def never_heard(cls, node: str) -> NodeHealth:
        """A configured node nothing has arrived from."""
        return cls(node, None, None, None, None, None, None, None, 0)

    @property
    def last_heard_s(self) -> float | None:
        """Seconds since anything (state or data) arrived from the node."""
        ages = [a for a in (self.state_age_s, self.last_batch_age_s) if a is not None]
        return min(ages) if ages else None

    @property
    def condition(self) -> str:
        """``online``, ``offline`` (the node said so, or its last will did), ``silent`` (online but not heard from
        for ``SILENT_AFTER_S``) or ``unknown`` (never heard from)."""
        heard = self.last_heard_s
        if self.status == "offline":
            return "offline"
        if heard is None:
            return "unknown"
        return "silent" if heard > SILENT_AFTER_S else "online"


def sensor_health(db: Database, site_id: str) -> list[NodeHealth]:
    """Each node's retained state joined with the newest batch stored from its sensors, ordered by node.

    A node appears if it sent a state or a batch. The newest batch per sensor is its highest ``seq`` (found through the
    primary key with a loose index scan, so this stays cheap on a large ``ingest_batch``).
    """
    query = """
        WITH RECURSIVE sensor_ AS (
            (SELECT sensor FROM ingest_batch WHERE site = %(site)s ORDER BY sensor LIMIT 1)
            UNION ALL
            SELECT (SELECT b.sensor FROM ingest_batch b WHERE b.site = %(site)s AND b.sensor > s.sensor
                    ORDER BY b.sensor LIMIT 1)
            FROM sensor_ s WHERE s.sensor IS NOT NULL
        ), last_batch AS (
            SELECT newest.node, max(newest.received) AS received, count(*)::int AS sensors
            FROM sensor_ s CROSS JOIN LATERAL (
                SELECT b.node, b.received FROM ingest_batch b
                WHERE b.site = %(site)s AND b.sensor = s.sensor ORDER BY b.seq DESC LIMIT 1
            ) AS newest
            WHERE s.sensor IS NOT NULL
            GROUP BY newest.node
        ), state AS (
            SELECT node, status, ts, received, health FROM node_state WHERE site = %(site)s
        )
        SELECT coalesce(state.node, last_batch.node), state.status, state.ts,
               extract(epoch FROM now() - state.received)::float8,
               (state.health ->> 'outbox_depth')::int, (state.health ->> 'outbox_dropped')::int,
               last_batch.received, extract(epoch FROM now() - last_batch.received)::float8,
               coalesce(last_batch.sensors, 0), state.health -> 'cameras'
        FROM state FULL JOIN last_batch ON last_batch.node = state.node
        ORDER BY 1
    """
    with _connection(db) as conn:
        rows = conn.execute(query, {"site": site_id}).fetchall()
        conflicts = _seq_conflicts(conn, site_id, CONFLICT_WINDOW)
    return [NodeHealth(*row[:-1], cameras=_cameras(row[-1]), seq_conflicts=conflicts.get(row[0], {})) for row in rows]


def _seq_conflicts(conn: psycopg.Connection, site_id: str, window: timedelta) -> dict[str, dict[str, int]]:
    """node -> sensor -> seq_conflict dead letters of the site during the last ``window`` (from their topics)."""
    rows = conn.execute(
        "SELECT split_part(topic, '/', 4), split_part(topic, '/', 6), count(*)::int FROM dead_letter"
        " WHERE received > now() - %s AND reason = 'seq_conflict' AND starts_with(topic, %s) GROUP BY 1, 2",
        (window, f"{TOPIC_ROOT}/{site_id}/"),
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for node, sensor, n in rows:
        out.setdefault(node, {})[sensor] = n
    return out


def _cameras(reported: dict | None) -> dict[str, CameraHealth]:
    """The cameras of a stored health report; an entry that does not validate is left out and logged (the report
    was validated on arrival, so only a report stored by an older version can miss fields)."""
    out = {}
    for sensor, values in (reported or {}).items():
        try:
            out[sensor] = CameraHealth.model_validate(values)
        except ValidationError as exc:
            log.warning("camera %s: stored health report not readable: %s", sensor, exc)
    return out


def camera_audits(db: Database, site_id: str) -> dict[str, CameraAudit]:
    """camera sensor id -> its last commissioning audit, as its node last reported it (cameras never audited are
    absent)."""
    with _connection(db) as conn:
        rows = conn.execute("SELECT health -> 'cameras' FROM node_state WHERE site = %s", (site_id,)).fetchall()
    return {sensor: h.audit for (reported,) in rows for sensor, h in _cameras(reported).items() if h.audit}


def dead_letters(db: Database, site_id: str, window: timedelta = timedelta(hours=1)) -> int:
    """Messages on the site's topics that ingest rejected during the last ``window`` (wall clock)."""
    with _connection(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM dead_letter WHERE received > now() - %s AND starts_with(topic, %s)",
            (window, f"{TOPIC_ROOT}/{site_id}/"),
        ).fetchone()
    return int(row[0]) if row else 0


def _frame(rows: list[tuple], columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    """A DataFrame with fixed columns and dtypes, also when there are no rows."""
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return frame.astype(dtypes) if dtypes else frame


# --------------------------------------------------------------------------------------------------- comparisons
def same_time_past_weeks(db: Database, site: Site, now: datetime, weeks: int = 4) -> list[tuple[date, int]]:
    """Entries from local midnight up to the same clock time as ``now`` on the same weekday of the past ``weeks``
    weeks: (day, entries) for each of those days with any crossing (read from the 5-minute rollup)."""
    lines = [e.id for e in site.entrances]
    start = local_day_start(site, now)
    out = []
    with _connection(db) as conn:
        for k in range(1, weeks + 1):
            day_start = start - timedelta(days=7 * k)  # wall-clock arithmetic in the site's zone: local midnight
            until = day_start + (now.astimezone(site.site.tz) - start)
            row = conn.execute(
                "SELECT sum(entries) FROM entrance_flow_5m WHERE site = %s AND line = ANY(%s)"
                " AND bucket >= %s AND bucket < %s", (site.site.id, lines, day_start, until)).fetchone()
            if row[0]:
                out.append((day_start.date(), int(row[0])))
    return out


@dataclass(frozen=True)
class Arrival:
    member_id: str
    tier: str
    arrived: datetime


def vip_arrivals(db: Database, site: Site, now: datetime, window: timedelta = timedelta(minutes=30)) -> list[Arrival]:
    """VIP members (consented app users) whose first sighting today falls in the last ``window`` before ``now``."""
    since = local_day_start(site, now)
    with _connection(db) as conn:
        rows = conn.execute("""
            SELECT m.member_id, m.tier, min(b.ts) AS first_seen
            FROM ble_sighting b JOIN member m ON m.site = b.site AND m.device_key = b.dev AND m.consent_app
            WHERE b.site = %(site)s AND b.ts >= %(since)s AND b.ts <= %(now)s AND m.tier = 'vip'
            GROUP BY 1, 2 HAVING min(b.ts) >= %(recent)s ORDER BY first_seen DESC""",
                            {"site": site.site.id, "since": since, "now": now, "recent": now - window}).fetchall()
    return [Arrival(r[0], r[1], r[2]) for r in rows]
