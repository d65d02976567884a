"""The documented starting set-up for a camera nobody has tuned yet: from how it sees people and their size.

An installer knows two things about a new camera before any audit: how it looks at people (straight down, steeply
from high up, obliquely, or from the side) and how large a person is in its picture at the counting line (read off
one frame: a box's width and height in pixels). :func:`view_setup` turns those into the detector, the reference
point and the detection rate that keeps up with the stream on a 2-core edge CPU. It is a fixed rule, written down
before any held-out clip was counted (docs/camera.md, "Held-out rule"): held-out clips are counted with exactly this
set-up, so their figures say what a new installation gets before its commissioning audit.

The rule:

- ``overhead`` (straight down): the weight-free ``motion`` detector, one person's blob area being the ellipse inside
  the person's box (``pi / 4 * width * height``); reference point the body's centre.
- ``steep``, ``oblique`` and ``side``: the packaged person model (``onnx``); reference point the body's centre for
  ``steep`` (feet hide behind others and steps) and the feet for ``oblique`` and ``side``.
- Detection rate: the network is run on at most ``ONNX_STEPS_PER_S`` frames per second, the motion detector on at
  most ``MOTION_STEPS_PER_S``: ``detect_every = ceil(fps / steps_per_s)``. Both figures are the measured capacity of
  a 2-core AVX2 CPU (docs/camera.md, Speed): int8 YOLOv8n at 640 px about 57 ms a frame plus decoding, the motion
  detector at 640 px about 20 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from edge.camera.config import CameraSensorConfig
    from edge.camera.evaluate import TruthFile

View = Literal["overhead", "steep", "oblique", "side"]
ONNX_STEPS_PER_S = 12.0
MOTION_STEPS_PER_S = 15.0


@dataclass(frozen=True)
class ViewSetup:
    detector: dict  # detector config (the ``detector`` section of a camera config)
    anchor: Literal["bottom", "center"]
    detect_every: int  # the real-time rate on a 2-core edge CPU at the stream's frame rate


def realtime_every(detector_type: str, fps: float) -> int:
    """``detect_every`` that keeps a detector of this type within the 2-core CPU's capacity at ``fps``."""
    steps_per_s = MOTION_STEPS_PER_S if detector_type == "motion" else ONNX_STEPS_PER_S
    return max(1, math.ceil(fps / steps_per_s))


def view_setup(view: View, person_size_px: tuple[float, float] | None, fps: float) -> ViewSetup:
    """The starting set-up of a camera that sees people this way, at this size, at this frame rate.

    >>> view_setup("overhead", (60, 50), 30.0)
    ViewSetup(detector={'type': 'motion', 'person_area_px': 2356}, anchor='center', detect_every=2)
    >>> view_setup("oblique", None, 25.0).detector
    {'type': 'onnx'}
    """
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    if view == "overhead":
        detector: dict = {"type": "motion"}
        if person_size_px is not None:
            width, height = person_size_px
            if width <= 0 or height <= 0:
                raise ValueError(f"person size must be positive pixels, got {person_size_px}")
            detector["person_area_px"] = round(math.pi / 4 * width * height)
        return ViewSetup(detector, "center", realtime_every("motion", fps))
    if view not in ("steep", "oblique", "side"):
        raise ValueError(f"unknown view {view!r}: overhead, steep, oblique or side")
    anchor: Literal["bottom", "center"] = "center" if view == "steep" else "bottom"
    return ViewSetup({"type": "onnx"}, anchor, realtime_every("onnx", fps))


def truth_setup(truth: TruthFile, fps: float) -> ViewSetup:
    """How an annotated clip is counted: the detector its truth file names (development clips, where it was chosen),
    else the rule above from the file's ``view`` and ``person_size_px`` (held-out clips: nothing chosen on them)."""
    if truth.detector:
        kind = truth.detector.get("type", "motion")
        anchor = truth.anchor or ("center" if kind == "motion" else "bottom")
        return ViewSetup(dict(truth.detector), anchor, realtime_every(kind, fps) if fps > 0 else 1)
    if truth.view is None:
        raise ValueError(f"{truth.clip}: a truth file names its detector or its view")
    rule = view_setup(truth.view, truth.person_size_px, fps)
    # the annotation's reference point is where the truth says a crossing happens: count with the same point
    return ViewSetup(rule.detector, truth.anchor or rule.anchor, rule.detect_every)  # type: ignore[arg-type]


class EdgeModels:
    """The real-time set-up's network per camera, made once as ``mallsense camera-model --calibrate`` makes it: the
    packaged model fitted to the camera's frame size and int8-calibrated on the camera's first clip (label-free)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: dict[tuple[str, tuple[int, int]], Path] = {}

    def for_camera(self, source: str, size: tuple[int, int], clip: Path) -> Path:
        from edge.camera.model_prep import fitted_size, prepare
        from edge.camera.models import resolve_model

        key = (source, size)
        if key not in self._made:
            self._made[key] = prepare(resolve_model("onnx", None), self.folder / f"edge-{len(self._made)}.onnx",
                                      *fitted_size(*size), clip)
        return self._made[key]


def realtime_config(truth: TruthFile, clip: Path, models: EdgeModels, *, threads: int | None = None
                    ) -> tuple[CameraSensorConfig, ViewSetup]:
    """The camera config a clip is counted with in the real-time edge set-up (:func:`truth_setup` at the clip's frame
    rate, the network from ``models``), and the set-up it came from."""
    from pydantic import TypeAdapter

    from edge.camera.config import CameraSensorConfig, DetectorConfig
    from edge.camera.source import probe

    fps, size = probe(str(clip))
    setup = truth_setup(truth, fps)
    spec = dict(setup.detector)
    if spec["type"] == "onnx":
        spec["model"] = str(models.for_camera(truth.source, size, clip))
        spec["threads"] = threads
    cfg = CameraSensorConfig(sensor="eval", anchor=setup.anchor, detect_every=setup.detect_every,
                             detector=TypeAdapter(DetectorConfig).validate_python(spec))
    return cfg, setup
