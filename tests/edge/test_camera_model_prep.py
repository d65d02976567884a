"""Derived edge models (``edge/camera/model_prep.py``, ``mallsense camera-model``): the packaged YOLOv8 person model
with its input fitted to a 640×360 stream (640×384) and quantized to int8, checked against the original on real
frames of clips that did not calibrate it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from edge.camera.model_prep import (
    ModelPrepError,
    agreement,
    anchor_constants,
    calibration_frames,
    fit_input,
    fitted_size,
    network_input,
    quantize_int8,
)
from edge.camera.models import packaged_model
from mallsense.cli import main
from tests.conftest import shared_data

VIDEO = shared_data() / "video"
PACKAGED = packaged_model("onnx")
needs_model = pytest.mark.skipif(PACKAGED is None or not PACKAGED.is_file(),
                                 reason="packaged person model missing: run scripts/bootstrap.sh")
needs_video = pytest.mark.skipif(not VIDEO.is_dir(), reason=f"no shared video data at {VIDEO}")
# clips scored for agreement; example_02 calibrates the int8 model and is not among them
SCORED = ("example_03.mp4", "example_06.mp4", "mall_corridor_video4.mp4")


def test_anchor_constants_count_the_cells_of_three_strides():
    points, stride = anchor_constants(384, 640)
    assert points.shape == (1, 2, 80 * 48 + 40 * 24 + 20 * 12) and stride.shape == (1, 5040)
    assert points[0, :, 0].tolist() == [0.5, 0.5] and points[0, :, 80].tolist() == [0.5, 1.5]  # x runs fastest
    assert points[0, :, -1].tolist() == [19.5, 11.5] and stride[0, 0] == 8 and stride[0, -1] == 32


@needs_model
def test_anchor_constants_are_the_ones_in_the_packaged_export():
    model = onnx.load(str(PACKAGED))
    values = [numpy_helper.to_array(i) for i in model.graph.initializer]
    points, stride = anchor_constants(640, 640)
    assert sum(v.shape == points.shape and np.array_equal(v, points) for v in values) >= 1
    assert sum(v.shape == stride.shape and np.array_equal(v, stride) for v in values) == 1


def test_fitted_size_keeps_the_aspect_in_multiples_of_32():
    assert fitted_size(640, 360) == (640, 384)
    assert fitted_size(596, 336) == (640, 384)
    assert fitted_size(1280, 720) == (640, 384)
    assert fitted_size(1080, 1920) == (384, 640)
    assert fitted_size(640, 640, longest=320) == (320, 320)


def _frames() -> list[np.ndarray]:
    frames = []
    for clip in SCORED:
        frames += calibration_frames(VIDEO / clip, 12)
    return frames


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    if PACKAGED is None or not VIDEO.is_dir():
        pytest.skip("needs the packaged model and the shared video")
    folder = tmp_path_factory.mktemp("models")
    fitted = fit_input(PACKAGED, folder / "fit.onnx", 640, 384)
    blobs = [network_input(f, 640, 384) for f in calibration_frames(VIDEO / "example_02.mp4", 24)]
    return fitted, quantize_int8(fitted, folder / "int8.onnx", blobs)


@needs_model
@needs_video
def test_fitted_model_runs_at_the_new_size_and_finds_the_same_people(derived):
    import onnxruntime as ort

    fitted, _ = derived
    session = ort.InferenceSession(str(fitted), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 384, 640]
    (out,) = session.run(None, {"images": np.zeros((1, 3, 384, 640), np.float32)})
    classes = onnx.load(str(PACKAGED)).graph.output[0].type.tensor_type.shape.dim[1].dim_value - 4
    assert out.shape == (1, 4 + classes, 5040)  # box, one score per class, for each cell of the 640x384 grids
    frames = _frames()
    found, total = agreement(PACKAGED, fitted, frames)
    back, total_back = agreement(fitted, PACKAGED, frames)
    assert total >= 100 and total_back >= 100, "the clips show people"
    assert found >= 0.97 * total and back >= 0.97 * total_back


@needs_model
@needs_video
def test_int8_model_is_smaller_and_finds_the_same_people_on_clips_it_was_not_calibrated_on(derived):
    fitted, int8 = derived
    # int8 but the class branch, kept float: ~10 % of a YOLOv8s's weights, ~20 % of the COCO YOLOv8n's (80 classes)
    assert int8.stat().st_size < 0.45 * fitted.stat().st_size
    frames = _frames()
    found, total = agreement(fitted, int8, frames)
    back, total_back = agreement(int8, fitted, frames)
    assert total >= 100
    assert found >= 0.95 * total and back >= 0.95 * total_back


@needs_model
def test_a_size_not_a_multiple_of_32_is_refused(tmp_path):
    with pytest.raises(ModelPrepError, match="multiples of 32"):
        fit_input(PACKAGED, tmp_path / "x.onnx", 600, 384)
    assert not (tmp_path / "x.onnx").exists()


def test_a_model_without_yolo_anchors_is_refused_with_its_name(tmp_path):
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["out"], pads=[1, 1, 1, 1])], "plain",
        [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 4, 64, 64])], [weight])
    src = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), str(src))
    with pytest.raises(ModelPrepError, match=r"plain\.onnx: no YOLOv8 anchor constants"):
        fit_input(src, tmp_path / "out.onnx", 64, 32)
    assert not (tmp_path / "out.onnx").exists()


def test_camera_model_command_explains_bad_input(tmp_path, capsys):
    assert main(["camera-model", str(tmp_path / "m.onnx"), "--calibrate", str(tmp_path / "none.mp4")]) == 2
    assert "cannot read frames from" in capsys.readouterr().err
    assert main(["camera-model", str(tmp_path / "m.onnx"), "--model", str(tmp_path / "none.onnx"),
                 "--size", "640x384"]) == 2
    assert "none.onnx does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["camera-model", str(tmp_path / "m.onnx")])


@needs_model
@needs_video
def test_camera_model_command_writes_a_model_the_detector_loads(tmp_path, capsys):
    from edge.camera.config import OnnxConfig
    from edge.camera.detect_onnx import OnnxDetector

    out = tmp_path / "cam.onnx"
    assert main(["camera-model", str(out), "--size", "640x384"]) == 0
    assert "640x384 input, float32" in capsys.readouterr().out
    detector = OnnxDetector(OnnxConfig(model=str(out)))
    assert detector.size == (640, 384)
    frame = calibration_frames(VIDEO / "example_02.mp4", 1)[0]
    assert (detector.detect(frame).score >= 0.3).sum() >= 5  # the crowd clip's first frame
