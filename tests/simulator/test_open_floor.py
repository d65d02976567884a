"""Open floor: an imported plan without corridors has one walkable "common area" per building with the shops drawn on
top of it; simulated people walk around the shops, stand, ride and enter doors on the open floor. The demo mall
(corridors beside the shops, nothing drawn over them) is simulated exactly as before.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sqlite3
from collections import defaultdict
from datetime import date
from itertools import pairwise

import pytest

from mallsense.contract import Kind, decode_batch, parse_topic
from mallsense.geometry import bbox, contains, distance
from mallsense.plan_import import register
from mallsense.site import Site, load_site
from simulator.itinerary import Walker
from simulator.layout import Layout, OpenFloor, closest_points
from simulator.run import simulate
from tests.conftest import REPO, shared_data

TRACES = shared_data() / "ble" / "mall-traces"
OVERRIDES = REPO / "config" / "plan-overrides.example.yaml"

# sha256 of a demo-mall day (2026-11-17, scale 0.02, seed 7, offline): every node's outbox (its file name, then
# each batch's topic and payload in order) and every truth file, recorded before open floors existed. It also changes
# when the edge outbox, the contract encoding or the sensing model change on purpose: then record it again with
# _fingerprint on the code before the change.
EPOCH = re.compile(rb',"epoch":"[0-9a-f]+"|"epoch":"[0-9a-f]+",?')
DEMO_DAY_SHA256 = "e262d5c71f42d83f05cd0a42ddefa675cf92c3513b0d281654a49c8d0b147c27"


@pytest.fixture(scope="module")
def hz_site(tmp_path_factory) -> Site:
    """The Hangzhou mall as ``mallsense import-plan --place-sensors`` writes it (F1 and F2)."""
    plans = [TRACES / f"site1_{f}_geojson_map.json" for f in ("F1", "F2")]
    if not all(p.is_file() for p in plans):
        pytest.skip(f"the Indoor Location Competition plans are not under {TRACES} (set MALLSENSE_DATA)")
    out = tmp_path_factory.mktemp("hz") / "hz-site1.yaml"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    argv = ["import-plan", "--site-id", "hz-site1", "--name", "Hangzhou site1 mall", "--timezone", "Asia/Shanghai",
            "--overrides", str(OVERRIDES), "--out", str(out), "--place-sensors"]
    for f in ("F1", "F2"):
        argv += ["--floor", f"{f}={TRACES / f'site1_{f}_geojson_map.json'}:{TRACES / f'site1_{f}_floor_image.png'}",
                 "--floor-info", f"{f}={TRACES / f'site1_{f}_floor_info.json'}"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return load_site(out)


@pytest.fixture(scope="module")
def hz_layout(hz_site: Site) -> Layout:
    return Layout(hz_site)


class Shops:
    """Point-in-shop tests per floor (store zones, by bounding box first)."""

    def __init__(self, site: Site) -> None:
        self.by_floor: dict[str, list] = defaultdict(list)
        for z in site.zones:
            if z.kind == "store":
                self.by_floor[z.floor].append((bbox(z.polygon), z.polygon))

    def inside(self, floor: str, p: tuple[float, float]) -> bool:
        x, y = p
        return any(b[0] <= x <= b[2] and b[1] <= y <= b[3] and contains(ring, p) for b, ring in self.by_floor[floor])


# ---------------------------------------------------------------------------------------------- the layout
def test_only_zones_with_shops_drawn_over_them_get_an_open_floor(layout, hz_layout, hz_site):
    assert layout.open == {}  # the demo mall: corridors beside the shops
    commons = {z.id for z in hz_site.zones if "common-area" in z.id}
    assert set(hz_layout.open) == commons
    assert all(isinstance(f, OpenFloor) and f.size > 100 for f in hz_layout.open.values())


def test_spots_centres_and_escalators_are_on_open_floor(hz_site, hz_layout):
    shops, rng = Shops(hz_site), random.Random(1)
    for zone, floor in hz_layout.open.items():
        fl = hz_layout.floor_of[zone]
        spots = [hz_layout.random_spot(zone, rng) for _ in range(300)]
        assert all(contains(hz_layout.polygon[zone], p) and not shops.inside(fl, p) for p in spots)
        assert floor.is_open(hz_layout.centre[zone]) and not shops.inside(fl, hz_layout.centre[zone])
    for fl, core in hz_layout.core.items():
        walker = Walker(hz_layout, rng, 0, core, hz_layout.centre[core], 1.2)
        for _ in range(20):
            for forward in (True, False):
                end, middle = walker._escalator(core, forward)
                assert end != middle  # room for the escalator bank, both ends on open floor
                assert not shops.inside(fl, end) and not shops.inside(fl, middle)


def test_doors_are_on_the_store_outline_next_to_open_floor(hz_site, hz_layout):
    near = 0
    for store in hz_site.stores:
        door = hz_layout.doors[store.zone]
        ring = hz_site.zone_by_id[store.zone].polygon
        assert closest_points(ring, [door.point] * 3)[2] < 1e-6
        floor = hz_layout.open.get(door.front)
        if floor is None:  # fronts on a rest area drawn on the common area: a shared stretch of outline
            continue
        gap, _ = floor.kd.query(door.point)
        assert gap <= 2.0 + floor.cell / 2, (store.id, door)
        near += gap <= floor.cell
    assert near >= 0.9 * len(hz_site.stores)


def test_walks_go_around_the_shops(hz_site, hz_layout):
    """Walks between random spots of each common area (the straight line crosses shops on most of them)."""
    shops, rng = Shops(hz_site), random.Random(2)
    crossing = inside = samples = 0
    for zone in hz_layout.open:
        fl = hz_layout.floor_of[zone]
        for _ in range(100):
            a, b = hz_layout.random_spot(zone, rng), hz_layout.random_spot(zone, rng)
            crossing += any(shops.inside(fl, (a[0] + f / 20 * (b[0] - a[0]), a[1] + f / 20 * (b[1] - a[1])))
                            for f in range(21))
            path = [a, *hz_layout.path(zone, a, b)]
            assert path[-1] == b
            for p, q in pairwise(path):
                n = max(1, int(distance(p, q) / 0.5))
                for k in range(n):
                    samples += 1
                    inside += shops.inside(fl, (p[0] + k / n * (q[0] - p[0]), p[1] + k / n * (q[1] - p[1])))
    assert crossing > 100
    assert inside / samples < 0.005  # grid of 1 m cells: a corner may be cut by a few decimetres


# ---------------------------------------------------------------------------------------------- simulated days
def _outbox_rows(db):
    with sqlite3.connect(db) as conn:
        yield from conn.execute("SELECT topic, payload FROM outbox ORDER BY id")


def _fingerprint(out) -> str:
    h = hashlib.sha256()
    for db in sorted((out / "outbox").glob("*.db")):
        h.update(db.name.encode())
        for topic, payload in _outbox_rows(db):
            h.update(topic.encode())
            h.update(EPOCH.sub(b"", payload))  # a random id per outbox file (contract: epoch), not the day's content
    for f in sorted((out / "truth").iterdir()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_the_demo_mall_day_is_exactly_as_before(site, tmp_path):
    simulate(site, date(2026, 11, 17), 1, broker=None, outdir=tmp_path, scale=0.02, seed=7, progress=False,
             outbox_dir=tmp_path / "outbox")
    assert _fingerprint(tmp_path) == DEMO_DAY_SHA256


def test_tracked_positions_in_the_imported_mall_stay_off_the_shops(hz_site, tmp_path):
    """Overhead cameras track people in the common areas only (nobody in a shop is a camera position), so every
    position is someone walking, standing or waiting in the mall. Before open floors 60 % of them lay inside a shop
    polygon (people walked straight across the shops); now about 1 %: the 0.3 m tracker noise next to the doors
    (which are on the shop outlines) and corners cut within the 1 m grid. 5 % leaves room for the noise."""
    simulate(hz_site, date(2026, 11, 14), 1, broker=None, outdir=tmp_path, scale=0.02, seed=3, progress=False,
             outbox_dir=tmp_path / "outbox")
    shops = Shops(hz_site)
    positions = inside = 0
    for db in (tmp_path / "outbox").glob("*.db"):
        for topic, payload in _outbox_rows(db):
            batch = decode_batch(parse_topic(topic), payload)
            if batch.kind is Kind.POSITION:
                for ob in batch.obs:
                    positions += 1
                    inside += shops.inside(ob.floor, (ob.x, ob.y))
    assert positions > 20_000
    assert inside / positions < 0.05, f"{inside} of {positions} positions inside shops"
