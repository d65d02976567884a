"""Where simulated people can walk: the walkable zones of each floor, the openings between them, store doors,
routes and the vertical core (escalators/lifts) of each floor. Derived once from a :class:`~mallsense.site.Site`.

Walkable zones are corridors, atria, food courts, entrance halls and car-park halls (plus every entrance's zone).
Two zones are connected where their polygons share a stretch of boundary (the demo mall's rectangles do); floor
plans with small gaps between zones are connected at their closest points, and a floor whose zones still fall apart
is stitched together at the closest pair, so every place on a floor is reachable. A route is a list of zones; a
walk crosses from one zone to the next through a point on their shared boundary, so each leg of a walk lies inside
one zone (exactly, for convex zones).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from mallsense.geometry import bbox, centroid, contains, distance, random_point
from mallsense.site import Site, ZoneKind

Point = tuple[float, float]
WALKABLE_KINDS = frozenset({ZoneKind.CORRIDOR, ZoneKind.ATRIUM, ZoneKind.FOOD_COURT, ZoneKind.ENTRANCE,
                            ZoneKind.PARKING})
CORE_KINDS = (ZoneKind.ATRIUM, ZoneKind.FOOD_COURT, ZoneKind.CORRIDOR)  # where escalators are, in preference
TOUCH_M = 0.05  # boundaries closer than this are shared
MIN_OPENING_M = 0.8  # a shared stretch shorter than this is a corner, not an opening
GAP_M = 2.0  # zones this close are connected even without a shared boundary


@dataclass(frozen=True, slots=True)
class Portal:
    """An opening between two zones: the stretch a–b of their common boundary (a == b for a point)."""

    a: Point
    b: Point

    @property
    def midpoint(self) -> Point:
        return ((self.a[0] + self.b[0]) / 2, (self.a[1] + self.b[1]) / 2)

    def point(self, rng: random.Random, spread: float = 0.8) -> Point:
        """A random crossing point on the middle ``spread`` of the opening (people do not brush the walls)."""
        f = 0.5 + (rng.random() - 0.5) * spread
        return (self.a[0] + f * (self.b[0] - self.a[0]), self.a[1] + f * (self.b[1] - self.a[1]))


@dataclass(frozen=True, slots=True)
class StoreDoor:
    """How a store is entered: from ``front`` (a walkable zone) through the door at ``point``."""

    front: str
    point: Point


class Layout:
    """Walking geometry of a site, precomputed: zone graph per floor, shortest routes, doors and cores.

    Args:
        site: the mall.

    >>> from mallsense.site import load_site
    >>> lay = Layout(load_site())
    >>> lay.route("e-west-hall", "f1-mall-east")
    ['e-west-hall', 'f1-mall-west', 'f1-atrium', 'f1-mall-east']
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.floor_of = {z.id: z.floor for z in site.zones}
        self.polygon = {z.id: z.polygon for z in site.zones}
        self.level = {f.id: f.level for f in site.floors}
        self.centre = {z.id: _inner_centre(z.polygon) for z in site.zones}
        self.convex = {z.id: _is_convex(z.polygon) for z in site.zones}
        entrance_zones = {e.zone for e in site.entrances}
        self.walkable = {z.id for z in site.zones if z.kind in WALKABLE_KINDS or z.id in entrance_zones}
        self.portals: dict[tuple[str, str], Portal] = {}
        self._next_hop: dict[tuple[str, str], str] = {}
        by_floor: dict[str, list[str]] = {}
        for z in site.zones:
            if z.id in self.walkable:
                by_floor.setdefault(z.floor, []).append(z.id)
        for zones in by_floor.values():
            self._connect_floor(zones)
            self._route_floor(zones)
        self.core: dict[str, str] = {}
        for floor, zones in by_floor.items():
            kinds = {z: site.zone_by_id[z].kind for z in zones}
            ranked = sorted(zones, key=lambda z: (CORE_KINDS.index(kinds[z]) if kinds[z] in CORE_KINDS else 9,
                                                  -site.zone_by_id[z].area_m2))
            self.core[floor] = ranked[0]
        self.doors: dict[str, StoreDoor] = {}
        for store in site.stores:
            door = self._store_door(store.zone, store.front_zone, by_floor.get(self.floor_of[store.zone], []))
            if door is not None:
                self.doors[store.zone] = door

    # ------------------------------------------------------------------ queries
    def route(self, src: str, dst: str) -> list[str]:
        """Walkable zones from ``src`` to ``dst`` (both walkable, same floor), both ends included."""
        path = [src]
        while path[-1] != dst:
            path.append(self._next_hop[(path[-1], dst)])
        return path

    def portal(self, a: str, b: str) -> Portal:
        return self.portals[(a, b)]

    def reachable(self, zone: str) -> bool:
        """Whether people can get to this zone (a store needs a door, its floor a walkable zone)."""
        return zone in self.walkable or zone in self.doors

    def random_spot(self, zone: str, rng: random.Random) -> Point:
        return random_point(self.polygon[zone], rng)

    # ------------------------------------------------------------------ construction
    def _connect(self, a: str, b: str, portal: Portal) -> None:
        self.portals[(a, b)] = portal
        self.portals[(b, a)] = portal

    def _connect_floor(self, zones: list[str]) -> None:
        for i, a in enumerate(zones):
            for b in zones[i + 1:]:
                portal = opening(self.polygon[a], self.polygon[b])
                if portal is not None:
                    self._connect(a, b, portal)
        # stitch components that do not touch at their closest pair of zones
        while True:
            parts = _components(zones, self.portals)
            if len(parts) <= 1:
                return
            first, rest = parts[0], [z for part in parts[1:] for z in part]
            best = min(((a, b) for a in first for b in rest),
                       key=lambda ab: closest_points(self.polygon[ab[0]], self.polygon[ab[1]])[2])
            pa, pb, _ = closest_points(self.polygon[best[0]], self.polygon[best[1]])
            mid = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
            self._connect(best[0], best[1], Portal(mid, mid))

    def _route_floor(self, zones: list[str]) -> None:
        """All-pairs next hops by Dijkstra, costed centre → opening → centre."""
        neighbours = {z: [b for b in zones if (z, b) in self.portals] for z in zones}

        def cost(a: str, b: str) -> float:
            mid = self.portals[(a, b)].midpoint
            return distance(self.centre[a], mid) + distance(mid, self.centre[b])

        for dst in zones:  # reverse search from the destination gives each zone its next hop towards it
            best = {dst: 0.0}
            queue = [(0.0, dst)]
            while queue:
                d, z = heapq.heappop(queue)
                if d > best.get(z, math.inf):
                    continue
                for n in neighbours[z]:
                    nd = d + cost(n, z)
                    if nd < best.get(n, math.inf):
                        best[n] = nd
                        self._next_hop[(n, dst)] = z
                        heapq.heappush(queue, (nd, n))

    def _store_door(self, zone: str, front: str | None, floor_walkable: list[str]) -> StoreDoor | None:
        if not floor_walkable:
            return None
        ring = self.polygon[zone]
        if front is None or front not in self.walkable or self.floor_of[front] != self.floor_of[zone]:
            front = min(floor_walkable, key=lambda w: closest_points(ring, self.polygon[w])[2])
        portal = opening(ring, self.polygon[front])
        if portal is not None:
            return StoreDoor(front, portal.midpoint)
        pa, pb, _ = closest_points(ring, self.polygon[front])
        return StoreDoor(front, pa if contains(self.polygon[front], pa) else pb)


