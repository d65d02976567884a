"""Ingest throughput, end to end, against its limit and a naive peer — all measured in one run on this machine.

    .venv/bin/python bench/ingest_throughput.py [--obs 1000000] [--batch 1000] [--soak-minutes 0]

Prints observations per second for
  1. end to end: EdgeLink (outbox, QoS 1) → private Mosquitto → Ingest (validate, COPY, commit, ack) → PostgreSQL,
  2. raw COPY: the same rows written by psycopg COPY straight into the same table (the ceiling),
  3. naive: a consumer that INSERTs and commits each message's observations one statement per observation,
and the ratios end-to-end / raw and end-to-end / naive. With ``--soak-minutes N`` it then streams for N minutes and
prints the ingest process's resident memory every 30 s (it must stay flat). Per-core figures: divide by the cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Outbox
from edge.publisher import BrokerConfig, EdgeLink
from ingest.consumer import Ingest, IngestConfig, tune_gc
from ingest.storage import migrate
from ingest.writer import ms_to_dt
from mallsense.contract import CrossingBatch, CrossingObs, Kind, data_topic, decode_batch, encode
from mallsense.services import MosquittoServer, PostgresServer

T0 = 1_764_547_200_000
SITE, NODE = "bench", "node-1"


def make_payloads(total: int, per_batch: int, sensors: int = 8) -> list[tuple[str, str, int, bytes]]:
    out = []
    seqs = [0] * sensors
    for b in range(total // per_batch):
        s = b % sensors
        sensor = f"cam-{s}"
        obs = [CrossingObs(ts=T0 + (b * per_batch + i) * 10, line=f"e-{i % 6}", dir="in" if i % 2 else "out",
                           track=b * per_batch + i) for i in range(per_batch)]
        batch = CrossingBatch(site=SITE, node=NODE, sensor=sensor, seq=seqs[s], sent=T0 + b, obs=obs)
        seqs[s] += 1
        out.append((str(data_topic(SITE, NODE, Kind.CROSSING, sensor)), sensor, batch.seq, encode(batch)))
    return out


def rows_in(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM crossing").fetchone()[0]


def reset(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE crossing, ingest_batch, dead_letter")


def ingest_process(dsn: str, port: int) -> subprocess.Popen:
    """`mallsense ingest` as its own process, as deployed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mallsense.cli", "ingest", "--dsn", dsn, "--mqtt", f"mqtt://127.0.0.1:{port}",
         "--any-site", "--no-retention", "--client-id", "bench-ingest"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "ingest running" in line:
            break
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its log
    return proc


def end_to_end(dsn: str, port: int, payloads, total: int) -> float:
    broker = BrokerConfig(port=port)
    ingest = ingest_process(dsn, port)
    box = Outbox(None)
    link = EdgeLink(SITE, NODE, broker, box, max_inflight=500).start()
    assert link.wait_connected()
    time.sleep(1.0)
    started = time.perf_counter()
    for topic, sensor, seq, payload in payloads:
        box.put(topic, payload, sensor=sensor, seq=seq)
    link.notify()
    assert link.wait_drained(600)  # drained = every batch confirmed committed by ingest
    elapsed = time.perf_counter() - started
    assert rows_in(dsn) == total
    link.stop(drain_timeout_s=5)
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(30)
    return total / elapsed


