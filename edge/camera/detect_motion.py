"""Weight-free person detector for overhead cameras: background subtraction (MOG2) and blob analysis.

Why: the only person model that ships in a registry (see models.py) was trained on side views and finds almost no
one from straight above; a top-down doorway camera sees people as compact blobs on a static floor, which background
subtraction handles without weights. Trade-offs:

- People standing still for longer than the background ``history`` fade into the background (fine for doorways,
  wrong for queues); shadows are labelled by MOG2 and dropped, strong cast shadows on bright floors still leak in.
- A blob much larger than one person (people side by side touching) is split into ``round(area / person_area)``
  parts by k-means on its pixels; without ``person_area_px`` nothing is split.
- People walking side by side through an entrance make a blob that is wide along the counting line and shallow
  across it, often less than 1.5 people's area (their masks have holes): a blob at least ``side_by_side`` (2) times
  wider along the nearest line than deep across it is split into ``round(width / depth)``. One person seen from
  above is at most about as wide (shoulders) as deep (a stride), and an umbrella is round, so neither is split.
  The rule needs the blob to be nearly a whole person deep (``SIDE_BY_SIDE_DEPTH``, 0.75): a person partly behind a
  pillar, or fading into the background while standing, shows as a thin sliver along the line, and is one person.
  It applies near a line only (``SIDE_BY_SIDE_NEAR``), where counting happens: far from it a group that is split
  in one frame and not in the next would only make extra track ids. The pipeline tells the detector its lines
  (``walk_lines``); without lines, blobs are split by area only.
- The camera's automatic exposure is undone before subtraction (``exposure_compensation``): each frame is scaled
  so that its median brightness matches the background's. A sudden change that is not exposure (lights switched
  on in one half of the picture) is not corrected and still shows as foreground until the model learns it.
- A blob cut by the frame border that reaches less than half a person (half the square root of
  ``person_area_px``) into the picture is someone mostly outside it, whose centre is beyond the border: not a
  detection (a line that runs to the border would otherwise count people walking past outside the view).
- Blobs smaller than ``min_area_px`` are noise. Blobs between that and half a person (partly hidden, half out of
  the picture, or a person whose mask broke into pieces) score ``LOW_SCORE`` against ``HIGH_SCORE`` for a whole
  one. At the tracker's default ``high_score`` (0.3) they start tracks too: in the rain clip (example_06) people
  under umbrellas break into pieces smaller than half a person, and when such pieces could only continue tracks
  (a score of 0.2) its count error went from 5 to 12 of 26. A camera whose people show as whole blobs can raise
  ``tracker.high_score`` above 0.3 so that only person-size blobs start tracks.

``prime(background)`` seeds the model with an empty-scene image (a median of frames) so the first frames are not all
foreground; a running camera learns the same by itself within ``history`` frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from edge.camera.config import MotionConfig
from edge.camera.detect import Detections
from edge.camera.lines import CountingLine
from mallsense.geometry import segment_distance

LOW_SCORE = 0.3  # equal to the tracker's default high_score: pieces start tracks (see above)
HIGH_SCORE = 0.9
GRID = 4  # exposure is measured on every 4th pixel of every 4th row
REFERENCE_EVERY = 30  # frames between refreshing the background the exposure is measured against
GAIN_DEADBAND = 0.01  # corrections smaller than 1 % are not applied
MEASURABLE = 24.0  # background grey level from which a pixel's brightness ratio is measured (exposure_gain)
MIN_MEASURED = 0.2  # share of the picture that must be measurable before exposure is corrected
GAIN_RANGE = (0.6, 1.6)  # automatic exposure moves within this; a larger change is the light itself (not undone)
SIDE_BY_SIDE_NEAR = 2.0  # groups are split within this many person sides (sqrt of person_area_px) of a line
SIDE_BY_SIDE_DEPTH = 0.75  # ... when the blob is at least this many person sides deep across the line
SPLIT_POINTS = 1000  # k-means runs on at most about this many pixels of a blob (a crowd is one large blob)


class MotionDetector:
    def __init__(self, cfg: MotionConfig) -> None:
        self.cfg = cfg
        self.subtractor = cv2.createBackgroundSubtractorMOG2(
            history=cfg.history, varThreshold=cfg.var_threshold, detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (cfg.open_px, cfg.open_px))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (cfg.close_px, cfg.close_px))
        self.mask: np.ndarray | None = None  # last foreground mask (for drawing; never published)
        self._lines: list[tuple[CountingLine, np.ndarray]] = []  # with its unit direction (source pixels)
        self._reference: np.ndarray | None = None  # grey background the exposure is measured against
        self._frames = 0

    def prime(self, background: np.ndarray, repeats: int = 5) -> None:
        """Start from a known empty scene instead of learning it from the first frames."""
        small = self._resize(background)[0]
        for _ in range(repeats):
            self.subtractor.apply(small, learningRate=1.0)
        self._reference = _grey_grid(small)

    def walk_lines(self, lines: Sequence[CountingLine]) -> None:
        """The counting lines people walk across (source pixels): groups are split along the nearest one."""
        self._lines = [(line, np.subtract(line.b, line.a) / math.dist(line.a, line.b)) for line in lines]

    def _resize(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        width = self.cfg.process_width
        if not width or frame.shape[1] <= width:
            return frame, 1.0
        scale = width / frame.shape[1]
        return cv2.resize(frame, (width, round(frame.shape[0] * scale)), interpolation=cv2.INTER_AREA), scale

    def detect(self, frame: np.ndarray) -> Detections:
        small, scale = self._resize(frame)
        small = self._expose(small)
        fg = self.subtractor.apply(small, learningRate=self.cfg.learning_rate)
        mask = np.where(fg > 200, 255, 0).astype(np.uint8)  # 127 = shadow
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        self.mask = mask
        boxes, scores = [], []
        person = self.cfg.person_area_px * scale * scale if self.cfg.person_area_px else None
        min_area = self.cfg.min_area_px * scale * scale
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            area = cv2.contourArea(contour)
            if area < min_area:
                continue
            if person and _mostly_outside(cv2.boundingRect(contour), mask.shape, 0.5 * np.sqrt(person)):
                continue
            parts = max(1, round(area / person)) if person else 1
            if person and area >= 0.5 * person:
                parts = max(parts, self._side_by_side(contour, scale))
            pieces = _split(mask, contour, parts) if parts > 1 else [cv2.boundingRect(contour)]
            for x, y, w, h in pieces:
                boxes.append([x / scale, y / scale, (x + w) / scale, (y + h) / scale])
                scores.append(HIGH_SCORE if person is None or area / parts >= 0.5 * person else LOW_SCORE)
        return Detections.from_lists(boxes, scores)

    def _expose(self, small: np.ndarray) -> np.ndarray:
        """Undo the camera's automatic exposure: scale the frame so that its typical pixel is as bright as the
        background's. A camera that brightens 16 % within five frames (example_03, when a dark-clad crowd leaves
        the view) otherwise turns the whole floor into foreground. People cover less than half of the picture, so
        the median brightness ratio over a grid of pixels is the floor's."""
        if not self.cfg.exposure_compensation:
            return small
        self._frames += 1
        if self._reference is None:
            self._reference = _grey_grid(small)
        elif self._frames % REFERENCE_EVERY == 0:
            self._reference = _grey_grid(self.subtractor.getBackgroundImage())
        gain = exposure_gain(_grey_grid(small), self._reference)
        if abs(gain - 1.0) < GAIN_DEADBAND:
            return small
        return cv2.convertScaleAbs(small, alpha=gain)

    def _side_by_side(self, contour: np.ndarray, scale: float) -> int:
        """How many people walk side by side in this blob, near a counting line: its width along the line over its
        depth across it, when that is at least ``side_by_side`` and the blob is a whole person deep; else 1. Called
        only with ``person_area_px`` set."""
        if not self._lines or not self.cfg.side_by_side:
            return 1
        side = float(np.sqrt(self.cfg.person_area_px))  # a person seen from above, as a square (source pixels)
        points = contour.reshape(-1, 2).astype(np.float64) / scale
        centre = tuple(points.mean(axis=0).tolist())
        line, direction = min(self._lines, key=lambda entry: segment_distance(centre, entry[0].a, entry[0].b))
        if segment_distance(centre, line.a, line.b) > SIDE_BY_SIDE_NEAR * side:
            return 1
        width = float(np.ptp(points @ direction))
        depth = float(np.ptp(points @ np.array([-direction[1], direction[0]])))
        if depth < SIDE_BY_SIDE_DEPTH * side or width < self.cfg.side_by_side * depth:
            return 1
        return round(width / depth)


