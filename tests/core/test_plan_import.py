"""Importing floor plans into the site model: the real Hangzhou mall (GeoJSON, WGS84), synthetic IMDF, bad input.

The real plans and survey waypoints are read from ``$MALLSENSE_DATA/ble/mall-traces`` (never copied here). Areas
are checked against an independent spherical computation, positions against the surveyors' own waypoints.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import zipfile
from pathlib import Path

import pytest
import yaml

from mallsense.geometry import contains, polygon_area
from mallsense.plan.frame import join_polygons, ring_distance, self_intersection, signed_area
from mallsense.plan_import import FloorSource, PlanError, import_plan, register, write_site
from mallsense.site import load_site
from mallsense.yamlconf import ConfigError
from tests.conftest import REPO, shared_data

TRACES = shared_data() / "ble" / "mall-traces"
FLOORS = ("F1", "F2")
EXAMPLE_OVERRIDES = REPO / "config" / "plan-overrides.example.yaml"
R_AUTHALIC = 6_371_007.2  # a different sphere from the importer's (6 378 137 m): the comparison is independent


def _plan(floor: str) -> Path:
    path = TRACES / f"site1_{floor}_geojson_map.json"
    assert path.is_file(), f"expected the Indoor Location Competition plans under {TRACES} (set MALLSENSE_DATA)"
    return path


def _sources() -> list[FloorSource]:
    return [FloorSource(_plan(f), floor=f, image=TRACES / f"site1_{f}_floor_image.png",
                        info=TRACES / f"site1_{f}_floor_info.json") for f in FLOORS]


def _waypoints(floor: str) -> list[tuple[float, float]]:
    with open(TRACES / f"site1_{floor}_waypoints.tsv", newline="") as fh:
        return [(float(r["x_m"]), float(r["y_m"])) for r in csv.DictReader(fh, delimiter="\t")]


def spherical_area(ring: list[list[float]], radius: float = R_AUTHALIC) -> float:
    """Area of a lon/lat ring on a sphere: A = R²/2 · |Σ (λ₂−λ₁)(2 + sin φ₁ + sin φ₂)| (Chamberlain & Duquette)."""
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in zip(ring, ring[1:] + ring[:1], strict=True):
        total += math.radians(lon2 - lon1) * (2 + math.sin(math.radians(lat1)) + math.sin(math.radians(lat2)))
    return abs(total) * radius * radius / 2


def haversine(a: list[float], b: list[float], radius: float = R_AUTHALIC) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def real_mall(tmp_path_factory):
    """F1 and F2 imported with the example overrides, written and loaded back as a site file."""
    site, report = import_plan(_sources(), site_id="hz-site1", name="Hangzhou site1 mall", timezone="Asia/Shanghai",
                               overrides=EXAMPLE_OVERRIDES)
    out = tmp_path_factory.mktemp("plan") / "site.yaml"
    write_site(site, out)
    return load_site(out), report, out


@pytest.fixture(scope="module")
def plain_mall():
    """The same plans without overrides: every polygon but the floor outline is a store."""
    return import_plan(_sources(), site_id="hz-site1", name="Hangzhou site1 mall", timezone="Asia/Shanghai")


# ---------------------------------------------------------------------------------------------- the real mall
def test_real_mall_is_a_valid_site_with_its_stores(real_mall):
    site, _, out = real_mall
    assert [f.id for f in site.floors] == ["f1", "f2"] and [f.level for f in site.floors] == [0, 1]
    names = {s.name for s in site.stores}
    assert {"STARBUCKS COFFEE", "UNIQLO", "Decathlon", "MUJI", "FamilyMart"} <= names
    per_floor = {f: sum(site.zone_by_id[s.zone].floor == f for s in site.stores) for f in ("f1", "f2")}
    assert per_floor == {"f1": 49, "f2": 43}
    decathlon = next(s for s in site.stores if s.name == "Decathlon")
    assert decathlon.anchor and decathlon.category == "sports" and decathlon.area_m2 > 4000
    assert all(s.category == "cafe" for s in site.stores if s.name == "STARBUCKS COFFEE")
    # the plan has no corridor polygons: each building's outline is a common-area corridor zone
    assert sum(z.kind == "corridor" and "common area" in z.name for z in site.zones) == 4
    assert all(s.front_zone for s in site.stores)
    # images are relative to the site file and point at the real files
    for floor in site.floors:
        assert (out.parent / floor.image).resolve() == (TRACES / f"site1_{floor.id.upper()}_floor_image.png").resolve()


def test_plain_import_keeps_every_polygon_as_a_store(plain_mall):
    site, report = plain_mall
    for floor in FLOORS:
        features = json.loads(_plan(floor).read_text())["features"]
        stores = [s for s in site["stores"] if s["zone"].startswith(floor.lower() + "-")]
        assert len(stores) == len(features) - 1  # all but the floor outline; F1: 172
    assert sum(s["name"] == "STARBUCKS COFFEE" for s in site["stores"]) == 3
    # opaque category ids cannot name a category without the override file: all listed as unclassified
    assert len(report.unclassified) == len(site["stores"])
    assert any("placeholder" in t for t in report.todo)


def test_store_areas_and_edges_match_the_geojson(plain_mall):
    """Every store zone's area within 1 % of the spherical area of its GeoJSON polygon, edges within 0.5 %."""
    site, report = plain_mall
    zones = {z["id"]: z for z in site["zones"]}
    worst_area = worst_edge = 0.0
    checked = 0
    for floor in FLOORS:
        for feature in json.loads(_plan(floor).read_text())["features"]:
            fid = feature["properties"].get("id")
            if fid is None:
                continue  # the floor outline
            zone = zones[report.feature_zone[f"{floor}:{fid}"]]
            ring = feature["geometry"]["coordinates"][0][:-1]
            reference = spherical_area(ring)
            worst_area = max(worst_area, abs(polygon_area(zone["polygon"]) / reference - 1))
            # the same vertices (the importer may reverse a clockwise ring): compare the edge lengths
            poly = zone["polygon"]
            assert len(poly) == len(ring)
            plan_edges = sorted(haversine(ring[i - 1], ring[i]) for i in range(len(ring)))
            zone_edges = sorted(math.dist(poly[i - 1], poly[i]) for i in range(len(poly)))
            for metres, imported in zip(plan_edges, zone_edges, strict=True):
                if metres > 1.0:
                    worst_edge = max(worst_edge, abs(imported / metres - 1))
            checked += 1
    assert checked == 172 + 138
    assert worst_area < 0.01, worst_area
    assert worst_edge < 0.005, worst_edge
    starbucks = [s for s in site["stores"] if s["name"] == "STARBUCKS COFFEE"]
    assert sorted(round(s["area_m2"]) for s in starbucks) == [120, 146, 209]


