"""Property-based fuzzing of what ingest accepts: malformed payloads are refused with a reason, never a crash."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingest.consumer import batch_key
from ingest.validation import Rejected, Validator
from ingest.writer import DeadLetter, write_flush
from mallsense.contract import Kind

NOW = int(time.time() * 1000)
TOPICS = [f"mallsense/v1/demo/node-1/{k.value}/s-1" for k in Kind] + ["mallsense/v1/demo/node-1/state"]
VALID = {
    "v": 1, "site": "demo", "node": "node-1", "sensor": "s-1", "seq": 3, "sent": NOW, "kind": "crossing",
    "obs": [{"ts": NOW, "line": "e-west", "dir": "in", "track": 2}],
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_batches(draw) -> bytes:
    """A valid batch with one field replaced by a value of the wrong type or out of range, or removed."""
    body = json.loads(json.dumps(VALID))
    path = draw(st.sampled_from([("v",), ("site",), ("seq",), ("sent",), ("kind",), ("obs",), ("obs", 0, "ts"),
                                 ("obs", 0, "dir"), ("obs", 0, "track"), ("obs", 0, "line")]))
    target = body
    for key in path[:-1]:
        target = target[key]
    if draw(st.booleans()):
        del target[path[-1]]
    else:
        bad = {"v": st.integers().filter(lambda v: v != 1), "site": st.just("UPPER/case"),
               "seq": st.integers(max_value=-1) | st.text(), "sent": st.integers(max_value=10**9),
               "kind": st.text().filter(lambda k: k not in {x.value for x in Kind}), "obs": st.integers(),
               "ts": st.integers(max_value=10**9) | st.text(),
               "dir": st.text().filter(lambda d: d not in ("in", "out")),
               "track": st.integers(max_value=-1) | st.floats(), "line": st.just("")}[path[-1]]
        target[path[-1]] = draw(bad)
    return json.dumps(body).encode()


malformed = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_batches(),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from(TOPICS), payload=malformed)
def test_malformed_payloads_are_rejected_with_a_reason(topic, payload):
    assume(not (topic.endswith("/state") and payload == b""))  # an empty state clears a retained message: valid
    with pytest.raises(Rejected) as err:
        Validator().decode(topic, payload)
    assert err.value.reason != "internal", err.value.detail
    batch_key(topic, payload)  # never raises


@settings(max_examples=3000, deadline=None)
@given(topic=st.text(max_size=60), payload=st.binary(max_size=50))
def test_any_topic_is_handled(topic, payload):
    try:
        Validator().decode(topic, payload)
    except Rejected as err:
        assert err.reason != "internal", err.detail


@pytest.mark.integration
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(st.sampled_from(TOPICS), malformed), min_size=1, max_size=100))
def test_every_rejection_can_be_stored_as_a_dead_letter(db_dsn, items):
    """Whatever the bytes (NULs, invalid UTF-8 in details), the dead-letter write succeeds and keeps the payload."""
    dead = []
    for topic, payload in items:
        try:
            Validator().decode(topic, payload)
        except Rejected as rej:
            dead.append(DeadLetter(topic, rej.reason, rej.detail, payload))
    with psycopg.connect(db_dsn) as conn:
        before = conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
        with conn.transaction():
            write_flush(conn, [], [], dead)
        rows = conn.execute("SELECT payload FROM dead_letter ORDER BY id OFFSET %s", (before,)).fetchall()
    assert [bytes(r[0]) for r in rows] == [d.payload for d in dead]