def exposure_gain(frame_grey: np.ndarray, reference_grey: np.ndarray) -> float:
    """Background brightness over frame brightness: the median ratio over the pixels where both can be measured.

    Only pixels whose background is at least ``MEASURABLE`` grey levels bright and that are neither black nor
    saturated in the frame take part: in a dark scene a ratio of two small numbers is sensor noise and rounding (an
    empty dark doorway's floor at grey 3-6 reads ratios anywhere between 0.5 and 2), and clipped pixels do not scale.
    With less than ``MIN_MEASURED`` of the picture measurable, or a result outside ``GAIN_RANGE`` (a light switched
    on or off, not exposure), nothing is corrected: 1.0.
    """
    valid = (reference_grey >= MEASURABLE) & (frame_grey >= 2) & (frame_grey <= 250)
    if valid.mean() < MIN_MEASURED:
        return 1.0
    ratio = float(np.median(frame_grey[valid] / reference_grey[valid]))
    gain = 1.0 / ratio if ratio > 0 else 1.0
    low, high = GAIN_RANGE
    return gain if low <= gain <= high else 1.0


def _mostly_outside(rect: tuple[int, int, int, int], shape: tuple[int, ...], reach: float) -> bool:
    """Whether a blob cut by the frame border reaches less than ``reach`` (half a person) into the picture."""
    x, y, w, h = rect
    return ((x <= 0 or x + w >= shape[1]) and w < reach) or ((y <= 0 or y + h >= shape[0]) and h < reach)


