"""Sensor placement on an imported mall (``import-plan --place-sensors``): valid, covering, simulable, drawn.

The real Hangzhou plans are read from ``$MALLSENSE_DATA/ble/mall-traces``; small synthetic sites check the rules
(entrance halls, small zones joining a camera, long ids, node splitting). The imported floor's background image in
the cockpit's floor plan is checked here too (it is found relative to the site file).
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from datetime import date

import pytest
import yaml

from dashboards.floorplan import floor_image, floor_plan
from mallsense.geometry import contains
from mallsense.plan.sensors import Placement, open_floor_m2, place_sensors, simulation_section
from mallsense.plan_import import FloorSource, import_plan, register, write_site
from mallsense.site import Site, load_site
from simulator.run import simulate
from tests.conftest import REPO, shared_data

TRACES = shared_data() / "ble" / "mall-traces"
FLOORS = ("F1", "F2")
OVERRIDES = REPO / "config" / "plan-overrides.example.yaml"
WALKABLE = {"entrance", "corridor", "atrium", "food_court", "parking"}


def _sources() -> list[FloorSource]:
    for f in FLOORS:
        assert (TRACES / f"site1_{f}_geojson_map.json").is_file(), f"expected the plans under {TRACES}"
    return [FloorSource(TRACES / f"site1_{f}_geojson_map.json", floor=f, image=TRACES / f"site1_{f}_floor_image.png",
                        info=TRACES / f"site1_{f}_floor_info.json") for f in FLOORS]


@pytest.fixture(scope="module")
def imported() -> dict:
    site, _ = import_plan(_sources(), site_id="hz-site1", name="Hangzhou site1 mall", timezone="Asia/Shanghai",
                          overrides=OVERRIDES)
    return site


@pytest.fixture(scope="module")
def placed(imported, tmp_path_factory) -> tuple[Site, list[str]]:
    site, notes = place_sensors(imported)
    out = tmp_path_factory.mktemp("placed") / "site" / "hz.yaml"
    write_site(site, out)  # validated as load_site does before it is renamed into place
    return load_site(out), notes


def _on_open_floor(site: Site, floor: str, p: tuple[float, float]) -> bool:
    zones = [z for z in site.zones if z.floor == floor]
    return (contains(site.floor_by_id[floor].outline, p)
            and any(z.kind in WALKABLE and contains(z.polygon, p) for z in zones)
            and not any(z.kind not in WALKABLE and contains(z.polygon, p) for z in zones))


# ---------------------------------------------------------------------------------------------- the real mall
def test_the_imported_mall_gets_a_valid_layout_that_covers_it(placed, imported):
    site, notes = placed
    assert "sensors" not in imported  # the input is left alone
    kinds = Counter(s.kind for s in site.sensors)
    assert kinds["camera"] >= 5 and kinds["wifi"] >= 10 and kinds["ble"] >= 10
    assert site.nodes == ["node-f1", "node-f2"]
    assert all(s.node == f"node-{s.floor}" for s in site.sensors)
    # every entrance counted by exactly one camera, standing on its line
    for e in site.entrances:
        counting = [s for s in site.sensors if e.id in s.lines]
        assert len(counting) == 1 and counting[0].floor == e.floor
        (ax, ay), (bx, by) = e.line
        assert math.dist(counting[0].position, ((ax + bx) / 2, (ay + by) / 2)) < 0.01
    assert site.entrance_lines == [e.id for e in site.entrances]
    # every walkable zone is seen by exactly one camera (two would report each person twice)
    seen = Counter(z for s in site.sensors if s.kind == "camera" for z in s.zones)
    walkable = {z.id for z in site.zones if z.kind in WALKABLE}
    assert set(seen) == walkable and set(seen.values()) == {1}
    assert {"f1-common-area-1", "f1-common-area-2", "f2-common-area-1", "f2-common-area-2"} <= walkable
    # radios stand on the open common floor (not in a shop), about one per wifi_m2 / ble_m2 of it
    for s in site.sensors:
        if s.kind in ("wifi", "ble"):
            assert _on_open_floor(site, s.floor, s.position), s
    open_m2 = open_floor_m2(site.model_dump(mode="json"))
    for floor, area in open_m2.items():
        assert 5_000 < area < 12_000  # the corridors between the shops, not the whole outline
        assert sum(s.kind == "wifi" and s.floor == floor for s in site.sensors) == round(area / 600)
        assert sum(s.kind == "ble" and s.floor == floor for s in site.sensors) == round(area / 400)
    # door counters over the largest stores, on the store's edge
    doors = [s for s in site.sensors if s.kind == "camera" and s.lines and s.lines[0] in site.store_by_id]
    largest = sorted(site.stores, key=lambda s: -s.area_m2)[:8]
    assert sorted(site.store_doors) == sorted(s.id for s in largest) and len(doors) == 8
    for cam in doors:
        ring = site.zone_by_id[site.store_by_id[cam.lines[0]].zone].polygon
        n = len(ring)
        edge = min(_segment_distance(cam.position, ring[i], ring[(i + 1) % n]) for i in range(n))
        assert edge < 0.02, cam
    assert notes[0].startswith(f"placed {len(site.sensors)} sensors on 2 edge nodes (node-f1, node-f2)")


def _segment_distance(p, a, b) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    f = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy or 1.0)))
    return math.dist(p, (a[0] + f * dx, a[1] + f * dy))


def test_cameras_carry_homographies_in_the_floor_frame(placed):
    site, _ = placed
    for cam in (s for s in site.sensors if s.kind == "camera"):
        if cam.lines and cam.lines[0] in site.store_by_id:
            continue
        h = cam.homography
        assert h is not None and len(h.image) == len(h.floor) == 4
        if cam.lines:  # the entrance camera looks along its line, into the mall
            e = site.entrance_by_id[cam.lines[0]]
            assert math.dist(h.floor[0], e.line[0]) + math.dist(h.floor[1], e.line[1]) < 20
            far = ((h.floor[2][0] + h.floor[3][0]) / 2, (h.floor[2][1] + h.floor[3][1]) / 2)
            assert math.dist(far, e.inside) < math.dist(far, (2 * e.line[0][0] - e.inside[0],
                                                               2 * e.line[0][1] - e.inside[1]))
        else:  # an overhead array: its top-down view over the zone's bounding box, image row 0 at the north
            ring = site.zone_by_id[cam.zones[0]].polygon
            x0, y0 = min(p[0] for p in ring), min(p[1] for p in ring)
            x1, y1 = max(p[0] for p in ring), max(p[1] for p in ring)
            assert h.image[0] == (0, 0) and h.floor[0] == pytest.approx((x0, y1), abs=0.01)
            assert h.floor[2] == pytest.approx((x1, y0), abs=0.01)
            assert h.image[2] == (round((x1 - x0) * 10), round((y1 - y0) * 10))


def test_simulation_section_fits_the_mall(placed, imported):
    site, _ = placed
    sim = site.simulation
    assert 10_000 <= sim.daily_visitors <= 25_000  # ~49 000 m² of floor at the demo mall's density
    assert sim.members == pytest.approx(2.2 * sim.daily_visitors, rel=0.01)
    categories = {s.category for s in site.stores}
    assert sim.affinity and all(len(g) >= 2 and set(g) <= categories for g in sim.affinity)
    assert ["fashion", "accessories", "beauty", "jewellery"] in sim.affinity
    kept = place_sensors(imported | {"simulation": {"daily_visitors": 1234}})[0]
    assert kept["simulation"] == {"daily_visitors": 1234}  # an existing section is kept
    assert simulation_section(imported) == place_sensors(imported)[0]["simulation"]


def test_placement_is_deterministic_and_tunable(imported):
    assert place_sensors(imported) == place_sensors(imported)
    sparse, _ = place_sensors(imported, Placement(wifi_m2=2000, ble_m2=1000, door_counters=0,
                                                  max_sensors_per_node=10))
    kinds = Counter(s["kind"] for s in sparse["sensors"])
    open_m2 = open_floor_m2(imported)
    assert kinds["wifi"] == sum(round(a / 2000) for a in open_m2.values())
    assert kinds["ble"] == sum(round(a / 1000) for a in open_m2.values())
    stores = {s["id"] for s in imported["stores"]}
    assert not any(line in stores for s in sparse["sensors"] for line in s.get("lines", []))  # no door counters
    per_floor = Counter(s["floor"] for s in sparse["sensors"])
    nodes = {f: {s["node"] for s in sparse["sensors"] if s["floor"] == f} for f in per_floor}
    for floor, n in per_floor.items():
        assert nodes[floor] == {f"node-{floor}-{k}" for k in range(1, math.ceil(n / 10) + 1)}
    Site.model_validate(sparse)


def test_a_day_simulates_on_the_imported_mall(placed, tmp_path):
    site, _ = placed
    summary = simulate(site, date(2026, 11, 14), 1, broker=None, outdir=tmp_path, scale=0.004, seed=5,
                       progress=False)
    seen = summary["observations_by_kind"]
    assert all(seen[k] > 0 for k in ("crossing", "occupancy", "position", "wifi", "ble")), seen
    crossings = summary["published_crossings"]
    assert crossings["f1-placeholder"]["in"] > 20
    assert any(line in site.store_by_id and sum(d.values()) for line, d in crossings.items())  # door counters


def test_cli_places_sensors_and_keeps_carried_ones(tmp_path):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "mall.yaml"
    argv = ["import-plan", "--site-id", "hz-site1", "--name", "Hangzhou", "--timezone", "Asia/Shanghai",
            "--overrides", str(OVERRIDES), "--out", str(out)]
    for s in _sources():
        argv += ["--floor", f"{s.floor}={s.path}:{s.image}", "--floor-info", f"{s.floor}={s.info}"]
    args = parser.parse_args([*argv, "--place-sensors"])
    assert args.func(args) == 0
    text = out.read_text()
    assert "sensors were placed by --place-sensors" in text.split("\nsite:")[0]  # flagged in the header
    site = _read(out)  # (write_site validated it as load_site does)
    assert len(site.sensors) > 50 and site.simulation.affinity
    # a re-import that carries sensors over keeps them and places none
    data = site.model_dump(mode="json", exclude_defaults=True)
    data["sensors"] = [{"id": "ble-1", "kind": "ble", "node": "node-1", "floor": "f1", "position": [150.0, 100.0]}]
    earlier = tmp_path / "earlier.yaml"
    earlier.write_text(yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
    args = parser.parse_args([*argv, "--force", "--carry-from", str(earlier), "--place-sensors"])
    assert args.func(args) == 0
    assert [s.id for s in _read(out).sensors] == ["ble-1"]


def _read(path) -> Site:
    return Site.model_validate(yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


# ---------------------------------------------------------------------------------------------- the rules
def _rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _small_site(long_id: str = "f1-mall") -> dict:
    return {
        "site": {"id": "small", "name": "Small", "timezone": "Europe/Berlin", "catchment_population": 1000},
        "floors": [{"id": "f1", "name": "Ground", "level": 0, "outline": _rect(0, 0, 60, 30)}],
        "zones": [
            {"id": "f1-hall", "floor": "f1", "kind": "entrance", "name": "Hall", "polygon": _rect(0, 10, 6, 20)},
            {"id": long_id, "floor": "f1", "kind": "corridor", "name": "Mall", "polygon": _rect(6, 10, 60, 20)},
            {"id": "f1-bench", "floor": "f1", "kind": "corridor", "name": "Rest area", "polygon": _rect(30, 0, 33, 3)},
            {"id": "f1-shop-a", "floor": "f1", "kind": "store", "name": "A", "polygon": _rect(6, 20, 30, 30)},
            {"id": "f1-shop-b", "floor": "f1", "kind": "store", "name": "B", "polygon": _rect(6, 0, 30, 10)},
            {"id": "f1-kiosk", "floor": "f1", "kind": "store", "name": "Kiosk", "polygon": _rect(40, 14, 44, 16)},
        ],
        "stores": [{"id": f"f1-shop-{k}", "name": k.upper(), "category": "fashion", "area_m2": 240.0,
                    "zone": f"f1-shop-{k}"} for k in "ab"]
        + [{"id": "f1-kiosk", "name": "Kiosk", "category": "cafe", "area_m2": 8.0, "zone": "f1-kiosk"}],
        "entrances": [{"id": "f1-west", "name": "West", "floor": "f1", "zone": "f1-hall",
                       "line": [[0, 12], [0, 18]], "inside": [3, 15]}],
    }


def test_entrance_halls_small_zones_and_open_floor_on_a_small_site():
    site, _ = place_sensors(_small_site(), Placement(door_counters=1))
    cams = {s["id"]: s for s in site["sensors"] if s["kind"] == "camera"}
    assert cams["cam-f1-west"]["zones"] == ["f1-hall"]  # the door camera also tracks its own hall
    assert cams["cam-f1-mall"]["zones"] == ["f1-mall", "f1-bench"]  # the rest area joins the nearest camera
    assert cams["cam-door-f1-shop-a"]["lines"] == ["f1-shop-a"]
    assert "cam-f1-hall" not in cams and "cam-f1-bench" not in cams
    model = Site.model_validate(site)
    for s in model.sensors:
        if s.kind in ("wifi", "ble"):
            assert _on_open_floor(model, "f1", s.position) and not contains(_rect(40, 14, 44, 16), s.position)


def test_ids_stay_valid_and_unique_for_long_zone_ids():
    long_id = "f1-" + "x" * 61  # 64 characters: "cam-" + it would be 68
    site, _ = place_sensors(_small_site(long_id))
    ids = [s["id"] for s in site["sensors"]]
    assert len(ids) == len(set(ids)) and all(len(i) <= 64 for i in ids)
    Site.model_validate(site)


# ---------------------------------------------------------------------------------------------- the drawing
def test_the_floor_image_lies_under_the_plan_in_the_floor_frame(placed, tmp_path, caplog):
    site, _ = placed
    assert site.path is not None and not site.floor_by_id["f1"].image.startswith("/")  # relative to the file
    fig = floor_plan(site, "f1", None, 2.0)
    (image,) = fig.layout.images
    outline = site.floor_by_id["f1"].outline
    width, height = max(p[0] for p in outline), max(p[1] for p in outline)
    assert image.source.startswith("data:image/png;base64,iVBORw0KGgo")  # the PNG signature
    assert (image.x, image.y, image.sizex, image.sizey) == (0, pytest.approx(height), pytest.approx(width),
                                                            pytest.approx(height))
    assert (image.xanchor, image.yanchor, image.layer, image.sizing) == ("left", "top", "below", "stretch")
    assert floor_image(site, "f1") is floor_image(site, "f1")  # read once
    # a floor whose image is gone is drawn without it
    data = site.model_dump(mode="json", include={"site", "floors", "zones", "entrances"})
    data["floors"] = [f | {"image": "missing.png"} for f in data["floors"]]
    data["zones"] = [z for z in data["zones"] if z["kind"] == "corridor"]  # a small file: quick to load
    (tmp_path / "gone.yaml").write_text(yaml.safe_dump(data))
    gone = load_site(tmp_path / "gone.yaml")
    with caplog.at_level("WARNING"):
        assert floor_plan(gone, "f2", None, 2.0).layout.images == ()
    assert str(tmp_path / "missing.png") in caplog.text
