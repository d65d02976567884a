"""Zone occupancy and dwell from tracked positions (floor metres, or pixels when a camera has no homography).

Occupancy is a snapshot: how many live tracks stand in each zone now. Dwell is measured per visit of a track to a
zone, from its first to its last position inside; a visit ends when the track leaves the zone or is lost. Trade-off:
a person lost for longer than the tracker's buffer comes back as a new track, so one stay can be split into two
shorter dwells (occlusion-heavy scenes underestimate dwell). Track ids are ephemeral: dwell leaves this module only
as durations, never tied to a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mallsense.geometry import contains

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Dwell:
    zone: str
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0


@dataclass
class ZoneOccupancy:
    """Which tracks are in which zone, and how long they stayed.

    >>> zones = ZoneOccupancy({"hall": [(0, 0), (10, 0), (10, 10), (0, 10)]})
    >>> zones.update(1_000, {7: (5, 5), 8: (20, 5)})
    >>> zones.counts()
    {'hall': 1}
    >>> zones.update(31_000, {7: (6, 5)}); zones.update(32_000, {7: (15, 5)})
    >>> [(d.zone, d.seconds) for d in zones.finished]
    [('hall', 30.0)]
    """

    polygons: Mapping[str, Sequence[Point]]
    finished: list[Dwell] = field(default_factory=list)
    _inside: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # (zone, track) -> first, last

    def update(self, ts_ms: int, positions: Mapping[int, Point]) -> None:
        """Every live track's position at ``ts_ms``; tracks missing from ``positions`` are treated as gone."""
        for zone, ring in self.polygons.items():
            for track, point in positions.items():
                key = (zone, track)
                if contains(ring, point):
                    first, _ = self._inside.get(key, (ts_ms, ts_ms))
                    self._inside[key] = (first, ts_ms)
                elif key in self._inside:
                    self._close(key)
        self.forget(t for (_, t) in list(self._inside) if t not in positions)

    def forget(self, tracks: Iterable[int]) -> None:
        gone = set(tracks)
        for key in [k for k in self._inside if k[1] in gone]:
            self._close(key)

    def close_all(self) -> None:
        """End every open visit (the source ended)."""
        self.forget([t for (_, t) in list(self._inside)])

    def _close(self, key: tuple[str, int]) -> None:
        first, last = self._inside.pop(key)
        self.finished.append(Dwell(key[0], first, last))

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.polygons, 0)
        for zone, _ in self._inside:
            out[zone] += 1
        return out

    def take_finished(self) -> list[Dwell]:
        done, self.finished = self.finished, []
        return done
