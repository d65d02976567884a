"""The simulated mall's people: who comes on a given day, when, through which door, which stores, for how long.

Pure and deterministic for a seed: :func:`plan_day` returns every visit of one local day as timed, positioned
segments, plus the POS transactions they make. Sensing (what the sensors would report) lives in ``sensing.py``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from mallsense.geometry import centroid, contains, distance, random_point
from mallsense.site import Site, Store, ZoneKind

Point = tuple[float, float]
WALK_M_PER_S = 1.1
FLOOR_CHANGE_S = 50.0
# opening-hours profile (relative arrivals per hour from opening): late morning, lunch and evening peaks
HOURLY_PROFILE = [0.35, 0.7, 1.05, 1.0, 0.8, 0.8, 0.9, 1.05, 1.2, 1.1, 0.75, 0.35]
DWELL_MEDIAN_MIN = {
    "cafe": 22, "restaurant": 55, "cinema": 130, "supermarket": 28, "department_store": 35, "food": 22,
    "fashion": 14, "beauty": 13, "jewelry": 10, "electronics": 14, "sports": 12, "kids": 15, "home": 12,
    "books": 15, "pharmacy": 8, "services": 12,
}
PURCHASE_FACTOR = {"supermarket": 2.8, "food": 3.0, "cafe": 2.8, "restaurant": 3.0, "cinema": 3.0, "pharmacy": 2.0}
SPEND_MEDIAN = {
    "supermarket": 180, "food": 45, "cafe": 38, "restaurant": 160, "cinema": 90, "department_store": 420,
    "jewelry": 1600, "electronics": 900, "fashion": 380, "beauty": 320, "sports": 450, "kids": 220,
}
BOUNCE_SHARE = 0.15
PHONE_MODELS = ("iphone-15", "iphone-13", "galaxy-s23", "pixel-8", "xiaomi-13", "oppo-find-x6")


@dataclass(frozen=True, slots=True)
class Segment:
    """The visitor is in ``zone`` on ``floor`` from t0 to t1 (ms), moving linearly from p0 to p1."""

    t0: int
    t1: int
    floor: str
    zone: str
    p0: Point
    p1: Point

    def at(self, t: int) -> Point:
        if self.t1 <= self.t0:
            return self.p1
        f = min(1.0, max(0.0, (t - self.t0) / (self.t1 - self.t0)))
        return (self.p0[0] + f * (self.p1[0] - self.p0[0]), self.p0[1] + f * (self.p1[1] - self.p0[1]))


@dataclass(slots=True)
class Visit:
    visit_id: str
    person: str
    member_id: str | None
    app_id: str | None  # consented member-app beacon identity (BLE)
    phone: str | None  # phone model if the phone probes WiFi
    randomized_mac: bool
    entrance_in: str
    entrance_out: str
    t_in: int
    t_out: int
    crossing_in_seen: bool  # the door camera detected the entry (misses are realistic)
    crossing_out_seen: bool
    stores: list[tuple[str, int, int]] = field(default_factory=list)  # (store id, t0, t1)
    segments: list[Segment] = field(default_factory=list)
    campaign: str | None = None  # extra visit caused by this campaign


@dataclass(frozen=True, slots=True)
class Transaction:
    txn_id: str
    ts: int
    store_id: str
    amount: float
    member_id: str | None


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    joined: date
    tier: str
    app: bool
    frequency: float  # relative propensity to visit


@dataclass
class DayPlan:
    day: date
    visits: list[Visit]
    transactions: list[Transaction]
    campaign_extra: dict[str, int]


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def member_base(site: Site, scale: float, seed: int) -> list[Member]:
    """The CRM member base (stable across days for one seed)."""
    rng = random.Random(f"members-{seed}")
    n = max(1, int(site.simulation.members * scale))
    tiers = (("standard", 0.70), ("silver", 0.20), ("gold", 0.08), ("vip", 0.02))
    out = []
    for i in range(n):
        tier = rng.choices([t for t, _ in tiers], [w for _, w in tiers])[0]
        out.append(Member(
            member_id=f"M{i + 1:06d}",
            joined=date(2023, 1, 1) + timedelta(days=rng.randrange(0, 1000)),
            tier=tier,
            app=rng.random() < site.simulation.app_share,
            frequency=rng.lognormvariate(0, 1.0) * {"standard": 1, "silver": 1.5, "gold": 2.2, "vip": 3.5}[tier],
        ))
    return out


class _Layout:
    """Derived geometry for walking: zone centroids, corridor in front of each store, atria per floor."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.centre = {z.id: centroid(z.polygon) for z in site.zones}
        self.atrium = {}
        for z in site.zones:
            if z.kind in (ZoneKind.ATRIUM, ZoneKind.FOOD_COURT):
                self.atrium.setdefault(z.floor, z.id)
        for f in site.floors:  # a floor without an atrium walks via its first corridor
            if f.id not in self.atrium:
                self.atrium[f.id] = next(z.id for z in site.zones if z.floor == f.id and z.kind == ZoneKind.CORRIDOR)
        self.front = {s.id: s.front_zone or self.atrium[site.zone_by_id[s.zone].floor] for s in site.stores}
        self.store_of_zone = {s.zone: s.id for s in site.stores}

    def floor_of_zone(self, zone: str) -> str:
        return self.site.zone_by_id[zone].floor


