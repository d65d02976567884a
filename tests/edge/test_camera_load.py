"""A camera's load in the node's health: the share of planned detection steps its pipeline ran, and the warning a
node too slow for its detector logs."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from edge.camera.load import CameraLoad
from mallsense.contract import CameraHealth, NodeHealth, NodeState, decode_state, encode, state_topic


def _load(every: int, live: SimpleNamespace | None = None) -> tuple[CameraLoad, SimpleNamespace]:
    pipeline = SimpleNamespace(frames=0, steps=0, detect_every=every)
    return CameraLoad("cam-door", pipeline, live, window_s=60.0), pipeline  # type: ignore[arg-type]


def test_a_file_source_reports_its_frames_and_keeps_up():
    load, pipeline = _load(2)
    assert load.health().keeping_up is None  # nothing read yet
    pipeline.frames, pipeline.steps = 301, 151
    h = load.health()
    assert (h.frames_read, h.frames_dropped, h.detect_steps, h.detect_every, h.reconnects) == (301, 0, 151, 2, 0)
    assert h.keeping_up == 1.0


def test_a_live_source_too_fast_for_the_detector_is_reported_and_warned_about(caplog):
    live = SimpleNamespace(read=0, dropped=0, reconnects=0)
    load, pipeline = _load(2, live)
    with caplog.at_level(logging.WARNING, logger="edge.camera.load"):
        assert load.check(now=1000.0) is None  # the first call opens the window
        live.read, pipeline.steps = 900, 450  # first minute at 15 fps... keeping up at detect_every 2
        assert load.check(now=1030.0) is None  # the window is not over
        assert load.check(now=1060.0) == 1.0
        assert caplog.text == ""
        live.read, live.dropped, live.reconnects, pipeline.steps = 1800, 324, 1, 738  # next minute: 288 of 450
        assert load.check(now=1120.0) == pytest.approx(0.64)
    assert "camera cam-door keeps up with 64 % of the frames meant for its detector" in caplog.text
    assert "4.8 detections/s, detect_every 2" in caplog.text and "mallsense camera-model" in caplog.text
    h = load.health()
    assert (h.frames_read, h.frames_dropped, h.detect_steps, h.reconnects) == (1800, 324, 738, 1)
    assert h.keeping_up == pytest.approx(738 * 2 / 1800)


def test_camera_health_travels_in_the_node_state_and_older_reports_still_validate():
    health = NodeHealth(uptime_s=60.0, published=3, outbox_depth=0,
                        cameras={"cam-door": CameraHealth(frames_read=100, frames_dropped=40, detect_every=1,
                                                          detect_steps=60)})
    topic, ts = state_topic("demo-mall", "node-1"), 1_764_547_200_000
    state = decode_state(topic, encode(NodeState(site="demo-mall", node="node-1", status="online", ts=ts,
                                                 health=health)))
    assert state.health.cameras["cam-door"].keeping_up == pytest.approx(0.6)
    older = (b'{"v":1,"site":"demo-mall","node":"node-1","status":"online","ts":1764547200000,'
             b'"health":{"uptime_s":1.0,"published":0,"outbox_depth":0}}')
    assert decode_state(topic, older).health.cameras == {}
    with pytest.raises(ValidationError):
        CameraHealth(frames_read=10, frames_dropped=0, detect_every=0, detect_steps=1)  # every 0th frame
