"""An edge node runs its collectors as separate processes (camera, WiFi, BLE; DESIGN.md: one process per
collector), each with its own outbox and MQTT link. Their links must not share an MQTT client id: two clients with
one id take the broker session from each other in a loop, and neither delivers."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import pytest

from edge.publisher import BrokerConfig, sensor_outbox

pytestmark = pytest.mark.integration


def test_two_collectors_of_one_node_keep_their_broker_sessions(mqtt_server, tmp_path):
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.1, max_backoff_s=0.5)
    stop = threading.Event()
    with ExitStack() as stack:
        links = [stack.enter_context(sensor_outbox("demo-mall", "node-f1-w", broker, tmp_path / f"{sensor}.db", stop,
                                                   what=sensor, process=sensor, drain_timeout_s=0)).link
                 for sensor in ("cam-e-west", "wifi-f1-1")]
        assert all(link.wait_connected(10) for link in links)
        assert len({link.client_id for link in links}) == 2
        changes, last, deadline = 0, None, time.monotonic() + 3
        while time.monotonic() < deadline:  # one shared id flips the pair hundreds of times in this window
            now = tuple(link.connected for link in links)
            changes += now != last and last is not None
            last = now
            time.sleep(0.005)
        assert changes == 0 and last == (True, True)
        stop.set()
