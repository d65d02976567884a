"""Shared simulated days: planned once per test session (planning and sensing a day takes seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from edge.privacy import DeviceKeyer
from mallsense.contract import Kind
from mallsense.site import Site, load_site
from simulator.layout import Layout
from simulator.run import DEMO_SECRET
from simulator.sensing import CrossingTruth, Observation, Sensing
from simulator.world import DayPlan, day_bounds, plan_day

SATURDAY, TUESDAY = date(2026, 11, 14), date(2026, 11, 17)
SENSED_SCALE = 0.15


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site()


@pytest.fixture(scope="session")
def layout(site: Site) -> Layout:
    return Layout(site)


@pytest.fixture(scope="session")
def keyer(site: Site) -> DeviceKeyer:
    return DeviceKeyer(DEMO_SECRET, site=site.site.id, tz=site.site.timezone)


@pytest.fixture(scope="session")
def saturday(site: Site, layout: Layout) -> DayPlan:
    """A busy day at 30 % volume (8,640 visitors)."""
    return plan_day(site, SATURDAY, scale=0.3, seed=1, layout=layout)


@pytest.fixture(scope="session")
def tuesday(site: Site, layout: Layout) -> DayPlan:
    return plan_day(site, TUESDAY, scale=0.3, seed=1, layout=layout)


@dataclass
class SensedDay:
    """A whole day sensed minute by minute: every observation but positions (too many to keep; they are checked
    on the fly), and the crossing truth."""

    plan: DayPlan
    sensing: Sensing
    by_kind: dict[Kind, list[Observation]] = field(default_factory=dict)
    crossings: list[CrossingTruth] = field(default_factory=list)
    outside_window: int = 0
    positions: int = 0
    positions_off_camera: int = 0  # farther than the tracker noise from every zone of the reporting camera
    position_tracks: dict[str, set[int]] = field(default_factory=dict)


@pytest.fixture(scope="session")
def sensed(site: Site, layout: Layout, keyer: DeviceKeyer) -> SensedDay:
    plan = plan_day(site, SATURDAY, scale=SENSED_SCALE, seed=2, layout=layout)
    day = SensedDay(plan, Sensing(site, plan, keyer, seed=2, layout=layout))
    # what sensing itself produces (positions are counted apart; wifi_count comes from the estimator, zone from apps)
    day.by_kind = {k: [] for k in Kind if k not in (Kind.POSITION, Kind.WIFI_COUNT, Kind.ZONE)}
    grown = {cam.id: [_grow(site.zone_by_id[z].polygon, 1.5) for z in cam.zones]
             for cam in site.sensors if cam.kind == "camera"}
    floor_of = {cam.id: cam.floor for cam in site.sensors}
    t0, t_end = day_bounds(site, SATURDAY)
    while t0 < t_end:
        t1 = min(t0 + 60_000, t_end)
        for ob in day.sensing.window(t0, t1):
            day.outside_window += not t0 <= ob.obs.ts < t1
            if ob.kind is not Kind.POSITION:
                day.by_kind[ob.kind].append(ob)
                continue
            day.positions += 1
            p = ob.obs
            day.position_tracks.setdefault(ob.sensor, set()).add(p.track)
            if p.floor != floor_of[ob.sensor] or not any(_inside_box(box, p.x, p.y) for box in grown[ob.sensor]):
                day.positions_off_camera += 1
        day.crossings += day.sensing.drain_crossings()
        t0 = t1
    return day


def _grow(ring: list[tuple[float, float]], margin: float) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin


def _inside_box(box: tuple[float, float, float, float], x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]
