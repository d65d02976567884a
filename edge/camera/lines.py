"""In/out counting on a line: each track counted once per crossing, robust to jitter, fast movers and frame edges.

The test is the *segment* between a track's consecutive positions against the line *segment* (not the side of
sampled points), so a person who moves 60 px between two frames, or who is hidden for a few frames while crossing,
is still counted. A crossing is only confirmed once the track has gone ``margin_px`` beyond the line on the new
side (hysteresis): a person standing on the line and swaying back and forth, or approaching and turning back, is
not counted. Trade-off: a larger margin rejects more jitter but needs the track to live longer after the line; near
a frame edge the margin on that side shrinks to the room left before the edge (``frame_size``), so lines close to
the border still confirm before the person leaves the picture.

Direction: a crossing towards the line's ``inside`` point is ``in`` (same rule as the site file's entrances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Point = tuple[float, float]
Direction = Literal["in", "out"]
EDGE_MARGIN_SHARE = 0.4  # near a frame edge: at most this share of the room between line and edge


@dataclass(frozen=True, slots=True)
class CountingLine:
    """A counting line in pixel coordinates.

    Args:
        id: the line's id in the site file (an entrance or store id).
        a, b: the segment's ends (pixels). Crossings beyond the ends are not counted.
        inside: any point on the "in" side.
        margin_px: hysteresis: how far beyond the line a track must get before a crossing counts.
    """

    id: str
    a: Point
    b: Point
    inside: Point
    margin_px: float = 10.0

    def __post_init__(self) -> None:
        if math.dist(self.a, self.b) < 1.0:
            raise ValueError(f"line {self.id!r}: its ends are less than a pixel apart")
        if abs(self.signed_distance(self.inside)) < 1e-6:
            raise ValueError(f"line {self.id!r}: the inside point lies on the line")
        if self.margin_px < 0:
            raise ValueError(f"line {self.id!r}: margin_px must be >= 0")

    def signed_distance(self, p: Point) -> float:
        """Distance of ``p`` from the (infinite) line in pixels, positive on the inside."""
        (ax, ay), (bx, by) = self.a, self.b
        d = ((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)) / math.hypot(bx - ax, by - ay)
        return d if self._inside_sign > 0 else -d

    def crossed_by(self, p0: Point, p1: Point) -> bool:
        """Whether the movement p0→p1 crosses the segment. A point exactly on the line counts as outside, so a
        path that touches the line and goes on is one crossing, not two."""
        s0, s1 = self.signed_distance(p0), self.signed_distance(p1)
        if (s0 > 0) == (s1 > 0):
            return False
        t = s0 / (s0 - s1)
        qx, qy = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
        (ax, ay), (bx, by) = self.a, self.b
        u = ((qx - ax) * (bx - ax) + (qy - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)
        return 0.0 <= u <= 1.0

    @property
    def _inside_sign(self) -> float:
        (ax, ay), (bx, by) = self.a, self.b
        return math.copysign(1.0, (bx - ax) * (self.inside[1] - ay) - (by - ay) * (self.inside[0] - ax))


def _room_to_edge(line: CountingLine, side: int, frame_size: tuple[int, int]) -> float:
    """Smallest distance from the line's ends to the frame border, measured along the normal towards ``side``."""
    w, h = frame_size
    (ax, ay), (bx, by) = line.a, line.b
    length = math.hypot(bx - ax, by - ay)
    nx, ny = -(by - ay) / length, (bx - ax) / length  # left normal
    if line.signed_distance((ax + nx, ay + ny)) * side < 0:
        nx, ny = -nx, -ny
    room = math.inf
    for px, py in ((ax, ay), (bx, by), ((ax + bx) / 2, (ay + by) / 2)):
        px, py = min(max(px, 0.0), w - 1.0), min(max(py, 0.0), h - 1.0)
        for d, lo, hi in ((nx, px, w - 1.0 - px), (ny, py, h - 1.0 - py)):
            if d < -1e-9:
                room = min(room, lo / -d)
            elif d > 1e-9:
                room = min(room, hi / d)
    return room


@dataclass(slots=True)
class _TrackSide:
    side: int  # +1 inside, -1 outside: the side the track last settled on (at birth: where it appeared)
    last: Point
    crossings: int = 0  # segment crossings since ``side`` was last confirmed


@dataclass
class LineCounter:
    """Counts the crossings of one line by tracks; feed every new position of every track.

    >>> line = CountingLine("e-west", (100, 0), (100, 200), inside=(200, 100), margin_px=5)
    >>> counter = LineCounter(line)
    >>> [counter.update(7, p) for p in [(80, 50), (98, 50), (103, 50), (97, 50), (140, 50)]]
    [None, None, None, None, 'in']
    >>> counter.totals
    {'in': 1, 'out': 0}
    """

    line: CountingLine
    frame_size: tuple[int, int] | None = None
    totals: dict[str, int] = field(default_factory=lambda: {"in": 0, "out": 0})
    _tracks: dict[int, _TrackSide] = field(default_factory=dict)
    _margin: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side in (1, -1):
            margin = self.line.margin_px
            if self.frame_size is not None:
                margin = min(margin, EDGE_MARGIN_SHARE * _room_to_edge(self.line, side, self.frame_size))
            self._margin[side] = max(margin, 0.0)

    def margin(self, side: int) -> float:
        return self._margin[side]

    def update(self, track: int, position: Point) -> Direction | None:
        """The track's new position; returns the direction when this position confirms a crossing."""
        s = self.line.signed_distance(position)
        sign = 1 if s > 0 else -1  # on the line counts as outside (see crossed_by)
        state = self._tracks.get(track)
        if state is None:
            self._tracks[track] = _TrackSide(side=sign, last=position)
            return None
        if self.line.crossed_by(state.last, position):
            state.crossings += 1
        state.last = position
        if abs(s) < self._margin[sign]:
            return None
        if sign == state.side:
            state.crossings = 0  # back on its settled side: whatever happened in the band is void
            return None
        counted = state.crossings % 2 == 1
        state.side, state.crossings = sign, 0
        if not counted:
            return None  # first settled side, or went round the end of the line
        direction: Direction = "in" if sign > 0 else "out"
        self.totals[direction] += 1
        return direction

    def forget(self, track: int) -> None:
        """The track is gone: drop its state (a pending, unconfirmed crossing is not counted)."""
        self._tracks.pop(track, None)
