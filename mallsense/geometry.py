"""Plane geometry on floor plans: areas, containment, centroids and segment crossings (metres, plain tuples)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]


def polygon_area(ring: Sequence[Point]) -> float:
    """Area of a simple polygon (shoelace), always positive."""
    n = len(ring)
    twice = sum(ring[i][0] * ring[(i + 1) % n][1] - ring[(i + 1) % n][0] * ring[i][1] for i in range(n))
    return abs(twice) / 2.0


def centroid(ring: Sequence[Point]) -> Point:
    """Area centroid of a simple polygon (vertex mean for degenerate rings)."""
    n = len(ring)
    a = cx = cy = 0.0
    for i in range(n):
        x0, y0 = ring[i]
        x1, y1 = ring[(i + 1) % n]
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-12:
        return (sum(p[0] for p in ring) / n, sum(p[1] for p in ring) / n)
    return (cx / (3 * a), cy / (3 * a))


def contains(ring: Sequence[Point], point: Point) -> bool:
    """Even-odd rule point-in-polygon; points on an edge may fall either way."""
    x, y = point
    inside = False
    n = len(ring)
    for i in range(n):
        x0, y0 = ring[i]
        x1, y1 = ring[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < (x1 - x0) * (y - y0) / (y1 - y0) + x0:
            inside = not inside
    return inside


def contains_many(ring: Sequence[Point], xy: np.ndarray) -> np.ndarray:
    """:func:`contains` for many points at once (``N × 2`` array → ``N`` booleans), vectorized over the points."""
    out = np.zeros(len(xy), dtype=bool)
    if not len(xy):
        return out
    r = np.asarray(ring, dtype=float)
    x0, y0 = r.min(axis=0)
    x1, y1 = r.max(axis=0)
    box = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    px, py = xy[box, 0], xy[box, 1]
    hit = np.zeros(len(px), dtype=bool)
    ax, ay = r[:, 0], r[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    for i in range(len(r)):
        if ay[i] == by[i]:
            continue
        cross = (ay[i] > py) != (by[i] > py)
        hit ^= cross & (px < (bx[i] - ax[i]) * (py - ay[i]) / (by[i] - ay[i]) + ax[i])
    out[box] = hit
    return out


def bbox(ring: Sequence[Point]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return min(xs), min(ys), max(xs), max(ys)


def random_point(ring: Sequence[Point], rng: random.Random, tries: int = 200) -> Point:
    """A uniformly random point inside the polygon (rejection sampling in its bounding box)."""
    x0, y0, x1, y1 = bbox(ring)
    for _ in range(tries):
        p = (rng.uniform(x0, x1), rng.uniform(y0, y1))
        if contains(ring, p):
            return p
    return centroid(ring)


def side(a: Point, b: Point, p: Point) -> float:
    """> 0 if p is left of the directed line a→b, < 0 if right, 0 on it."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_cross(p0: Point, p1: Point, a: Point, b: Point) -> bool:
    """Whether the movement p0→p1 properly crosses the segment a–b (touching an end counts)."""
    d0, d1 = side(a, b, p0), side(a, b, p1)
    if (d0 > 0 and d1 > 0) or (d0 < 0 and d1 < 0) or (d0 == 0 and d1 == 0):
        return False
    e0, e1 = side(p0, p1, a), side(p0, p1, b)
    return not ((e0 > 0 and e1 > 0) or (e0 < 0 and e1 < 0))


def distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def segment_distance(p: Point, a: Point, b: Point) -> float:
    """Distance from point p to the segment a–b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)
