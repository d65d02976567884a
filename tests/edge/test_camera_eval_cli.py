"""`mallsense camera-eval`: which detector each clip gets from the truth file and the command line."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from edge.camera.cli import _detector_from_args


def _args(many: bool, **given) -> argparse.Namespace:
    values = dict(detector=None, model=None, imgsz=None, person_area=None, process_width=None, truth_many=many)
    values.update(given)
    return argparse.Namespace(**values)


def test_over_several_truth_files_a_model_applies_to_the_network_clips_only():
    args = _args(True, model="/models/door-int8.onnx", person_area=1800)
    side = _detector_from_args(args, {"type": "onnx"})
    overhead = _detector_from_args(args, {"type": "motion", "person_area_px": 2000})
    assert (side.type, side.model) == ("onnx", "/models/door-int8.onnx")
    assert (overhead.type, overhead.person_area_px) == ("motion", 1800)  # the motion option reaches the motion clip


def test_on_one_clip_a_model_picks_its_detector_and_a_mismatch_is_an_error():
    assert _detector_from_args(_args(False, model="door.onnx"), {}).type == "onnx"
    assert _detector_from_args(_args(False, model="door.pt"), {}).type == "ultralytics"
    assert _detector_from_args(_args(False), {}).type == "motion"
    with pytest.raises(ValidationError, match="model"):
        _detector_from_args(_args(False, detector="motion", model="door.onnx"), {})