def test_frame_matches_floor_info_and_the_survey(real_mall):
    """The frame is the surveyors': floor_info's size to 10 ppm, every waypoint inside the outline, ~none in shops."""
    site, report, _ = real_mall
    for summary in report.floors:
        assert summary.scale_deviation is not None and summary.scale_deviation < 1e-5
    for floor in FLOORS:
        outline = site.floor_by_id[floor.lower()].outline
        points = _waypoints(floor)
        assert len(points) > 600
        assert all(contains(outline, p) for p in points), "a surveyed waypoint falls outside the floor outline"
        # surveyors walk the corridors: no waypoint is inside a shop, except on its edge (F2: 6 samples at 2
        # positions, within 5 cm); mirroring the frame north-south puts 38 % (F1) and 47 % (F2) inside shops
        shops = [z.polygon for z in site.zones if z.floor == floor.lower() and z.kind in ("store", "service")]
        for p in points:
            for ring in shops:
                if contains(ring, p):
                    assert ring_distance(p, ring) < 0.1, (floor, p)
        height = max(p[1] for p in outline)
        mirrored = [(x, height - y) for x, y in points]
        assert sum(any(contains(ring, p) for ring in shops) for p in mirrored) > 0.3 * len(points)


def test_overrides_classify_rename_drop_and_report(real_mall):
    site, report, _ = real_mall
    assert sorted(u.split("store ")[1].split(" ")[0] for u in report.unclassified) == ["'faxifaxi'", "'gant'"]
    assert len(report.dropped) == 11 and all("zhongkong" in d for d in report.dropped)  # the void over the atrium
    vacant = [z for z in site.zones if z.name.startswith("Vacant unit")]
    assert len(vacant) == 9 and not {z.id for z in vacant} & {s.zone for s in site.stores}
    assert sum(z.name == "Restroom" and z.kind == "service" for z in site.zones) == 12
    assert sum(z.name == "Rest area" and z.kind == "corridor" for z in site.zones) == 8
    assert any("sr-org/6928" in n for n in report.notes)
    assert "placeholder" in report.text()


