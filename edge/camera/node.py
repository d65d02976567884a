"""Run one camera sensor of an edge node: a video source → collector → disk outbox → MQTT link."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.batching import SensorStream, now_ms
from edge.camera.audit_state import LastAudit, audit_path
from edge.camera.collector import CameraCollector
from edge.camera.config import CameraSensorConfig
from edge.camera.detect import build_detector
from edge.camera.load import CameraLoad
from edge.camera.pipeline import build_pipeline
from edge.camera.placement import camera_sensor, place
from edge.camera.source import Frame, LiveSource, background_from, is_live, probe, read_file
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink, sensor_outbox
from mallsense.contract import Kind
from mallsense.site import Site

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraRun:
    """What a run saw: frames read and processed, counts per line, wall time, frames dropped by a live source."""

    frames: int
    steps: int
    totals: dict[str, dict[str, int]]
    wall_s: float
    dropped: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def build_collector(site: Site, sensor_id: str, cfg: CameraSensorConfig, outbox: Outbox, *, fps: float,
                    frame_size: tuple[int, int] | None, background: np.ndarray | None = None) -> CameraCollector:
    sensor = camera_sensor(site, sensor_id)
    placement = place(site, sensor_id, cfg)
    detector = build_detector(cfg.detector, cfg.mask)
    if background is not None and hasattr(detector, "prime"):
        detector.prime(background)
    pipeline = build_pipeline(cfg, placement.lines, fps, frame_size, detector=detector)
    streams = [SensorStream(outbox, site.site.id, sensor.node, kind, sensor_id)
               for kind in (Kind.CROSSING, Kind.OCCUPANCY, Kind.POSITION)]
    return CameraCollector(cfg, pipeline, placement, sensor.floor, *streams)


def run_camera_sensor(site: Site, sensor_id: str, source: str | Path, *, cfg: CameraSensorConfig | None = None,
                      broker: BrokerConfig | None = None, outbox_path: Path | None = None,
                      stop: threading.Event | None = None, paced: bool = False, start_ms: int | None = None,
                      max_frames: int | None = None, drain_timeout_s: float = 30.0,
                      on_link: Callable[[EdgeLink], None] | None = None) -> CameraRun:
    """Count people on ``source`` (file, stream URL or camera index) until it ends or ``stop`` is set.

    With a broker, batches are published through the node's outbox and link and, at the end, drained; ``on_link``
    is given the link once it runs (to serve its metrics). The camera's load (``edge.camera.load``) goes out in
    the link's health reports. A file is read as fast as it is processed unless ``paced``; its timestamps start at
    ``start_ms`` (default: now).
    """
    cfg = cfg or CameraSensorConfig(sensor=sensor_id)
    stop = stop or threading.Event()
    node = camera_sensor(site, sensor_id).node
    uri = str(source)
    try:
        fps, size = probe(uri)
    except ValueError:
        if not is_live(uri):
            raise
        log.warning("camera %s: %s is down at start; waiting for it (frame size unknown)", sensor_id, uri)
        fps, size = 25.0, None
    live = LiveSource(uri, stop) if is_live(uri) else None
    began = time.monotonic()
    try:
        with sensor_outbox(site.site.id, node, broker, outbox_path, stop, what=f"camera {sensor_id}", process=sensor_id,
                           drain_timeout_s=drain_timeout_s) as out:
            background = background_from(uri) if live is None and cfg.detector.type == "motion" else None
            collector = build_collector(site, sensor_id, cfg, out.outbox, fps=fps, frame_size=size,
                                        background=background)
            audit = LastAudit(audit_path(outbox_path.parent, sensor_id)) if outbox_path is not None else None
            load = CameraLoad(sensor_id, collector.pipeline, live, audit=audit)  # audit: camera-audit report
            if out.link is not None:
                out.link.cameras[sensor_id] = load.health  # in the node's health on its state topic
                if on_link is not None:
                    on_link(out.link)
            frames: Iterator[Frame] = live.frames() if live is not None else read_file(
                uri, start_ms=now_ms() if start_ms is None else start_ms, paced=paced, stop=stop,
                max_frames=max_frames)
            for frame in frames:
                collector.feed(frame)
                load.check()
                if out.link is not None:
                    out.link.notify()
                if stop.is_set():
                    break
            collector.finish()
        return CameraRun(collector.frames, collector.pipeline.steps, collector.pipeline.totals(),
                         time.monotonic() - began, live.dropped if live is not None else 0)
    finally:
        if live is not None:
            live.close()
