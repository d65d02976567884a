"""Image regions that are not floor (windows, mirrors, glass panels, screens, a road seen through the door): the
detector never sees them.

A camera config's ``mask`` lists polygons in source pixels. Before every detection the pixels inside them are painted
one flat grey, for every detector alike: the motion detector finds no movement in a flat region (reflections of
walkers in a glass panel, flicker of a screen, cars outside), and a person model finds no one in it. A person partly
over a masked region is still seen by the part outside it; a mask over the floor people walk on would hide them, which
is why masks are drawn on what is not floor only.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.camera.detect import Detections, Detector

Point = tuple[float, float]
MASK_GREY = 114  # the letterbox grey of YOLO-style models: "nothing here" for them


class MaskedDetector:
    """Wraps a detector so that it never sees the masked regions; primes and line hints pass through."""

    def __init__(self, inner: Detector, polygons: Sequence[Sequence[Point]]) -> None:
        if not polygons:
            raise ValueError("a mask needs at least one polygon")
        self.inner = inner
        self.polygons = [np.round(np.asarray(p, np.float64)).astype(np.int32).reshape(-1, 1, 2) for p in polygons]

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """A copy of the frame with the masked regions painted flat grey."""
        out = frame.copy()
        colour = (MASK_GREY,) * (out.shape[2] if out.ndim == 3 else 1)
        cv2.fillPoly(out, self.polygons, colour)
        return out

    def detect(self, frame: np.ndarray) -> Detections:
        return self.inner.detect(self.apply(frame))

    def prime(self, background: np.ndarray) -> None:
        if hasattr(self.inner, "prime"):
            self.inner.prime(self.apply(background))

    def walk_lines(self, lines) -> None:
        if hasattr(self.inner, "walk_lines"):
            self.inner.walk_lines(lines)

    @property
    def mask(self):
        """The inner detector's last foreground mask, if it keeps one (drawing only)."""
        return getattr(self.inner, "mask", None)
