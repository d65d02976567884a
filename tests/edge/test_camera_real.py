"""Real footage: our own ground truth for clips of the shared data (tests/edge/camera_truth/) and how we score.

The truth files are checked on every run (they load, their clip exists, their frames are inside it). Each clip names
its detector: the two side and oblique views the packaged ONNX person model, the two straight-down views the
weight-free motion detector. The clips are then counted in two set-ups: every frame, with the packaged model as it
ships; and the deployed real-time edge set-up, detecting on every 2nd frame with the model fitted to 640x384 and
quantized to int8 by ``mallsense camera-model``; and that model at every 3rd frame for the onnx clips (the real-time
set-up of a CPU without AVX-512). Each prints per-clip in/out errors and is held to the project's measured result
(about four minutes on two cores).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edge.camera.config import CameraSensorConfig, DetectorConfig
from edge.camera.evaluate import combined, load_truth, score, split_summary
from edge.camera.lines import CountingLine
from edge.camera.models import packaged_model
from edge.camera.replay import count_clip
from tests.conftest import shared_data

ALL_TRUTH = sorted((Path(__file__).parent / "camera_truth").glob("*.yaml"))
TRUTH = [p for p in ALL_TRUTH if load_truth(p).split == "dev"]  # development clips: settings were chosen on these
HELDOUT = [p for p in ALL_TRUTH if load_truth(p).split == "heldout"]  # never: docs/camera.md, held-out rule
VIDEO = shared_data() / "video"
# total absolute count error (sum of the clips' own errors) measured per set-up, of 62 true crossings scored
# (docs/camera.md); the 5 % target is 3 of 62. SLACK: int8 outputs differ a little between onnxruntime
# releases and CPU instruction sets (with its class branch in int8 the hall clip counted 1 error on an AVX-512 machine
# and 5 on an AVX2 one), so the test allows two more errors than measured; more than that is a regression.
# Measured with the packaged COCO YOLOv8n for the onnx clips (stop 18; the YOLOv8s-size fall model before it: 6 and 3).
MEASURED_COUNT_ERROR = {"every frame, packaged model": 6, "int8 640x384, detect_every 2": 2,
                        "int8 640x384, onnx cameras detect_every 3": 2}
# detect_every per set-up for the onnx clips and the motion clips: the third is the real-time set-up of a 2-core CPU
# without AVX-512 (docs/camera.md, Speed), where the motion detector has time to spare and keeps every 2nd frame
EVERY = {"every frame, packaged model": (1, 1), "int8 640x384, detect_every 2": (2, 2),
         "int8 640x384, onnx cameras detect_every 3": (3, 2)}
SLACK = 2
SCORED_CROSSINGS = 62  # 64 annotated, two in the hall clip's first frames (not scored: evaluate.WARMUP_FRAMES)
needs_video = pytest.mark.skipif(not VIDEO.is_dir(), reason=f"no shared video data at {VIDEO}")


def test_there_are_at_least_three_annotated_clips():
    assert len({load_truth(p).clip for p in TRUTH}) >= 3


def test_scores_leave_out_the_warm_up_and_do_not_cancel_across_clips():
    early = score([(3, "out"), (40, "in")], [(41, "in")])
    assert (early.truth, early.count_error, early.recall) == (1, 0, 1.0)  # frame 3 is before the warm-up
    assert score([(3, "out"), (40, "in")], [(41, "in")], warmup=0).count_error == 1
    missed, spurious = score([(50, "in")], []), score([], [(60, "in")])
    total = combined([missed, spurious])
    assert (total.true_in, total.counted_in) == (1, 1)  # the totals agree …
    assert total.count_error == 2  # … but each clip was wrong once


@needs_video
@pytest.mark.parametrize("path", ALL_TRUTH, ids=[p.stem for p in ALL_TRUTH])
def test_truth_files_fit_their_clips(path):
    truth = load_truth(path)
    cap = cv2.VideoCapture(str(VIDEO / truth.clip))
    total, width, height = (int(cap.get(p)) for p in (cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FRAME_WIDTH,
                                                      cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    assert total > 0, f"cannot read {truth.clip}"
    last = truth.frames or total
    assert last <= total and all(0 <= f < last for f, _ in truth.crossings)
    CountingLine("line", *truth.line, inside=truth.inside)  # the inside point is off the line
    assert all(0 <= x <= width and 0 <= y <= height for x, y in truth.line)


def test_the_packaged_person_model_finds_the_crowd_and_nothing_on_an_empty_frame():
    """The ONNX detector on real frames of the high-angle crowd clip (scripts/bootstrap.sh installs the model)."""
    from edge.camera.config import OnnxConfig
    from edge.camera.detect_onnx import OnnxDetector

    assert packaged_model("onnx") is not None, "the model package is missing: run scripts/bootstrap.sh"
    detector = OnnxDetector(OnnxConfig())
    cap = cv2.VideoCapture(str(VIDEO / "example_02.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    people = detector.detect(frame)
    assert (people.score >= 0.3).sum() >= 5, "a crowd of dozens: at least five confident people"
    assert (people.score > 0).all() and len(people) <= 300
    assert len(detector.detect(frame * 0)) == 0


@pytest.fixture(scope="module")
def edge_model(tmp_path_factory):
    """The deployed edge model: the packaged one fitted to 640x384 and int8, its activation ranges calibrated on the
    hall clip's frames (calibration reads pixel statistics only, never the annotations)."""
    from edge.camera.model_prep import prepare

    if packaged_model("onnx") is None or not VIDEO.is_dir():
        pytest.skip("needs the packaged model and the shared video")
    return prepare(packaged_model("onnx"), tmp_path_factory.mktemp("model") / "int8.onnx", 640, 384,
                   VIDEO / "example_02.mp4")


