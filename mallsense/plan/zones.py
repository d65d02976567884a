"""One imported floor: its frame, zones, stores and entrances, built from a read :class:`FloorPlan`."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mallsense.geometry import centroid, contains, polygon_area
from mallsense.plan.frame import LocalFrame, join_polygons, oriented, ring_distance, self_intersection
from mallsense.plan.overrides import Overrides, resolve
from mallsense.plan.read import read_floor_info
from mallsense.plan.report import FloorSummary, ImportReport
from mallsense.plan.sources import PlanError, RawFeature, is_opaque, polygons
from mallsense.plan.units import ENTRANCE_OPENINGS, FloorPlan

Point = tuple[float, float]
WALKABLE = ("entrance", "corridor", "atrium", "food_court", "parking")
COMMON_AREA_SHARE = 0.25  # plan corridors covering less of the floor than this get a derived common area
SCALE_TOLERANCE = 0.005  # floor_info and the projected size may differ this much before the report asks why
ENTRANCE_SNAP_M = 1.0  # an opening this close to the outline is a door of the mall
FRONT_ZONE_M = 5.0  # a store's front zone is a walkable zone within this distance
DIGITS = 3  # millimetres


def slug(text: str) -> str:
    """An id fragment: ASCII lower case, words joined by ``-`` (empty for names without Latin letters)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


class Ids:
    """Unique ids across the whole site (a store shares its zone's id, nothing else shares one)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def new(self, base: str) -> str:
        base = base.strip("-.")[:58].strip("-.") or "x"
        candidate, n = base, 1
        while candidate in self.used:
            n += 1
            candidate = f"{base}-{n}"
        self.used.add(candidate)
        return candidate


def round_ring(ring: Sequence[Point]) -> list[list[float]]:
    return [[round(x, DIGITS), round(y, DIGITS)] for x, y in ring]


def _check_rings(polys: list[list[list[Point]]], raw: RawFeature | None, source: str) -> None:
    for k, poly in enumerate(polys):
        for j, ring in enumerate(poly):
            problem = self_intersection(ring)
            if problem:
                part = f"polygon {k} " if len(polys) > 1 else ""
                which = part + ("outer ring" if j == 0 else f"hole {j}")
                if raw is None:
                    raise PlanError(source, f"floor outline {which}: {problem}")
                raise raw.error(f"{which}: {problem}")


def _inside_point(a: Point, b: Point, outline: Sequence[Sequence[Point]], toward: Point) -> Point:
    """A point 1 m from the middle of a–b on the side inside the outline (or toward ``toward``)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    length = math.dist(a, b)
    nx, ny = -(b[1] - a[1]) / length, (b[0] - a[0]) / length
    left, right = (mx + nx, my + ny), (mx - nx, my - ny)
    in_left, in_right = (any(contains(r, p) for r in outline) for p in (left, right))
    if in_left != in_right:
        return left if in_left else right
    return left if math.dist(left, toward) < math.dist(right, toward) else right


def _fallback_name(categories: list[str], kind: str) -> str:
    """A name for an unnamed unit: its most specific readable category (``restroom.female`` → Restroom female)."""
    readable = [c for c in categories if not is_opaque(c)]
    text = readable[-1] if readable else kind
    return re.sub(r"[._]+", " ", text).strip().capitalize()