# ---------------------------------------------------------------------------------------------- geometry helpers
def opening(ring_a: Sequence[Point], ring_b: Sequence[Point]) -> Portal | None:
    """The longest stretch of boundary two polygons share, or the middle of a gap of at most GAP_M between them."""
    ax0, ay0, ax1, ay1 = bbox(ring_a)
    bx0, by0, bx1, by1 = bbox(ring_b)
    if ax0 > bx1 + GAP_M or bx0 > ax1 + GAP_M or ay0 > by1 + GAP_M or by0 > ay1 + GAP_M:
        return None
    best: Portal | None = None
    best_len = MIN_OPENING_M
    for p0, p1 in _edges(ring_a):
        length = distance(p0, p1)
        if length < 1e-9:
            continue
        ux, uy = (p1[0] - p0[0]) / length, (p1[1] - p0[1]) / length
        for q0, q1 in _edges(ring_b):
            # both ends of q on the line of p?
            if abs(_cross(ux, uy, q0[0] - p0[0], q0[1] - p0[1])) > TOUCH_M:
                continue
            if abs(_cross(ux, uy, q1[0] - p0[0], q1[1] - p0[1])) > TOUCH_M:
                continue
            s0 = (q0[0] - p0[0]) * ux + (q0[1] - p0[1]) * uy
            s1 = (q1[0] - p0[0]) * ux + (q1[1] - p0[1]) * uy
            lo, hi = max(0.0, min(s0, s1)), min(length, max(s0, s1))
            if hi - lo > best_len:
                best_len = hi - lo
                best = Portal((p0[0] + lo * ux, p0[1] + lo * uy), (p0[0] + hi * ux, p0[1] + hi * uy))
    if best is not None:
        return best
    pa, pb, gap = closest_points(ring_a, ring_b)
    if TOUCH_M < gap <= GAP_M:  # a small gap between the drawn zones (touching only at a corner is no opening)
        mid = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
        return Portal(mid, mid)
    return None


