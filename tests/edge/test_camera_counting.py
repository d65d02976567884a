"""Line crossing, zones, homography and tracker as plain functions on plain data (no video)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.camera.config import TrackerConfig
from edge.camera.detect import Detections
from edge.camera.homography import FloorMapper
from edge.camera.lines import CountingLine, LineCounter
from edge.camera.track import ByteTracker
from edge.camera.zones import ZoneOccupancy

LINE = CountingLine("door", (100, 0), (100, 200), inside=(200, 100), margin_px=8)


def feed(counter: LineCounter, track: int, xs, y: float = 100.0) -> list:
    return [d for x in xs if (d := counter.update(track, (x, y))) is not None]


@pytest.mark.parametrize(("xs", "expected"), [
    ([50, 90, 110, 150], ["in"]),
    ([150, 110, 90, 50], ["out"]),
    ([50, 98, 103, 97, 104, 96, 105, 60], []),  # jitter on the line, back out
    ([50, 98, 103, 97, 104, 96, 105, 150], ["in"]),  # jitter, then in: once
    ([50, 95, 99, 50], []),  # approaches and turns back
    ([50, 106, 60], []),  # steps into the band and turns back
    ([40, 100, 160], ["in"]),  # exactly on the line on the way: one crossing, not two
    ([20, 180], ["in"]),  # one jump of 160 px
    ([50, 150, 50, 150], ["in", "out", "in"]),  # real crossings back and forth are each counted
])
def test_segment_crossing_with_hysteresis(xs, expected):
    assert feed(LineCounter(LINE), 1, xs) == expected


def test_crossing_beyond_the_ends_of_the_line_is_not_counted():
    counter = LineCounter(LINE)
    assert feed(counter, 1, [50, 150], y=260) == []
    assert feed(counter, 2, [50, 150], y=190) == ["in"]


def test_tracks_are_counted_independently_and_forgotten():
    counter = LineCounter(LINE)
    counter.update(1, (50, 50))
    counter.update(2, (150, 60))
    assert counter.update(1, (150, 50)) == "in"
    assert counter.update(2, (50, 60)) == "out"
    counter.forget(1)
    assert counter.update(1, (50, 50)) is None  # a new track with a recycled id starts fresh
    assert counter.totals == {"in": 1, "out": 1}


def test_margin_shrinks_near_the_frame_edge():
    edge_line = CountingLine("door", (0, 345), (640, 345), inside=(320, 0), margin_px=10)
    counter = LineCounter(edge_line, frame_size=(640, 360))
    assert counter.margin(-1) < 6 and counter.margin(1) == 10
    assert [counter.update(1, (300, y)) for y in (300, 340, 351)] == [None, None, "out"]


def test_inside_point_on_the_line_is_refused():
    with pytest.raises(ValueError, match="inside point"):
        CountingLine("door", (0, 0), (10, 0), inside=(5, 0))


def test_zone_occupancy_and_dwell():
    zones = ZoneOccupancy({"hall": [(0, 0), (10, 0), (10, 10), (0, 10)], "shop": [(20, 0), (30, 0), (30, 10)]})
    zones.update(0, {1: (1, 1), 2: (5, 5), 3: (50, 50)})
    assert zones.counts() == {"hall": 2, "shop": 0}
    zones.update(10_000, {1: (2, 2), 2: (25, 2)})  # 2 walks into the shop, 3 is gone
    assert zones.counts() == {"hall": 1, "shop": 1}
    zones.update(20_000, {2: (26, 2)})  # 1 lost
    zones.close_all()
    assert sorted((d.zone, d.seconds) for d in zones.take_finished()) == [
        ("hall", 0.0), ("hall", 10.0), ("shop", 10.0)]


def test_homography_from_more_than_four_points_round_trips():
    image = [(0, 0), (640, 0), (640, 360), (0, 360), (320, 180)]
    floor = [(10, 20), (30, 20), (34, 40), (6, 40), (20, 30)]
    mapper = FloorMapper(image, floor)
    back = mapper.to_image(mapper.to_floor([(100, 50), (500, 300)]))
    assert np.allclose(back, [(100, 50), (500, 300)], atol=1e-6)
    assert mapper.reprojection_error_m(image, floor) < 1.5


def test_degenerate_calibration_is_refused():
    with pytest.raises(ValueError):
        FloorMapper([(0, 0), (1, 1), (2, 2), (3, 3)], [(0, 0), (1, 1), (2, 2), (3, 3)])


def boxes(*centers, size=30.0, score=0.9) -> Detections:
    return Detections.from_lists([[x - size / 2, y - size / 2, x + size / 2, y + size / 2] for x, y in centers],
                                 [score] * len(centers))


def test_tracker_keeps_ids_through_a_short_gap_and_uses_low_scores():
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=0.5), steps_per_s=10, first_id=100)
    for x in (10, 20, 30):
        tracker.update(boxes((x, 50), (200 - x, 150)))
    ids = {round(t.center[1]): t.id for t in tracker.tracks}
    tracker.update(Detections.empty())  # both hidden for two steps
    tracker.update(Detections.empty())
    found = tracker.update(boxes((60, 50), score=0.2))  # a low-score box continues the track, at its prediction
    assert [t.id for t in found] == [ids[50]]
    found = tracker.update(boxes((70, 50), (130, 150)))
    assert sorted(t.id for t in found) == sorted(ids.values())


def test_tracker_drops_lost_tracks_after_the_buffer_and_low_scores_start_nothing():
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=0.2), steps_per_s=10, first_id=0)
    tracker.update(boxes((10, 10)))
    tracker.update(boxes((12, 10)))
    for _ in range(3):
        tracker.update(Detections.empty())
    assert tracker.tracks == [] and tracker.removed == [0]
    assert tracker.update(boxes((10, 10), score=0.2)) == []


def test_a_static_track_does_not_leap_to_a_weak_box_elsewhere():
    """The mannequin case of the corridor clip: a still object's track, hidden for a moment, must not continue on
    a passer-by's faint box two body widths away (and so "cross" a line between them)."""
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=1.0), steps_per_s=25, first_id=0)
    for _ in range(5):
        tracker.update(boxes((300, 100), size=60))
    assert tracker.update(boxes((250, 100), size=50, score=0.2)) == []  # near, but IoU 0.04 with the prediction
    assert tracker.update(boxes((300, 104), size=60, score=0.2))[0].id == 0  # a weak box where it stands: kept


