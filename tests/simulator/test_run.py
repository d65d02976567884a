"""An offline simulated run: truth files that match exactly what went into the contract batches."""

from __future__ import annotations

import csv
import itertools
import json
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import numpy as np
import pytest

from ingest.imports import read_rows
from mallsense.contract import (
    BATCH_MODELS,
    MAX_PAYLOAD_BYTES,
    TS_MAX_MS,
    BleObs,
    CrossingObs,
    Kind,
    OccupancyObs,
    PositionObs,
    WifiCountObs,
    WifiObs,
    decode_batch,
    encode,
    parse_topic,
)
from simulator.run import MAX_OBS, simulate
from simulator.world import day_bounds

from .conftest import TUESDAY


def batches_in(outbox_dir):
    """Every batch left in the nodes' disk outboxes, decoded with the contract."""
    out = []
    for db in sorted(outbox_dir.glob("*.db")):
        with sqlite3.connect(db) as conn:
            for topic, payload in conn.execute("SELECT topic, payload FROM outbox ORDER BY id"):
                out.append(decode_batch(parse_topic(topic), payload))
    return out


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def offline(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    summary = simulate(site, TUESDAY, 1, broker=None, outdir=out, scale=0.03, seed=4, progress=False,
                       outbox_dir=out / "outbox")
    return out, summary


def test_the_summary_is_written_and_counts_the_day(site, offline):
    out, summary = offline
    truth = out / "truth"
    assert json.loads((truth / "summary.json").read_text()) == summary
    expected = round(site.simulation.daily_visitors * site.simulation.weekday_factors[TUESDAY.weekday()] * 0.03)
    assert summary["visitors_per_day"] == {TUESDAY.isoformat(): expected}
    assert len(rows(truth / "visits.csv")) == expected
    assert (summary["sim_start"], summary["sim_end"]) == day_bounds(site, TUESDAY)
    assert summary["observations"] == sum(summary["observations_by_kind"].values()) > 10_000
    assert summary["members"] == len(rows(truth / "members.csv"))
    assert summary["transactions"] == len(rows(truth / "transactions.csv")) > 0


def test_published_crossings_are_exactly_what_the_batches_carry(site, offline):
    out, summary = offline
    batches = batches_in(out / "outbox")
    carried = Counter((ob.line, ob.dir) for b in batches if b.kind is Kind.CROSSING for ob in b.obs)
    published = {(line, d): n for line, dirs in summary["published_crossings"].items() for d, n in dirs.items() if n}
    assert dict(carried) == published
    truth = rows(out / "truth" / "crossings.csv")
    assert Counter((r["line"], r["dir"]) for r in truth if r["published"] == "1") == carried
    true = {(line, d): n for line, dirs in summary["true_crossings"].items() for d, n in dirs.items() if n}
    assert Counter((r["line"], r["dir"]) for r in truth) == true
    entrances = {e.id for e in site.entrances}
    assert sum(n for (line, _), n in true.items() if line in entrances) == 2 * sum(summary["visitors_per_day"].values())
    stays = Counter(part.rsplit(":", 1)[0] for v in rows(out / "truth" / "visits.csv") if v["stores"]
                    for part in v["stores"].split(";"))
    assert {line: n for (line, d), n in true.items() if line not in entrances and d == "in"} == dict(stays)
    assert {line: n for (line, d), n in true.items() if line not in entrances and d == "out"} == dict(stays)


def test_batches_follow_the_contract_and_number_each_sensor_from_zero(site, offline):
    out, summary = offline
    batches = batches_in(out / "outbox")
    assert len(batches) == summary["batches"]
    seqs = defaultdict(list)
    for b in batches:
        assert b.site == site.site.id and site.sensor_by_id[b.sensor].node == b.node
        assert all(ob.ts < b.sent for ob in b.obs)  # sent = the end of the window
        seqs[b.sensor].append(b.seq)
    assert all(sorted(s) == list(range(len(s))) for s in seqs.values())  # one counter per sensor, all kinds
    assert {b.kind for b in batches} == set(Kind) - {Kind.ZONE}  # zone events come from member apps
    assert Counter(ob_kind for b in batches for ob_kind in [b.kind.value] * len(b.obs)) == \
        Counter({k: n for k, n in summary["observations_by_kind"].items() if n})


def test_crm_and_pos_exports_pass_the_import_validation(site, offline):
    out, _ = offline
    members = read_rows(out / "truth" / "members.csv", "members", site)
    sales = read_rows(out / "truth" / "transactions.csv", "transactions", site)
    assert members and sales
    assert all(s.ts.utcoffset() == timedelta(hours=8) for s in sales)
    visits = rows(out / "truth" / "visits.csv")
    assert all(int(v["t_in"]) < int(v["t_out"]) and v["entrance_in"] and v["entrance_out"] for v in visits)
    keys = [m for m in rows(out / "truth" / "members.csv") if m["consent_app"] == "1"]
    assert keys and all(len(m["device_key"]) == 32 for m in keys)


def test_an_edge_node_simulates_only_its_own_sensors(site, tmp_path):
    node = "node-b1-w"
    summary = simulate(site, TUESDAY, 2, broker=None, outdir=tmp_path, scale=0.01, seed=5, progress=False,
                       nodes={node}, outbox_dir=tmp_path / "outbox")
    batches = batches_in(tmp_path / "outbox")
    assert batches and {b.node for b in batches} == {node}
    lines = {line for s in site.sensors if s.node == node for line in s.lines}
    assert {line for line, dirs in summary["published_crossings"].items() if sum(dirs.values())} == lines
    carried = Counter((ob.line, ob.dir) for b in batches if b.kind is Kind.CROSSING for ob in b.obs)
    assert sum(carried.values()) == sum(sum(d.values()) for d in summary["published_crossings"].values())
    assert len(summary["visitors_per_day"]) == 2


def test_a_restarted_node_continues_its_sequence_numbers_from_its_disk_outbox(site, tmp_path):
    node = "node-b1-w"
    for day in (TUESDAY, TUESDAY + timedelta(days=1)):  # two runs of the node, as after a restart
        simulate(site, day, 1, broker=None, outdir=tmp_path / day.isoformat(), scale=0.01, seed=5, progress=False,
                 nodes={node}, outbox_dir=tmp_path / "outbox")
    seqs = defaultdict(list)
    for b in batches_in(tmp_path / "outbox"):
        seqs[b.sensor].append(b.seq)
    assert seqs and all(sorted(s) == list(range(len(s))) for s in seqs.values())  # no sequence number used twice


class StopAfter(threading.Event):
    """A stop event that turns itself on after being asked ``n`` times."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def is_set(self) -> bool:
        self.left -= 1
        if self.left <= 0:
            self.set()
        return super().is_set()


def test_a_stopped_run_keeps_a_consistent_truth(site, tmp_path):
    summary = simulate(site, TUESDAY, 2, broker=None, outdir=tmp_path, scale=0.02, seed=6, progress=False,
                       stop_event=StopAfter(400))
    start, end = day_bounds(site, TUESDAY)
    assert start < summary["sim_end"] < end
    crossings = rows(tmp_path / "truth" / "crossings.csv")
    assert max(int(r["ts_ms"]) for r in crossings) < summary["sim_end"]
    assert sum(r["published"] == "1" for r in crossings) == sum(
        sum(d.values()) for d in summary["published_crossings"].values())
    assert all(int(v["t_in"]) < summary["sim_end"] for v in rows(tmp_path / "truth" / "visits.csv"))


def test_paced_runs_catch_up_then_follow_the_clock(site, tmp_path):
    _, end = day_bounds(site, TUESDAY)
    catch_up = datetime.fromtimestamp((end - 600_000) / 1000, site.site.tz)  # the last ten minutes are paced
    began = time.monotonic()
    simulate(site, TUESDAY, 1, broker=None, outdir=tmp_path, scale=0.01, seed=7, progress=False,
             speed=1200.0, batch_s=60, catch_up_until=catch_up)
    assert time.monotonic() - began > 0.45  # 600 simulated seconds at 1200x: half a second of pacing at least


@pytest.mark.parametrize("kwargs, message", [
    ({"days": 0}, "days"), ({"scale": 0}, "scale"), ({"speed": 0}, "speed"), ({"nodes": {"node-x"}}, "node-x"),
])
def test_bad_arguments_are_refused(site, tmp_path, kwargs, message):
    args = {"days": 1, "scale": 0.01, **kwargs}
    with pytest.raises(ValueError, match=message):
        simulate(site, TUESDAY, broker=None, outdir=tmp_path, progress=False, **args)


def test_a_full_batch_of_the_longest_observations_fits_in_a_payload():
    long_id = "x" * 64
    worst = {
        Kind.CROSSING: CrossingObs(ts=TS_MAX_MS - 1, line=long_id, dir="out", track=2**63 - 1),
        Kind.OCCUPANCY: OccupancyObs(ts=TS_MAX_MS - 1, zone=long_id, count=100_000),
        Kind.POSITION: PositionObs(ts=TS_MAX_MS - 1, track=2**63 - 1, floor=long_id, x=-9999.99, y=-9999.99),
        Kind.WIFI: WifiObs(ts=TS_MAX_MS - 1, dev="f" * 64, rssi=-120, rand=False, ch=233, sn=4095, fp="f" * 64),
        Kind.BLE: BleObs(ts=TS_MAX_MS - 1, dev="f" * 64, rssi=-127, tx=-127, frame="altbeacon"),
        Kind.WIFI_COUNT: WifiCountObs(ts=TS_MAX_MS - 1, interval_s=86_400, probes=10**9, keys=10**9,
                                      randomized_keys=10**9, devices=123456.789, fixtures=10**9, people=123456.789),
    }
    for kind, ob in worst.items():
        batch = BATCH_MODELS[kind](site=long_id, node=long_id, sensor=long_id, seq=2**63 - 1, sent=TS_MAX_MS - 1,
                                   obs=[ob] * MAX_OBS[kind])
        assert len(encode(batch)) < MAX_PAYLOAD_BYTES, kind


def test_wifi_sensors_publish_device_and_people_estimates_that_follow_the_crowd(site, offline):
    out, _ = offline
    counts = [(b.sensor, o) for b in batches_in(out / "outbox") if b.kind is Kind.WIFI_COUNT for o in b.obs]
    wifi = {s.id for s in site.sensors if s.kind == "wifi"}
    assert {sensor for sensor, _ in counts} == wifi
    by_sensor = defaultdict(list)
    for sensor, o in counts:
        by_sensor[sensor].append(o.ts)
    for stamps in by_sensor.values():  # contiguous 5-minute intervals, none twice
        assert all(b - a == 300_000 for a, b in itertools.pairwise(stamps))
    hour = lambda ms: ms // 3_600_000  # noqa: E731
    estimated = Counter()
    for _, o in counts:
        estimated[hour(o.ts)] += o.people / 12  # mean over the hour's twelve intervals, summed over sensors
    inside = Counter()
    for v in rows(out / "truth" / "visits.csv"):
        if v["phone"]:  # the phone model; empty for visitors without one
            for h in range(hour(int(v["t_in"])), hour(int(v["t_out"])) + 1):
                inside[h] += 1
    hours = sorted(set(inside) | set(estimated))
    r = np.corrcoef([estimated[h] for h in hours], [inside[h] for h in hours])[0, 1]
    assert r > 0.8, f"estimated people per hour correlate {r:.2f} with phones in the mall"