class FloorBuild:
    """One floor being built: frame, zones, stores, walkable zones for entrances."""

    def __init__(self, plan: FloorPlan, floor_id: str, ids: Ids, overrides: Overrides, report: ImportReport,
                 override_dir: Path | None) -> None:
        self.plan, self.id, self.ids, self.overrides, self.report = plan, floor_id, ids, overrides, report
        self.zones: list[dict[str, Any]] = []
        self.stores: list[dict[str, Any]] = []
        self.entrances: list[dict[str, Any]] = []
        pts = [p for poly in plan.outline for p in poly[0]]
        self.frame = LocalFrame.around(min(p[0] for p in pts), min(p[1] for p in pts),
                                       max(p[0] for p in pts), max(p[1] for p in pts))
        outline_xy = [[self.frame.ring(r) for r in poly] for poly in plan.outline]
        _check_rings(outline_xy, plan.outline_feature, plan.source)
        self.parts = [oriented(poly[0], True) for poly in outline_xy]
        self.part_polys = outline_xy
        self.outline = join_polygons(outline_xy)
        width, height = self.frame.to_xy(max(p[0] for p in pts), max(p[1] for p in pts))
        image = plan.image
        over = overrides.floor(plan.key)
        if over.image and image is None:
            image = (override_dir or Path.cwd()) / over.image
        if image is not None and not Path(image).is_file():
            raise PlanError(str(image), f"floor {plan.key}: background image not found")
        self.image = str(Path(image).resolve()) if image is not None else None
        parts = len(plan.outline)
        how = plan.outline_how + (", joined into one ring by zero-width bridges" if parts > 1 else "")
        self.summary = FloorSummary(floor_id, plan.key, plan.name, plan.level, plan.level_why, plan.source,
                                    self.frame.describe(), width, height, how, parts, features=len(plan.units))
        if plan.info is not None:
            self.summary.info_width_m, self.summary.info_height_m = read_floor_info(Path(plan.info))
            dev = self.summary.scale_deviation or 0.0
            if dev > SCALE_TOLERANCE:
                report.todo.append(
                    f"floor {floor_id}: the plan projects to {width:.2f} × {height:.2f} m but {plan.info} says "
                    f"{self.summary.info_width_m:.2f} × {self.summary.info_height_m:.2f} m ({dev:.1%} apart): "
                    "survey positions in that file's frame will not line up with this plan")
        report.notes += [f"floor {floor_id}: {n}" for n in plan.notes]

    # ------------------------------------------------------------------------------------------ units
    def add_units(self) -> None:
        plan, report = self.plan, self.report
        for unit in plan.units:
            raw = unit.raw
            key = f"{plan.key}:{raw.fid}" if raw.fid else f"{plan.key}:#{raw.index}"
            rule = resolve(self.overrides, fid=raw.fid, name=unit.name, categories=unit.categories,
                           from_properties=unit.from_properties)
            if rule.kind == "drop":
                report.dropped.append(f"{self.id}: {raw.label} ({rule.why['kind']})")
                self.summary.dropped += 1
                continue
            if not unit.polygons:
                unit.polygons, link = polygons(raw, self.overrides.accept_crs)
                if link and link not in plan.crs_links:
                    plan.crs_links.add(link)
            xy = [[self.frame.ring(r) for r in poly] for poly in unit.polygons]
            _check_rings(xy, raw, plan.source)
            ring = join_polygons(xy)
            if len(xy) > 1 or any(len(p) > 1 for p in xy):
                report.notes.append(f"{self.id}: {raw.label} has {len(xy)} part(s) and "
                                    f"{sum(len(p) - 1 for p in xy)} hole(s), joined into one ring by bridges")
            rounded = round_ring(ring)
            area = polygon_area([tuple(p) for p in rounded])
            if area < 0.01:
                report.notes.append(f"{self.id}: {raw.label} has no area; left out")
                continue
            if unit.display and unit.display != unit.name:
                report.notes.append(f"{self.id}: {raw.label}: its display label reads {unit.display!r}")
            kind = rule.kind or "store"
            base = rule.name or unit.name
            zone_kind = "store" if kind == "vacant" else kind
            if kind == "vacant":
                name = rule.name or (f"Vacant unit ({unit.name})" if unit.name else "Vacant unit")
            else:
                name = base or _fallback_name(unit.categories, kind)
            zid = self.ids.new(rule.id or f"{self.id}-{slug(name) or 'unit-' + str(raw.index)}")
            self.zones.append({"id": zid, "floor": self.id, "kind": zone_kind, "name": name, "polygon": rounded})
            self.summary.zones[zone_kind if kind != "vacant" else "store (vacant)"] += 1
            report.feature_zone[key] = zid
            if kind != "store":
                continue
            category = rule.category or "unclassified"
            if category == "unclassified":
                cats = f"; plan categories {unit.categories}" if unit.categories else ""
                report.unclassified.append(f"{self.id}: store {name!r} ({raw.label}{cats})")
            self.stores.append({"id": zid, "name": name, "category": category, "anchor": bool(rule.anchor),
                                "area_m2": round(area, 2), "zone": zid})
            self.summary.stores += 1

        for link in sorted(plan.crs_links):
            report.notes.append(f"floor {self.id}: the plan declares CRS {link!r}, but its coordinates are WGS84 "
                                "degrees (every one checked) and are read as such")

    # ------------------------------------------------------------------------------------------ common area
    def add_common_area(self) -> None:
        floor_area = polygon_area(self.outline)
        corridors = sum(polygon_area(z["polygon"]) for z in self.zones if z["kind"] == "corridor")
        wanted = self.overrides.floor(self.plan.key).common_area
        if wanted is False or (wanted is None and corridors >= COMMON_AREA_SHARE * floor_area):
            return
        many = len(self.part_polys) > 1
        for k, poly in enumerate(self.part_polys, 1):
            name = f"{self.plan.name} common area" + (f" (part {k})" if many else "")
            zid = self.ids.new(f"{self.id}-common-area" + (f"-{k}" if many else ""))
            self.zones.append({"id": zid, "floor": self.id, "kind": "corridor", "name": name,
                               "polygon": round_ring(join_polygons([poly]))})
            self.summary.zones["corridor"] += 1
        self.report.notes.append(
            f"floor {self.id}: the plan's corridors cover {corridors / floor_area:.0%} of the floor, so the outline "
            f"{'parts are' if many else 'is'} also a corridor zone (common area; stores drawn on top win)")

    def walkable_at(self, p: Point) -> str | None:
        """The smallest walkable zone holding p (an entrance hall before a corridor)."""
        hits = [z for z in self.zones if z["kind"] in WALKABLE and contains(z["polygon"], p)]
        if not hits:
            return None
        return min(hits, key=lambda z: (z["kind"] != "entrance", polygon_area(z["polygon"])))["id"]

    def nearest_walkable(self, p: Point) -> str | None:
        walk = [z for z in self.zones if z["kind"] in WALKABLE] or self.zones
        if not walk:
            return None
        return min(walk, key=lambda z: 0.0 if contains(z["polygon"], p) else ring_distance(p, z["polygon"]))["id"]

    def set_front_zones(self) -> None:
        walk = [z for z in self.zones if z["kind"] in WALKABLE]
        by_id = {z["id"]: z for z in self.zones}
        for store in self.stores:
            ring = by_id[store["zone"]]["polygon"]
            c = centroid(ring)
            best, best_d = None, FRONT_ZONE_M
            for z in walk:
                d = 0.0 if contains(z["polygon"], c) else min(ring_distance(tuple(p), z["polygon"]) for p in ring)
                if d < best_d or (d == best_d == 0.0 and best is not None
                                  and polygon_area(z["polygon"]) < polygon_area(best["polygon"])):
                    best, best_d = z, d
            if best is not None:
                store["front_zone"] = best["id"]

    # ------------------------------------------------------------------------------------------ entrances
    def entrance(self, name: str, a: Point, b: Point, inside: Point | None, external: bool,
                 eid: str | None = None) -> dict[str, Any]:
        if math.dist(a, b) < 0.05:
            raise PlanError(self.plan.source, f"floor {self.id}: entrance {name!r} has a line shorter than 5 cm")
        inside = inside or _inside_point(a, b, self.parts, centroid(self.outline))
        zone = self.walkable_at(inside) or self.nearest_walkable(inside)
        ent = {"id": self.ids.new(eid or f"{self.id}-{slug(name) or 'entrance'}"), "name": name, "floor": self.id,
               "zone": zone, "line": round_ring([a, b]), "inside": round_ring([inside])[0], "external": external}
        self.entrances.append(ent)
        return ent

    def add_openings(self) -> None:
        skipped = 0
        for op in self.plan.openings:
            raw = op.raw
            rule = resolve(self.overrides, fid=raw.fid, name=raw.name, categories=[op.category],
                           from_properties=None)
            if rule.kind == "drop":
                self.report.dropped.append(f"{self.id}: {raw.label} ({rule.why['kind']})")
                continue
            a, b = self.frame.to_xy(*op.points[0]), self.frame.to_xy(*op.points[-1])
            on_outline = max(min(ring_distance(p, part) for part in self.parts) for p in (a, b)) <= ENTRANCE_SNAP_M
            forced = rule.kind == "entrance"
            if not forced and (not on_outline or op.category not in ENTRANCE_OPENINGS):
                skipped += 1
                continue
            name = rule.name or raw.name or f"{self.plan.name} {op.category} door"
            ent = self.entrance(name, a, b, None, on_outline, rule.id)
            self.report.feature_zone[f"{self.plan.key}:{raw.fid or '#' + str(raw.index)}"] = ent["id"]
        if skipped:
            self.report.notes.append(f"floor {self.id}: {skipped} openings inside the mall or not for pedestrians "
                                     "(store doors, service, emergency) are not entrances; force one with "
                                     "kind: entrance under features in the override file")

    def placeholder_entrance(self) -> None:
        ring = max(self.parts, key=polygon_area)
        n = len(ring)
        i = max(range(n), key=lambda k: math.dist(ring[k], ring[(k + 1) % n]))
        p, q = ring[i], ring[(i + 1) % n]
        length = math.dist(p, q)
        half = min(2.0, length / 4) / length
        a = (p[0] + (0.5 - half) * (q[0] - p[0]), p[1] + (0.5 - half) * (q[1] - p[1]))
        b = (p[0] + (0.5 + half) * (q[0] - p[0]), p[1] + (0.5 + half) * (q[1] - p[1]))
        ent = self.entrance("Placeholder entrance (set the real doors)", a, b, None, True, f"{self.id}-placeholder")
        self.report.todo.append(
            f"the plan has no doors: entrance {ent['id']!r} on floor {self.id} is a placeholder on the middle of "
            "the outline's longest edge; list the real entrances under entrances in the override file and "
            "import again (footfall counts only lines a camera counts)")