def test_a_large_edge_box_does_not_take_a_small_far_person():
    """A person leaving the picture makes a tall box at the edge; a small person one such diagonal away is not its
    next step (the gate is measured in the smaller box's diagonal; in the big box's, 1.03 of them, a 1.5 gate would
    let it through)."""
    tracker = ByteTracker(TrackerConfig(max_jump=1.5), steps_per_s=25, first_id=0)
    for _ in range(3):
        tracker.update(Detections.from_lists([[520, 0, 596, 240]], [0.9]))
    found = tracker.update(Detections.from_lists([[287, 134, 316, 165]], [0.9]))
    assert [t.id for t in found] != [0]


def test_a_switch_like_jump_does_not_set_a_runaway_velocity():
    tracker = ByteTracker(TrackerConfig(max_jump=3.0), steps_per_s=25, first_id=0)
    tracker.update(boxes((100, 100), size=40))
    tracker.update(boxes((101, 100), size=40))
    tracker.update(boxes((250, 100), size=40))  # 149 px in one step: 2.6 diagonals
    (track,) = tracker.tracks
    assert np.hypot(*track.velocity) <= TrackerConfig().max_speed * np.hypot(40, 40) + 1e-9


def test_tracker_follows_a_fast_mover_and_two_side_by_side():
    tracker = ByteTracker(TrackerConfig(), steps_per_s=25, first_id=0)
    seen = set()
    for step in range(8):
        x = 20 + 60 * step
        seen |= {t.id for t in tracker.update(boxes((x, 100), (x, 134), size=32))}
    assert seen == {0, 1}
    assert [round(t.center[1]) for t in sorted(tracker.tracks, key=lambda t: t.id)] == [100, 134]
