"""Ingest's acceptance rules beyond the schema: known sensors, the right node and kind, sane clocks."""

from __future__ import annotations

import time

import pytest

from ingest.validation import Rejected, Validator
from mallsense.contract import CrossingBatch, CrossingObs, NodeState, WifiBatch, encode
from mallsense.site import load_site

NOW = int(time.time() * 1000)


@pytest.fixture(scope="module")
def validator() -> Validator:
    site = load_site()
    return Validator({site.site.id: site})


def crossing(sensor="cam-e-west", node="node-f1-w", site="demo-mall", ts=NOW) -> tuple[str, bytes]:
    batch = CrossingBatch(site=site, node=node, sensor=sensor, seq=1, sent=ts,
                          obs=[CrossingObs(ts=ts, line="e-west", dir="in", track=4)])
    return f"mallsense/v1/{site}/{node}/crossing/{sensor}", encode(batch)


def reason(validator: Validator, topic: str, payload: bytes) -> str:
    with pytest.raises(Rejected) as err:
        validator.decode(topic, payload)
    return err.value.reason


def test_a_declared_sensor_is_accepted(validator):
    batch = validator.decode(*crossing())
    assert batch.sensor == "cam-e-west" and len(batch.obs) == 1


def test_unknown_site_sensor_node_and_kind_are_refused(validator):
    assert reason(validator, *crossing(site="other-mall")) == "unknown_site"
    assert reason(validator, *crossing(sensor="cam-nowhere")) == "unknown_sensor"
    assert reason(validator, *crossing(node="node-f2-e")) == "wrong_node"
    wifi = WifiBatch(site="demo-mall", node="node-f1-w", sensor="cam-e-west", seq=0, sent=NOW, obs=[])
    assert reason(validator, "mallsense/v1/demo-mall/node-f1-w/wifi/cam-e-west", encode(wifi)) == "wrong_kind"


def test_timestamps_from_the_future_are_refused(validator):
    assert reason(validator, *crossing(ts=NOW + 3 * 86_400_000)) == "future_ts"


def test_without_a_site_registry_any_well_formed_sensor_passes():
    assert Validator().decode(*crossing(site="other-mall")).site == "other-mall"


def test_state_messages_decode(validator):
    state = NodeState(site="demo-mall", node="node-f1-w", status="offline", ts=NOW)
    assert validator.decode("mallsense/v1/demo-mall/node-f1-w/state", encode(state)) == state
    assert reason(validator, "mallsense/v1/demo-mall/node-f1-w/state", b"{}") == "bad_version"
    assert reason(validator, "mallsense/v1/demo-mall/node-f1-w/state", b'{"v": 1}') == "schema"