@needs_video
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("setup", list(MEASURED_COUNT_ERROR))
def test_real_clips_count_within_the_measured_error(setup, request):
    from pydantic import TypeAdapter

    scores = []
    for path in TRUTH:
        truth = load_truth(path)
        spec = dict(truth.detector or {})
        every = EVERY[setup][0 if spec.get("type") == "onnx" else 1]
        if setup.startswith("int8") and spec.get("type") == "onnx":
            spec["model"] = str(request.getfixturevalue("edge_model"))
        cfg = CameraSensorConfig(sensor="eval", anchor=truth.anchor, detect_every=every,
                                 detector=TypeAdapter(DetectorConfig).validate_python(spec))
        line = CountingLine("line", *truth.line, inside=truth.inside)
        result = count_clip(VIDEO / truth.clip, line, cfg, max_frames=truth.frames)
        scores.append(score(truth.crossings, [(c.frame, c.direction) for c in result.crossings]))
        print(scores[-1].line(truth.clip))
    total = combined(scores)
    print(total.line("all clips"))
    print(split_summary("development", scores))
    assert total.truth == SCORED_CROSSINGS
    assert total.count_error <= MEASURED_COUNT_ERROR[setup] + SLACK


# --- held-out clips: no setting, threshold or model choice was ever made on them (docs/camera.md, held-out rule) ---
# They are counted in the set-up a new installation gets before its commissioning audit: the rule of
# edge/camera/view_setup.py from the view and the person size read off the picture, the network fitted to the clip's
# size and int8-calibrated on the camera's own frames (label-free, as `mallsense camera-model --calibrate`), at the
# detection rate that keeps up with the clip on a 2-core CPU. None until first measured: the figure is reported, and
# from then on held against regressions (it is not what the settings are chosen by).
# stop 19, first measurement: 26 of 63 (41.3 %); stop 29, same code on a fresh install (numpy 2.4.6, onnx 1.23.2,
# opencv-python-headless 4.14.0.94; onnxruntime 1.32.0 and 1.31.1 alike): 29 of 63 (46.0 %). docs/camera.md
MEASURED_HELDOUT_ERROR: int | None = 29
HELDOUT_MIN_CROSSINGS = 60


def test_scores_say_undefined_not_perfect_when_nothing_was_counted():
    nothing = score([(40, "in"), (90, "out")], [])
    assert nothing.precision is None and nothing.recall == 0.0
    assert "precision    –" in nothing.line("clip")


def test_the_heldout_set_shares_no_source_with_development():
    dev_sources = {load_truth(p).source or load_truth(p).clip for p in TRUTH}
    held = [load_truth(p) for p in HELDOUT]
    if not held:
        pytest.skip("no held-out clips annotated yet")
    assert len({t.source for t in held}) >= 2 and all(t.source for t in held)
    assert not dev_sources & {t.source for t in held}
    assert sum(len(t.crossings) for t in held) >= HELDOUT_MIN_CROSSINGS
    assert all(t.view is not None and not t.detector for t in held), "held-out set-ups come from the view rule"


@needs_video
@pytest.mark.timeout(2400)
def test_heldout_clips_in_the_realtime_edge_setup(tmp_path_factory):
    from edge.camera.view_setup import EdgeModels, realtime_config

    if not HELDOUT:
        pytest.skip("no held-out clips annotated yet")
    models = EdgeModels(tmp_path_factory.mktemp("heldout"))  # one camera, one model: calibrated on its first clip
    scores = []
    for path in HELDOUT:
        truth = load_truth(path)
        cfg, setup = realtime_config(truth, VIDEO / truth.clip, models)
        line = CountingLine("line", *truth.line, inside=truth.inside)
        result = count_clip(VIDEO / truth.clip, line, cfg, max_frames=truth.frames)
        scores.append(score(truth.crossings, [(c.frame, c.direction) for c in result.crossings]))
        print(scores[-1].line(f"{truth.clip} every {setup.detect_every}"), f"{result.realtime_factor:.2f}x real time")
    print(split_summary("held-out", scores))
    if MEASURED_HELDOUT_ERROR is not None:
        assert combined(scores).count_error <= MEASURED_HELDOUT_ERROR + SLACK
