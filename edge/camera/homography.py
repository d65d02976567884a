"""Image ↔ floor mapping of one camera: a plane homography fitted to the site file's calibration points.

The site file lists at least four pixel points and the same points on the floor plan (metres); with more than four
the fit is least squares (no RANSAC: calibration points are surveyed, not matched, so there are no outliers to
reject, and every point should pull on the fit). The floor is assumed flat; points off the floor plane (heads, not
feet) land too far from the camera, which is why side-view cameras map the bottom centre of each box.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from mallsense.site import Homography

Point = tuple[float, float]


class FloorMapper:
    """Maps pixel points to floor metres and back.

    >>> m = FloorMapper([(0, 0), (640, 0), (640, 360), (0, 360)], [(-5, 35), (5, 35), (5, 45), (-5, 45)])
    >>> [round(v, 3) for v in m.to_floor([(320, 180)])[0]]
    [0.0, 40.0]
    >>> [round(v, 1) for v in m.to_image([(0.0, 30.0)])[0]]
    [320.0, -180.0]
    """

    def __init__(self, image: Sequence[Point], floor: Sequence[Point]) -> None:
        if len(image) < 4 or len(image) != len(floor):
            raise ValueError("a homography needs at least four image points and as many floor points")
        src = np.asarray(image, dtype=np.float64)
        dst = np.asarray(floor, dtype=np.float64)
        matrix, _ = cv2.findHomography(src, dst, method=0)
        if matrix is None or abs(np.linalg.det(matrix)) < 1e-12:
            raise ValueError("the calibration points do not define a homography (three of them on one line?)")
        self.matrix = matrix
        self.inverse = np.linalg.inv(matrix)

    @classmethod
    def from_site(cls, homography: Homography) -> FloorMapper:
        return cls(homography.image, homography.floor)

    def to_floor(self, points: Sequence[Point]) -> list[Point]:
        return _apply(self.matrix, points)

    def to_image(self, points: Sequence[Point]) -> list[Point]:
        return _apply(self.inverse, points)

    def reprojection_error_m(self, image: Sequence[Point], floor: Sequence[Point]) -> float:
        """Largest distance (metres) between a calibration point's floor position and its mapped pixel."""
        mapped = np.asarray(self.to_floor(image))
        return float(np.max(np.linalg.norm(mapped - np.asarray(floor, dtype=np.float64), axis=1)))


def _apply(matrix: np.ndarray, points: Sequence[Point]) -> list[Point]:
    if len(points) == 0:
        return []
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    out = cv2.perspectiveTransform(arr, matrix).reshape(-1, 2)
    return [(float(x), float(y)) for x, y in out]
