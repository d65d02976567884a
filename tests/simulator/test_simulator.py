"""The simulated mall is deterministic, plausible, and its ground truth matches what it publishes."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date, datetime

import pytest

from edge.privacy import DeviceKeyer
from mallsense.contract import Kind, data_topic, decode_batch
from mallsense.site import load_site
from simulator.run import DEMO_SECRET, simulate
from simulator.sensing import Sensing
from simulator.world import day_bounds, member_base, plan_day

SATURDAY, TUESDAY = date(2026, 11, 14), date(2026, 11, 17)
CAMPAIGN_DAY = date(2026, 12, 5)


@pytest.fixture(scope="module")
def site():
    return load_site()


@pytest.fixture(scope="module")
def saturday(site):
    return plan_day(site, SATURDAY, scale=0.3, seed=1)


def test_plans_are_deterministic(site, saturday):
    again = plan_day(site, SATURDAY, scale=0.3, seed=1)
    assert [(v.visit_id, v.t_in, v.t_out, v.stores) for v in again.visits] == [
        (v.visit_id, v.t_in, v.t_out, v.stores) for v in saturday.visits]
    other = plan_day(site, SATURDAY, scale=0.3, seed=2)
    assert [v.t_in for v in other.visits] != [v.t_in for v in saturday.visits]


def test_weekends_are_busier_and_arrivals_follow_opening_hours(site, saturday):
    tuesday = plan_day(site, TUESDAY, scale=0.3, seed=1)
    assert len(saturday.visits) > 1.5 * len(tuesday.visits)
    tz = site.site.tz
    hours = Counter(datetime.fromtimestamp(v.t_in / 1000, tz).hour for v in saturday.visits)
    assert min(hours) >= 10 and max(hours) <= 21
    assert hours[13] > 2 * hours[10]  # lunch is busier than opening
    assert all(v.t_out > v.t_in for v in saturday.visits)


def test_affinity_raises_co_visits_of_grouped_categories(site, saturday):
    cat = {s.id: s.category for s in site.stores}
    visits = [{cat[s] for s, _, _ in v.stores} for v in saturday.visits if not v.campaign]
    n = len(visits)

    def lift(a: str, b: str) -> float:
        pa = sum(a in v for v in visits) / n
        pb = sum(b in v for v in visits) / n
        return sum(a in v and b in v for v in visits) / n / (pa * pb)

    assert lift("cafe", "electronics") > 1.3  # grouped in the demo mall (the seed's "Starbucks and Bose")
    assert lift("cafe", "electronics") > lift("cafe", "sports") + 0.3


def test_members_return_across_days(site):
    members = member_base(site, 0.3, seed=1)
    days = [plan_day(site, date(2026, 11, d), scale=0.3, seed=1, members=members) for d in range(9, 16)]
    visits = Counter(v.member_id for p in days for v in p.visits if v.member_id)
    assert sum(1 for n in visits.values() if n >= 2) > 0.1 * len(visits)


def test_campaign_days_lift_target_store_visits(site):
    campaign = site.campaigns[0]
    uplift = site.simulation.campaign_uplift[campaign.id]
    base = plan_day(site, date(2026, 11, 28), scale=0.5, seed=3)  # the Saturday before, same weekday mix
    during = plan_day(site, CAMPAIGN_DAY, scale=0.5, seed=3)
    assert during.campaign_extra[campaign.id] > 0

    def target_visits(plan):
        return sum(s in campaign.target_stores for v in plan.visits for s, _, _ in v.stores)

    measured = target_visits(during) / target_visits(base) - 1
    assert measured == pytest.approx(uplift, abs=0.12)


def test_sensing_publishes_crossings_minus_misses_and_no_mac(site, saturday):
    keyer = DeviceKeyer(DEMO_SECRET, site=site.site.id, tz=site.site.timezone)
    sensing = Sensing(site, saturday, keyer, seed=1)
    t0, t_end = day_bounds(site, SATURDAY)
    kinds, devs = Counter(), set()
    while t0 < t_end:
        for ob in sensing.window(t0, t0 + 60_000):
            kinds[ob.kind] += 1
            assert t0 <= ob.obs.ts < t0 + 60_000
            if ob.kind is Kind.OCCUPANCY:
                assert ob.obs.count >= 0
            if ob.kind is Kind.WIFI:
                devs.add(ob.obs.dev)
        t0 += 60_000
    true = sum(d["in"] + d["out"] for d in sensing.true_crossings.values())
    published = sum(d["in"] + d["out"] for d in sensing.published_crossings.values())
    assert true == 2 * len(saturday.visits)
    assert kinds[Kind.CROSSING] == published
    assert 1 - published / true == pytest.approx(site.simulation.camera_miss_rate, abs=0.01)
    assert all(kinds[k] > 0 for k in Kind)
    assert all(len(d) == 32 and ":" not in d for d in devs)


def test_offline_simulation_writes_truth_and_contract_batches(site, tmp_path):
    summary = simulate(site, TUESDAY, 1, broker=None, outdir=tmp_path, scale=0.05, seed=4, progress=False)
    truth = tmp_path / "truth"
    assert json.loads((truth / "summary.json").read_text()) == summary
    with open(truth / "crossings.csv") as f:
        rows = list(csv.DictReader(f))
    published = Counter((r["line"], r["dir"]) for r in rows if r["published"] == "1")
    assert {(line, d): n for line, dirs in summary["published_crossings"].items() for d, n in dirs.items()
            if n} == dict(published)
    with open(truth / "visits.csv") as f:
        assert sum(1 for _ in csv.DictReader(f)) == summary["visitors_per_day"][TUESDAY.isoformat()]
    assert (truth / "transactions.csv").stat().st_size > 100
    assert (truth / "members.csv").stat().st_size > 100
    assert summary["observations"] > 10_000


def test_published_batches_decode_with_the_contract(site, tmp_path):
    from simulator import run as sim_run

    captured = {}
    original = sim_run._Node.flush

    def spy(node, sent_ms):
        original(node, sent_ms)
        for item in node.outbox.peek(max(captured, default=0), 10_000):
            captured[item.id] = item

    sim_run._Node.flush = spy
    try:
        simulate(site, TUESDAY, 1, broker=None, outdir=tmp_path, scale=0.01, seed=5, progress=False,
                 nodes={"node-f1-w"})
    finally:
        sim_run._Node.flush = original
    assert captured
    seqs = Counter()
    for item in captured.values():
        topic = item.topic.split("/")
        batch = decode_batch(data_topic(topic[2], topic[3], topic[4], topic[5]), item.payload)
        assert batch.node == "node-f1-w"
        seqs[(batch.sensor, batch.seq)] += 1
    assert max(seqs.values()) == 1  # (sensor, seq) names one batch, whatever its kind