def _grey_grid(image: np.ndarray) -> np.ndarray:
    """Every ``GRID``-th pixel of the image in grey, as float (enough to measure its brightness)."""
    grid = image[::GRID, ::GRID]
    grey = cv2.cvtColor(grid, cv2.COLOR_BGR2GRAY) if grid.ndim == 3 else grid
    return grey.astype(np.float32)


def _split(mask: np.ndarray, contour: np.ndarray, parts: int) -> list[tuple[int, int, int, int]]:
    """Split one blob into ``parts`` boxes by k-means on its foreground pixels (people side by side)."""
    x, y, w, h = cv2.boundingRect(contour)
    blob = np.zeros((h, w), np.uint8)
    cv2.drawContours(blob, [contour - [x, y]], -1, 255, thickness=cv2.FILLED, offset=(0, 0))
    blob &= mask[y:y + h, x:x + w]
    # a regular grid of the blob's pixels is enough to place the parts, and keeps a crowd's blob fast to split
    step = max(1, int(np.sqrt(cv2.countNonZero(blob) / SPLIT_POINTS)))
    ys, xs = np.nonzero(blob[::step, ::step])
    if len(xs) < parts * 4:
        return [(x, y, w, h)]
    pts = np.column_stack([xs, ys]).astype(np.float32) * step
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(1)
    _, labels, _ = cv2.kmeans(pts, parts, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    out = []
    for k in range(parts):
        sel = pts[labels.ravel() == k]
        if len(sel) == 0:
            continue
        x0, y0 = sel.min(axis=0)
        x1, y1 = sel.max(axis=0)
        out.append((int(x0) + x, int(y0) + y, int(x1 - x0) + step, int(y1 - y0) + step))
    return out
