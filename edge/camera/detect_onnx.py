"""YOLOv8-style ONNX person detection on onnxruntime: letterbox, one inference, decode, NMS. No torch.

The output of an ultralytics detection export is ``1 × (4 + classes) × anchors``: box centre, size (network
pixels) and one score per class, no NMS inside. Every class listed in ``classes`` (default: all) counts as a
person, and a box's score is its best such class. Boxes down to ``conf`` are kept so the tracker's second stage
can use the weak ones. Trade-off of the input size: the model's own (640) finds small, far people; a smaller
dynamic export (e.g. 320) is about four times faster and misses people under ~20 px tall.
"""

from __future__ import annotations

import ast

import cv2
import numpy as np

from edge.camera.config import OnnxConfig
from edge.camera.detect import Detections
from edge.camera.models import resolve_model


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to ``size`` (w, h) with grey; returns image, scale, (pad x, pad y)."""
    h, w = frame.shape[:2]
    scale = min(size[0] / w, size[1] / h)
    nw, nh = round(w * scale), round(h * scale)
    px, py = (size[0] - nw) // 2, (size[1] - nh) // 2
    out = np.full((size[1], size[0], 3), 114, np.uint8)
    out[py:py + nh, px:px + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, scale, (px, py)


def to_blob(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int]]:
    """A BGR frame as the network's input (letterboxed to ``size`` (w, h), RGB, ``1 × 3 × h × w`` float32 in
    [0, 1]); also the letterbox's scale and padding, to map boxes back."""
    image, scale, pad = letterbox(frame, size)
    blob = image[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), scale, pad


def decode(output: np.ndarray, conf: float, iou: float, classes: list[int] | None) -> Detections:
    """Raw ``(4 + nc) × anchors`` output → boxes in network pixels after NMS."""
    pred = output[0] if output.ndim == 3 else output
    scores = pred[4:] if classes is None else pred[4:][classes]
    best = scores.max(axis=0)
    keep = best >= conf
    if not keep.any():
        return Detections.empty()
    cx, cy, w, h = pred[:4, keep]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    score = best[keep]
    idx = cv2.dnn.NMSBoxes(np.column_stack([xyxy[:, :2], w, h]).tolist(), score.tolist(), conf, iou)
    idx = np.asarray(idx, dtype=int).reshape(-1)
    return Detections(xyxy[idx].astype(np.float32), score[idx].astype(np.float32))


def person_classes(session) -> list[int] | None:
    """The class ids named ``person`` in an ultralytics export's metadata (``names``: ``{0: 'person', ...}``);
    None (every class is a person) when the export names no such class or carries no names. A COCO model counts
    only its people, not its cars; a model of people only (e.g. ``Normal``/``Fall``) counts all its classes."""
    names = session.get_modelmeta().custom_metadata_map.get("names")
    if not names:
        return None
    try:
        parsed = ast.literal_eval(names)
    except (ValueError, SyntaxError):
        return None
    people = sorted(int(k) for k, v in parsed.items() if str(v).lower() == "person") if isinstance(parsed, dict) else []
    return people or None


class OnnxDetector:
    def __init__(self, cfg: OnnxConfig) -> None:
        import onnxruntime as ort

        self.cfg = cfg
        self.path = resolve_model("onnx", cfg.model)
        options = ort.SessionOptions()
        if cfg.threads:
            options.intra_op_num_threads = cfg.threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        feed = self.session.get_inputs()[0]
        self.input_name = feed.name
        h, w = feed.shape[2], feed.shape[3]
        if isinstance(h, int) and isinstance(w, int):
            self.size = (w, h)
        else:
            side = cfg.imgsz or 640
            self.size = (side, side)
        self.dynamic = not isinstance(h, int)
        self.classes = cfg.classes if cfg.classes is not None else person_classes(self.session)

    def _network_size(self, frame: np.ndarray) -> tuple[int, int]:
        if not self.dynamic:
            return self.size
        # dynamic export: keep the frame's aspect, sides multiples of 32 (less padding, less work)
        h, w = frame.shape[:2]
        scale = self.size[0] / max(h, w)
        return (max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32))

    def detect(self, frame: np.ndarray) -> Detections:
        blob, scale, (px, py) = to_blob(frame, self._network_size(frame))
        (output,) = self.session.run(None, {self.input_name: blob})[:1]
        dets = decode(output, self.cfg.conf, self.cfg.iou, self.classes)
        if len(dets) == 0:
            return dets
        xyxy = (dets.xyxy - np.array([px, py, px, py], np.float32)) / np.float32(scale)
        h, w = frame.shape[:2]
        xyxy = np.clip(xyxy, 0, np.array([w, h, w, h], np.float32))
        return Detections(xyxy.astype(np.float32), dets.score)
