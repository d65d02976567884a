"""Floor-plan geometry used by the simulator, the cockpit and (next) camera line counting."""

from __future__ import annotations

import random

import pytest

from mallsense.geometry import bbox, centroid, contains, polygon_area, random_point, segments_cross, side

SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
L_SHAPE = [(0.0, 0.0), (10.0, 0.0), (10.0, 4.0), (4.0, 4.0), (4.0, 10.0), (0.0, 10.0)]


def test_area_centroid_and_bbox():
    assert polygon_area(SQUARE) == 100.0
    assert polygon_area(list(reversed(SQUARE))) == 100.0
    assert polygon_area(L_SHAPE) == 64.0
    assert centroid(SQUARE) == pytest.approx((5.0, 5.0))
    assert bbox(L_SHAPE) == (0.0, 0.0, 10.0, 10.0)


@pytest.mark.parametrize(
    "point, inside", [((5, 2), True), ((2, 8), True), ((5, 5), False), ((8, 8), False), ((-1, 5), False)]
)
def test_contains(point, inside):
    assert contains(L_SHAPE, point) is inside


def test_random_points_fall_inside():
    rng = random.Random(3)
    assert all(contains(L_SHAPE, random_point(L_SHAPE, rng)) for _ in range(200))


@pytest.mark.parametrize("p0, p1, crosses", [
    ((5, -1), (5, 1), True),      # straight through
    ((5, -1), (5, -0.5), False),  # stops short
    ((-5, -1), (-5, 1), False),   # passes beside the segment
    ((0, -1), (0, 1), True),      # through an end point
    ((1, 0), (9, 0), False),      # along the line (collinear)
    ((-100, -50), (100, 50), True),  # a fast mover: one long step
])
def test_segments_cross(p0, p1, crosses):
    assert segments_cross(p0, p1, (0, 0), (10, 0)) is crosses


def test_side_sign():
    assert side((0, 0), (10, 0), (5, 1)) > 0 > side((0, 0), (10, 0), (5, -1))
