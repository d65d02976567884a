"""A test module's own Mosquitto, for tests whose retained messages must reach no other test (and that must not see
the retained messages other tests leave on the suite's broker). In the module:
``mqtt_server, broker = own_broker.mqtt_server, own_broker.broker`` (they replace the suite's fixtures there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.publisher import BrokerConfig
from mallsense.services import MosquittoServer


@pytest.fixture(scope="module")
def mqtt_server(tmp_path_factory, request) -> Iterator[MosquittoServer]:
    server = MosquittoServer(tmp_path_factory.mktemp(f"mqtt-{request.module.__name__.rsplit('.', 1)[-1]}")).start()
    yield server
    server.stop()


@pytest.fixture
def broker(mqtt_server) -> BrokerConfig:
    return BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
