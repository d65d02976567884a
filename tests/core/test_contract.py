"""The wire contract: topics and payloads round-trip, and every kind of malformation has a reason."""

from __future__ import annotations

import json

import pytest

from mallsense.contract import (
    BATCH_MODELS,
    MAX_PAYLOAD_BYTES,
    ContractError,
    CrossingBatch,
    CrossingObs,
    DataTopic,
    Kind,
    NodeState,
    StateTopic,
    data_topic,
    decode_batch,
    decode_state,
    encode,
    parse_topic,
    state_topic,
    subscription,
)

T0 = 1_764_547_200_000


def crossing_batch(**overrides) -> CrossingBatch:
    fields = dict(site="demo", node="node-1", sensor="cam-1", seq=7, sent=T0,
                  obs=[CrossingObs(ts=T0, line="e-west", dir="in", track=1)])
    fields.update(overrides)
    return CrossingBatch(**fields)


def test_topic_round_trip_for_every_kind():
    for kind in Kind:
        topic = data_topic("demo", "node-1", kind, "s-1")
        assert parse_topic(str(topic)) == topic
    assert parse_topic(str(state_topic("demo", "node-1"))) == StateTopic("demo", "node-1")


@pytest.mark.parametrize("topic, reason", [
    ("other/v1/demo/n/crossing/s", "bad_topic"),
    ("mallsense/v1/demo/n/crossing", "bad_topic"),
    ("mallsense/v1/demo/n/teleport/s", "bad_kind"),
    ("mallsense/v1/Demo/n/crossing/s", "bad_id"),
    ("mallsense/v1/demo/n/crossing/s/extra", "bad_topic"),
])
def test_bad_topics_are_refused_with_a_reason(topic, reason):
    with pytest.raises(ContractError) as err:
        parse_topic(topic)
    assert err.value.reason == reason


def test_batch_round_trip():
    batch = crossing_batch()
    topic = data_topic("demo", "node-1", Kind.CROSSING, "cam-1")
    assert decode_batch(topic, encode(batch)) == batch


def test_every_kind_has_a_batch_model():
    assert set(BATCH_MODELS) == set(Kind)


def _reason(topic: DataTopic, payload: bytes) -> str:
    with pytest.raises(ContractError) as err:
        decode_batch(topic, payload)
    return err.value.reason


def test_malformed_payloads_are_classified():
    topic = data_topic("demo", "node-1", Kind.CROSSING, "cam-1")
    good = json.loads(encode(crossing_batch()))
    assert _reason(topic, b"{nope") == "invalid_json"
    assert _reason(topic, json.dumps({**good, "v": 2}).encode()) == "bad_version"
    assert _reason(topic, json.dumps({k: v for k, v in good.items() if k != "v"}).encode()) == "bad_version"
    assert _reason(topic, json.dumps({**good, "kind": "teleport"}).encode()) == "bad_kind"
    assert _reason(topic, json.dumps({**good, "seq": -1}).encode()) == "schema"
    assert _reason(topic, json.dumps({**good, "extra": 1}).encode()) == "schema"
    bad_obs = {**good, "obs": [{**good["obs"][0], "dir": "sideways"}]}
    assert _reason(topic, json.dumps(bad_obs).encode()) == "schema"
    assert _reason(topic, json.dumps({**good, "sensor": "cam-2"}).encode()) == "topic_mismatch"
    assert _reason(topic, b" " * (MAX_PAYLOAD_BYTES + 1)) == "oversized"
    assert _reason(topic, json.dumps({**good, "obs": [{**good["obs"][0], "ts": 5}]}).encode()) == "schema"


def test_wifi_device_key_must_be_a_hash_not_a_mac():
    topic = data_topic("demo", "node-1", Kind.WIFI, "wifi-1")
    payload = {"v": 1, "site": "demo", "node": "node-1", "sensor": "wifi-1", "seq": 0, "sent": T0, "kind": "wifi",
               "obs": [{"ts": T0, "dev": "AA:BB:CC:DD:EE:FF", "rssi": -50, "rand": False}]}
    assert _reason(topic, json.dumps(payload).encode()) == "schema"


def test_state_round_trip_and_cleared_retained_state():
    topic = state_topic("demo", "node-1")
    state = NodeState(site="demo", node="node-1", status="online", ts=T0)
    assert decode_state(topic, encode(state)) == state
    assert decode_state(topic, b"") is None
    with pytest.raises(ContractError) as err:
        decode_state(state_topic("demo", "node-2"), encode(state))
    assert err.value.reason == "topic_mismatch"


def test_shared_subscription_filters():
    assert subscription("demo", shared_group="ingest") == [
        "$share/ingest/mallsense/v1/demo/+/+/+", "$share/ingest/mallsense/v1/demo/+/state"]


def test_every_example_in_the_contract_doc_validates():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text()
    examples = re.findall(r"topic\s+(\S+)\npayload (\{.*?\})\n(?=\ntopic|```)", doc, flags=re.S)
    assert len(examples) == 5
    for topic, payload in examples:
        parsed = parse_topic(topic)
        body = " ".join(line.strip() for line in payload.splitlines())
        batch = decode_batch(parsed, body.encode())
        assert batch.kind.value == topic.split("/")[4]
    state = re.search(r'```json\n(\{"v": 1, "site": "demo-mall", "node": "node-f1-w", "status".*?)\n```', doc, re.S)
    node = decode_state(state_topic("demo-mall", "node-f1-w"), state.group(1).encode())
    assert node.health.cameras["cam-e-west"].keeping_up == 0.64  # the figure the text gives
