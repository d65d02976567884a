"""Live camera sources (``edge.camera.source.LiveSource``) against a real HTTP video stream served locally: a stream
that ends is opened again, a camera that is down at start is waited for, and a slow consumer gets the newest frame
(the rest are counted as dropped, not queued)."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import cv2
import pytest

from edge.camera.source import LiveSource
from edge.camera.synthetic import SCENES, write_video
from tests.videoserver import free_port, serve_folder


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    write_video(SCENES["jitter"](), folder / "door.avi")
    return folder


def _take(source: LiveSource, n: int, *, pause_s: float = 0.0, timeout_s: float = 30.0) -> list:
    """The first ``n`` frames a consumer gets, sleeping ``pause_s`` after each (a slow pipeline)."""
    got, deadline = [], time.monotonic() + timeout_s
    for frame in source.frames():
        got.append(frame)
        if len(got) >= n or time.monotonic() > deadline:
            break
        time.sleep(pause_s)
    source.close()
    return got


def test_a_stream_that_ends_is_opened_again(clip_folder, caplog):
    with serve_folder(clip_folder) as url:
        uri = f"{url}/door.avi"
        length = _length(uri)
        source = LiveSource(uri, threading.Event(), min_backoff_s=0.05)
        with caplog.at_level(logging.WARNING, logger="edge.camera.source"):
            got = _take(source, 2 * length + 5, pause_s=0.01)  # slow enough that the reader is never starved
    assert len(got) == 2 * length + 5  # frames kept coming after the clip (the stream) ended, twice
    assert source.reconnects >= 2
    assert "lost; reconnecting" in caplog.text
    assert [f.index for f in got] == sorted(f.index for f in got)  # frame numbers run on across reconnects


def test_a_camera_down_at_start_is_waited_for(clip_folder, caplog):
    port = free_port()
    source = LiveSource(f"http://127.0.0.1:{port}/door.avi", threading.Event(), min_backoff_s=0.1,
                        max_backoff_s=0.2)
    got: list = []
    with caplog.at_level(logging.WARNING, logger="edge.camera.source"):
        consumer = threading.Thread(target=lambda: got.extend(_take(source, 10)), daemon=True)
        consumer.start()
        time.sleep(1.0)
        assert got == [] and source.read == 0
        with serve_folder(clip_folder, port=port):
            consumer.join(timeout=30)
    assert len(got) == 10
    assert "unavailable; retrying" in caplog.text


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_are_counted_dropped(clip_folder):
    with serve_folder(clip_folder) as url:
        source = LiveSource(f"{url}/door.avi", threading.Event(), min_backoff_s=0.05)
        got = _take(source, 8, pause_s=0.1)  # the stream decodes far faster than this consumer
    assert len(got) == 8
    gaps = [b.index - a.index for a, b in itertools.pairwise(got)]
    assert max(gaps) > 1  # frames were skipped, not queued
    assert source.dropped >= sum(g - 1 for g in gaps)  # every skipped frame is counted


def _length(uri: str) -> int:
    """Frames in one pass of the stream, read as a consumer that keeps up would."""
    cap, n = cv2.VideoCapture(uri), 0
    try:
        while cap.read()[0]:
            n += 1
    finally:
        cap.release()
    return n
