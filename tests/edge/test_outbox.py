"""The disk outbox keeps batches and sequence numbers across restarts and obeys its full policy."""

from __future__ import annotations

import pytest

from edge.batching import SensorStream
from edge.outbox import FullPolicy, Outbox
from mallsense.contract import CrossingObs, Kind, OccupancyObs

T0 = 1_764_547_200_000


def test_batches_and_seq_survive_a_restart(tmp_path):
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    cam = SensorStream(box, "demo", "n1", Kind.CROSSING, "cam-1")
    for i in range(3):
        cam.add(CrossingObs(ts=T0 + i, line="e1", dir="in", track=i))
        assert cam.flush(T0 + i) == i
    box.remove([box.peek(0, 1)[0].id])
    box.close()

    reopened = Outbox(path)
    assert reopened.depth() == 2
    assert reopened.next_seq("cam-1") == 3  # never reuses a number
    assert [p.topic for p in reopened.peek(0, 10)] == ["mallsense/v1/demo/n1/crossing/cam-1"] * 2


@pytest.mark.parametrize(
    "policy, kept", [(FullPolicy.DROP_OLDEST, [b"3", b"4"]), (FullPolicy.REJECT_NEW, [b"0", b"1"])]
)
def test_full_policy(policy, kept):
    box = Outbox(None, max_batches=2, policy=policy)
    for i in range(5):
        box.put("t", str(i).encode())
    assert [p.payload for p in box.peek(0, 10)] == kept
    assert box.dropped == 3
    assert box.depth() == 2


def test_flush_of_an_empty_stream_publishes_nothing():
    box = Outbox(None)
    stream = SensorStream(box, "demo", "n1", Kind.CROSSING, "cam-1")
    assert stream.flush() is None
    assert box.depth() == 0


def test_stream_closes_a_batch_at_max_obs():
    box = Outbox(None)
    stream = SensorStream(box, "demo", "n1", Kind.CROSSING, "cam-1", max_obs=2)
    for i in range(5):
        stream.add(CrossingObs(ts=T0 + i, line="e1", dir="out", track=i))
    assert box.depth() == 2
    assert stream.flush() == 2


def test_kinds_of_one_sensor_share_its_sequence():
    box = Outbox(None)
    crossings = SensorStream(box, "demo", "n1", Kind.CROSSING, "cam-1")
    zones = SensorStream(box, "demo", "n1", Kind.OCCUPANCY, "cam-1")
    crossings.add(CrossingObs(ts=T0, line="e1", dir="in", track=1))
    zones.add(OccupancyObs(ts=T0, zone="z1", count=3))
    assert (crossings.flush(), zones.flush(), crossings.flush()) == (0, 1, None)