def test_cli_writes_a_valid_file_and_refuses_to_overwrite(tmp_path):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "mall.yaml"
    argv = ["import-plan", "--site-id", "hz-site1", "--name", "Hangzhou", "--timezone", "Asia/Shanghai",
            "--catchment-population", "1200000", "--overrides", str(EXAMPLE_OVERRIDES), "--out", str(out)]
    for f in FLOORS:
        argv += ["--floor", f"{f}={_plan(f)}:{TRACES / f'site1_{f}_floor_image.png'}",
                 "--floor-info", f"{f}={TRACES / f'site1_{f}_floor_info.json'}"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    site = load_site(out)
    assert site.site.catchment_population == 1_200_000 and len(site.stores) == 92
    assert out.read_text().startswith("# Site file imported by `mallsense import-plan`")
    before = out.read_bytes()
    assert args.func(args) == 2 and out.read_bytes() == before  # exists: refused without --force
    # --force with --carry-from keeps the sensors placed in the earlier file
    data = yaml.safe_load(before)
    data["sensors"] = [{"id": "ble-1", "kind": "ble", "node": "node-1", "floor": "f1", "position": [150.0, 100.0]}]
    placed = tmp_path / "placed.yaml"
    placed.write_text(yaml.safe_dump(data))
    args = parser.parse_args([*argv, "--force", "--carry-from", str(placed)])
    assert args.func(args) == 0  # the written file is validated before it replaces the old one
    assert [s["id"] for s in yaml.safe_load(out.read_text())["sensors"]] == ["ble-1"]


def test_override_entrances_replace_the_placeholder(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text(EXAMPLE_OVERRIDES.read_text() + "\nentrances:\n"
                    "  - {floor: F1, name: South door, line: [[160.0, 0.5], [166.0, 0.5]], external: true}\n")
    site, report = import_plan(_sources(), site_id="hz-site1", name="Hangzhou", timezone="Asia/Shanghai",
                               overrides=over)
    (door,) = site["entrances"]
    assert door["name"] == "South door" and door["inside"][1] > 0.5  # 1 m on the mall side
    assert not any("no doors" in t for t in report.todo)


def test_bad_override_file_names_line_and_field(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text("names:\n  UNIQLO: {categroy: fashion}\n")
    with pytest.raises(ConfigError) as err:
        import_plan(_sources()[:1], site_id="x", name="x", timezone="Asia/Shanghai", overrides=over)
    assert f"{over}:2: names.UNIQLO" in str(err.value)


# ---------------------------------------------------------------------------------------------- malformed input
LON, LAT = 120.0, 30.0
M = 1 / 111_000  # about a metre in degrees


def _square(x0: float, y0: float, size: float) -> list[list[float]]:
    pts = [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size), (x0, y0)]
    return [[LON + x * M, LAT + y * M] for x, y in pts]


def _floor_feature() -> dict:
    return {"type": "Feature", "properties": {"type": "floor", "name": "F1"},
            "geometry": {"type": "Polygon", "coordinates": [_square(0, 0, 100)]}}


def _store(name: str, ring: list, fid: str = "s1", gtype: str = "Polygon") -> dict:
    coords = [ring] if gtype == "Polygon" else ring
    return {"type": "Feature", "properties": {"id": fid, "name": name, "category": "cafe"},
            "geometry": {"type": gtype, "coordinates": coords}}


def _collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [_floor_feature(), *features]})


