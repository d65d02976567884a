"""Snap position fixes to zones: the polygon containing the fix, else the nearest polygon within a distance.

Zones are ``{zone_id: ring}`` with rings as lists of ``(x, y)`` metre points (the site model's polygons, or stores
imported from a floor plan), in the same frame as the fixes. Rules:

- a fix inside one or more zones goes to the **smallest** of them (a store inside a floor outline or a wing);
- a fix outside every zone goes to the zone whose boundary is nearest, if that is within ``max_distance_m`` (a fix
  a few metres off, in a wall or just outside a shop front, is still most likely that shop);
- otherwise it is ``None`` (not in any zone: a corridor when only stores are given).

Containment uses ``mallsense.geometry.contains`` after a bounding-box test; boundary distances are vectorized over all
edges of all zones at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mallsense.geometry import Point, bbox, contains, polygon_area

DEFAULT_MAX_DISTANCE_M = 3.0


def segment_distances(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distance from each point (``N × 2``) to each segment ``starts[s] → ends[s]`` (``S × 2``): ``N × S``."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    d = ends - starts
    length2 = np.maximum((d**2).sum(axis=1), 1e-18)
    rel = points[:, None, :] - starts[None, :, :]
    t = np.clip((rel * d[None]).sum(axis=2) / length2, 0.0, 1.0)
    nearest = starts[None] + t[..., None] * d[None]
    return np.linalg.norm(points[:, None, :] - nearest, axis=2)


class ZoneSnapper:
    """Prepared zones for snapping many fixes (edges stacked once, areas and boxes precomputed)."""

    def __init__(self, zones: Mapping[str, Sequence[Point]], max_distance_m: float = DEFAULT_MAX_DISTANCE_M) -> None:
        self.ids = list(zones)
        self.rings = [list(zones[z]) for z in self.ids]
        self.max_distance_m = max_distance_m
        self.areas = np.array([polygon_area(r) for r in self.rings])
        self.boxes = np.array([bbox(r) for r in self.rings]).reshape(-1, 4)
        starts = [np.asarray(r, np.float64) for r in self.rings]
        self.starts = np.vstack(starts) if starts else np.empty((0, 2))
        self.ends = np.vstack([np.roll(s, -1, axis=0) for s in starts]) if starts else np.empty((0, 2))
        self.edge_zone = np.repeat(np.arange(len(starts)), [len(s) for s in starts])

    def containing(self, point: Point) -> str | None:
        """The smallest zone containing ``point``, or None."""
        x, y = point
        b = self.boxes
        candidates = np.flatnonzero((b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3]))
        by_area = candidates[np.argsort(self.areas[candidates], kind="stable")]
        inside = [i for i in by_area if contains(self.rings[i], point)]
        return self.ids[inside[0]] if inside else None

    def snap_many(self, points: np.ndarray) -> list[str | None]:
        """Zone of each fix (``N × 2``; NaN rows give None) by the rules in the module docstring."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        out: list[str | None] = [None] * len(points)
        if not self.ids:
            return out
        valid = ~np.isnan(points).any(axis=1)
        outside = []
        for i in np.flatnonzero(valid):
            out[i] = self.containing((float(points[i, 0]), float(points[i, 1])))
            if out[i] is None:
                outside.append(i)
        if outside:
            d = segment_distances(points[outside], self.starts, self.ends)
            per_zone = np.full((len(outside), len(self.ids)), np.inf)
            np.minimum.at(per_zone.T, self.edge_zone, d.T)  # min distance to each zone's edges
            best = per_zone.argmin(axis=1)
            near = per_zone[np.arange(len(outside)), best] <= self.max_distance_m
            for row, i in enumerate(outside):
                if near[row]:
                    out[i] = self.ids[best[row]]
        return out


def snap(point: Point, zones: Mapping[str, Sequence[Point]],
         max_distance_m: float = DEFAULT_MAX_DISTANCE_M) -> str | None:
    """Zone of one fix: containing (smallest), else nearest within ``max_distance_m``, else None."""
    return ZoneSnapper(zones, max_distance_m).snap_many(np.array([point]))[0]
