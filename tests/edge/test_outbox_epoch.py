"""The outbox's sequence epoch: made with the file, kept across restarts, and only its own commit reports count."""

from __future__ import annotations

from types import SimpleNamespace

from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from mallsense.contract import CommitAck, encode


def test_epoch_is_kept_with_the_file_and_new_for_a_new_file(tmp_path):
    path = tmp_path / "box.db"
    box = Outbox(path)
    first = box.epoch
    box.put_batch("t", "cam-1", lambda seq: str(seq).encode())
    box.close()
    reopened = Outbox(path)
    assert reopened.epoch == first and reopened.next_seq("cam-1") == 1  # a restart continues the same sequence
    reopened.close()
    path.unlink()
    replaced = Outbox(path)
    assert replaced.epoch != first and replaced.next_seq("cam-1") == 0  # a lost file: seq 0 again, new epoch
    assert Outbox(None).epoch != Outbox(None).epoch


def test_a_commit_report_for_another_epoch_confirms_nothing():
    box = Outbox(None)
    for _ in range(3):
        box.put_batch("t", "cam-1", lambda seq: str(seq).encode())
    link = EdgeLink("demo", "node-1", BrokerConfig(), box)  # never started: only its ack handler is used

    def report(epoch: str | None, seqs: list[int]) -> None:
        ack = CommitAck(site="demo", node="node-1", batches={"cam-1": seqs}, epoch=epoch)
        link._on_ack(None, None, SimpleNamespace(topic="mallsense/v1/demo/node-1/ack", payload=encode(ack)))

    report("0123456789abcdef", [0, 1])  # a late report for the outbox this node had before
    assert box.depth() == 3 and link.confirmed == 0
    report(box.epoch, [0])
    report(None, [1])  # a report without epoch (an ingest from before epochs) is still honoured
    assert box.depth() == 1 and link.confirmed == 2
