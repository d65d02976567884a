"""The simulated people: deterministic, plausible, and with the structure the cockpit's metrics must recover."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from itertools import combinations, pairwise

import pytest

from mallsense.geometry import contains
from simulator.members import member_base
from simulator.world import BOUNCE_MS, day_bounds, plan_day

from .conftest import SATURDAY, TUESDAY

CAMPAIGN_DAY, SATURDAY_BEFORE = date(2026, 12, 5), date(2026, 11, 28)


def local_hour(site, t_ms: int) -> float:
    t = datetime.fromtimestamp(t_ms / 1000, site.site.tz)
    return t.hour + t.minute / 60


def test_a_seed_determines_the_day(site, layout):
    first = plan_day(site, TUESDAY, scale=0.05, seed=11, layout=layout)
    again = plan_day(site, TUESDAY, scale=0.05, seed=11, layout=layout)
    other = plan_day(site, TUESDAY, scale=0.05, seed=12, layout=layout)

    def fingerprint(plan):
        return ([(v.visit_id, v.person, v.entrance_in, v.entrance_out, v.t_in, v.t_out, v.stores, v.segments)
                 for v in plan.visits], plan.transactions)

    assert fingerprint(first) == fingerprint(again)
    assert [v.t_in for v in other.visits] != [v.t_in for v in first.visits]


def test_volume_follows_weekday_factor_and_scale(site, saturday, tuesday):
    sim = site.simulation
    assert len(saturday.visits) == round(sim.daily_visitors * sim.weekday_factors[5] * 0.3)
    assert len(tuesday.visits) == round(sim.daily_visitors * sim.weekday_factors[1] * 0.3)
    assert len(saturday.visits) > 1.8 * len(tuesday.visits)


def test_arrivals_follow_the_intraday_profile(site, tuesday):
    opens = site.site.opens.hour + site.site.opens.minute / 60
    closes = site.site.closes.hour + site.site.closes.minute / 60
    hours = [local_hour(site, v.t_in) for v in tuesday.visits]
    assert min(hours) >= opens
    assert max(hours) < closes - 0.5  # nobody new in the last half hour
    per_hour = Counter(int(h) for h in hours)
    assert per_hour[12] > 1.4 * per_hour[15]  # lunch peak over mid-afternoon
    assert per_hour[18] > 1.4 * per_hour[15]  # evening peak over mid-afternoon
    assert per_hour[10] < 0.5 * per_hour[12]  # a slow first hour


def test_every_visitor_who_enters_leaves_on_a_continuous_path(site, layout, saturday):
    _, day_end = day_bounds(site, SATURDAY)
    entrances = site.entrance_by_id
    for v in saturday.visits:
        assert v.t_in < v.t_out <= day_end
        segs = v.segments
        assert segs[0].t0 == v.t_in and segs[-1].t1 == v.t_out
        assert all(a.t1 == b.t0 and a.t0 < a.t1 for a, b in pairwise(segs))
        assert all((a.x1, a.y1) == (b.x0, b.y0) for a, b in pairwise(segs) if a.floor == b.floor)
        assert segs[0].zone == entrances[v.entrance_in].zone and segs[-1].zone == entrances[v.entrance_out].zone
        assert segs[0].floor == entrances[v.entrance_in].floor
    late = max(v.t_out for v in saturday.visits) - day_bounds(site, SATURDAY)[1] + 3_600_000
    assert 0 < late < 30 * 60_000, "the last shoppers leave within half an hour of closing"


def test_itineraries_stay_inside_their_zones(layout, saturday):
    for v in saturday.visits[::7]:
        for seg in v.segments:
            assert contains(layout.polygon[seg.zone], seg.at((seg.t0 + seg.t1) // 2)), seg
        for stay in v.stores:
            inside = [s for s in v.segments if stay.t0 <= s.t0 < stay.t1]
            assert inside and all(s.zone == layout.site.store_by_id[stay.store].zone for s in inside)


def test_store_visits_dwell_and_floor_changes_are_plausible(site, saturday):
    visits = saturday.visits
    stays = [s for v in visits for s in v.stores]
    assert len(stays) / len(visits) == pytest.approx(site.simulation.stores_per_visit, rel=0.1)
    bounces = sum(s.t1 - s.t0 < BOUNCE_MS for s in stays) / len(stays)
    assert 0.08 < bounces < 0.2
    dwell_min = sorted((s.t1 - s.t0) / 60_000 for s in stays)
    assert 8 < dwell_min[len(dwell_min) // 2] < 25
    visit_min = sorted((v.t_out - v.t_in) / 60_000 for v in visits)
    assert 40 < visit_min[len(visit_min) // 2] < 120
    floors = Counter(len({s.floor for s in v.segments}) for v in visits)
    assert floors[1] and floors[2] and floors[3]  # some stay on one floor, many change floors
    car_park = {e.id for e in site.entrances if not e.external}
    by_car = [v for v in visits if v.entrance_in in car_park]
    assert 0.15 < len(by_car) / len(visits) < 0.4
    assert sum(v.entrance_out in car_park for v in by_car) / len(by_car) > 0.8  # back to the car


def test_anchors_draw_more_visits_than_unit_shops(site, saturday):
    visits = Counter(s.store for v in saturday.visits for s in v.stores)
    anchors = [visits[s.id] for s in site.stores if s.anchor]
    units = [visits[s.id] for s in site.stores if not s.anchor and s.category not in ("food", "cafe", "restaurant")]
    assert min(anchors) > 2 * sum(units) / len(units)


def _lift(visits: list[set[str]], a: str, b: str) -> float:
    n = len(visits)
    pa = sum(a in v for v in visits) / n
    pb = sum(b in v for v in visits) / n
    return sum(a in v and b in v for v in visits) / n / (pa * pb)


def test_affinity_raises_co_visits_of_grouped_categories(site, layout, saturday):
    category = {s.id: s.category for s in site.stores}
    sim = site.simulation
    no_affinity = site.model_copy(update={"simulation": sim.model_copy(update={"affinity": []})})
    flat = plan_day(no_affinity, SATURDAY, scale=0.3, seed=1, layout=layout)

    def categories(plan) -> list[set[str]]:
        return [{category[s.store] for s in v.stores} for v in plan.visits if len(v.stores) >= 2]

    with_groups, without = categories(saturday), categories(flat)
    grouped = {frozenset(p) for g in sim.affinity for p in combinations(sorted(set(g)), 2)}
    present = {category[s.id] for s in site.stores}
    pairs = [p for p in combinations(sorted(present), 2)]
    lift_grouped = [_lift(with_groups, a, b) for a, b in pairs if frozenset((a, b)) in grouped]
    lift_other = [_lift(with_groups, a, b) for a, b in pairs if frozenset((a, b)) not in grouped]
    assert min(lift_grouped) > 1.0
    assert sum(lift_grouped) / len(lift_grouped) > 1.5 * sum(lift_other) / len(lift_other)
    # the seed material's pair ("Starbucks customers also visit Bose") is grouped in the demo mall
    assert _lift(with_groups, "cafe", "electronics") > 1.3 * _lift(without, "cafe", "electronics")


def test_members_come_back_across_days_and_never_twice_a_day(site, layout):
    members = member_base(site, date(2026, 11, 9), scale=0.1, seed=1)
    days = [plan_day(site, date(2026, 11, 9) + timedelta(days=d), scale=0.1, seed=1, members=members, layout=layout)
            for d in range(5)]
    for plan in days:
        ids = [v.member_id for v in plan.visits if v.member_id]
        assert len(ids) == len(set(ids))
        assert len(ids) / len(plan.visits) == pytest.approx(site.simulation.member_share, abs=0.03)
    per_member = Counter(v.member_id for p in days for v in p.visits if v.member_id)
    assert sum(n >= 2 for n in per_member.values()) > 0.1 * len(per_member)
    phones = {}
    for v in (v for p in days for v in p.visits if v.member_id):
        assert phones.setdefault(v.member_id, v.phone) == v.phone  # a member keeps their phone


def test_member_base(site):
    start = date(2026, 11, 1)
    members = member_base(site, start, scale=0.25, seed=3)
    assert len(members) == round(site.simulation.members * 0.25)
    assert all(m.joined < start for m in members)
    tiers = Counter(m.tier for m in members)
    assert tiers["standard"] > tiers["silver"] > tiers["gold"] > tiers["vip"] > 0
    assert sum(m.app for m in members) / len(members) == pytest.approx(site.simulation.app_share, abs=0.03)
    assert member_base(site, start, scale=0.25, seed=3) == members


def test_phones_and_apps_follow_the_shares(site, saturday):
    sim, visits = site.simulation, saturday.visits
    phones = [v.phone for v in visits if v.phone]
    assert len(phones) / len(visits) == pytest.approx(sim.wifi_share, abs=0.03)
    assert sum(p.randomized_mac for p in phones) / len(phones) == pytest.approx(sim.randomized_mac_share, abs=0.03)
    members = [v for v in visits if v.member_id]
    assert sum(v.app_id is not None for v in members) / len(members) == pytest.approx(sim.app_share, abs=0.05)
    assert all(v.app_id is None for v in visits if not v.member_id)


def test_purchases_follow_store_visits(site, saturday):
    stays = {(v.member_id, s.store): s for v in saturday.visits for s in v.stores}
    entries = sum(len(v.stores) for v in saturday.visits)
    sales = saturday.transactions
    assert len(sales) / entries == pytest.approx(site.simulation.purchase_probability, abs=0.03)
    assert len({t.txn_id for t in sales}) == len(sales)
    assert all(t.amount > 0 for t in sales)
    by_store = {}
    for v in saturday.visits:
        for s in v.stores:
            by_store.setdefault(s.store, []).append(s)
    for t in sales[::5]:
        assert any(s.t0 <= t.ts < s.t1 and s.t1 - s.t0 >= BOUNCE_MS for s in by_store[t.store_id])  # nobody buys
    member_sales = [t for t in sales if t.member_id]  # on a bounce
    assert member_sales and all((t.member_id, t.store_id) in stays for t in member_sales)
    member_visits = {v.member_id for v in saturday.visits if v.member_id}
    assert {t.member_id for t in member_sales} <= member_visits
    category = {s.id: s.category for s in site.stores}
    spend = {c: sorted(t.amount for t in sales if category[t.store_id] == c) for c in ("jewelry", "cafe")}
    assert spend["jewelry"][len(spend["jewelry"]) // 2] > 10 * spend["cafe"][len(spend["cafe"]) // 2]


def test_campaign_days_show_the_configured_uplift_on_target_stores(site, layout):
    campaign = site.campaigns[0]
    uplift = site.simulation.campaign_uplift[campaign.id]
    before = plan_day(site, SATURDAY_BEFORE, scale=0.3, seed=3, layout=layout)
    during = plan_day(site, CAMPAIGN_DAY, scale=0.3, seed=3, layout=layout)
    assert before.campaigns == {}
    truth = during.campaigns[campaign.id]
    assert truth.true_uplift == uplift
    assert truth.realized_uplift == pytest.approx(uplift, abs=0.005)  # exact against the day's own baseline
    assert sum(v.campaign == campaign.id for v in during.visits) == truth.extra_visits > 0

    def visits_to(plan, stores) -> int:
        return sum(s.store in stores for v in plan.visits for s in v.stores)

    targets, controls = set(campaign.target_stores), set(campaign.control_stores)
    assert visits_to(during, targets) / visits_to(before, targets) - 1 == pytest.approx(uplift, abs=0.08)
    assert visits_to(during, controls) / visits_to(before, controls) - 1 == pytest.approx(0.0, abs=0.08)
    members = [v for v in during.visits if v.campaign and v.member_id]
    assert members, "members come for the campaign too"


def test_scale_must_be_positive(site):
    with pytest.raises(ValueError, match="scale"):
        plan_day(site, TUESDAY, scale=0)
