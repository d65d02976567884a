"""The metre frame of an imported floor, and the ring geometry the importer needs (checks, joins, hulls).

**Projection.** Each floor gets its own frame: x east, y north, metres, origin at the south-west corner of the
bounding box of the floor's outline. Longitude/latitude (WGS84 degrees) become metres by a *local equirectangular*
projection on the sphere of radius a = 6 378 137 m (the WGS84 semi-major axis, the sphere of Web Mercator), with
the east–west scale taken at the latitude of the bounding box's centre::

    x = a · cos(φc) · (λ − λmin)        y = a · (φ − φmin)        (angles in radians)

This is the convention of the Indoor Location Competition 2.0 data (its ``floor_info.json`` sizes and surveyed
waypoints): on the Hangzhou mall it reproduces both floors' published width and height to 1.3 parts per million
(0.3 mm over 240 m). Over a building (a few hundred metres) the projection's own distortion is below 10 ppm; the
sphere instead of the ellipsoid makes north–south distances about 0.4 % long and east–west ones about 0.1 % short at
30° latitude (areas about +0.3 %), the price of staying in the surveyors' frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mallsense.geometry import segment_distance

Point = tuple[float, float]
Ring = list[Point]

EARTH_RADIUS_M = 6_378_137.0
EPS_M = 1e-7  # lengths below this (0.1 µm) are zero when testing touching segments


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Local equirectangular frame of one floor: (lon, lat) degrees → (x east, y north) metres.

    ``lon0, lat0`` is the origin (the south-west corner of the floor outline's bounding box) and ``lat_c`` the
    latitude whose parallel keeps its true length (the bounding box's centre).
    """

    lon0: float
    lat0: float
    lat_c: float

    @classmethod
    def around(cls, lon_min: float, lat_min: float, lon_max: float, lat_max: float) -> LocalFrame:
        return cls(lon_min, lat_min, (lat_min + lat_max) / 2.0)

    @property
    def kx(self) -> float:
        """Metres per degree of longitude."""
        return math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat_c))

    @property
    def ky(self) -> float:
        """Metres per degree of latitude."""
        return math.radians(1.0) * EARTH_RADIUS_M

    def to_xy(self, lon: float, lat: float) -> Point:
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)

    def to_lonlat(self, x: float, y: float) -> Point:
        return (self.lon0 + x / self.kx, self.lat0 + y / self.ky)

    def ring(self, lonlat: Sequence[Sequence[float]]) -> Ring:
        return [self.to_xy(p[0], p[1]) for p in lonlat]

    def describe(self) -> str:
        return (f"local equirectangular on the sphere a={EARTH_RADIUS_M:.0f} m, scale at latitude {self.lat_c:.6f}; "
                f"origin (SW corner) lon {self.lon0:.7f} lat {self.lat0:.7f}")


# ---------------------------------------------------------------------------------------------- ring properties
def signed_area(ring: Sequence[Point]) -> float:
    """Shoelace area, positive for counter-clockwise rings."""
    n = len(ring)
    return sum(ring[i][0] * ring[(i + 1) % n][1] - ring[(i + 1) % n][0] * ring[i][1] for i in range(n)) / 2.0


def oriented(ring: Ring, ccw: bool) -> Ring:
    """The ring turning counter-clockwise (``ccw``) or clockwise."""
    return ring if (signed_area(ring) > 0) == ccw else ring[::-1]


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _sign(value: float, scale: float) -> int:
    return 0 if abs(value) <= EPS_M * max(scale, 1.0) else (1 if value > 0 else -1)


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return (min(a[0], b[0]) - EPS_M <= p[0] <= max(a[0], b[0]) + EPS_M
            and min(a[1], b[1]) - EPS_M <= p[1] <= max(a[1], b[1]) + EPS_M)


def segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether the closed segments a–b and c–d share any point (crossing, touching or overlapping)."""
    if (max(a[0], b[0]) < min(c[0], d[0]) - EPS_M or max(c[0], d[0]) < min(a[0], b[0]) - EPS_M
            or max(a[1], b[1]) < min(c[1], d[1]) - EPS_M or max(c[1], d[1]) < min(a[1], b[1]) - EPS_M):
        return False
    lab = math.hypot(b[0] - a[0], b[1] - a[1])
    lcd = math.hypot(d[0] - c[0], d[1] - c[1])
    d1, d2 = _sign(_orient(c, d, a), lcd), _sign(_orient(c, d, b), lcd)
    d3, d4 = _sign(_orient(a, b, c), lab), _sign(_orient(a, b, d), lab)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return ((d1 == 0 and _on_segment(c, d, a)) or (d2 == 0 and _on_segment(c, d, b))
            or (d3 == 0 and _on_segment(a, b, c)) or (d4 == 0 and _on_segment(a, b, d)))


def self_intersection(ring: Sequence[Point]) -> str | None:
    """Why the ring (not closed: last ≠ first) is not simple, or None: edges that cross, touch or fold back."""
    n = len(ring)
    edges = [(ring[i], ring[(i + 1) % n]) for i in range(n)]
    boxes = [(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])) for a, b in edges]
    for i in range(n):
        a, b = edges[i]
        # an edge folding back onto the previous one (a spike) is a degenerate self-intersection
        prev = edges[i - 1][0]
        if _sign(_orient(prev, a, b), math.dist(prev, a)) == 0 and (
                (b[0] - a[0]) * (prev[0] - a[0]) + (b[1] - a[1]) * (prev[1] - a[1]) > 0):
            return f"the ring folds back on itself at vertex {i} ({a[0]:.2f}, {a[1]:.2f}) m"
    for i in range(n):
        a, b = edges[i]
        bx0, by0, bx1, by1 = boxes[i]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing vertex
            cx0, cy0, cx1, cy1 = boxes[j]
            if bx1 < cx0 - EPS_M or cx1 < bx0 - EPS_M or by1 < cy0 - EPS_M or cy1 < by0 - EPS_M:
                continue
            c, d = edges[j]
            if segments_meet(a, b, c, d):
                return (f"the ring self-intersects: edge {i} ({a[0]:.2f}, {a[1]:.2f})–({b[0]:.2f}, {b[1]:.2f}) "
                        f"meets edge {j} ({c[0]:.2f}, {c[1]:.2f})–({d[0]:.2f}, {d[1]:.2f}) (metres in the floor frame)")
    return None


# ---------------------------------------------------------------------------------------------- joining rings
def _crosses_any(p: Point, q: Point, rings: Sequence[Sequence[Point]]) -> bool:
    """Whether the segment p–q meets an edge of ``rings`` anywhere except at its own end points."""
    for ring in rings:
        n = len(ring)
        for k in range(n):
            c, d = ring[k], ring[(k + 1) % n]
            if p in (c, d) or q in (c, d):
                continue
            if segments_meet(p, q, c, d):
                return True
    return False


def bridge(base: Ring, other: Ring, obstacles: Sequence[Ring] = ()) -> Ring:
    """One ring that traces ``base`` and ``other`` joined by a zero-width bridge (a "keyhole").

    ``other`` is a hole of ``base`` (give it the opposite orientation) or a separate part (the same orientation);
    the ring's shoelace area is then the base's minus the hole's, or the sum of the parts, and even-odd
    containment is unchanged because the bridge is walked once each way. The bridge joins the closest pair of
    vertices whose segment crosses no edge of either ring nor of ``obstacles``.
    """
    pairs = sorted(((math.dist(a, b), i, j) for i, a in enumerate(base) for j, b in enumerate(other)))
    walls = [base, other, *obstacles]
    for _, i, j in pairs:
        if not _crosses_any(base[i], other[j], walls):
            break
    else:  # pragma: no cover - two simple disjoint rings always have a visible vertex pair
        _, i, j = pairs[0]
    rotated_base = base[i:] + base[:i]
    rotated_other = other[j:] + other[:j]
    return [*rotated_base, rotated_base[0], *rotated_other, rotated_other[0]]


def join_polygons(polygons: Sequence[Sequence[Ring]]) -> Ring:
    """One ring for polygons given as [outer, hole, …]: holes and further parts are bridged in (see :func:`bridge`).

    Outer rings turn counter-clockwise and holes clockwise in the result, so its shoelace area is the true area.
    """
    parts = sorted(((oriented(list(p[0]), True), [oriented(list(h), False) for h in p[1:]]) for p in polygons),
                   key=lambda part: -abs(signed_area(part[0])))
    ring = parts[0][0]
    pending: list[Ring] = [h for _, holes in parts for h in holes] + [outer for outer, _ in parts[1:]]
    while pending:
        # join the ring nearest to what is joined so far, so no bridge has to cross another part
        k = min(range(len(pending)), key=lambda idx: min(math.dist(a, b) for a in pending[idx] for b in ring))
        nxt = pending.pop(k)
        ring = bridge(ring, nxt, pending)
    return ring


def convex_hull(points: Sequence[Point]) -> Ring:
    """Counter-clockwise convex hull (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return list(pts)

    def half(seq: Sequence[Point]) -> Ring:
        out: Ring = []
        for p in seq:
            while len(out) >= 2 and _orient(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return lower[:-1] + upper[:-1]


def ring_distance(p: Point, ring: Sequence[Point]) -> float:
    """Distance from p to the ring's boundary."""
    n = len(ring)
    return min(segment_distance(p, ring[i], ring[(i + 1) % n]) for i in range(n))