def _bowtie() -> list[list[float]]:
    pts = [(10, 10), (20, 20), (20, 10), (10, 20), (10, 10)]
    return [[LON + x * M, LAT + y * M] for x, y in pts]


BAD = {
    "no geometry": (json.dumps({"type": "FeatureCollection", "features": [
        _floor_feature(), {"type": "Feature", "properties": {"id": "s1", "name": "Cafe Uno"}, "geometry": None}]}),
        ["feature #1", "id s1", "'Cafe Uno'", "has no geometry"]),
    "linestring store": (_collection(_store("Cafe Uno", _square(10, 10, 5)[:3], gtype="LineString")),
                         ["feature #1", "id s1", "'Cafe Uno'", "LineString is not a polygon"]),
    "unclosed ring": (_collection(_store("Cafe Uno", _square(10, 10, 5)[:-1])),
                      ["feature #1", "id s1", "'Cafe Uno'", "not closed"]),
    "self-intersecting ring": (_collection(_store("Cafe Uno", _bowtie())),
                               ["feature #1", "id s1", "'Cafe Uno'", "self-intersects"]),
    "unknown crs": (_collection(_store("Cafe Uno", _square(10, 10, 5)) | {"geometry": {
        "type": "Polygon", "coordinates": [_square(10, 10, 5)],
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}}}),
        ["feature #1", "'Cafe Uno'", "unknown CRS", "EPSG::3857"]),
    "projected coordinates": (_collection(_store("Cafe Uno", [[13366730.0, 3541383.0], [13366740.0, 3541383.0],
                                                              [13366740.0, 3541393.0], [13366730.0, 3541383.0]])),
                              ["feature #1", "'Cafe Uno'", "not WGS84 longitude/latitude"]),
    "bad json": ('{"type": "FeatureCollection", "features": [', ["not valid JSON", "line 1"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_plans_name_file_feature_and_problem_and_write_nothing(case, tmp_path):
    text, expected = BAD[case]
    plan = tmp_path / "broken_plan.geojson"
    plan.write_text(text)
    with pytest.raises(PlanError) as err:
        import_plan([FloorSource(plan, floor="F1")], site_id="x", name="x", timezone="Asia/Shanghai")
    message = str(err.value)
    assert str(plan) in message
    for part in expected:
        assert part in message, message
    # the CLI reports the same error, exits 2 and writes nothing, nor replaces an existing file
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "site.yaml"
    args = parser.parse_args(["import-plan", "--floor", f"F1={plan}", "--site-id", "x", "--name", "x",
                              "--timezone", "Asia/Shanghai", "--out", str(out)])
    assert args.func(args) == 2
    assert list(tmp_path.iterdir()) == [plan]
    out.write_text("previous")
    args = parser.parse_args([*["import-plan", "--floor", f"F1={plan}", "--site-id", "x", "--name", "x",
                                "--timezone", "Asia/Shanghai", "--out", str(out)], "--force"])
    assert args.func(args) == 2 and out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken_plan.geojson", "site.yaml"]


def test_dropped_features_need_no_valid_geometry(tmp_path):
    plan = tmp_path / "plan.geojson"
    plan.write_text(_collection(_store("Cafe Uno", _square(10, 10, 5)),
                                _store("Label", [LON, LAT], fid="poi-1", gtype="Point")))
    over = tmp_path / "over.yaml"
    over.write_text("drop: [poi-1]\n")
    site, report = import_plan([FloorSource(plan, floor="F1")], site_id="x", name="x", timezone="Asia/Shanghai",
                               overrides=over)
    assert [s["name"] for s in site["stores"]] == ["Cafe Uno"] and len(report.dropped) == 1
    assert site["stores"][0]["category"] == "cafe"  # a readable category property is used as is
    assert site["stores"][0]["area_m2"] == pytest.approx(spherical_area(_square(10, 10, 5)[:-1]), rel=0.01)


def test_plan_without_floor_feature_uses_the_largest_enclosing_polygon(tmp_path):
    plan = tmp_path / "plan.geojson"
    hall = _floor_feature() | {"properties": {"id": "hall", "name": "Hall"}}
    plan.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _store("Cafe Uno", _square(10, 10, 5)), hall, _store("Shoe Box", _square(30, 10, 5), fid="s2")]}))
    site, report = import_plan([FloorSource(plan, floor="L2")], site_id="x", name="x", timezone="Asia/Shanghai")
    outline = polygon_area(site["floors"][0]["outline"])
    assert site["floors"][0]["level"] == 1 and outline == pytest.approx(spherical_area(_square(0, 0, 100)[:-1]),
                                                                        rel=0.01)
    assert len(site["stores"]) == 2 and any("largest polygon" in n for n in report.notes)


