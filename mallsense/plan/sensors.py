"""A plausible sensor layout for an imported mall, so it can be simulated and shown before the real survey.

:func:`place_sensors` adds to an imported site dict (what :func:`~mallsense.plan.build.import_plan` returns):

- **entrance cameras**: one per entrance, counting its line (``lines: [entrance id]``) from above its middle; it
  also tracks people in the entrance's hall when that zone is an entrance hall or car-park hall of its own;
- **overhead tracking cameras**: one per walkable zone (corridor, atrium, food court, entrance hall, car-park hall)
  of at least ``camera_min_zone_m2``; smaller walkable zones on the floor (rest areas) join the camera of the nearest
  larger one. The site model counts camera coverage per zone, and every camera on a zone reports each person in it,
  so one camera per zone stands for the camera array over it (a stitched top-down view): its homography maps that
  view, ``CAMERA_PX_PER_M`` pixels per metre with row 0 at the north edge, onto the zone's bounding box;
- **door counters**: a camera over the door of each of the ``door_counters`` largest stores (``lines: [store id]``),
  on the store's edge nearest the open common floor;
- **WiFi sensors and BLE scanners**: one per ``wifi_m2`` / ``ble_m2`` square metres of open common floor (walkable
  zones minus the stores and service rooms drawn over them), spread evenly over it (k-means on a
  ``cell_m`` grid, each sensor on a cell of open floor);
- **edge nodes**: one per floor (``node-<floor>``); a floor with more than ``max_sensors_per_node`` sensors is split
  into that many spatial groups (``node-<floor>-1`` …), as one edge box serves the sensors near it;
- a **simulation** section when the site has none: daily visitors in proportion to the floor area (the demo mall's
  density), a member base, and the affinity groups among the categories the plan has.

Every position is in the floor's metre frame. The layout is a starting point and a test bed, not a survey: replace
it with the installed positions (``mallsense import-plan --carry-from`` keeps them on a later re-import).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from mallsense.geometry import centroid, contains, contains_many, polygon_area
from mallsense.plan.frame import ring_distance
from mallsense.plan.sources import PlanError
from mallsense.plan.zones import WALKABLE
from mallsense.site import Site
from mallsense.yamlconf import field_name

Point = tuple[float, float]
ID_MAX = 64
CAMERA_PX_PER_M = 10.0  # stitched top-down view of an overhead camera array
ENTRANCE_VIEW_M = (10.0, 6.0)  # what an entrance camera sees: along the line, into the mall
ENTRANCE_IMAGE_PX = (1280, 720)
VISITORS_PER_M2 = 0.375  # visitors per m² of floor on an average weekday (the demo mall: 18 000 on 48 000 m²)
MEMBERS_PER_DAILY_VISITOR = 2.2  # CRM base relative to daily visitors (the demo mall: 40 000 / 18 000)
AFFINITY = (  # groups of categories often visited together (only categories the plan has are kept)
    ("fashion", "accessories", "shoes", "beauty", "jewelry", "jewellery"),
    ("cafe", "bakery", "drinks", "dessert", "food"),
    ("restaurant", "cinema", "entertainment", "ktv"),
    ("kids", "toys", "sports"),
    ("supermarket", "convenience", "home", "lifestyle", "pharmacy"),
    ("cafe", "electronics", "books"),
)


@dataclass(frozen=True)
class Placement:
    """How dense the placed layout is (defaults: a mid-range deployment)."""

    wifi_m2: float = 600.0  # one WiFi sensor per this many m² of open common floor
    ble_m2: float = 400.0  # one BLE scanner per this many m²
    wifi_range_m: float = 35.0
    ble_range_m: float = 25.0
    door_counters: int = 8  # the largest stores get a door counter (0: none)
    camera_min_zone_m2: float = 40.0  # smaller walkable zones share the camera of the nearest larger one
    max_sensors_per_node: int = 40
    cell_m: float = 2.0  # grid of the open-floor computation


@dataclass
class _Floor:
    """One floor's open common floor: the centres of the grid cells in a walkable zone and in no other zone."""

    id: str
    xy: np.ndarray  # (n, 2) cell centres
    cell_m: float

    @property
    def area_m2(self) -> float:
        return len(self.xy) * self.cell_m**2

    def nearest(self, p: Sequence[float], among: np.ndarray | None = None) -> Point:
        pts = self.xy if among is None else among
        k = int(np.argmin(((pts - np.asarray(p, dtype=float)) ** 2).sum(axis=1)))
        return (float(pts[k, 0]), float(pts[k, 1]))


