"""An edge node's camera settings (YAML, validated; errors name file, line and field). See docs/camera.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mallsense.contract import ID_PATTERN
from mallsense.yamlconf import sensor_entry

Point = tuple[float, float]


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MotionConfig(_Cfg):
    """Weight-free overhead detector (background subtraction + blobs); pixel sizes are at the source's size."""

    type: Literal["motion"] = "motion"
    history: int = Field(default=500, ge=10, description="frames of background memory; a person still for "
                         "longer fades into the background")
    var_threshold: float = Field(default=25.0, gt=0, description="MOG2 threshold: lower finds fainter people, "
                                 "and more noise")
    learning_rate: float = Field(default=-1.0, le=1.0, description="-1: automatic (1/history)")
    open_px: int = Field(default=3, ge=1, le=31, description="opening kernel: removes specks")
    close_px: int = Field(default=9, ge=1, le=51, description="closing kernel: joins the parts of one person")
    min_area_px: float = Field(default=150.0, ge=1, description="smaller blobs are noise")
    person_area_px: float | None = Field(default=None, gt=0, description="area of one person seen from above; "
                                         "larger blobs are split into that many people (none: no splitting)")
    side_by_side: float | None = Field(default=2.0, gt=1, description="a blob at least this many times wider "
                                       "along the nearest counting line than deep across it is people walking side "
                                       "by side: split into round(width / depth) (none: by area only)")
    process_width: int | None = Field(default=None, ge=64, description="resize to this width first (speed)")
    exposure_compensation: bool = Field(default=True, description="scale each frame to the background's "
                                        "brightness first (undoes automatic exposure; off for fixed-exposure "
                                        "cameras)")


class OnnxConfig(_Cfg):
    """A YOLOv8-style detection model exported to ONNX, run by onnxruntime (no torch)."""

    type: Literal["onnx"] = "onnx"
    model: str | None = Field(default=None, description="path to the .onnx file; none: the packaged person model")
    imgsz: int | None = Field(default=None, ge=32, description="network input (longest side) for dynamic models; "
                              "fixed-shape models use their own")
    conf: float = Field(default=0.1, gt=0, lt=1, description="lowest score kept (the tracker splits high/low)")
    iou: float = Field(default=0.5, gt=0, lt=1, description="NMS overlap")
    classes: list[int] | None = Field(default=None, description="class ids that are people (none: all)")
    threads: int | None = Field(default=None, ge=1, le=64, description="onnxruntime intra-op threads")


class UltralyticsConfig(_Cfg):
    """An ultralytics YOLO ``.pt`` model (needs torch and ultralytics installed)."""

    type: Literal["ultralytics"] = "ultralytics"
    model: str | None = Field(default=None, description="path to the .pt file; none: the packaged person model")
    imgsz: int = Field(default=640, ge=32)
    conf: float = Field(default=0.1, gt=0, lt=1)
    iou: float = Field(default=0.5, gt=0, lt=1)
    classes: list[int] | None = None


DetectorConfig = Annotated[MotionConfig | OnnxConfig | UltralyticsConfig, Field(discriminator="type")]


class TrackerConfig(_Cfg):
    high_score: float = Field(default=0.3, gt=0, le=1, description="boxes at or above start and continue tracks")
    low_score: float = Field(default=0.1, ge=0, le=1, description="boxes between low and high only continue tracks "
                             "(second association stage: partly hidden people)")
    lost_buffer_s: float = Field(default=1.0, ge=0, description="how long a lost track waits to be found again: "
                                 "longer bridges longer occlusions, and risks giving the id to someone else")
    low_min_iou: float = Field(default=0.2, ge=0, le=1, description="a low-score box continues a track only if "
                               "it overlaps the track's predicted box this much (ByteTrack's second stage): a weak "
                               "box far away is someone else, or nothing")
    max_speed: float = Field(default=1.0, gt=0, description="largest velocity a track predicts with, in box "
                             "diagonals per detection step")
    min_hits: int = Field(default=2, ge=1, description="detections before a new track is reported")
    max_jump: float = Field(default=1.0, gt=0, description="largest distance between a track's prediction and a "
                            "detection it may take, in diagonals of the smaller of the two boxes")


class LineConfig(_Cfg):
    """A counting line in the camera image for one of the sensor's site lines."""

    id: str = Field(pattern=ID_PATTERN, description="entrance or store id listed in the sensor's ``lines``")
    pixels: tuple[Point, Point] = Field(description="the line's ends in the image (pixels at the source's size)")
    inside: Point | None = Field(default=None, description="a pixel on the 'in' side; none: the site's inside "
                                 "point through the homography")
    margin_px: float = Field(default=10.0, ge=0, description="hysteresis: distance past the line before it counts")


class CameraSensorConfig(_Cfg):
    sensor: str = Field(pattern=ID_PATTERN, description="the camera's id in the site file")
    source: str | None = Field(default=None, description="video file, rtsp://, http(s):// URL or camera index")
    detector: DetectorConfig = Field(default_factory=MotionConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    anchor: Literal["bottom", "center"] | None = Field(
        default=None, description="point of a box that is the person's position: bottom (feet; side views) or "
        "center (overhead). None: center for the motion detector, bottom otherwise")
    lines: list[LineConfig] = Field(default_factory=list, description="pixel lines; a site line not listed here is "
                                    "projected through the homography")
    mask: list[list[Point]] = Field(default_factory=list, description="polygons (source pixels) of image regions "
                                    "that are not floor: windows, mirrors, glass panels that mirror walkers, screens; "
                                    "the detector never sees them (edge/camera/mask.py)")
    margin_px: float = Field(default=10.0, ge=0, description="hysteresis of projected lines")
    detect_every: int = Field(default=1, ge=1, le=30, description="run the detector on every n-th frame "
                              "(crossings are segment tests, so a lower rate still counts fast movers)")
    reversal_s: float = Field(default=0.5, ge=0, le=5, description="a crossing is reported this much later, and "
                              "withdrawn with its reversal when its track crosses straight back within it (id "
                              "swaps in crowds); 0: report at once, withdraw nothing")
    flush_s: float = Field(default=1.0, gt=0, le=60, description="close a batch this often")
    occupancy_every_s: float = Field(default=1.0, gt=0, description="zone occupancy snapshot interval")
    position_every_s: float | None = Field(default=1.0, gt=0, description="floor position per track this often; "
                                           "none: publish no positions")

    @model_validator(mode="after")
    def _unique_lines(self) -> CameraSensorConfig:
        ids = [line.id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("each line id may appear once")
        return self

    @model_validator(mode="after")
    def _mask_polygons(self) -> CameraSensorConfig:
        for i, polygon in enumerate(self.mask):
            if len(polygon) < 3:
                raise ValueError(f"mask polygon {i} needs at least 3 points, got {len(polygon)}")
            if any(x < 0 or y < 0 for x, y in polygon):
                raise ValueError(f"mask polygon {i} has a negative pixel coordinate")
        return self

    @property
    def anchor_point(self) -> str:
        return self.anchor or ("center" if self.detector.type == "motion" else "bottom")


class CameraEdgeFile(_Cfg):
    camera: list[CameraSensorConfig] = Field(min_length=1)


def load_camera_config(path: Path | str | None, sensor: str) -> CameraSensorConfig:
    """The settings of ``sensor`` from an edge config file (defaults when no file is given)."""
    if path is None:
        return CameraSensorConfig(sensor=sensor)
    return sensor_entry(path, CameraEdgeFile, "camera", sensor)