# ---------------------------------------------------------------------------------------------- geometry
def test_parts_and_holes_join_into_one_ring_with_the_right_area_and_containment():
    outer = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    hole = [(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0)]
    other = [(20.0, 0.0), (30.0, 0.0), (30.0, 5.0), (20.0, 5.0)]
    ring = join_polygons([[outer, hole], [other]])
    assert signed_area(ring) == pytest.approx(100 - 4 + 50)
    for point, inside in (((1, 1), True), ((5, 5), False), ((25, 2), True), ((15, 2), False), ((25, 7), False)):
        assert contains(ring, point) is inside, point
    assert self_intersection(outer) is None
    assert "self-intersects" in self_intersection([(0, 0), (2, 2), (2, 0), (0, 2)])
    assert "folds back" in self_intersection([(0, 0), (4, 0), (2, 0), (2, 3)])


# ---------------------------------------------------------------------------------------------- IMDF
def _imdf_features() -> list[dict]:
    def feature(fid, ftype, geometry, **props):
        return {"id": fid, "type": "Feature", "feature_type": ftype, "geometry": geometry, "properties": props}

    def poly(x0, y0, w, h):
        pts = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h), (x0, y0)]
        return {"type": "Polygon", "coordinates": [[[LON + x * M, LAT + y * M] for x, y in pts]]}

    def seg(a, b):
        return {"type": "LineString", "coordinates": [[LON + a[0] * M, LAT + a[1] * M],
                                                      [LON + b[0] * M, LAT + b[1] * M]]}

    return [
        feature("lvl-0", "level", poly(0, 0, 80, 40), ordinal=0, category="unspecified", outdoor=False,
                name={"en": "Ground"}, short_name={"en": "G"}),
        feature("lvl-1", "level", poly(0, 0, 80, 40), ordinal=1, category="unspecified", outdoor=False,
                name={"en": "Level 1"}, short_name={"en": "1"}),
        feature("u-walk", "unit", poly(0, 13, 80, 12), category="walkway", level_id="lvl-0", name=None),
        feature("u-shop", "unit", poly(10, 25, 20, 15), category="room", level_id="lvl-0", name=None),
        feature("u-wc", "unit", poly(40, 25, 10, 15), category="restroom.female", level_id="lvl-0",
                name={"en": "Toilets"}),
        feature("u-void", "unit", poly(30, 10, 10, 10), category="opentobelow", level_id="lvl-1", name=None),
        feature("u-mystery", "unit", poly(60, 25, 10, 15), category="room", level_id="lvl-0",
                name={"en": "Unit 7"}),
        feature("u-hall1", "unit", poly(0, 0, 80, 40), category="walkway", level_id="lvl-1", name=None),
        feature("o-main", "opening", seg((0, 18), (0, 22)), category="pedestrian.principal", level_id="lvl-0"),
        feature("o-shop", "opening", seg((15, 25), (20, 25)), category="pedestrian", level_id="lvl-0"),
        feature("a-shop", "anchor", {"type": "Point", "coordinates": [LON + 20 * M, LAT + 30 * M]},
                unit_id="u-shop", address_id=None),
        feature("occ-1", "occupant", None, name={"en": "Blue Bottle Coffee"}, category="coffee",
                anchor_id="a-shop"),
        feature("ven-1", "venue", poly(0, 0, 80, 40), category="shoppingcenter", name={"en": "Test Mall"}),
    ]


