"""One camera's per-frame work without any I/O: detect → track → line crossings (pixels only).

The same pipeline runs in the edge collector (which adds floor mapping, zones and publishing) and in the evaluation
tool (which compares its crossings with ground truth), so what is measured is what is deployed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.camera.config import CameraSensorConfig
from edge.camera.detect import Detector, build_detector
from edge.camera.lines import CountingLine, LineCounter
from edge.camera.reversal import ReversalFilter
from edge.camera.track import ByteTracker, Track

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Crossing:
    line: str
    direction: str  # "in" | "out"
    track: int
    frame: int
    ts_ms: int


@dataclass(slots=True)
class Step:
    """What one processed frame produced."""

    frame: int
    ts_ms: int
    tracks: list[Track]  # confirmed tracks detected in this frame
    positions: dict[int, Point]  # their anchor points (pixels)
    crossings: list[Crossing]  # released in this step (each carries its own frame and time: see ``reversal``)
    removed: list[int]  # track ids that ended in this step


def anchor_of(box: np.ndarray, anchor: str) -> Point:
    """The pixel that stands for the person: bottom centre (feet, side views) or box centre (overhead)."""
    x = float(box[0] + box[2]) / 2
    y = float(box[3]) if anchor == "bottom" else float(box[1] + box[3]) / 2
    return (x, y)


@dataclass
class CameraPipeline:
    """Detector, tracker and line counters of one camera.

    Args:
        detector: anything with ``detect(frame) -> Detections``.
        tracker: the camera's tracker (its buffer is in detection steps).
        counters: one per counting line, in pixels.
        anchor: ``bottom`` or ``center`` (see :func:`anchor_of`).
        detect_every: process every n-th frame only (the others are skipped: lower load, same counting rule).
        reversal: holds each crossing a short while and withdraws it if its track crosses straight back
            (:mod:`edge.camera.reversal`); a step reports the crossings released in it.
    """

    detector: Detector
    tracker: ByteTracker
    counters: Sequence[LineCounter]
    anchor: str = "center"
    detect_every: int = 1
    reversal: ReversalFilter = field(default_factory=lambda: ReversalFilter(0))
    frames: int = 0
    steps: int = 0
    busy_s: float = 0.0
    _last_frame: int = field(default=-10**9)
    _totals: dict[str, dict[str, int]] = field(default_factory=dict)

    def step(self, frame_index: int, ts_ms: int, image: np.ndarray) -> Step | None:
        """Process one frame; ``None`` when the frame is skipped (``detect_every``)."""
        self.frames += 1
        if frame_index - self._last_frame < self.detect_every:
            return None
        self._last_frame = frame_index
        started = time.perf_counter()
        dets = self.detector.detect(image)
        matched = self.tracker.update(dets)
        positions: dict[int, Point] = {}
        for track in matched:
            point = anchor_of(track.box, self.anchor)
            if track.confirmed:
                positions[track.id] = point
            for counter in self.counters:
                direction = counter.update(track.id, point)
                if direction is not None:
                    self.reversal.add(Crossing(counter.line.id, direction, track.id, frame_index, ts_ms))
        for gone in self.tracker.removed:
            for counter in self.counters:
                counter.forget(gone)
        crossings = self._count(self.reversal.release(ts_ms, self.tracker.removed))
        self.steps += 1
        self.busy_s += time.perf_counter() - started
        return Step(frame_index, ts_ms, [t for t in matched if t.confirmed], positions, crossings,
                    list(self.tracker.removed))

    def finish(self) -> list[Crossing]:
        """The source ended: the crossings still held are released."""
        return self._count(self.reversal.drain())

    def _count(self, crossings: list[Crossing]) -> list[Crossing]:
        for c in crossings:
            totals = self._totals.setdefault(c.line, {"in": 0, "out": 0})
            totals[c.direction] += 1
        return crossings

    def totals(self) -> dict[str, dict[str, int]]:
        """In/out per line of the crossings released so far."""
        return {c.line.id: dict(self._totals.get(c.line.id, {"in": 0, "out": 0})) for c in self.counters}


def build_pipeline(cfg: CameraSensorConfig, lines: Sequence[CountingLine], fps: float,
                   frame_size: tuple[int, int] | None, *, detector: Detector | None = None) -> CameraPipeline:
    """Everything a camera needs for counting, from its config (the detector may be passed in, e.g. primed)."""
    fps = fps if fps and fps > 0 else 25.0
    tracker = ByteTracker(cfg.tracker, steps_per_s=fps / cfg.detect_every)
    counters = [LineCounter(line, frame_size=frame_size) for line in lines]
    detector = detector or build_detector(cfg.detector, cfg.mask)
    if hasattr(detector, "walk_lines"):  # the overhead detector splits groups across the way people walk
        detector.walk_lines(lines)
    return CameraPipeline(detector, tracker, counters,
                          anchor=cfg.anchor_point, detect_every=cfg.detect_every,
                          reversal=ReversalFilter(round(cfg.reversal_s * 1000)))