# ---------------------------------------------------------------------------------------------- public
def place_sensors(site: dict[str, Any], placement: Placement | None = None) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``site`` with a sensor layout (and a ``simulation`` section if it has none); returns (site, notes).

    ``site`` is an imported site dict; its existing ``sensors`` are replaced. The result is validated against
    :class:`~mallsense.site.Site` (fields and references) and raises :class:`PlanError` if it were not valid.
    """
    placement = placement or Placement()
    site = copy.deepcopy(site)
    zones = site["zones"]
    used: set[str] = set()
    sensors: list[dict[str, Any]] = []
    notes: list[str] = []
    entrance_zone_kinds = {"entrance", "parking"}
    zone_by_id = {z["id"]: z for z in zones}
    stores = site.get("stores", [])

    floors = {f["id"]: _open_floor(f, zones, {e["zone"] for e in site["entrances"]}, placement.cell_m)
              for f in site["floors"]}
    covered: set[str] = set()
    # entrance cameras count the doors (and track people in a hall of their own)
    for e in site["entrances"]:
        (ax, ay), (bx, by) = e["line"]
        mid = ((ax + bx) / 2, (ay + by) / 2)
        hall = zone_by_id.get(e["zone"])
        own_hall = hall is not None and hall["kind"] in entrance_zone_kinds and e["zone"] not in covered
        if own_hall:
            covered.add(e["zone"])
        sensors.append({"id": _new_id(used, f"cam-{e['id']}"), "kind": "camera", "floor": e["floor"],
                        "position": _pt(mid), "lines": [e["id"]], "zones": [e["zone"]] if own_hall else [],
                        "homography": _entrance_homography(e)})
    # overhead tracking cameras: one per walkable zone, small ones joining the nearest larger one
    for fid, floor in floors.items():
        walk = [z for z in zones if z["floor"] == fid and z["kind"] in WALKABLE and z["id"] not in covered]
        if not walk:
            continue
        area = {z["id"]: polygon_area([tuple(p) for p in z["polygon"]]) for z in walk}
        big = [z for z in walk if area[z["id"]] >= placement.camera_min_zone_m2]
        big = big or [max(walk, key=lambda z: area[z["id"]])]
        cams: dict[str, dict[str, Any]] = {}
        for z in big:
            ring = [tuple(p) for p in z["polygon"]]
            inside = floor.xy[contains_many(ring, floor.xy)] if len(floor.xy) else floor.xy
            spot = floor.nearest(_inner_centre(ring), inside) if len(inside) else _inner_centre(ring)
            cams[z["id"]] = {"id": _new_id(used, f"cam-{z['id']}"), "kind": "camera", "floor": fid,
                             "position": _pt(spot), "zones": [z["id"]], "homography": _overhead_homography(ring)}
        for z in walk:
            if z["id"] in cams:
                continue
            c = _inner_centre([tuple(p) for p in z["polygon"]])
            host = min(big, key=lambda b: 0.0 if contains([tuple(p) for p in b["polygon"]], c)
                       else ring_distance(c, [tuple(p) for p in b["polygon"]]))
            cams[host["id"]]["zones"].append(z["id"])
        sensors += cams.values()
    # door counters over the largest stores
    by_size = sorted(stores, key=lambda s: -s["area_m2"])[:placement.door_counters]
    for s in by_size:
        zone = zone_by_id[s["zone"]]
        ring = [tuple(p) for p in zone["polygon"]]
        floor = floors[zone["floor"]]
        near = floor.nearest(centroid(ring)) if len(floor.xy) else centroid(ring)
        sensors.append({"id": _new_id(used, f"cam-door-{s['id']}"), "kind": "camera", "floor": zone["floor"],
                        "position": _pt(_closest_on_ring(near, ring)), "lines": [s["id"]]})
    # WiFi and BLE spread over the open floor
    for fid, floor in floors.items():
        if not len(floor.xy):
            notes.append(f"floor {fid}: no open common floor (no walkable zone outside the stores): no WiFi or BLE "
                         "sensors placed")
            continue
        for kind, per_m2, reach in (("wifi", placement.wifi_m2, placement.wifi_range_m),
                                    ("ble", placement.ble_m2, placement.ble_range_m)):
            n = max(1, round(floor.area_m2 / per_m2))
            for k, p in enumerate(_spread(floor, n), 1):
                sensors.append({"id": _new_id(used, f"{kind}-{fid}-{k}"), "kind": kind, "floor": fid,
                                "position": _pt(p), "range_m": reach})
    _assign_nodes(sensors, placement.max_sensors_per_node, used)
    site["sensors"] = sensors
    if not site.get("simulation"):
        site["simulation"] = simulation_section(site)
    _validate(site)
    nodes = sorted({s["node"] for s in sensors})
    kinds = {k: sum(s["kind"] == k for s in sensors) for k in ("camera", "wifi", "ble")}
    open_m2 = ", ".join(f"{fid} {f.area_m2:,.0f} m²" for fid, f in floors.items())
    notes.insert(0, f"placed {len(sensors)} sensors on {len(nodes)} edge nodes ({', '.join(nodes)}): "
                    f"{kinds['camera']} cameras ({len(site['entrances'])} entrance, {len(by_size)} store door, "
                    f"the rest overhead), {kinds['wifi']} WiFi, {kinds['ble']} BLE; open common floor {open_m2}")
    return site, notes


def open_floor_m2(site: dict[str, Any], cell_m: float = Placement.cell_m) -> dict[str, float]:
    """Per floor, the open common floor the radios are spread over: walkable zones minus the zones drawn on them."""
    entrance_zones = {e["zone"] for e in site["entrances"]}
    return {f["id"]: _open_floor(f, site["zones"], entrance_zones, cell_m).area_m2 for f in site["floors"]}


def simulation_section(site: dict[str, Any]) -> dict[str, Any]:
    """Simulation parameters for a mall of this size and tenant mix (see the module's docstring)."""
    floor_m2 = sum(polygon_area([tuple(p) for p in f["outline"]]) for f in site["floors"])
    daily = max(500, int(round(VISITORS_PER_M2 * floor_m2, -2)))
    categories = {s["category"] for s in site.get("stores", [])}
    groups = [[c for c in g if c in categories] for g in AFFINITY]
    return {"daily_visitors": daily, "members": int(round(MEMBERS_PER_DAILY_VISITOR * daily, -2)),
            "affinity": [g for g in groups if len(g) >= 2]}


# ---------------------------------------------------------------------------------------------- the open floor
def _open_floor(floor: dict[str, Any], zones: list[dict[str, Any]], entrance_zones: set[str],
                cell_m: float) -> _Floor:
    outline = [tuple(p) for p in floor["outline"]]
    xs, ys = zip(*outline, strict=True)
    gx = np.arange(math.floor(min(xs) / cell_m), math.ceil(max(xs) / cell_m)) * cell_m + cell_m / 2
    gy = np.arange(math.floor(min(ys) / cell_m), math.ceil(max(ys) / cell_m)) * cell_m + cell_m / 2
    xy = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    xy = xy[contains_many(outline, xy)]
    walk = np.zeros(len(xy), dtype=bool)
    blocked = np.zeros(len(xy), dtype=bool)
    for z in zones:
        if z["floor"] != floor["id"]:
            continue
        hit = contains_many([tuple(p) for p in z["polygon"]], xy)
        if z["kind"] in WALKABLE or z["id"] in entrance_zones:
            walk |= hit
        else:
            blocked |= hit
    return _Floor(floor["id"], xy[walk & ~blocked], cell_m)


def _spread(floor: _Floor, n: int, iterations: int = 25) -> list[Point]:
    """``n`` points spread evenly over the open floor: k-means from a farthest-point start, snapped to open cells."""
    pts = floor.xy
    n = min(n, len(pts))
    start = int(np.argmin(((pts - pts.mean(axis=0)) ** 2).sum(axis=1)))
    chosen = [start]
    d2 = ((pts - pts[start]) ** 2).sum(axis=1)
    while len(chosen) < n:
        k = int(np.argmax(d2))
        chosen.append(k)
        d2 = np.minimum(d2, ((pts - pts[k]) ** 2).sum(axis=1))
    centres = pts[chosen].copy()
    for _ in range(iterations):
        label = np.argmin(((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
        moved = np.array([pts[label == j].mean(axis=0) if (label == j).any() else centres[j] for j in range(n)])
        if np.allclose(moved, centres):
            break
        centres = moved
    return sorted((floor.nearest(c) for c in centres), key=lambda p: (round(p[0]), p[1]))


# ---------------------------------------------------------------------------------------------- placing
def _assign_nodes(sensors: list[dict[str, Any]], max_per_node: int, used: set[str]) -> None:
    """Each floor's sensors to ``node-<floor>``, or to spatial groups of at most about ``max_per_node``."""
    by_floor: dict[str, list[dict[str, Any]]] = {}
    for s in sensors:
        by_floor.setdefault(s["floor"], []).append(s)
    for fid, group in by_floor.items():
        k = math.ceil(len(group) / max_per_node)
        if k <= 1:
            node = _new_id(used, f"node-{fid}")
            for s in group:
                s["node"] = node
            continue
        xy = np.array([s["position"] for s in group], dtype=float)
        centres = xy[np.argsort(xy[:, 0])[np.linspace(0, len(xy) - 1, k).astype(int)]]  # west to east
        for _ in range(25):
            label = np.argmin(((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
            centres = np.array([xy[label == j].mean(axis=0) if (label == j).any() else centres[j] for j in range(k)])
        order = np.argsort(centres[:, 0])  # node-<floor>-1 is the westernmost group
        names = {int(j): _new_id(used, f"node-{fid}-{rank}") for rank, j in enumerate(order, 1)}
        for s, j in zip(group, label, strict=True):
            s["node"] = names[int(j)]
    for s in sensors:  # the model's field order: id, kind, node, floor, …
        node = s.pop("node")
        items = list(s.items())
        s.clear()
        s.update([*items[:2], ("node", node), *items[2:]])


def _entrance_homography(e: dict[str, Any]) -> dict[str, Any]:
    """The entrance camera's view: image x along the line (a → b), image rows from the line into the mall."""
    (ax, ay), (bx, by) = e["line"]
    length = math.dist((ax, ay), (bx, by))
    ux, uy = (bx - ax) / length, (by - ay) / length
    nx, ny = -uy, ux
    mx, my = (ax + bx) / 2, (ay + by) / 2
    if (e["inside"][0] - mx) * nx + (e["inside"][1] - my) * ny < 0:
        nx, ny = -nx, -ny
    half, depth = ENTRANCE_VIEW_M[0] / 2, ENTRANCE_VIEW_M[1]
    w, h = ENTRANCE_IMAGE_PX
    floor = [(mx - half * ux, my - half * uy), (mx + half * ux, my + half * uy),
             (mx + half * ux + depth * nx, my + half * uy + depth * ny),
             (mx - half * ux + depth * nx, my - half * uy + depth * ny)]
    return {"image": [[0, 0], [w, 0], [w, h], [0, h]], "floor": [_pt(p) for p in floor]}


def _overhead_homography(ring: Sequence[Point]) -> dict[str, Any]:
    """A stitched top-down view of the zone's bounding box, row 0 at its north edge."""
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    w, h = round((x1 - x0) * CAMERA_PX_PER_M), round((y1 - y0) * CAMERA_PX_PER_M)
    return {"image": [[0, 0], [w, 0], [w, h], [0, h]],
            "floor": [_pt((x0, y1)), _pt((x1, y1)), _pt((x1, y0)), _pt((x0, y0))]}


def _inner_centre(ring: Sequence[Point]) -> Point:
    """The centroid, or for a C- or L-shaped ring whose centroid is outside, the inner grid point nearest it."""
    c = centroid(ring)
    if contains(ring, c):
        return c
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    grid = np.stack(np.meshgrid(np.linspace(min(xs), max(xs), 41)[1:-1], np.linspace(min(ys), max(ys), 41)[1:-1]),
                    axis=-1).reshape(-1, 2)
    inside = grid[contains_many(ring, grid)]
    if not len(inside):
        return c
    k = int(np.argmin(((inside - np.asarray(c)) ** 2).sum(axis=1)))
    return (float(inside[k, 0]), float(inside[k, 1]))


def _closest_on_ring(p: Point, ring: Sequence[Point]) -> Point:
    best, best_d = ring[0], math.inf
    for i in range(len(ring)):
        a, b = ring[i], ring[(i + 1) % len(ring)]
        dx, dy = b[0] - a[0], b[1] - a[1]
        n = dx * dx + dy * dy
        f = 0.0 if n < 1e-12 else min(1.0, max(0.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / n))
        q = (a[0] + f * dx, a[1] + f * dy)
        d = math.dist(p, q)
        if d < best_d:
            best, best_d = q, d
    return best


def _pt(p: Sequence[float]) -> list[float]:
    return [round(float(p[0]), 2), round(float(p[1]), 2)]


def _new_id(used: set[str], base: str) -> str:
    """A sensor or node id: at most 64 characters, unique among the placed ones."""
    base = base[:ID_MAX].rstrip("-.")
    candidate, n = base, 1
    while candidate in used:
        n += 1
        suffix = f"-{n}"
        candidate = base[:ID_MAX - len(suffix)].rstrip("-.") + suffix
    used.add(candidate)
    return candidate


def _validate(site: dict[str, Any]) -> None:
    try:
        problems = Site.model_validate(site).reference_problems()
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    if problems:
        raise PlanError("(placed sensors)", "the placed layout is not a valid site: " + "; ".join(
            f"{field_name(loc)}: {msg}" for loc, msg in problems))

