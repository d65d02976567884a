"""Break the pipe on purpose: broker SIGKILL, ingest SIGKILL, database restart — every observation arrives once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig
from mallsense.contract import CrossingObs, Kind
from mallsense.services import MosquittoServer, PostgresServer

pytestmark = pytest.mark.integration
T0 = 1_764_547_200_000
BATCHES, PER_BATCH = 400, 25


class Stream:
    """An edge node producing BATCHES crossing batches at a steady pace in a background thread."""

    def __init__(self, broker: BrokerConfig, tmp_path) -> None:
        self.box = Outbox(tmp_path / "outbox.db")
        # identities of the demo mall, so an ingest that validates against the site file accepts them
        self.link = EdgeLink("demo-mall", "node-f1-w", broker, self.box, commit_timeout_s=3.0).start()
        self.cam = SensorStream(self.box, "demo-mall", "node-f1-w", Kind.CROSSING, "cam-e-west")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for b in range(BATCHES):
            for k in range(PER_BATCH):
                i = b * PER_BATCH + k
                self.cam.add(CrossingObs(ts=T0 + i * 100, line="e-west", dir="in" if i % 2 else "out", track=i))
            self.cam.flush(T0 + b * 2500)
            self.link.notify()
            time.sleep(0.01)
        self.done.set()

    def start(self) -> Stream:
        assert self.link.wait_connected(10)
        self.thread.start()
        return self

    def finish(self, timeout: float = 90) -> None:
        assert self.done.wait(timeout), "producer did not finish"
        assert self.link.wait_drained(timeout), f"outbox still holds {self.box.depth()} batches"
        self.link.stop(drain_timeout_s=0)


def assert_exactly_once(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT track) FROM crossing").fetchone()
        batches = conn.execute("SELECT count(*), max(seq) FROM ingest_batch").fetchone()
    assert (total, distinct) == (BATCHES * PER_BATCH, BATCHES * PER_BATCH)
    assert batches == (BATCHES, BATCHES - 1)


def wait_rows(dsn: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            if conn.execute("SELECT count(*) FROM crossing").fetchone()[0] >= n:
                return
        time.sleep(0.2)


def test_broker_sigkill_mid_stream(db_dsn, tmp_path):
    server = MosquittoServer(tmp_path / "mqtt").start()
    broker = BrokerConfig(port=server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="fault-ingest")).start()
    try:
        assert ingest.wait_connected()
        stream = Stream(broker, tmp_path).start()
        wait_rows(db_dsn, BATCHES * PER_BATCH // 4)
        server.kill()
        time.sleep(1.0)
        server.start()
        stream.finish()
        wait_rows(db_dsn, BATCHES * PER_BATCH)
    finally:
        ingest.stop()
        server.stop()
    assert_exactly_once(db_dsn)


def _ingest_process(dsn: str, port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mallsense.cli", "ingest", "--dsn", dsn, "--mqtt", f"mqtt://127.0.0.1:{port}",
         "--client-id", "fault-ingest-proc", "--no-retention"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def test_ingest_sigkill_mid_stream(db_dsn, mqtt_server, tmp_path):
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    log = open(tmp_path / "ingest.log", "w")  # noqa: SIM115 - handed to the child processes
    proc = _ingest_process(db_dsn, mqtt_server.port, log)
    try:
        time.sleep(2.0)
        stream = Stream(broker, tmp_path).start()
        wait_rows(db_dsn, BATCHES * PER_BATCH // 3)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(1.0)
        proc = _ingest_process(db_dsn, mqtt_server.port, log)
        stream.finish()
        wait_rows(db_dsn, BATCHES * PER_BATCH)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert_exactly_once(db_dsn)


def test_database_restart_mid_stream(tmp_path, mqtt_server):
    from ingest.storage import migrate

    pg = PostgresServer(tmp_path / "pg", fast=False).start()  # durable commits: ingest acks after COMMIT
    migrate(pg.dsn)
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=pg.dsn, broker=broker, client_id="fault-ingest-db")).start()
    try:
        assert ingest.wait_connected()
        stream = Stream(broker, tmp_path).start()
        wait_rows(pg.dsn, BATCHES * PER_BATCH // 4)
        pg.stop("immediate")
        before = ingest.stats.rows
        time.sleep(2.0)
        pg.start()
        stream.finish()
        wait_rows(pg.dsn, BATCHES * PER_BATCH)
        assert before < BATCHES * PER_BATCH, "the database must go down mid-stream"
        ingest.stop()
        assert_exactly_once(pg.dsn)
    finally:
        ingest.stop()
        pg.stop("immediate")
