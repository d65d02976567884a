"""ultralytics YOLO ``.pt`` person detection (needs torch and ultralytics; the ONNX detector does not).

Use it where torch is installed anyway, or to compare with the ONNX export of the same weights. The model loads
from the configured path (or the packaged default, models.py); ultralytics is told nothing that would make it
download (no model names, only a file path).
"""

from __future__ import annotations

import numpy as np

from edge.camera.config import UltralyticsConfig
from edge.camera.detect import Detections
from edge.camera.models import resolve_model


class UltralyticsDetector:
    def __init__(self, cfg: UltralyticsConfig) -> None:
        self.cfg = cfg
        self.path = resolve_model("ultralytics", cfg.model)
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ImportError("detector.type 'ultralytics' needs torch and ultralytics installed "
                              "(pip install torch ultralytics); the 'onnx' detector runs without them") from exc
        self.model = YOLO(str(self.path), task="detect")

    def detect(self, frame: np.ndarray) -> Detections:
        result = self.model.predict(frame, imgsz=self.cfg.imgsz, conf=self.cfg.conf, iou=self.cfg.iou,
                                    classes=self.cfg.classes, verbose=False)[0]
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        return Detections(boxes.xyxy.cpu().numpy().astype(np.float32), boxes.conf.cpu().numpy().astype(np.float32))
