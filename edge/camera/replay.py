"""Count one video file on one pixel line, without publishing: what the evaluation tool and the benchmark run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge.camera.config import CameraSensorConfig
from edge.camera.detect import build_detector
from edge.camera.draw import annotate
from edge.camera.lines import CountingLine
from edge.camera.pipeline import CameraPipeline, Crossing, build_pipeline
from edge.camera.source import background_from, probe, read_file


@dataclass(frozen=True)
class ClipResult:
    crossings: list[Crossing]
    totals: dict[str, int]
    frames: int
    steps: int
    wall_s: float  # everything: decoding, detection, tracking, counting (and drawing when asked)
    busy_s: float  # detection, tracking and counting only
    fps: float  # the clip's own frame rate
    size: tuple[int, int]

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s else 0.0

    @property
    def realtime_factor(self) -> float:
        """> 1: the pipeline keeps up with the stream at its native frame rate."""
        return self.frames_per_s / self.fps if self.fps else 0.0


def count_clip(path: Path | str, line: CountingLine, cfg: CameraSensorConfig, *, annotate_to: Path | None = None,
               max_frames: int | None = None, prime: bool = True) -> ClipResult:
    """Run the camera pipeline over a file. The motion detector is primed with the clip's median frame (the
    state a camera that has been running for a while is in)."""
    fps, size = probe(str(path))
    detector = build_detector(cfg.detector, cfg.mask)
    if prime and hasattr(detector, "prime"):
        background = background_from(path)
        if background is not None:
            detector.prime(background)
    pipeline: CameraPipeline = build_pipeline(cfg, [line], fps, size, detector=detector)
    writer = None
    if annotate_to is not None:
        writer = cv2.VideoWriter(str(annotate_to), cv2.VideoWriter_fourcc(*"mp4v"), fps or 25.0, size)
    crossings: list[Crossing] = []
    began = time.perf_counter()
    try:
        for frame in read_file(path, max_frames=max_frames):
            step = pipeline.step(frame.index, frame.ts_ms, frame.image)
            if step is not None:
                crossings += step.crossings
            if writer is not None:
                writer.write(annotate(frame.image, step, pipeline, frame.index))
        crossings += pipeline.finish()
    finally:
        if writer is not None:
            writer.release()
    wall = time.perf_counter() - began
    return ClipResult(crossings, pipeline.totals()[line.id], pipeline.frames, pipeline.steps, wall,
                      pipeline.busy_s, fps, size)
