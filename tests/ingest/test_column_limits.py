"""What PostgreSQL cannot hold is refused at the contract (issue 21): NUL in any string or key, non-finite numbers,
and numbers beyond their column's type; what still fails at write time is told apart from a lost connection."""

from __future__ import annotations

import json
import math
import time

import psycopg
import pytest

from ingest.validation import Rejected, Validator
from ingest.writer import _COLUMNS, CONTENT_ERRORS, write_flush
from mallsense.contract import (
    FLOAT32_MAX,
    OBS_MODELS,
    ContractError,
    Kind,
    NodeHealth,
    NodeState,
    WifiCountBatch,
    WifiCountObs,
    decode_ack,
)

NOW = int(time.time() * 1000)
KEY = "0123456789abcdef0123456789abcdef"
VALID_OBS = {
    Kind.CROSSING: {"ts": NOW, "line": "e-1", "dir": "in", "track": 1},
    Kind.OCCUPANCY: {"ts": NOW, "zone": "z", "count": 1},
    Kind.POSITION: {"ts": NOW, "track": 1, "floor": "f1", "x": 1.0, "y": 1.0},
    Kind.WIFI: {"ts": NOW, "dev": KEY, "rssi": -60, "rand": True, "ch": 6, "sn": 1, "fp": "ab"},
    Kind.WIFI_COUNT: {"ts": NOW, "interval_s": 300, "probes": 1, "keys": 1, "randomized_keys": 1, "devices": 1.0,
                      "fixtures": 1, "people": 1.0},
    Kind.BLE: {"ts": NOW, "dev": KEY, "rssi": -60, "tx": -59, "frame": "ibeacon"},
    Kind.ZONE: {"ts": NOW, "dev": KEY, "zone": "z", "event": "exit", "dwell_s": 1.0},
}
INT_MAX = {"int2": 2**15 - 1, "int4": 2**31 - 1, "int8": 2**63 - 1}
STATE_TOPIC = "mallsense/v1/s/n/state"


def batch_payload(kind: Kind, **obs) -> tuple[str, bytes]:
    body = {"v": 1, "site": "s", "node": "n", "sensor": "x", "seq": 1, "sent": NOW, "kind": kind.value,
            "obs": [{**VALID_OBS[kind], **obs}]}
    return f"mallsense/v1/s/n/{kind.value}/x", json.dumps(body).encode()


def reason(topic: str, payload: bytes) -> str:
    with pytest.raises(Rejected) as err:
        Validator().decode(topic, payload)
    return err.value.reason


def column_fields() -> list[tuple[Kind, str, str]]:
    """(kind, observation field, binary COPY type of its column), from the writer's own table map: the contract
    must keep every field within what its column holds."""
    out = []
    for kind, (_table, _cols, types) in _COLUMNS.items():
        fields = list(OBS_MODELS[kind].model_fields)[1:]  # the rows are ts, site, sensor, seq, then the fields
        assert len(fields) == len(types) - 4, kind
        out += [(kind, name, t) for name, t in zip(fields, types[4:], strict=True)]
    return out


@pytest.mark.parametrize(("kind", "name", "column"), [f for f in column_fields() if f[2] in INT_MAX])
def test_no_integer_field_takes_a_value_its_column_would_wrap(kind, name, column):
    topic, payload = batch_payload(kind, **{name: INT_MAX[column] + 1})
    assert reason(topic, payload) in ("out_of_range", "schema")  # schema: the field's own bound is tighter


@pytest.mark.parametrize(("kind", "name"), [f[:2] for f in column_fields() if f[2] == "float4"])
def test_no_real_field_takes_overflow_or_non_finite_values(kind, name):
    topic, payload = batch_payload(kind, **{name: 1e39})
    assert reason(topic, payload) in ("out_of_range", "schema")
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e309"):
        raw = payload.replace(json.dumps({name: 1e39})[1:-1].encode(), f'"{name}": '.encode() + literal)
        assert raw != payload
        assert reason(topic, raw) == "non_finite", literal