def raw_copy(dsn: str, payloads, total: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for i in range(0, len(payloads), 50):
            with cur.copy("COPY crossing (ts, site, sensor, seq, line, direction, track) FROM STDIN"
                          " (FORMAT BINARY)") as copy:
                copy.set_types(["timestamptz", "text", "text", "int8", "text", "text", "int8"])
                for topic, _sensor, _seq, payload in payloads[i:i + 50]:
                    b = decode_batch(_topic(topic), payload)
                    for o in b.obs:
                        copy.write_row((ms_to_dt(o.ts), b.site, b.sensor, b.seq, o.line, o.dir, o.track))
            conn.commit()
    return total / (time.perf_counter() - started)


def _topic(topic: str):
    from mallsense.contract import parse_topic

    return parse_topic(topic)


def naive(dsn: str, port: int, payloads, limit_s: float = 20.0) -> float:
    """One INSERT per observation, commit per message: the consumer people write first."""
    conn = psycopg.connect(dsn)
    done = {"rows": 0}

    def on_message(client, userdata, msg):
        b = decode_batch(_topic(msg.topic), msg.payload)
        for o in b.obs:
            conn.execute("INSERT INTO crossing (ts, site, sensor, seq, line, direction, track)"
                         " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (ms_to_dt(o.ts), b.site, b.sensor, b.seq, o.line, o.dir, o.track))
        conn.commit()
        done["rows"] += len(b.obs)

    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-naive")
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe(f"mallsense/v1/{SITE}/+/+/+", qos=1)
    sub.loop_start()
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-naive-pub")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.5)
    started = time.perf_counter()
    for topic, _s, _q, payload in payloads:
        pub.publish(topic, payload, qos=1)
        if time.perf_counter() - started > limit_s:
            break
    while time.perf_counter() - started < limit_s:
        time.sleep(0.05)
    rate = done["rows"] / (time.perf_counter() - started)
    sub.loop_stop()
    pub.loop_stop()
    conn.close()
    return rate


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak(dsn: str, port: int, minutes: float, per_batch: int) -> None:
    broker = BrokerConfig(port=port)
    ingest = Ingest(IngestConfig(dsn=dsn, broker=broker, client_id="bench-soak", rollup_interval_s=3600)).start()
    box = Outbox(None)
    link = EdgeLink(SITE, NODE, broker, box, max_inflight=500).start()
    assert ingest.wait_connected() and link.wait_connected()
    obs = [CrossingObs(ts=T0 + i * 10, line=f"e-{i % 6}", dir="in", track=i) for i in range(per_batch)]
    topic = str(data_topic(SITE, NODE, Kind.CROSSING, "cam-soak"))
    seq = 0
    end = time.monotonic() + minutes * 60
    next_report = time.monotonic()
    samples = []
    while time.monotonic() < end:
        for _ in range(8):
            batch = CrossingBatch(site=SITE, node=NODE, sensor="cam-soak", seq=seq, sent=T0, obs=obs)
            box.put(topic, encode(batch), sensor="cam-soak", seq=seq)
            seq += 1
        link.notify()
        while box.depth() > 200:
            time.sleep(0.01)
        if time.monotonic() >= next_report:
            samples.append(rss_mb())
            print(f"  soak t={minutes * 60 - (end - time.monotonic()):5.0f}s  rows={ingest.stats.rows:>10}  "
                  f"process RSS={samples[-1]:.0f} MB", flush=True)
            next_report += 30
    link.stop(drain_timeout_s=5)
    ingest.stop()
    print(f"memory: first {samples[0]:.0f} MB, last {samples[-1]:.0f} MB, max {max(samples):.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--obs", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--soak-minutes", type=float, default=0)
    args = ap.parse_args()
    tune_gc()  # as `mallsense ingest` does
    root = Path(tempfile.mkdtemp(prefix="mallsense-bench-"))
    pg = PostgresServer(root / "pg").start()
    mq = MosquittoServer(root / "mqtt").start()
    try:
        migrate(pg.dsn)
        print(f"machine: {os.cpu_count()} cores; {args.obs:,} crossing observations in batches of {args.batch}")
        payloads = make_payloads(args.obs, args.batch)
        e2e = end_to_end(pg.dsn, mq.port, payloads, args.obs)
        reset(pg.dsn)
        raw = raw_copy(pg.dsn, payloads, args.obs)
        reset(pg.dsn)
        peer = naive(pg.dsn, mq.port, payloads)
        print(f"end to end (edge → Mosquitto → ingest → PostgreSQL): {e2e:>12,.0f} obs/s")
        print(f"raw psycopg binary COPY, same rows (the limit):      {raw:>12,.0f} obs/s")
        print(f"naive consumer (INSERT per observation, commit/msg): {peer:>12,.0f} obs/s")
        print(f"ratios: end-to-end / raw COPY = {e2e / raw:.0%}   end-to-end / naive = {e2e / peer:.1f}x")
        if args.soak_minutes:
            reset(pg.dsn)
            soak(pg.dsn, mq.port, args.soak_minutes, args.batch)
    finally:
        mq.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