def _arrival_times(n: int, opens: datetime, closes: datetime, rng: random.Random) -> list[datetime]:
    hours = max(1, int((closes - opens).total_seconds() // 3600))
    profile = (HOURLY_PROFILE + [HOURLY_PROFILE[-1]] * hours)[:hours]
    # no new arrivals in the last 30 minutes
    times = []
    for hour in rng.choices(range(hours), weights=profile, k=n):
        start = opens + timedelta(hours=hour)
        span = 3600 if hour < hours - 1 else 1800
        times.append(start + timedelta(seconds=rng.uniform(0, span)))
    return sorted(times)


def _store_weights(site: Site) -> dict[str, float]:
    return {s.id: (4.0 if s.anchor else 1.0) * (1.3 if s.category in ("food", "cafe") else 1.0) for s in site.stores}


def _choose_stores(site: Site, base: dict[str, float], groups: list[set[str]], k: int, rng: random.Random,
                   boost: dict[str, float]) -> list[Store]:
    """Up to k distinct stores: anchors attract more, categories of one affinity group go together (x4), and
    people tend to stay on a floor (x1.8)."""
    chosen: list[Store] = []
    taken: set[str] = set()
    affine: set[str] = set()  # categories grouped with one already visited
    floor = None
    stores = site.stores
    for _ in range(k):
        weights = []
        for st in stores:
            if st.id in taken:
                weights.append(0.0)
                continue
            w = base[st.id] * boost.get(st.id, 1.0)
            if st.category in affine:
                w *= 4.0
            if floor is not None and site.zone_by_id[st.zone].floor == floor:
                w *= 1.8
            weights.append(w)
        if not any(weights):
            break
        store = rng.choices(stores, weights)[0]
        chosen.append(store)
        taken.add(store.id)
        for g in groups:
            if store.category in g:
                affine |= g
        floor = site.zone_by_id[store.zone].floor
    return chosen


def _dwell_s(store: Store, rng: random.Random) -> float:
    if rng.random() < BOUNCE_SHARE and store.category not in ("cinema", "restaurant"):
        return rng.uniform(30, 110)
    median = DWELL_MEDIAN_MIN.get(store.category, 12) * 60
    return min(4 * 3600, rng.lognormvariate(math.log(median), 0.45))


class _Walker:
    """Builds one visit's segments: walking legs through corridors, stays in stores and the atrium."""

    def __init__(self, layout: _Layout, rng: random.Random, t: float, floor: str, zone: str, pos: Point) -> None:
        self.layout, self.rng = layout, rng
        self.t, self.floor, self.zone, self.pos = t, floor, zone, pos
        self.segments: list[Segment] = []

    def _leg(self, zone: str, target: Point) -> None:
        t1 = self.t + distance(self.pos, target) / WALK_M_PER_S * 1000
        self.segments.append(Segment(int(self.t), int(t1), self.floor, zone, self.pos, target))
        self.t, self.zone, self.pos = t1, zone, target

    def stay(self, zone: str, duration_ms: float) -> None:
        """Stay in ``zone`` (drifting to a random spot in it) for ``duration_ms``."""
        poly = self.layout.site.zone_by_id[zone].polygon
        target = random_point(poly, self.rng)
        t1 = self.t + duration_ms
        self.segments.append(Segment(int(self.t), int(t1), self.floor, zone, self.pos, target))
        self.t, self.zone, self.pos = t1, zone, target

    def walk_to_zone(self, zone: str) -> None:
        lay = self.layout
        dest_floor = lay.floor_of_zone(zone)
        if dest_floor != self.floor:
            atrium = lay.atrium[self.floor]
            self._via(atrium)
            self._leg(atrium, lay.centre[atrium])
            self.t += FLOOR_CHANGE_S * 1000 * abs(self._level(dest_floor) - self._level(self.floor))
            self.floor = dest_floor
            new_atrium = lay.atrium[dest_floor]
            self.zone, self.pos = new_atrium, lay.centre[new_atrium]
        self._via(zone)
        poly = lay.site.zone_by_id[zone].polygon
        self._leg(zone, random_point(poly, self.rng))

    def _via(self, zone: str) -> None:
        """Walk along the corridor in front of the current place, then the one in front of ``zone``."""
        lay = self.layout
        for corridor in (self._front_of(self.zone), self._front_of(zone)):
            if corridor and corridor != self.zone and lay.floor_of_zone(corridor) == self.floor:
                cx, cy = lay.centre[corridor]
                target = (cx + self.rng.uniform(-15, 15), cy + self.rng.uniform(-3, 3))
                poly = lay.site.zone_by_id[corridor].polygon
                if not contains(poly, target):
                    target = (cx, cy)
                self._leg(corridor, target)

    def _front_of(self, zone: str) -> str | None:
        z = self.layout.site.zone_by_id[zone]
        if z.kind == ZoneKind.STORE:
            return self.layout.front[self.layout.store_of_zone[zone]]
        if z.kind in (ZoneKind.CORRIDOR, ZoneKind.ATRIUM, ZoneKind.FOOD_COURT):
            return zone
        return self.layout.atrium[z.floor] if z.kind in (ZoneKind.ENTRANCE, ZoneKind.PARKING) else None

    def _level(self, floor: str) -> int:
        return self.layout.site.floor_by_id[floor].level


def plan_day(site: Site, day: date, *, scale: float = 1.0, seed: int = 0,
             members: list[Member] | None = None) -> DayPlan:
    """Every visit of one local day, deterministic for (site, day, scale, seed)."""
    sim = site.simulation
    rng = random.Random(f"{seed}-{day.isoformat()}")
    tz = site.site.tz
    opens = datetime.combine(day, site.site.opens, tzinfo=tz)
    closes = datetime.combine(day, site.site.closes, tzinfo=tz)
    members = members if members is not None else member_base(site, scale, seed)
    layout = _Layout(site)
    base = _store_weights(site)
    groups = [set(g) for g in sim.affinity]
    entrances = site.entrances
    door_weights = [0.7 if not e.external else (1.6 if "main" in e.name.lower() else 1.0) for e in entrances]
    n = max(1, round(sim.daily_visitors * sim.weekday_factors[day.weekday()] * scale))

    # campaigns active today: extra visits aimed at their target stores during the campaign window
    campaign_extra: dict[str, int] = {}
    extra_plans: list[tuple[datetime, str, list[str]]] = []
    for c in site.campaigns:
        uplift = sim.campaign_uplift.get(c.id, 0.0)
        start = c.start.replace(tzinfo=tz) if c.start.tzinfo is None else c.start
        end = c.end.replace(tzinfo=tz) if c.end.tzinfo is None else c.end
        w0, w1 = max(start, opens), min(end, closes - timedelta(minutes=30))
        if uplift <= 0 or w1 <= w0:
            continue
        share = sum(base[s] for s in c.target_stores) / sum(base.values())
        expected_target_visits = n * sim.stores_per_visit * share * (w1 - w0) / (closes - opens)
        k = round(expected_target_visits * uplift)
        campaign_extra[c.id] = k
        span = (w1 - w0).total_seconds()
        extra_plans += [(w0 + timedelta(seconds=rng.uniform(0, span)), c.id, c.target_stores) for _ in range(k)]

    arrivals = [(t, None, None) for t in _arrival_times(n, opens, closes, rng)]
    arrivals += [(t, cid, targets) for t, cid, targets in extra_plans]
    arrivals.sort(key=lambda a: a[0])
    member_weights = [m.frequency for m in members]
    visits, transactions = [], []
    closing_ms = ms(closes)
    last_call_ms = closing_ms + 10 * 60_000  # the last shoppers leave shortly after closing
    for i, (arrive, campaign, targets) in enumerate(arrivals):
        member = rng.choices(members, member_weights)[0] if rng.random() < sim.member_share else None
        person = member.member_id if member else f"anon-{day:%Y%m%d}-{i}"
        k = 1 + min(8, _poisson(rng, max(0.0, sim.stores_per_visit - 1)))
        if campaign:
            first = site.store_by_id[rng.choice(targets)]
            stores = [first, *_choose_stores(site, base, groups, k - 1, rng, {first.id: 0.0})]
        else:
            stores = _choose_stores(site, base, groups, k, rng, {})
        door_in = rng.choices(entrances, door_weights)[0]
        door_out = door_in if rng.random() < 0.55 else rng.choices(entrances, door_weights)[0]
        walker = _Walker(layout, rng, ms(arrive), door_in.floor, door_in.zone, door_in.inside)
        walker.stay(door_in.zone, rng.uniform(5, 20) * 1000)
        visit_stores = []
        for store in stores:
            if walker.t > last_call_ms - 120_000:
                break  # shops are closing: head for the door
            walker.walk_to_zone(store.zone)
            t0 = walker.t
            walker.stay(store.zone, max(30_000, min(_dwell_s(store, rng) * 1000, last_call_ms - walker.t)))
            visit_stores.append((store.id, int(t0), int(walker.t)))
            if rng.random() < min(0.95, sim.purchase_probability * PURCHASE_FACTOR.get(store.category, 1.0)):
                amount = round(rng.lognormvariate(math.log(SPEND_MEDIAN.get(store.category, 150)), 0.6), 2)
                paid_as_member = member is not None and rng.random() < 0.75
                transactions.append(Transaction(
                    f"T{day:%Y%m%d}-{len(transactions) + 1:06d}", int(walker.t - rng.uniform(0, 60_000)),
                    store.id, amount, member.member_id if paid_as_member else None))
            if rng.random() < 0.12:  # linger in the atrium / food court between shops
                atrium = layout.atrium[walker.floor]
                walker.walk_to_zone(atrium)
                walker.stay(atrium, rng.uniform(3, 15) * 60_000)
        walker.walk_to_zone(door_out.zone)
        walker.stay(door_out.zone, rng.uniform(5, 15) * 1000)
        t_out = max(int(walker.t), int(walker.segments[0].t0) + 60_000)
        phone = rng.choice(PHONE_MODELS) if rng.random() < sim.wifi_share else None
        visits.append(Visit(
            visit_id=f"V{day:%Y%m%d}-{i + 1:06d}", person=person,
            member_id=member.member_id if member else None,
            app_id=member.member_id if member and member.app else None,
            phone=phone, randomized_mac=phone is not None and rng.random() < sim.randomized_mac_share,
            entrance_in=door_in.id, entrance_out=door_out.id, t_in=int(walker.segments[0].t0), t_out=t_out,
            crossing_in_seen=rng.random() >= sim.camera_miss_rate,
            crossing_out_seen=rng.random() >= sim.camera_miss_rate,
            stores=visit_stores, segments=walker.segments, campaign=campaign,
        ))
    return DayPlan(day, visits, sorted(transactions, key=lambda t: t.ts), campaign_extra)


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def day_bounds(site: Site, day: date) -> tuple[int, int]:
    """Local opening to closing + 1 hour, in ms."""
    tz = site.site.tz
    return ms(datetime.combine(day, site.site.opens, tzinfo=tz)), ms(
        datetime.combine(day, site.site.closes, tzinfo=tz) + timedelta(hours=1))

