"""Time rollups the cockpit and the metrics read: line flows (entrances and store doors), zone occupancy, floor density
and people per camera, at 5 min, 1 hour and 1 day.

On TimescaleDB each rollup is a continuous aggregate (real-time: recent raw rows are included at query time) with a
refresh policy. On plain PostgreSQL the same relation names are ordinary tables maintained by :func:`refresh`,
which recomputes the buckets touched since a watermark (ingest calls it with the oldest timestamp it wrote).
Models and the cockpit read the same names in both modes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import psycopg

log = logging.getLogger(__name__)

DENSITY_CELL_M = 2.0
WIDTHS = {"5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}


@dataclass(frozen=True)
class Rollup:
    family: str
    source: str
    keys: tuple[tuple[str, str], ...]  # (column name, SQL expression)
    key_types: tuple[str, ...]  # SQL type of each key column
    aggregates: tuple[tuple[str, str, str], ...]  # (column name, SQL expression, type)

    def name(self, width: str) -> str:
        return f"{self.family}_{width}"


ROLLUPS = (
    Rollup(
        family="entrance_flow",
        source="crossing",
        keys=(("site", "site"), ("line", "line")),
        key_types=("text", "text"),
        aggregates=(
            ("entries", "count(*) FILTER (WHERE direction = 'in')", "bigint"),
            ("exits", "count(*) FILTER (WHERE direction = 'out')", "bigint"),
        ),
    ),
    Rollup(
        family="zone_occupancy",
        source="occupancy",
        keys=(("site", "site"), ("zone", "zone")),
        key_types=("text", "text"),
        aggregates=(
            ("mean_count", "avg(count)", "double precision"),
            ("max_count", "max(count)", "integer"),
            ("samples", "count(*)", "bigint"),
        ),
    ),
    Rollup(
        family="floor_density",
        source="track_position",
        keys=(("site", "site"), ("floor", "floor"),
              ("cell_x", f"floor(x / {DENSITY_CELL_M})::integer"), ("cell_y", f"floor(y / {DENSITY_CELL_M})::integer")),
        key_types=("text", "text", "integer", "integer"),
        aggregates=(("positions", "count(*)", "bigint"),),
    ),
    Rollup(  # people a camera saw: one track id per person in view (a track across a bucket edge counts in both)
        family="camera_tracks",
        source="track_position",
        keys=(("site", "site"), ("sensor", "sensor")),
        key_types=("text", "text"),
        aggregates=(("tracks", "count(DISTINCT track)", "bigint"),),
    ),
)


def relation_names() -> list[str]:
    return [r.name(w) for r in ROLLUPS for w in WIDTHS]


def _select(rollup: Rollup, interval: str, bucket_fn: str, where: str = "") -> str:
    keys = ", ".join(f"{expr} AS {name}" for name, expr in rollup.keys)
    aggs = ", ".join(f"{expr} AS {name}" for name, expr, _ in rollup.aggregates)
    group = ", ".join(str(i) for i in range(1, len(rollup.keys) + 2))
    bucket = (f"time_bucket(INTERVAL '{interval}', ts)" if bucket_fn == "time_bucket"
              else f"date_bin(INTERVAL '{interval}', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')")
    return f"SELECT {bucket} AS bucket, {keys}, {aggs} FROM {rollup.source} {where} GROUP BY {group}"


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def ensure(conn: psycopg.Connection, *, timescale: bool) -> list[str]:
    """Create the missing rollup relations (autocommit connection); return the names created."""
    created = []
    for rollup in ROLLUPS:
        for width, interval in WIDTHS.items():
            name = rollup.name(width)
            if _exists(conn, name):
                continue
            if timescale:
                conn.execute(
                    f"CREATE MATERIALIZED VIEW {name}"
                    " WITH (timescaledb.continuous, timescaledb.materialized_only = false)"
                    f" AS {_select(rollup, interval, 'time_bucket')} WITH NO DATA"
                )
                start = {"5m": "3 days", "1h": "14 days", "1d": "90 days"}[width]
                conn.execute(
                    "SELECT add_continuous_aggregate_policy(%s::regclass, start_offset => %s::interval,"
                    " end_offset => %s::interval, schedule_interval => %s::interval)",
                    (name, start, interval, "1 minute" if width == "5m" else "15 minutes"),
                )
            else:
                cols = ", ".join(f"{n} {t} NOT NULL" for (n, _), t in zip(rollup.keys, rollup.key_types, strict=True))
                aggs = ", ".join(f"{n} {t}" for n, _, t in rollup.aggregates)
                pk = ", ".join(n for n, _ in rollup.keys)
                conn.execute(
                    f"CREATE TABLE {name} (bucket timestamptz NOT NULL, {cols}, {aggs}, PRIMARY KEY ({pk}, bucket))"
                )
            created.append(name)
    return created


def is_continuous(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    if not row[0]:
        return False
    return bool(conn.execute(
        "SELECT count(*) FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
        (ROLLUPS[0].name("5m"),),
    ).fetchone()[0])


def refresh(conn: psycopg.Connection, since: datetime, *, names: Iterable[str] | None = None) -> int:
    """Recompute every rollup bucket (of the rollups ``names``, default all) from the one holding ``since`` onwards;
    returns rows written.

    Plain PostgreSQL: delete and re-insert those buckets, one transaction per rollup. TimescaleDB: call
    ``refresh_continuous_aggregate`` (needs an autocommit connection), so back-fills and tests use one call.
    """
    wanted = set(relation_names() if names is None else names)
    if is_continuous(conn):
        for name in relation_names():
            if name in wanted:
                conn.execute("CALL refresh_continuous_aggregate(%s, %s, NULL)", (name, since))
        return 0
    written = 0
    for rollup in ROLLUPS:
        for width, interval in WIDTHS.items():
            name = rollup.name(width)
            if name not in wanted:
                continue
            start = "date_bin(%(interval)s::interval, %(since)s::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
            params = {"interval": interval, "since": since}
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
                conn.execute(f"DELETE FROM {name} WHERE bucket >= {start}", params)
                select = _select(rollup, interval, "date_bin", f"WHERE ts >= {start}")
                written += conn.execute(f"INSERT INTO {name} {select}", params).rowcount
    return written


def refresh_concurrently(dsn: str, since: datetime, *, workers: int = 2) -> int:
    """:func:`refresh` of every rollup on ``workers`` connections at once (after a bulk load: the database server
    does the work, one core per connection); returns rows written."""
    # largest first (the position rollups write about one row per position), dealt round the workers
    order = sorted(relation_names(), key=lambda n: (not n.startswith("floor_density"), n.endswith("_1d")))
    shares = [order[k::workers] for k in range(workers)]

    def one(share: list[str]) -> int:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return refresh(conn, since, names=share)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rollups") as pool:
        return sum(pool.map(one, [s for s in shares if s]))
