"""The camera collector of an edge node: frames in, crossings, zone occupancy and floor positions out.

What leaves the collector are contract observations only (``crossing``, ``occupancy``, ``position``) through the
sensor's :class:`~edge.batching.SensorStream` s into the node's outbox: never an image, a crop or a descriptor of a
person. Track ids are the tracker's ephemeral numbers. Dwell per zone is measured here (``dwell``) and logged as
aggregates; the central side derives published dwell from the position stream, which carries the same information.

Volume: crossings are events (a few per minute per door); occupancy is one snapshot per zone every
``occupancy_every_s``; positions are at most one per track every ``position_every_s`` (a busy hall at 1 Hz and 50
people: 50 observations a second), or none at all when ``position_every_s`` is unset.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field

from edge.batching import SensorStream
from edge.camera.config import CameraSensorConfig
from edge.camera.pipeline import CameraPipeline, Crossing, Step
from edge.camera.placement import Placement
from edge.camera.source import Frame
from edge.camera.zones import ZoneOccupancy
from mallsense.contract import CrossingObs, OccupancyObs, PositionObs

log = logging.getLogger(__name__)
FLOOR_LIMIT_M = 10_000.0  # the contract's range for positions; beyond is a point near the horizon


@dataclass
class DwellSummary:
    visits: int = 0
    seconds: float = 0.0


@dataclass
class CameraCollector:
    """Feeds frames through the camera's pipeline and publishes what it finds.

    Args:
        cfg: the camera's edge settings (publishing intervals).
        pipeline: detector, tracker and line counters.
        placement: lines, homography and zones of this camera.
        floor: the camera's floor id (positions are published on it).
        crossings, occupancy, positions: the sensor's streams of those kinds.
    """

    cfg: CameraSensorConfig
    pipeline: CameraPipeline
    placement: Placement
    floor: str
    crossings: SensorStream
    occupancy: SensorStream
    positions: SensorStream
    dwell: dict[str, DwellSummary] = field(default_factory=lambda: defaultdict(DwellSummary))
    frames: int = 0
    _zones: ZoneOccupancy | None = None
    _next_flush: int | None = None
    _next_occupancy: int | None = None
    _last_position: dict[int, int] = field(default_factory=dict)  # track -> ts of its last published position
    _last_floor: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.placement.zones:
            self._zones = ZoneOccupancy(self.placement.zones)

    def feed(self, frame: Frame) -> Step | None:
        self.frames += 1
        step = self.pipeline.step(frame.index, frame.ts_ms, frame.image)
        if step is not None:
            self._publish_step(step)
        self._tick(frame.ts_ms)
        return step

    def _publish_step(self, step: Step) -> None:
        self._publish_crossings(step.crossings)
        for gone in step.removed:
            self._last_position.pop(gone, None)
            self._last_floor.pop(gone, None)
        mapper = self.placement.mapper
        if mapper is None:
            return
        ids = list(step.positions)
        floor = {
            i: p for i, p in zip(ids, mapper.to_floor([step.positions[i] for i in ids]), strict=True)
            if all(math.isfinite(v) and abs(v) <= FLOOR_LIMIT_M for v in p)
        }
        self._last_floor.update(floor)
        if self._zones is not None:
            # tracks briefly lost (still in the tracker's buffer) stay where they were last seen
            live = {t.id for t in self.pipeline.tracker.tracks if t.confirmed}
            self._zones.update(step.ts_ms, {t: self._last_floor[t] for t in live if t in self._last_floor})
            self._add_dwell()
        every = self.cfg.position_every_s
        if every is None:
            return
        for track, (x, y) in floor.items():
            last = self._last_position.get(track)
            if last is None or step.ts_ms - last >= every * 1000:
                self._last_position[track] = step.ts_ms
                self.positions.add(PositionObs(ts=step.ts_ms, track=track, floor=self.floor,
                                               x=round(x, 3), y=round(y, 3)))

    def _publish_crossings(self, crossings: list[Crossing]) -> None:
        for c in crossings:  # at the time of the crossing (released up to ``reversal_s`` later)
            self.crossings.add(CrossingObs(ts=c.ts_ms, line=c.line, dir=c.direction, track=c.track))

    def _add_dwell(self) -> None:
        for d in self._zones.take_finished() if self._zones is not None else []:
            self.dwell[d.zone].visits += 1
            self.dwell[d.zone].seconds += d.seconds

    def _tick(self, ts_ms: int) -> None:
        if self._next_occupancy is None:
            self._next_occupancy = ts_ms
        if self._zones is not None and ts_ms >= self._next_occupancy:
            for zone, count in self._zones.counts().items():
                self.occupancy.add(OccupancyObs(ts=ts_ms, zone=zone, count=count))
            self._next_occupancy = ts_ms + round(self.cfg.occupancy_every_s * 1000)
        if self._next_flush is None:
            self._next_flush = ts_ms + round(self.cfg.flush_s * 1000)
        elif ts_ms >= self._next_flush:
            self.flush(sent_ms=None)
            self._next_flush = ts_ms + round(self.cfg.flush_s * 1000)

    def flush(self, sent_ms: int | None = None) -> None:
        for stream in (self.crossings, self.occupancy, self.positions):
            stream.flush(sent_ms)

    def finish(self) -> None:
        """End of the source: release held crossings, close open dwell visits and every batch."""
        self._publish_crossings(self.pipeline.finish())
        if self._zones is not None:
            self._zones.close_all()
            self._add_dwell()
        self.flush()
        log.info("camera %s: %d frames, totals %s, dwell %s", self.crossings.sensor, self.frames,
                 self.pipeline.totals(), {z: (d.visits, round(d.seconds, 1)) for z, d in self.dwell.items()})
