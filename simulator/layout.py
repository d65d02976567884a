"""Where simulated people can walk: the walkable zones of each floor, the openings between them, store doors,
routes and the vertical core (escalators/lifts) of each floor. Derived once from a :class:`~mallsense.site.Site`.

Walkable zones are corridors, atria, food courts, entrance halls and car-park halls (plus every entrance's zone).
Two zones are connected where their polygons share a stretch of boundary (the demo mall's rectangles do); floor
plans with small gaps between zones are connected at their closest points, and a floor whose zones still fall apart
is stitched together at the closest pair, so every place on a floor is reachable. A route is a list of zones; a
walk crosses from one zone to the next through a point on their shared boundary, so each leg of a walk lies inside
one zone (exactly, for convex zones).

Open floor: an imported plan without corridor polygons has one big walkable zone per building (the common area)
with the shops drawn on top of it. A walkable zone that such zones (stores, service rooms: anything not walkable)
overlap gets an :class:`OpenFloor`, a grid of the zone minus those zones: spots, its centre (the escalators) and
the doors of the stores fronting on it lie on open floor, and every walk in it goes around the shops (shortest path
on the grid, shortened by line of sight). A walkable zone drawn inside one with an open floor (a rest area) is
entered from it at its middle. Zones that only touch their neighbours (the demo mall) keep the plain polygon
geometry, exactly as before.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from mallsense.geometry import bbox, centroid, contains, contains_many, distance, random_point
from mallsense.site import Site, ZoneKind

Point = tuple[float, float]
WALKABLE_KINDS = frozenset({ZoneKind.CORRIDOR, ZoneKind.ATRIUM, ZoneKind.FOOD_COURT, ZoneKind.ENTRANCE,
                            ZoneKind.PARKING})
CORE_KINDS = (ZoneKind.ATRIUM, ZoneKind.FOOD_COURT, ZoneKind.CORRIDOR)  # where escalators are, in preference
TOUCH_M = 0.05  # boundaries closer than this are shared
MIN_OPENING_M = 0.8  # a shared stretch shorter than this is a corner, not an opening
GAP_M = 2.0  # zones this close are connected even without a shared boundary
OVERLAP_M = 0.5  # a zone with a corner this deep inside a walkable zone is drawn on top of it (an obstacle)
OPEN_CELL_M = 1.0  # grid of the open floor
ESCALATOR_BOX_M = (7.0, 3.0)  # half width (x) and height (y) of the open floor the escalators need around the centre
TREE_CACHE = 256  # shortest-path trees kept per open floor (one per frequent destination: doors, openings, cores)
CORNER_CACHE = 100_000  # shortened paths kept per open floor (between two cells; forgotten all at once beyond)


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
        self.open: dict[str, OpenFloor] = {}
        for zones in by_floor.values():
            self._open_floors(zones)
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
        """A random spot in the zone (on its open floor, if shops are drawn over it)."""
        open_floor = self.open.get(zone)
        if open_floor is not None:
            return open_floor.random_spot(rng)
        return random_point(self.polygon[zone], rng)

    def on_floor(self, zone: str, p: Point) -> bool:
        """Whether ``p`` is in the zone (and on its open floor, if shops are drawn over it)."""
        open_floor = self.open.get(zone)
        return contains(self.polygon[zone], p) and (open_floor is None or open_floor.is_open(p))

    def path(self, zone: str, a: Point, b: Point) -> list[Point]:
        """Waypoints of a walk from ``a`` to ``b`` in ``zone`` (``a`` excluded, ``b`` last): around the shops on an
        open floor, else ``[b]``."""
        open_floor = self.open.get(zone)
        return [b] if open_floor is None else open_floor.path(a, b)

    # ------------------------------------------------------------------ construction
    def _connect(self, a: str, b: str, portal: Portal) -> None:
        self.portals[(a, b)] = portal
        self.portals[(b, a)] = portal

    def _open_floors(self, zones: list[str]) -> None:
        """An open floor for each walkable zone that non-walkable zones (shops) are drawn over; its centre on it."""
        floor = self.floor_of[zones[0]]
        others = [z.id for z in self.site.zones if z.floor == floor and z.id not in self.walkable]
        for zone in zones:
            ring = self.polygon[zone]
            over = [o for o in others if _overlaps(ring, self.polygon[o])]
            if not over:
                continue
            open_floor = OpenFloor(ring, [self.polygon[o] for o in over])
            if open_floor.size:
                self.open[zone] = open_floor
                self.centre[zone] = open_floor.centre_near(centroid(ring))

    def _connect_floor(self, zones: list[str]) -> None:
        nested = self._nested(zones)
        for inner, outer in nested.items():  # entered from the open floor around it, at its middle
            p = self.open[outer].nearest_open(self.centre[inner])
            self._connect(inner, outer, Portal(p, p))
        for i, a in enumerate(zones):
            for b in zones[i + 1:]:
                if a in nested or b in nested:
                    continue
                portal = opening(self.polygon[a], self.polygon[b])
                if portal is not None:
                    if a in self.open or b in self.open:
                        portal = self._open_portal(a, b, portal)
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
            portal = Portal(mid, mid)
            if best[0] in self.open or best[1] in self.open:
                portal = self._open_portal(best[0], best[1], portal)
            self._connect(best[0], best[1], portal)

    def _nested(self, zones: list[str]) -> dict[str, str]:
        """Walkable zones drawn inside a zone with an open floor (a rest area in the common area) → that zone."""
        out = {}
        for z in zones:
            if z in self.open:
                continue
            outer = next((o for o in zones if o in self.open and contains(self.polygon[o], self.centre[z])), None)
            if outer is not None:
                out[z] = outer
        return out

    def _open_portal(self, a: str, b: str, portal: Portal) -> Portal:
        """The crossing between two zones, one at least with an open floor: between the nearest open cells of the
        two near the opening when both have one, else the opening moved onto the open floor."""
        if a in self.open and b in self.open:
            fa, fb = self.open[a], self.open[b]
            d, j = fb.kd.query(fa.centres)
            close = np.nonzero(d <= d.min() + fa.cell)[0]
            mid = portal.midpoint
            k = close[int(np.argmin(np.hypot(fa.centres[close, 0] - mid[0], fa.centres[close, 1] - mid[1])))]
            p, q = fa.centres[k], fb.centres[j[k]]
            m = (float(p[0] + q[0]) / 2, float(p[1] + q[1]) / 2)
            return Portal(m, m)
        zone = a if a in self.open else b
        ends = [self.open[zone].nearest_open(q) for q in (portal.a, portal.b)]
        return Portal(ends[0], ends[1])

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
        if front in self.open:  # the door on the store's edge nearest the open floor
            return StoreDoor(front, self.open[front].door_on(ring))
        portal = opening(ring, self.polygon[front])
        if portal is not None:
            return StoreDoor(front, portal.midpoint)
        pa, pb, _ = closest_points(ring, self.polygon[front])
        return StoreDoor(front, pa if contains(self.polygon[front], pa) else pb)


# ---------------------------------------------------------------------------------------------- the open floor
class OpenFloor:
    """A walkable zone minus the shops drawn over it, as a grid of ``cell`` metre cells (a cell is open when its
    centre is in the zone and in none of the obstacles; only the largest connected part is kept).

    Walks are shortest paths on the grid (8 neighbours, no corner cutting), shortened by line of sight; the
    shortest-path tree towards each destination cell is cached (doors, openings and escalators recur), and so is
    the shortened path between each pair of cells.

    Args:
        ring: the zone's polygon.
        obstacles: polygons drawn over it (stores, service rooms).
        cell: grid size in metres.
    """

    def __init__(self, ring: Sequence[Point], obstacles: Sequence[Sequence[Point]], cell: float = OPEN_CELL_M) -> None:
        x0, y0, x1, y1 = bbox(ring)
        self.x0, self.y0, self.cell = x0, y0, cell
        self.nx, self.ny = max(1, math.ceil((x1 - x0) / cell)), max(1, math.ceil((y1 - y0) / cell))
        gx = x0 + (np.arange(self.nx) + 0.5) * cell
        gy = y0 + (np.arange(self.ny) + 0.5) * cell
        xy = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)  # row iy, column ix: index iy * nx + ix
        mask = contains_many(ring, xy)
        self.ring = ring
        self.obstacles = [(bbox(o), o) for o in obstacles]
        for o in obstacles:
            mask &= ~contains_many(o, xy)
        mask = mask.reshape(self.ny, self.nx)
        labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        if n > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = labels == int(np.argmax(sizes))
        self.mask = mask
        self.rows: list[list[bool]] = mask.tolist()
        self.size = int(mask.sum())
        if not self.size:
            return
        iy, ix = np.nonzero(mask)
        self.node_of = np.full(mask.shape, -1, dtype=np.int64)
        self.node_of[iy, ix] = np.arange(self.size)
        self.centres = np.column_stack((x0 + (ix + 0.5) * cell, y0 + (iy + 0.5) * cell))
        self.graph = self._graph(mask)
        # for every cell, the nearest open cell (endpoints in a shop are walked from there)
        _, (near_y, near_x) = ndimage.distance_transform_edt(~mask, return_indices=True)
        self.nearest_node = self.node_of[near_y, near_x]
        self.kd = cKDTree(self.centres)
        self._trees: OrderedDict[int, np.ndarray] = OrderedDict()
        self._corners: dict[tuple[int, int], list[Point]] = {}

    def _graph(self, mask: np.ndarray) -> csr_matrix:
        """Steps between neighbouring open cells, both ways (a diagonal step only where both orthogonal ones are)."""
        ny, nx = mask.shape
        ys, xs = np.nonzero(mask)
        rows, cols, weights = [], [], []
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            ty, tx = ys + dy, xs + dx
            inb = (ty < ny) & (tx >= 0) & (tx < nx)
            y, x, ty, tx = ys[inb], xs[inb], ty[inb], tx[inb]
            ok = mask[ty, tx]
            if dy and dx:
                ok &= mask[y, tx] & mask[ty, x]
            src, dst = self.node_of[y[ok], x[ok]], self.node_of[ty[ok], tx[ok]]
            rows += [src, dst]
            cols += [dst, src]
            weights += [np.full(len(src), math.hypot(dx, dy) * self.cell)] * 2
        return csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(self.size, self.size))

    # ------------------------------------------------------------------ points
    def _cell(self, p: Point) -> tuple[int, int]:
        ix = min(self.nx - 1, max(0, int((p[0] - self.x0) // self.cell)))
        iy = min(self.ny - 1, max(0, int((p[1] - self.y0) // self.cell)))
        return iy, ix

    def node(self, p: Point) -> int:
        """The open cell of ``p``, or the nearest one."""
        return int(self.nearest_node[self._cell(p)])

    def is_open(self, p: Point) -> bool:
        x, y = p
        if not (self.x0 <= x < self.x0 + self.nx * self.cell and self.y0 <= y < self.y0 + self.ny * self.cell):
            return False
        return bool(self.mask[self._cell(p)])

    def nearest_open(self, p: Point) -> Point:
        """``p`` if its cell is open, else the centre of the nearest open cell."""
        return p if self.is_open(p) else self._centre(self.node(p))

    def _clear_spot(self, p: Point) -> bool:
        """Exactly in the zone and in no obstacle."""
        x, y = p
        return contains(self.ring, p) and not any(b[0] <= x <= b[2] and b[1] <= y <= b[3] and contains(o, p)
                                                  for b, o in self.obstacles)

    def random_spot(self, rng: random.Random) -> Point:
        """A uniformly random point of the open floor (a random open cell, a random point in it)."""
        half = self.cell / 2
        for _ in range(20):
            cx, cy = self.centres[rng.randrange(self.size)]
            p = (float(cx) + rng.uniform(-half, half), float(cy) + rng.uniform(-half, half))
            if self.is_open(p) and self._clear_spot(p):
                return p
        return (float(cx), float(cy))

    def centre_near(self, p: Point) -> Point:
        """The open cell nearest ``p`` with room for the escalators around it (else the one with most room)."""
        hx, hy = (math.ceil(h / self.cell) for h in ESCALATOR_BOX_M)
        room = ndimage.minimum_filter(self.mask, size=(2 * hy + 1, 2 * hx + 1), mode="constant", cval=False)
        fits = room[self.mask]
        if not fits.any():
            clear = ndimage.distance_transform_edt(self.mask)[self.mask]
            fits = clear >= clear.max() - 1e-9
        idx = np.nonzero(fits)[0]
        d = np.hypot(self.centres[idx, 0] - p[0], self.centres[idx, 1] - p[1])
        return self._centre(int(idx[int(np.argmin(d))]))

    def door_on(self, ring: Sequence[Point], step: float = 0.25) -> Point:
        """The point of a polygon's outline nearest the open floor: the middle of the nearest stretch of its edge
        with the most such points (the shop front)."""
        samples, edge_of = [], []
        for k, (p0, p1) in enumerate(_edges(ring)):
            n = max(1, math.ceil(distance(p0, p1) / step))
            for i in range(n):
                f = i / n
                samples.append((p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1])))
                edge_of.append(k)
        d, _ = self.kd.query(np.asarray(samples))
        near = np.nonzero(d <= d.min() + self.cell / 2)[0]
        edges = np.asarray(edge_of)[near]
        best = np.bincount(edges).argmax()
        on_edge = near[edges == best]
        return samples[int(on_edge[len(on_edge) // 2])]

    # ------------------------------------------------------------------ walks
    def clear_line(self, a: Point, b: Point, slack: float = 0.0) -> bool:
        """Whether every cell the straight line a–b passes through is open (``slack`` metres at either end
        excepted). A grid walk along the line (Amanatides & Woo)."""
        if slack > 0:
            length = distance(a, b)
            if length <= 2 * slack:
                return True
            ux, uy = (b[0] - a[0]) / length * slack, (b[1] - a[1]) / length * slack
            a, b = (a[0] + ux, a[1] + uy), (b[0] - ux, b[1] - uy)
        cell = self.cell
        x0, y0 = (a[0] - self.x0) / cell, (a[1] - self.y0) / cell
        x1, y1 = (b[0] - self.x0) / cell, (b[1] - self.y0) / cell
        ix, iy = math.floor(x0), math.floor(y0)
        steps = abs(math.floor(x1) - ix) + abs(math.floor(y1) - iy)
        dx, dy = x1 - x0, y1 - y0
        sx, sy = (1 if dx > 0 else -1), (1 if dy > 0 else -1)
        tdx = abs(1 / dx) if dx else math.inf
        tdy = abs(1 / dy) if dy else math.inf
        tx = (ix + (sx > 0) - x0) / dx if dx else math.inf
        ty = (iy + (sy > 0) - y0) / dy if dy else math.inf
        rows, nx, ny = self.rows, self.nx, self.ny
        for _ in range(steps + 1):
            if not (0 <= ix < nx and 0 <= iy < ny and rows[iy][ix]):
                return False
            if tx < ty:
                tx += tdx
                ix += sx
            else:
                ty += tdy
                iy += sy
        return True

    def _tree(self, dst: int) -> np.ndarray | None:
        tree = self._trees.get(dst)
        if tree is not None:
            self._trees.move_to_end(dst)
        return tree

    def _cells(self, src: int, dst: int) -> list[int] | None:
        """Open cells of a shortest path src → dst, both included (None if there is none)."""
        tree = self._tree(dst)
        if tree is None and self._tree(src) is not None:
            back = self._cells(dst, src)
            return None if back is None else back[::-1]
        if tree is None:
            _, tree = dijkstra(self.graph, indices=dst, return_predecessors=True)
            self._trees[dst] = tree
            if len(self._trees) > TREE_CACHE:
                self._trees.popitem(last=False)
        cells, node = [src], src
        while node != dst:
            node = int(tree[node])
            if node < 0:
                return None
            cells.append(node)
        return cells

    def corners(self, src: int, dst: int) -> list[Point] | None:
        """The turning points of the shortened shortest path between two open cells (their centres excluded)."""
        key = (src, dst)
        found = self._corners.get(key)
        if found is None and key not in self._corners:
            cells = self._cells(src, dst)
            if cells is not None:
                pts = [(float(x), float(y)) for x, y in _turns(self.centres[cells])]
                found = _shorten(pts, self.clear_line)[1:-1]
            if len(self._corners) >= CORNER_CACHE:
                self._corners.clear()
            self._corners[key] = found
        return found

    def path(self, a: Point, b: Point) -> list[Point]:
        """Waypoints from ``a`` to ``b`` around the obstacles (``a`` excluded, ``b`` last); the straight line when
        it is clear or there is no way round."""
        slack = self.cell * 0.75  # an end just inside a shop (a door) leaves or reaches the open floor directly
        if self.clear_line(a, b, slack):
            return [b]
        src, dst = self.node(a), self.node(b)
        corners = self.corners(src, dst) if src != dst else []
        if corners is None:
            return [b]
        # an end off the open floor (a door, an opening drawn in a shop) is left or reached through its nearest
        # open cell: the shortest way out of the shop
        start = a if self.is_open(a) else self._centre(src)
        end = b if self.is_open(b) else self._centre(dst)
        out = _shorten([start, *corners, end], self.clear_line)[1:]
        if start is not a and distance(a, start) > 1e-9:
            out.insert(0, start)
        if end is not b:
            out.append(b)
        return out

    def _centre(self, node: int) -> Point:
        c = self.centres[node]
        return (float(c[0]), float(c[1]))


def _shorten(pts: list[Point], clear: Callable[[Point, Point], bool]) -> list[Point]:
    """Cut a path short by line of sight: from each kept point on, the farthest later point in sight (found by
    bisection, so a few checks per turn) is the next one."""
    out, i, last = [pts[0]], 0, len(pts) - 1
    while i < last:
        lo, hi = i + 1, last
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if clear(pts[i], pts[mid]):
                lo = mid
            else:
                hi = mid - 1
        out.append(pts[lo])
        i = lo
    return out


def _turns(cells: np.ndarray) -> np.ndarray:
    """The cells of a grid path where it changes direction (both ends kept)."""
    if len(cells) < 3:
        return cells
    step = np.diff(cells, axis=0)
    turn = np.any(step[1:] != step[:-1], axis=1)
    return np.concatenate((cells[:1], cells[1:-1][turn], cells[-1:]))


def _overlaps(zone: Sequence[Point], other: Sequence[Point]) -> bool:
    """Whether ``other`` is drawn over ``zone``: a corner of it, or its centre, at least OVERLAP_M inside ``zone``
    (zones that only share a boundary do not overlap)."""
    ax0, ay0, ax1, ay1 = bbox(zone)
    bx0, by0, bx1, by1 = bbox(other)
    if bx0 >= ax1 or ax0 >= bx1 or by0 >= ay1 or ay0 >= by1:
        return False
    edges = _edges(zone)
    for p in (*other, _inner_centre(other)):
        if contains(zone, p) and min(distance(p, _project(p, a, b)) for a, b in edges) >= OVERLAP_M:
            return True
    return False


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