def _write_imdf(tmp_path: Path, form: str) -> Path:
    features = _imdf_features()
    if form == "collection":
        path = tmp_path / "imdf.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        return path
    files: dict[str, list] = {}
    for f in features:
        files.setdefault(f"{f['feature_type']}.geojson", []).append(f)
    texts = {name: json.dumps({"type": "FeatureCollection", "features": fs}) for name, fs in files.items()}
    texts["manifest.json"] = json.dumps({"version": "1.0.0", "language": "en"})
    if form == "folder":
        folder = tmp_path / "imdf"
        folder.mkdir()
        for name, text in texts.items():
            (folder / name).write_text(text)
        return folder
    path = tmp_path / "imdf.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in texts.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize("form", ["folder", "zip", "collection"])
def test_imdf_levels_units_openings_and_occupants(form, tmp_path):
    site, report = import_plan([FloorSource(_write_imdf(tmp_path, form))], site_id="imdf-mall", name="Test Mall",
                               timezone="Europe/Paris")
    assert [(f["id"], f["name"], f["level"]) for f in site["floors"]] == [("g", "Ground", 0), ("1", "Level 1", 1)]
    kinds = {z["name"]: z["kind"] for z in site["zones"]}
    assert kinds["Toilets"] == "service" and kinds["Blue Bottle Coffee"] == "store"
    assert "Walkway" in kinds and kinds["Walkway"] == "corridor"
    assert not any("common area" in n for n in kinds)  # the walkways cover enough of each floor
    store = next(s for s in site["stores"] if s["name"] == "Blue Bottle Coffee")
    shop_ring = [[LON + x * M, LAT + y * M] for x, y in ((10, 25), (30, 25), (30, 40), (10, 40))]
    assert store["category"] == "coffee" and store["area_m2"] == pytest.approx(spherical_area(shop_ring), rel=0.01)
    assert store["front_zone"] == next(z["id"] for z in site["zones"] if z["name"] == "Walkway")
    assert any("Unit 7" in u for u in report.unclassified)
    assert any("u-void" in d for d in report.dropped)
    # the principal door on the outline is the entrance; the shop door inside the mall is not
    (door,) = site["entrances"]
    assert door["floor"] == "g" and door["external"] and door["line"] == [[0.0, pytest.approx(18, abs=0.1)],
                                                                          [0.0, pytest.approx(22, abs=0.1)]]
    assert door["inside"][0] == pytest.approx(1.0, abs=0.01) and door["zone"].startswith("g-walkway")
    assert any("venue (1)" in n for n in report.notes)
    write_site(site, tmp_path / "out" / "site.yaml")
    assert len(load_site(tmp_path / "out" / "site.yaml").zones) == len(site["zones"])


def test_imdf_unit_on_unknown_level_is_named(tmp_path):
    features = _imdf_features()
    features[2]["properties"]["level_id"] = "lvl-9"
    path = tmp_path / "imdf.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(PlanError, match=r"unit feature #2 \(id u-walk\): IMDF unit's level_id 'lvl-9' names no level"):
        import_plan([FloorSource(path)], site_id="x", name="x", timezone="Europe/Paris")
