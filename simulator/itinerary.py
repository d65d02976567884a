"""One visitor's timed path through the mall: contiguous segments (zone, floor, time span, straight move).

A :class:`Walker` builds the segments of one visit: walking legs zone by zone through the openings of
:class:`~simulator.layout.Layout`, stays in stores and the atrium, escalator rides between floors. Segments are
contiguous in time (each starts when the previous ends) and half-open ``[t0, t1)``, so at every instant of a visit
the visitor is in exactly one zone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from mallsense.geometry import contains, distance
from simulator import profiles
from simulator.layout import Layout, Point

WANDER_MIN_M = 8.0  # walks longer than this bend through the zone (see Walker._leg)
WANDER_SHIFT = 0.25  # at most this fraction of the walk's length off the straight line
ESCALATOR_HALF_M = 5.0  # half the length of an escalator bank


@dataclass(frozen=True, slots=True)
class Segment:
    """In ``zone`` on ``floor`` from ``t0`` to ``t1`` (ms, half-open), moving in a straight line p0 → p1."""

    t0: int
    t1: int
    floor: str
    zone: str
    x0: float
    y0: float
    x1: float
    y1: float

    def at(self, t: int) -> Point:
        """Position at time ``t`` (clamped to the segment)."""
        span = self.t1 - self.t0
        f = 1.0 if span <= 0 else min(1.0, max(0.0, (t - self.t0) / span))
        return (self.x0 + f * (self.x1 - self.x0), self.y0 + f * (self.y1 - self.y0))


class StoreStay(NamedTuple):
    """A store entered: ``t0`` at its door on the way in, ``t1`` at its door on the way out (ms)."""

    store: str
    t0: int
    t1: int

    @property
    def dwell_s(self) -> float:
        return (self.t1 - self.t0) / 1000


class Walker:
    """Appends one visitor's segments as they walk, stay and ride. Times are integer ms.

    Args:
        layout: the site's walking geometry.
        rng: the visitor's random source (crossing points in openings, spots in zones).
        t_ms: start time (the visitor crosses the door line).
        zone, pos: where the visitor starts (an entrance hall, just inside the line).
        speed_m_s: walking pace.
    """

    def __init__(self, layout: Layout, rng: random.Random, t_ms: int, zone: str, pos: Point,
                 speed_m_s: float) -> None:
        self.layout, self.rng = layout, rng
        self.t, self.zone, self.pos = t_ms, zone, pos
        self.floor = layout.floor_of[zone]
        self.ms_per_m = 1000.0 / speed_m_s
        self.segments: list[Segment] = []

    # ------------------------------------------------------------------ primitives
    def _segment(self, zone: str, target: Point, duration_ms: float) -> None:
        t1 = self.t + round(duration_ms)
        if t1 > self.t:  # an instant move has no segment (and does not move the visitor)
            self.segments.append(Segment(self.t, t1, self.floor, zone, self.pos[0], self.pos[1], target[0], target[1]))
            self.t, self.pos = t1, target
        self.zone = zone

    def _leg(self, zone: str, target: Point) -> None:
        """Walk to ``target`` in ``zone``; long walks through open zones bend off the straight line towards the
        middle of the zone (people keep off the walls and do not walk ruler-straight). On an open floor (shops
        drawn over the zone) the walk goes around the shops instead."""
        if zone in self.layout.open:
            for p in self.layout.path(zone, self.pos, target):
                self._segment(zone, p, distance(self.pos, p) * self.ms_per_m)
            return
        length = distance(self.pos, target)
        if length > WANDER_MIN_M and zone in self.layout.walkable:
            via = self._waypoint(zone, target, length)
            if via is not None:
                self._segment(zone, via, distance(self.pos, via) * self.ms_per_m)
                length = distance(via, target)
        self._segment(zone, target, length * self.ms_per_m)

    def _waypoint(self, zone: str, target: Point, length: float) -> Point | None:
        (x0, y0), (x1, y1) = self.pos, target
        f = self.rng.uniform(0.3, 0.7)
        mx, my = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
        nx, ny = (y0 - y1) / length, (x1 - x0) / length  # unit normal of the walk
        cx, cy = self.layout.centre[zone]
        towards = (cx - mx) * nx + (cy - my) * ny  # how far the zone's middle lies off the line
        limit = WANDER_SHIFT * length
        shift = max(-limit, min(limit, towards * self.rng.uniform(0.2, 0.7) + self.rng.gauss(0.0, 0.8)))
        via = (mx + shift * nx, my + shift * ny)
        return via if contains(self.layout.polygon[zone], via) else None

    def stay(self, duration_ms: float, spot: Point | None = None) -> None:
        """Stay in the current zone for ``duration_ms``, drifting to ``spot`` (default: a random spot in it)."""
        target = spot if spot is not None else self.layout.random_spot(self.zone, self.rng)
        if self.zone in self.layout.open:  # drifting around the shops: the time spread over the way
            path = self.layout.path(self.zone, self.pos, target)
            if len(path) > 1:
                t_start, total = self.t, sum(distance(p, q) for p, q in pairwise([self.pos, *path]))
                walked = 0.0
                for k, p in enumerate(path, 1):
                    walked += distance(self.pos, p)
                    share = 1.0 if k == len(path) else walked / total
                    self._segment(self.zone, p, t_start + round(duration_ms * share) - self.t)
                return
        self._segment(self.zone, target, duration_ms)

    # ------------------------------------------------------------------ movement
    def walk_to(self, zone: str, spot: Point | None = None) -> int:
        """Walk to ``spot`` (default: a random spot) in ``zone``, a walkable zone or a store, on any floor.

        Returns the time the visitor entered ``zone`` (for a store: passed its door).
        """
        lay = self.layout
        if self.zone in lay.doors and self.zone != zone:
            self.leave_store()
        door = lay.doors.get(zone)
        walk_target = door.front if door else zone
        if lay.floor_of[walk_target] != self.floor:
            self._ride_to(lay.floor_of[walk_target])
        self._through(walk_target)
        entered = self.t
        if door is not None and self.zone != zone:  # step in through the store's door
            self._leg(walk_target, door.point)
            self.zone = zone
            entered = self.t
        self._leg(zone, spot if spot is not None else lay.random_spot(zone, self.rng))
        return entered

    def leave_store(self) -> int:
        """Walk from inside the current store to its door and out; returns the time at the door."""
        door = self.layout.doors[self.zone]
        self._leg(self.zone, door.point)
        self.zone = door.front
        return self.t

    def ms_to_door(self) -> float:
        """Walking time from here to the current store's door."""
        return distance(self.pos, self.layout.doors[self.zone].point) * self.ms_per_m

    def _through(self, dst: str) -> None:
        """Cross the walkable zones from the current one to ``dst`` through their openings."""
        route = self.layout.route(self.zone, dst)
        for here, there in pairwise(route):
            self._leg(here, self.layout.portal(here, there).point(self.rng))
            self.zone = there

    def _ride_to(self, floor: str) -> None:
        """Walk to this floor's escalators, ride to ``floor`` and step off there.

        The escalators run along the middle of each floor's core zone: the ride's first half moves from the foot
        to the middle on this floor, the second half from the middle to the head on the other floor.
        """
        lay = self.layout
        up = lay.level[floor] > lay.level[self.floor]
        core = lay.core[self.floor]
        foot, middle = self._escalator(core, up)
        self._through(core)
        self._leg(core, foot)
        levels = abs(lay.level[floor] - lay.level[self.floor])
        ride_ms = (profiles.LEVEL_RIDE_S * levels + self.rng.uniform(*profiles.LIFT_WAIT_S)) * 1000
        self._segment(core, middle, ride_ms / 2)
        self.floor = floor
        arrival = lay.core[floor]
        middle, head = self._escalator(arrival, not up)
        self.zone, self.pos = arrival, middle
        self._segment(arrival, head, ride_ms / 2)

    def _escalator(self, core: str, forward: bool) -> tuple[Point, Point]:
        """Two points along the escalator bank in the middle of a core zone: (one end, the middle), a step apart
        from the last rider; ``forward`` picks the end."""
        cx, cy = self.layout.centre[core]
        lane = self.rng.uniform(-1.5, 1.5)
        half = ESCALATOR_HALF_M if forward else -ESCALATOR_HALF_M
        end, middle = (cx - half, cy + lane), (cx, cy + lane)
        if self.layout.on_floor(core, end) and self.layout.on_floor(core, middle):
            return end, middle
        return (cx, cy), (cx, cy)
