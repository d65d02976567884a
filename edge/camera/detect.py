"""The one type that flows from detector to tracker (``Detections``) and the detector factory.

A detector is anything with ``detect(frame) -> Detections`` (BGR ``uint8`` image in, person boxes in that image's
pixels out). Which one a camera uses is its config's ``detector.type``: ``motion`` (weight-free, overhead
cameras), ``onnx`` (YOLOv8-style export on onnxruntime: the edge default, no torch) or ``ultralytics`` (a ``.pt``
model; needs torch). Scores matter: the tracker associates high-score boxes first and uses low-score ones only to
continue existing tracks, so detectors should report weak evidence with a low score rather than drop it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from edge.camera.config import DetectorConfig


@dataclass(frozen=True, slots=True)
class Detections:
    """Person boxes of one frame: ``xyxy`` (N×4 float32, pixels) and ``score`` (N, 0..1)."""

    xyxy: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        if self.xyxy.shape != (len(self.score), 4):
            raise ValueError(f"xyxy must be N×4 with one score each, got {self.xyxy.shape} and {self.score.shape}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    @classmethod
    def from_lists(cls, boxes: list, scores: list) -> Detections:
        if not boxes:
            return cls.empty()
        return cls(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32))

    def __len__(self) -> int:
        return len(self.score)

    def scaled(self, factor: float) -> Detections:
        """Boxes multiplied by ``factor`` (detections on a resized frame back to the source's pixels)."""
        return Detections(self.xyxy * np.float32(factor), self.score) if factor != 1.0 else self


class Detector(Protocol):
    def detect(self, frame: np.ndarray) -> Detections: ...


def build_detector(cfg: DetectorConfig, mask: Sequence[Sequence[tuple[float, float]]] = ()) -> Detector:
    """The detector a camera's config asks for; model files are resolved (and checked) here, at start-up. With a
    ``mask`` (polygons of regions that are not floor) it never sees those regions (:mod:`edge.camera.mask`)."""
    detector = _build(cfg)
    if mask:
        from edge.camera.mask import MaskedDetector

        return MaskedDetector(detector, mask)
    return detector


def _build(cfg: DetectorConfig) -> Detector:
    if cfg.type == "motion":
        from edge.camera.detect_motion import MotionDetector

        return MotionDetector(cfg)
    if cfg.type == "onnx":
        from edge.camera.detect_onnx import OnnxDetector

        return OnnxDetector(cfg)
    from edge.camera.detect_ultra import UltralyticsDetector

    return UltralyticsDetector(cfg)
