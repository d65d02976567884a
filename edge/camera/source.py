"""Frames from video files, RTSP/HTTP streams and local cameras (OpenCV), with reconnect on stream loss.

A *file* is read frame by frame (every frame, as fast as the consumer takes them, or paced to its frame rate) and
ends at its last frame; timestamps are the file's own position added to ``start_ms``. A *stream* or *camera* is
read by a background thread that always keeps only the newest frame: when the pipeline is slower than the camera,
frames are dropped (counted in ``dropped``) instead of queueing up latency, and counting stays correct because
crossings are segment tests. A lost stream is reopened with exponential back-off until ``stop`` is set;
timestamps are the wall clock at capture.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    ts_ms: int
    image: np.ndarray


def is_live(uri: str) -> bool:
    return uri.isdigit() or "://" in uri


def _open(uri: str) -> cv2.VideoCapture:
    return cv2.VideoCapture(int(uri)) if uri.isdigit() else cv2.VideoCapture(uri)


def probe(uri: str) -> tuple[float, tuple[int, int]]:
    """Frame rate and (width, height) of a source; raises ValueError when it cannot be opened."""
    cap = _open(uri)
    try:
        if not cap.isOpened():
            raise ValueError(f"cannot open video source {uri!r}")
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return float(cap.get(cv2.CAP_PROP_FPS) or 0.0), size
    finally:
        cap.release()


def read_file(path: str | Path, *, start_ms: int = 0, paced: bool = False,
              stop: threading.Event | None = None, max_frames: int | None = None) -> Iterator[Frame]:
    """Every frame of a video file, in order."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open video file {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    began = time.monotonic()
    index = 0
    try:
        while stop is None or not stop.is_set():
            ok, image = cap.read()
            if not ok or (max_frames is not None and index >= max_frames):
                return
            offset_ms = round(index * 1000.0 / fps)
            if paced:
                time.sleep(max(0.0, began + offset_ms / 1000.0 - time.monotonic()))
            yield Frame(index, start_ms + offset_ms, image)
            index += 1
    finally:
        cap.release()


def frame_count(path: str | Path) -> int:
    """The number of frames a video file declares (0 when it cannot be opened)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        cap.release()


def frames_at(path: str | Path, indices: Iterable[int]) -> list[np.ndarray]:
    """The frames of a video file at these indices (by seeking), leaving out any that cannot be decoded."""
    cap = cv2.VideoCapture(str(path))
    try:
        frames = []
        for i in indices:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
            ok, image = cap.read()
            if ok:
                frames.append(image)
        return frames
    finally:
        cap.release()


def background_from(path: str | Path, samples: int = 25) -> np.ndarray | None:
    """Median of frames spread over a file: the empty scene, as long as nobody stands still throughout."""
    total = frame_count(path)
    if total <= 0:
        return None
    frames = frames_at(path, np.linspace(0, total - 1, min(samples, total)).astype(int))
    return np.median(np.stack(frames), axis=0).astype(np.uint8) if frames else None


class LiveSource:
    """A stream or camera read on its own thread; ``frames()`` yields the newest frame whenever one is new.

    Args:
        uri: ``rtsp://…``, ``http(s)://…`` or a camera index such as ``"0"``.
        min_backoff_s, max_backoff_s: reconnect delays, doubling after each failed attempt.
    """

    def __init__(self, uri: str, stop: threading.Event, *, min_backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0) -> None:
        self.uri, self.stop = uri, stop
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.read = self.dropped = self.reconnects = 0
        self._closed = threading.Event()
        self._latest: Frame | None = None
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._reader, name=f"camera-{uri}", daemon=True)

    def _stopped(self) -> bool:
        return self.stop.is_set() or self._closed.is_set()

    def close(self) -> None:
        """End the reader thread (the caller's ``stop`` does the same)."""
        self._closed.set()

    def _reader(self) -> None:
        backoff = self.min_backoff_s
        while not self._stopped():
            cap = _open(self.uri)
            if not cap.isOpened():
                log.warning("camera source %s unavailable; retrying in %.1f s", self.uri, backoff)
                cap.release()
                deadline = time.monotonic() + backoff
                while not self._stopped() and time.monotonic() < deadline:
                    time.sleep(0.1)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = self.min_backoff_s
            while not self._stopped():
                ok, image = cap.read()
                if not ok:
                    log.warning("camera source %s lost; reconnecting", self.uri)
                    self.reconnects += 1
                    break
                with self._new:
                    if self._latest is not None:
                        self.dropped += 1  # the consumer has not taken the previous one
                    self._latest = Frame(self.read, int(time.time() * 1000), image)
                    self.read += 1
                    self._new.notify()
            cap.release()
        with self._new:
            self._new.notify_all()

    def frames(self) -> Iterator[Frame]:
        self._thread.start()
        while not self._stopped():
            with self._new:
                while self._latest is None and not self._stopped():
                    self._new.wait(0.5)
                frame, self._latest = self._latest, None
            if frame is not None:
                yield frame