def test_wifi_count_limits_of_issue_21():
    for over, expected in ((dict(probes=2**31), "out_of_range"), (dict(fixtures=2**40), "out_of_range"),
                           (dict(devices=1e39), "out_of_range"), (dict(people=math.inf), "non_finite")):
        assert reason(*batch_payload(Kind.WIFI_COUNT, **over)) == expected, over
    edge = Validator().decode(*batch_payload(Kind.WIFI_COUNT, probes=2**31 - 1, devices=FLOAT32_MAX))
    assert edge.obs[0].probes == 2**31 - 1 and edge.obs[0].devices == FLOAT32_MAX


def state(health: str) -> bytes:
    return f'{{"v":1,"site":"s","node":"n","status":"online","ts":{NOW},"health":{health}}}'.encode()


@pytest.mark.parametrize(("health", "expected"), [
    (f'{{"uptime_s":1,"published":1,"outbox_depth":0,"sensors":{{"c\\u0000":{NOW}}}}}', "nul_char"),
    ('{"uptime_s":1,"published":1,"outbox_depth":0,"cameras":{"\\u0000":{"frames_read":1,"frames_dropped":0,'
     '"detect_every":1,"detect_steps":1}}}', "nul_char"),
    ('{"uptime_s":1,"published":1,"outbox_depth":0,"\\u0000x":1}', "nul_char"),
    ('{"uptime_s":Infinity,"published":1,"outbox_depth":0}', "non_finite"),
    ('{"uptime_s":1e309,"published":1,"outbox_depth":0}', "non_finite"),
    ('{"uptime_s":NaN,"published":1,"outbox_depth":0}', "non_finite"),
    ('{"uptime_s":1,"published":9223372036854775808,"outbox_depth":0}', "out_of_range"),
    ('{"uptime_s":1,"published":1,"outbox_depth":2147483648}', "out_of_range"),  # the cockpit reads it as int4
])
def test_poison_node_states_are_refused(health, expected):
    assert reason(STATE_TOPIC, state(health)) == expected


def test_a_nul_in_a_plain_value_is_named_too():
    assert reason(STATE_TOPIC, state("null").replace(b'"online"', b'"online\\u0000"')) == "nul_char"


def test_commit_reports_refuse_nul_keys_and_overflowing_seqs():
    for body in ('{"v":1,"site":"s","node":"n","batches":{"x\\u0000":[1]}}',
                 '{"v":1,"site":"s","node":"n","batches":{"x":[9223372036854775808]}}'):
        with pytest.raises(ContractError):
            decode_ack(body.encode())


def test_write_time_failures_are_told_from_connection_errors(db_dsn):
    """A value that got past validation fails the flush with a content error (isolated and dead-lettered by the
    consumer); a dead connection is not one (retried with nothing acknowledged)."""
    nul = NodeState.model_construct(site="s", node="n", status="online", ts=NOW, health=NodeHealth.model_construct(
        uptime_s=1.0, published=1, outbox_depth=0, outbox_dropped=0, sensors={"c\x00": NOW}, cameras={}))
    nan = nul.model_copy(update={"health": nul.health.model_copy(update={"sensors": {}, "uptime_s": math.nan})})
    wrap = WifiCountBatch(site="s", node="n", sensor="w", seq=1, sent=NOW, obs=[WifiCountObs.model_construct(
        **{**VALID_OBS[Kind.WIFI_COUNT], "probes": 2**63})])  # beyond even int8: psycopg refuses to encode it
    with psycopg.connect(db_dsn) as conn:
        for batches, states in (([], [nul]), ([], [nan]), ([wrap], [])):
            with pytest.raises(CONTENT_ERRORS), conn.transaction():
                write_flush(conn, batches, states, [])
        assert conn.execute("SELECT count(*) FROM node_state").fetchone() == (0,)
    conn = psycopg.connect(db_dsn)
    conn.close()
    with pytest.raises(psycopg.OperationalError) as err:
        write_flush(conn, [], [nan], [])
    assert not isinstance(err.value, CONTENT_ERRORS)
