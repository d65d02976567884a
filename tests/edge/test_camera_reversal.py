"""Crossings held for a short window and withdrawn when their track crosses straight back (edge/camera/reversal.py),
alone and inside the camera pipeline."""

from __future__ import annotations

import numpy as np

from edge.camera.config import CameraSensorConfig
from edge.camera.detect import Detections
from edge.camera.lines import CountingLine
from edge.camera.pipeline import Crossing, build_pipeline
from edge.camera.reversal import ReversalFilter


def crossing(direction: str, ts_ms: int, track: int = 1, line: str = "door") -> Crossing:
    return Crossing(line, direction, track, ts_ms // 40, ts_ms)


def test_a_crossing_undone_within_the_window_is_withdrawn_with_its_reversal():
    f = ReversalFilter(500)
    f.add(crossing("in", 1000))
    assert f.release(1200) == []  # still held
    f.add(crossing("out", 1400))
    assert f.release(3000) == [] and f.drain() == []
    assert f.withdrawn == 2


def test_crossings_outside_the_window_or_of_others_are_all_kept():
    f = ReversalFilter(500)
    f.add(crossing("in", 1000))
    assert [c.ts_ms for c in f.release(1500)] == [1000]  # the window has passed
    f.add(crossing("out", 1600))  # the same track back, but after the window: a real second crossing
    f.add(crossing("in", 1700, track=2))  # another track
    f.add(crossing("in", 1750, line="other"))  # another line
    f.add(crossing("in", 1800, track=3))
    f.add(crossing("in", 1900, track=3))  # the same direction twice is no reversal
    assert [(c.track, c.direction) for c in f.drain()] == [(1, "out"), (2, "in"), (1, "in"), (3, "in"), (3, "in")]
    assert f.withdrawn == 0


def test_only_one_pair_goes_and_ended_tracks_are_released_at_once():
    f = ReversalFilter(500)
    for direction, ts in (("in", 1000), ("out", 1100), ("in", 1300)):  # in, out, in: the last one stands
        f.add(crossing(direction, ts))
    assert f.release(1350) == []
    assert [(c.direction, c.ts_ms) for c in f.release(1350, gone=[1])] == [("in", 1300)]
    assert f.withdrawn == 2


def test_a_zero_window_reports_at_once_and_withdraws_nothing():
    f = ReversalFilter(0)
    f.add(crossing("in", 1000))
    assert len(f.release(1000)) == 1
    f.add(crossing("out", 1040))
    assert len(f.release(1040)) == 1 and f.withdrawn == 0


class Scripted:
    """A detector that returns one person at the given x per frame (y fixed)."""

    def __init__(self, xs):
        self.xs = list(xs)

    def detect(self, frame) -> Detections:
        x = self.xs.pop(0)
        return Detections(np.array([[x - 15, 85, x + 15, 115]], np.float32), np.array([0.9], np.float32))


def run(xs, reversal_s: float, fps: float = 25.0):
    line = CountingLine("door", (100, 0), (100, 200), inside=(200, 100), margin_px=8)
    cfg = CameraSensorConfig(sensor="cam", reversal_s=reversal_s)
    pipeline = build_pipeline(cfg, [line], fps, (640, 360), detector=Scripted(xs))
    reported = []
    for i in range(len(xs)):
        step = pipeline.step(i, round(i * 1000 / fps), None)
        reported += [(c.direction, c.frame, step.frame) for c in step.crossings]
    reported += [(c.direction, c.frame, None) for c in pipeline.finish()]
    return reported, pipeline.totals()["door"]


def test_the_pipeline_reports_crossings_late_and_drops_a_quick_reversal():
    there_and_back = [60, 75, 90, 105, 120, 120, 105, 90, 75, 60] + [60] * 20  # in at frame 4, out at frame 7
    reported, totals = run(there_and_back, reversal_s=0.5)
    assert reported == [] and totals == {"in": 0, "out": 0}
    reported, totals = run(there_and_back, reversal_s=0)
    assert [(d, f) for d, f, _ in reported] == [("in", 4), ("out", 7)] and totals == {"in": 1, "out": 1}
    walk_in = [60, 75, 90, 105, 120, 135] + [150] * 20
    reported, totals = run(walk_in, reversal_s=0.5)
    # counted at frame 4 (its time stamp), reported 0.5 s = 12.5 frames later, once
    assert reported == [("in", 4, 17)] and totals == {"in": 1, "out": 0}
