"""Walking geometry: every place reachable, openings on shared boundaries, doors on the corridor."""

from __future__ import annotations

import random

import pytest

from mallsense.geometry import distance
from mallsense.site import Site
from simulator.itinerary import Walker
from simulator.layout import Layout, closest_points, opening


def test_routes_cross_shared_openings(layout):
    assert layout.route("e-west-hall", "f1-mall-east") == ["e-west-hall", "f1-mall-west", "f1-atrium", "f1-mall-east"]
    assert layout.route("e-north-hall", "f1-mall-west") == ["e-north-hall", "f1-atrium", "f1-mall-west"]
    portal = layout.portal("f1-atrium", "f1-mall-west")
    assert {portal.a, portal.b} == {(90.0, 30.0), (90.0, 50.0)}


def test_every_walkable_zone_and_store_is_reachable(site, layout):
    by_floor: dict[str, list[str]] = {}
    for z in layout.walkable:
        by_floor.setdefault(layout.floor_of[z], []).append(z)
    for zones in by_floor.values():
        for a in zones:
            for b in zones:
                route = layout.route(a, b)
                assert route[0] == a and route[-1] == b and len(route) == len(set(route))
    for store in site.stores:
        door = layout.doors[store.zone]
        assert door.front == store.front_zone
        ring = site.zone_by_id[store.zone].polygon
        assert closest_points(ring, [door.point, door.point, door.point])[2] < 1e-6  # on the store's outline
    assert set(layout.core) == {f.id for f in site.floors}


def test_a_corner_contact_is_no_opening_but_a_small_gap_is():
    a = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    corner = [(10.0, 10.0), (20.0, 10.0), (20.0, 20.0), (10.0, 20.0)]
    gap = [(11.0, 0.0), (20.0, 0.0), (20.0, 10.0), (11.0, 10.0)]
    shared = [(10.0, 2.0), (20.0, 2.0), (20.0, 6.0), (10.0, 6.0)]
    assert opening(a, corner) is None
    assert opening(a, gap) is not None
    portal = opening(a, shared)
    assert portal is not None and {portal.a, portal.b} == {(10.0, 2.0), (10.0, 6.0)}


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_a_floor_plan_with_gaps_and_islands_is_stitched_together():
    site = Site.model_validate({
        "site": {"id": "odd", "name": "Odd plan", "timezone": "UTC", "catchment_population": 1000},
        "floors": [{"id": "g", "name": "G", "level": 0, "outline": _rect(0, 0, 100, 40)}],
        "zones": [
            {"id": "hall", "floor": "g", "kind": "entrance", "polygon": _rect(0, 10, 5, 20)},
            {"id": "west", "floor": "g", "kind": "corridor", "polygon": _rect(5, 10, 40, 20)},
            {"id": "east", "floor": "g", "kind": "corridor", "polygon": _rect(41, 10, 70, 20)},  # 1 m gap
            {"id": "island", "floor": "g", "kind": "atrium", "polygon": _rect(80, 10, 95, 20)},  # 10 m away
            {"id": "shop", "floor": "g", "kind": "store", "polygon": _rect(82, 20, 92, 35)},
        ],
        "stores": [{"id": "s1", "name": "Shop", "category": "fashion", "area_m2": 150, "zone": "shop"}],
        "entrances": [{"id": "door", "name": "Door", "floor": "g", "zone": "hall", "line": [[0, 10], [0, 20]],
                       "inside": [3, 15]}],
    })
    lay = Layout(site)
    assert lay.route("hall", "island") == ["hall", "west", "east", "island"]
    assert lay.doors["shop"].front == "island"
    walker = Walker(lay, random.Random(1), 1_800_000_000_000, "hall", (0.3, 15.0), 1.2)
    entered = walker.walk_to("shop")
    assert walker.zone == "shop" and entered > 1_800_000_000_000 + 60_000  # about 85 m at 1.2 m/s
    assert all(a.t1 == b.t0 for a, b in zip(walker.segments, walker.segments[1:], strict=False))


@pytest.mark.parametrize("zone", ["f1-mall-west", "b1-01-shop", "f2-atrium"])
def test_walks_reach_any_zone_from_any_floor(layout, zone):
    walker = Walker(layout, random.Random(5), 1_800_000_000_000, "e-park-west-hall", (0.3, 40.0), 1.1)
    walker.walk_to(zone)
    assert walker.zone == zone and walker.floor == layout.floor_of[zone]
    legs = walker.segments
    assert sum(distance((s.x0, s.y0), (s.x1, s.y1)) for s in legs) > 10
    assert {s.floor for s in legs} >= {"b1", layout.floor_of[zone]}
