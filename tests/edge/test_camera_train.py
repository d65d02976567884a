"""The training data of ``mallsense camera-train`` (edge/camera/train.py): the project's labels and the data set cut
from the clips. Training itself needs torch and ultralytics, which the edge and the test environment do not have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.camera.evaluate import load_truth
from edge.camera.synthetic import SCENES, write_video
from edge.camera.train import (
    LabelFile,
    TrainError,
    TrainSettings,
    base_weights,
    build_dataset,
    load_labels,
    train,
    yolo_line,
)
from tests.conftest import shared_data

TRUTH = Path(__file__).parent / "camera_truth"
COCO = {0: "person", 1: "bicycle"}


def test_the_labels_are_development_clips_only_and_fit_their_frames():
    labels = load_labels()
    heldout = {load_truth(p).clip for p in TRUTH.glob("*.yaml") if load_truth(p).split == "heldout"}
    assert labels and not heldout & {label.clip for label in labels}, "a held-out clip must never be trained on"
    assert sum(len(boxes) for label in labels for boxes in label.frames.values()) > 1000
    for label in labels:
        width, height = label.size
        assert all(x2 <= width and y2 <= height for boxes in label.frames.values() for *_, x2, y2 in boxes)


def test_a_yolo_line_is_relative_centre_and_size():
    assert yolo_line((100, 50, 200, 250), 400, 500) == "0 0.375000 0.300000 0.250000 0.400000"


def _labels(tmp_path: Path) -> tuple[LabelFile, Path]:
    video = write_video(SCENES["side_by_side"](), tmp_path / "scene.avi")
    frames = {f: [(10 * k, 20, 10 * k + 30, 90)] * (k % 3) for k, f in enumerate(range(0, 50, 5))}
    return LabelFile(clip=video.name, source="synthetic", split="dev", size=(640, 360), frames=frames), video


def test_the_data_set_holds_every_labelled_frame_and_box(tmp_path):
    label, video = _labels(tmp_path)
    data = build_dataset([label], video.parent, tmp_path / "data", COCO)
    assert (data.train_images, data.val_images) == (8, 2)  # every 5th labelled frame validates
    assert data.boxes == sum(len(b) for b in label.frames.values())
    lines = [line for f in (tmp_path / "data" / "labels").rglob("*.txt") for line in f.read_text().splitlines()]
    assert len(lines) == data.boxes and all(line.startswith("0 ") for line in lines)
    values = np.array([[float(v) for v in line.split()[1:]] for line in lines])
    assert ((values > 0) & (values <= 1)).all()
    assert len(list((tmp_path / "data" / "images").rglob("*.jpg"))) == 10


def test_a_base_model_without_a_person_class_and_a_wrong_size_are_refused(tmp_path):
    label, video = _labels(tmp_path)
    with pytest.raises(TrainError, match="class 0"):
        build_dataset([label], video.parent, tmp_path / "a", {0: "Fall"})
    wrong = label.model_copy(update={"size": (1280, 720)})
    with pytest.raises(TrainError, match="its labels are for 1280x720"):
        build_dataset([wrong], video.parent, tmp_path / "b", COCO)


def test_a_bad_box_names_its_frame():
    with pytest.raises(ValueError, match="frame 3"):
        LabelFile(clip="c.mp4", source="s", split="dev", size=(10, 10), frames={3: [(5, 5, 2, 8)]})


def test_missing_training_tools_say_what_to_install(tmp_path):
    with pytest.raises(TrainError, match="does not exist"):
        base_weights(tmp_path / "none.pt")
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        label, video = _labels(tmp_path)
        data = build_dataset([label], video.parent, tmp_path / "data", COCO)
        with pytest.raises(TrainError, match="pip install torch"):
            train(data, tmp_path / "base.pt", tmp_path / "out.onnx", TrainSettings(epochs=1), tmp_path / "runs")


@pytest.mark.skipif(not (shared_data() / "video").is_dir(), reason="no shared video data")
def test_the_project_data_set_builds_from_the_shared_clips(tmp_path):
    data = build_dataset(load_labels(), shared_data() / "video", tmp_path / "data", COCO)
    assert data.train_images + data.val_images == sum(len(label.frames) for label in load_labels())
    assert data.val_images >= 4