def closest_points(ring_a: Sequence[Point], ring_b: Sequence[Point]) -> tuple[Point, Point, float]:
    """The closest pair of boundary points (on a, on b) of two polygons and their distance."""
    best: tuple[Point, Point, float] = (ring_a[0], ring_b[0], math.inf)
    for ring_p, ring_q, swap in ((ring_a, ring_b, False), (ring_b, ring_a, True)):
        for p in ring_p:
            for q0, q1 in _edges(ring_q):
                q = _project(p, q0, q1)
                d = distance(p, q)
                if d < best[2]:
                    best = (q, p, d) if swap else (p, q, d)
    return best


def _edges(ring: Sequence[Point]) -> list[tuple[Point, Point]]:
    return [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]


def _cross(ux: float, uy: float, vx: float, vy: float) -> float:
    return ux * vy - uy * vx


def _project(p: Point, a: Point, b: Point) -> Point:
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = dx * dx + dy * dy
    if n < 1e-12:
        return a
    f = min(1.0, max(0.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / n))
    return (a[0] + f * dx, a[1] + f * dy)


def _is_convex(ring: Sequence[Point]) -> bool:
    signs = set()
    n = len(ring)
    for i in range(n):
        a, b, c = ring[i], ring[(i + 1) % n], ring[(i + 2) % n]
        turn = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
        if abs(turn) > 1e-9:
            signs.add(turn > 0)
    return len(signs) <= 1


def _inner_centre(ring: Sequence[Point]) -> Point:
    """The centroid, or (for a C- or L-shaped zone whose centroid lies outside) a point inside."""
    c = centroid(ring)
    return c if contains(ring, c) else random_point(ring, random.Random(0))


def _components(zones: list[str], portals: dict[tuple[str, str], Portal]) -> list[list[str]]:
    seen: set[str] = set()
    parts = []
    for start in zones:
        if start in seen:
            continue
        part, stack = [], [start]
        seen.add(start)
        while stack:
            z = stack.pop()
            part.append(z)
            for n in zones:
                if n not in seen and (z, n) in portals:
                    seen.add(n)
                    stack.append(n)
        parts.append(part)
    return parts
