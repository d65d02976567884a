"""The simulated mall's people on one local day: who comes, when, through which door, which stores, how long, what
they buy, and the extra visits a campaign brings. Pure and deterministic for (site, day, scale, seed).

:func:`plan_day` returns a :class:`DayPlan`: every visit with its itinerary (contiguous timed segments, see
:mod:`simulator.itinerary`) and the POS transactions. What the sensors make of it is :mod:`simulator.sensing`.

The story of one visit: arrive (intraday profile, weekday factor), cross an entrance line (street doors, a main
door busier, car-park lifts on b1), pause in the hall, then enter about ``stores_per_visit`` stores, each chosen by
appeal (anchors, time of day), affinity (a category makes the rest of its group more likely) and floor (people stay
on a floor), dwell a lognormal time (some bounce out within two minutes), sometimes window-shop in the corridor or
linger in the atrium, and leave through the same door or another (car drivers go back to the car park).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate

import numpy as np

from mallsense.site import Campaign, Entrance, Simulation, Site, Store
from simulator import profiles
from simulator.itinerary import Segment, StoreStay, Walker
from simulator.layout import Layout, Point
from simulator.members import Member, Phone, draw_phone, member_base, pick_members, seed_words, seeded

HOUR_MS = 3_600_000
NO_NEW_STORE_BEFORE_CLOSE_MS = 10 * 60_000  # shoppers stop going into stores ten minutes before closing
DOOR_INSET_M = 0.3  # a visitor starts/ends just inside the entrance line
BOUNCE_MS = 120_000  # a store visit shorter than this is a bounce (never a purchase)


@dataclass(slots=True)
class Visit:
    """One person's visit, entrance to exit.

    Attributes:
        visit_id: unique per run (``V<yyyymmdd>-<n>``, in order of arrival).
        person: member id, or an anonymous id for non-members (unique per visit).
        member_id: CRM member id, None for non-members.
        tier: member tier, None for non-members.
        app_id: consented member-app identity advertised over BLE (members with the app), else None.
        phone: the visitor's WiFi-probing phone, None if it does not probe.
        entrance_in, entrance_out: entrance (line) ids crossed in and out.
        t_in, t_out: ms of the inward and outward line crossings.
        stores: stores entered, in order.
        segments: the itinerary, contiguous from ``t_in`` to ``t_out``.
        campaign: id of the campaign that brought this (extra) visit, else None.
    """

    visit_id: str
    person: str
    member_id: str | None
    tier: str | None
    app_id: str | None
    phone: Phone | None
    entrance_in: str
    entrance_out: str
    t_in: int
    t_out: int
    stores: list[StoreStay] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    campaign: str | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    """A POS sale. ``member_id`` is set when a member pays (they identify at the till)."""

    txn_id: str
    ts: int
    store_id: str
    amount: float
    member_id: str | None


@dataclass(frozen=True, slots=True)
class CampaignDay:
    """Ground truth of one campaign on one day.

    Attributes:
        campaign: campaign id.
        true_uplift: the configured relative uplift (``simulation.campaign_uplift``).
        baseline_visits: target-store entries inside the campaign window that would have happened anyway.
        extra_visits: extra visitors the campaign brought (each enters exactly one target store).
        target_visits: target-store entries inside the window with the campaign.
    """

    campaign: str
    true_uplift: float
    baseline_visits: int
    extra_visits: int
    target_visits: int

    @property
    def realized_uplift(self) -> float:
        return self.target_visits / self.baseline_visits - 1 if self.baseline_visits else 0.0


@dataclass
class DayPlan:
    """Everything that happens in the mall on ``day`` (visits by arrival, transactions by time)."""

    day: date
    visits: list[Visit]
    transactions: list[Transaction]
    campaigns: dict[str, CampaignDay]
    opens_ms: int
    closes_ms: int


# ---------------------------------------------------------------------------------------------- time helpers
def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def opening_hours(site: Site, day: date) -> tuple[int, int]:
    """Local opening and closing time of ``day`` in ms."""
    tz = site.site.tz
    return ms(datetime.combine(day, site.site.opens, tzinfo=tz)), ms(datetime.combine(day, site.site.closes, tzinfo=tz))


def day_bounds(site: Site, day: date) -> tuple[int, int]:
    """The simulated span of ``day``: opening to one hour after closing (everyone is out by then), in ms."""
    opens, closes = opening_hours(site, day)
    return opens, closes + HOUR_MS


def arrival_times(site: Site, day: date, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` sorted arrival instants (ms): the intraday profile by local clock hour, from opening to half an hour
    before closing."""
    tz = site.site.tz
    opens = datetime.combine(day, site.site.opens, tzinfo=tz)
    closes = datetime.combine(day, site.site.closes, tzinfo=tz)
    last = max(opens + timedelta(minutes=1), closes - timedelta(seconds=profiles.LAST_ENTRY_BEFORE_CLOSE_S))
    weekend = day.weekday() >= 5
    starts, ends, weights = [], [], []
    cur = opens
    while cur < last:
        nxt = min(cur.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), last)
        starts.append(ms(cur))
        ends.append(ms(nxt))
        weights.append(profiles.arrival_weight(cur.hour, weekend) * (nxt - cur).total_seconds())
        cur = nxt
    if n <= 0:
        return []
    p = np.asarray(weights) / sum(weights)
    b = rng.choice(len(p), size=n, p=p)
    lo, hi = np.asarray(starts)[b], np.asarray(ends)[b]
    return sorted((lo + rng.random(n) * (hi - lo)).astype(np.int64).tolist())


# ---------------------------------------------------------------------------------------------- choices
class Doors:
    """Entrance choice: street doors (a main door busier), car-park lifts; exit by the same door or another."""

    def __init__(self, site: Site) -> None:
        self.all = list(site.entrances)
        self.cum = list(accumulate(profiles.door_weight(e.name, e.external) for e in self.all))
        self.street = [e for e in self.all if e.external] or self.all
        self.street_cum = list(accumulate(profiles.door_weight(e.name, e.external) for e in self.street))
        self.car_park = [e for e in self.all if not e.external]

    def pick_in(self, rng: random.Random) -> Entrance:
        return rng.choices(self.all, cum_weights=self.cum)[0]

    def pick_out(self, door_in: Entrance, rng: random.Random) -> Entrance:
        if not door_in.external:  # came by car: back to the car (usually the same lifts)
            if rng.random() < profiles.CAR_PARK_RETURN:
                return door_in if rng.random() < 0.8 or len(self.car_park) < 2 else rng.choice(self.car_park)
            return rng.choices(self.street, cum_weights=self.street_cum)[0]
        if rng.random() < profiles.SAME_DOOR_OUT:
            return door_in
        return rng.choices(self.street, cum_weights=self.street_cum)[0]


class StoreChooser:
    """Sequential store choice: appeal by hour x affinity boosts x same-floor boost, without repeats.

    A visitor carries a weight multiplier vector (:meth:`fresh`); :meth:`visited` zeroes the store and boosts the
    other categories of its affinity groups once per group.
    """

    def __init__(self, site: Site, layout: Layout) -> None:
        self.stores: list[Store] = [s for s in site.stores if layout.reachable(s.zone)]
        self.index = {s.id: i for i, s in enumerate(self.stores)}
        n = len(self.stores)
        appeal = np.array([(profiles.ANCHOR_APPEAL if s.anchor else 1.0) * profiles.CATEGORY_APPEAL.get(s.category, 1.0)
                           for s in self.stores])
        self.appeal = appeal
        by_hour = [[profiles.hour_appeal(s.category, h) for s in self.stores] for h in range(24)]
        self.by_hour = np.array(by_hour).reshape(24, n) * appeal
        floors = [layout.floor_of[s.zone] for s in self.stores]
        self.floor_boost = {f: np.where(np.array(floors) == f, profiles.SAME_FLOOR_BOOST, 1.0) for f in set(floors)}
        self.no_boost = np.ones(n)
        groups = [set(g) for g in site.simulation.affinity]
        self.group_mask = [np.array([s.category in g for s in self.stores], dtype=bool) for g in groups]
        self.groups_of = [[gi for gi, g in enumerate(groups) if s.category in g] for s in self.stores]

    def fresh(self, exclude: Iterable[str] = ()) -> np.ndarray:
        mult = np.ones(len(self.stores))
        for sid in exclude:
            if sid in self.index:
                mult[self.index[sid]] = 0.0
        return mult

    def pick(self, mult: np.ndarray, hour: int, floor: str, rng: random.Random) -> int | None:
        """Index of the next store, or None if nothing is left to visit."""
        w = self.by_hour[hour % 24] * mult * self.floor_boost.get(floor, self.no_boost)
        cum = np.cumsum(w)
        total = float(cum[-1]) if len(cum) else 0.0
        if total <= 0:
            return None
        return min(int(np.searchsorted(cum, rng.random() * total, side="right")), len(cum) - 1)

    def visited(self, mult: np.ndarray, i: int, boosted: set[int]) -> None:
        mult[i] = 0.0
        for g in self.groups_of[i]:
            if g not in boosted:
                boosted.add(g)
                mult[self.group_mask[g]] *= profiles.AFFINITY_BOOST


def dwell_ms(store: Store, rng: random.Random) -> float:
    """Time from entering to leaving a store: lognormal around the category's median, or a bounce."""
    if store.category not in profiles.NO_BOUNCE and rng.random() < profiles.BOUNCE_SHARE:
        return rng.uniform(*profiles.BOUNCE_S) * 1000
    median = profiles.dwell_median_s(store.category)
    return min(profiles.MAX_DWELL_S, rng.lognormvariate(math.log(median), profiles.DWELL_SIGMA)) * 1000


def stores_wanted(mean: float, rng: random.Random) -> int:
    """How many stores a visitor means to enter: 0 for a walk-through, else 1 + Poisson, with the site's mean."""
    if rng.random() < profiles.WALK_THROUGH_SHARE:
        return 0
    lam = max(0.0, mean / (1 - profiles.WALK_THROUGH_SHARE) - 1)
    return 1 + _poisson(lam, rng)


def _poisson(lam: float, rng: random.Random) -> int:
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def door_point(entrance: Entrance, rng: random.Random) -> Point:
    """A point on the entrance line (its middle 80 %), just on the mall side."""
    (ax, ay), (bx, by) = entrance.line
    f = 0.1 + 0.8 * rng.random()
    px, py = ax + f * (bx - ax), ay + f * (by - ay)
    dx, dy = entrance.inside[0] - px, entrance.inside[1] - py
    norm = math.hypot(dx, dy) or 1.0
    return (px + DOOR_INSET_M * dx / norm, py + DOOR_INSET_M * dy / norm)


# ---------------------------------------------------------------------------------------------- one visit
@dataclass(slots=True)
class _Visitor:
    person: str
    member: Member | None
    phone: Phone | None
    arrive_ms: int
    campaign: str | None = None
    first_store: str | None = None  # campaign visitors come for this store
    avoid: tuple[str, ...] = ()  # ... and enter no other target or control store


class _Planner:
    """Builds visits for one day (shared state: layout, choosers, the day's random source)."""

    def __init__(self, site: Site, day: date, layout: Layout, rng: random.Random) -> None:
        self.site, self.day, self.layout, self.rng = site, day, layout, rng
        self.sim = site.simulation
        self.doors = Doors(site)
        self.stores = StoreChooser(site, layout)
        self.opens_ms, self.closes_ms = opening_hours(site, day)
        self.midnight_ms = ms(datetime.combine(day, time(0), tzinfo=site.site.tz))
        self.no_new_store_ms = self.closes_ms - NO_NEW_STORE_BEFORE_CLOSE_MS
        self.shops_out_ms = self.closes_ms + profiles.SHOPS_CLOSE_GRACE_S * 1000

    def hour(self, t_ms: float) -> int:
        return int((t_ms - self.midnight_ms) // HOUR_MS)

    def visit(self, who: _Visitor) -> Visit:
        rng, lay = self.rng, self.layout
        door_in = self.doors.pick_in(rng)
        door_out = self.doors.pick_out(door_in, rng)
        mean, sd, lo, hi = profiles.WALK_SPEED_M_S
        walker = Walker(lay, rng, who.arrive_ms, door_in.zone, door_point(door_in, rng),
                        min(hi, max(lo, rng.gauss(mean, sd))))
        walker.stay(rng.uniform(*profiles.DOOR_HALL_PAUSE_S) * 1000)
        wanted = stores_wanted(self.sim.stores_per_visit, rng)
        if who.first_store is not None:
            wanted = max(1, wanted)
        stays = self._shop(walker, who, wanted) if wanted else []
        if not stays:
            self._stroll(walker)
        t_out_door = door_point(door_out, rng)
        walker.walk_to(door_out.zone, t_out_door)
        member = who.member
        return Visit(
            visit_id="", person=who.person, member_id=member.member_id if member else None,
            tier=member.tier if member else None, app_id=member.member_id if member and member.app else None,
            phone=who.phone, entrance_in=door_in.id, entrance_out=door_out.id,
            t_in=who.arrive_ms, t_out=walker.t, stores=stays, segments=walker.segments, campaign=who.campaign)

    def _shop(self, walker: Walker, who: _Visitor, wanted: int) -> list[StoreStay]:
        rng, chooser = self.rng, self.stores
        mult = chooser.fresh(who.avoid)
        boosted: set[int] = set()
        stays: list[StoreStay] = []
        while len(stays) < wanted and walker.t < self.no_new_store_ms:
            if who.first_store is not None and not stays:
                i: int | None = chooser.index[who.first_store]
            else:
                i = chooser.pick(mult, self.hour(walker.t), walker.floor, rng)
            if i is None:
                break
            store = chooser.stores[i]
            chooser.visited(mult, i, boosted)
            dwell = dwell_ms(store, rng)
            entered = walker.walk_to(store.zone, self._spot_in(store.zone, dwell))
            leave_by = min(entered + dwell, self.shops_out_ms)
            walker.stay(max(0.0, leave_by - walker.t - walker.ms_to_door()))
            stays.append(StoreStay(store.id, entered, walker.leave_store()))
            if rng.random() < profiles.CORRIDOR_BROWSE_SHARE:  # window-shopping along the corridor
                walker.walk_to(walker.zone)
                walker.stay(rng.uniform(20, 180) * 1000)
            elif rng.random() < profiles.ATRIUM_LINGER_SHARE and walker.t < self.closes_ms:
                walker.walk_to(self.layout.core[walker.floor])
                walker.stay(rng.uniform(3, 15) * 60_000)
        return stays

    def _spot_in(self, zone: str, dwell: float) -> Point:
        """Where in a store the visitor goes: anywhere, or near the door for a quick look (a bounce)."""
        spot = self.layout.random_spot(zone, self.rng)
        if dwell >= BOUNCE_MS:
            return spot
        door = self.layout.doors[zone].point
        return (door[0] + 0.25 * (spot[0] - door[0]), door[1] + 0.25 * (spot[1] - door[1]))

    def _stroll(self, walker: Walker) -> None:
        """A visitor who enters no store: walks to the atrium of a floor, looks around, leaves."""
        floor = walker.floor if self.rng.random() < 0.7 else self.rng.choice(list(self.layout.core))
        walker.walk_to(self.layout.core[floor])
        walker.stay(self.rng.uniform(2, 12) * 60_000)


# ---------------------------------------------------------------------------------------------- the day
def plan_day(site: Site, day: date, *, scale: float = 1.0, seed: int = 0, members: list[Member] | None = None,
             layout: Layout | None = None) -> DayPlan:
    """Every visit and transaction of one local day.

    Args:
        site: the mall (``site.simulation`` holds the behaviour parameters).
        day: the local date.
        scale: visitor volume relative to ``daily_visitors`` (tests run light days).
        seed: run seed; (site, day, scale, seed, members) determine the plan.
        members: the CRM base (pass the same list for every day of a run; default: :func:`member_base` as of day).
        layout: precomputed walking geometry (saves a little time per day).

    Returns:
        The day plan, visits sorted by arrival.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    sim = site.simulation
    layout = layout or Layout(site)
    rng = seeded("world", seed, day.isoformat())
    nrng = np.random.default_rng(seed_words("world", seed, day.isoformat()))
    if members is None:
        members = member_base(site, day, scale=scale, seed=seed)
    planner = _Planner(site, day, layout, rng)

    n = round(sim.daily_visitors * sim.weekday_factors[day.weekday()] * scale)
    arrivals = arrival_times(site, day, n, nrng)
    regulars = pick_members(members, int(nrng.binomial(n, sim.member_share)) if n else 0, day, nrng)
    slots = nrng.choice(n, size=len(regulars), replace=False).tolist() if regulars else []
    member_at = dict(zip(slots, regulars, strict=True))
    crowd = _Crowd(sim, day, rng)
    visitors = [crowd.member(member_at[i], t) if i in member_at else crowd.anonymous(t)
                for i, t in enumerate(arrivals)]
    visits = [planner.visit(v) for v in visitors]
    campaigns: dict[str, CampaignDay] = {}
    visiting = {r.member_id for r in regulars}
    absent = [m for m in members if m.member_id not in visiting]
    for c in site.campaigns:
        extra, truth = _campaign_day(c, site, planner, visits, crowd, absent, nrng)
        if truth is not None:
            campaigns[c.id] = truth
            visits += extra
            taken = {v.member_id for v in extra if v.member_id}
            absent = [m for m in absent if m.member_id not in taken]
    visits.sort(key=lambda v: (v.t_in, v.person))
    for i, v in enumerate(visits):
        v.visit_id = f"V{day:%Y%m%d}-{i + 1:06d}"
    return DayPlan(day, visits, _transactions(site, day, visits, rng), campaigns, planner.opens_ms, planner.closes_ms)


class _Crowd:
    """Makes visitors: members (with their own phone) and anonymous people (a fresh phone, an id per visit)."""

    def __init__(self, sim: Simulation, day: date, rng: random.Random) -> None:
        self.sim, self.day, self.rng = sim, day, rng
        self.count = 0

    def member(self, m: Member, arrive_ms: int) -> _Visitor:
        return _Visitor(m.member_id, m, m.phone, arrive_ms)

    def anonymous(self, arrive_ms: int) -> _Visitor:
        self.count += 1
        return _Visitor(f"anon-{self.day:%Y%m%d}-{self.count:06d}", None, draw_phone(self.sim, self.rng), arrive_ms)


def _campaign_window(campaign: Campaign, site: Site) -> tuple[int, int]:
    tz = site.site.tz
    start = campaign.start if campaign.start.tzinfo else campaign.start.replace(tzinfo=tz)
    end = campaign.end if campaign.end.tzinfo else campaign.end.replace(tzinfo=tz)
    return ms(start), ms(end)


def _target_entries(visits: Iterable[Visit], targets: set[str], t0: int, t1: int) -> int:
    return sum(1 for v in visits for s in v.stores if s.store in targets and t0 <= s.t0 < t1)


def _campaign_day(campaign: Campaign, site: Site, planner: _Planner, visits: list[Visit], crowd: _Crowd,
                  absent: list[Member], nrng: np.random.Generator) -> tuple[list[Visit], CampaignDay | None]:
    """Extra visits of a campaign active on the planner's day.

    As many extra visitors as the configured uplift of the target stores' entries inside the campaign window,
    counted on the day's own visits, so the uplift is exact against that counterfactual baseline. Each extra
    visitor comes for one target store (chosen by appeal), then shops as anyone else but enters no other target
    and no control store (the control group stays clean for difference-in-differences); members among them are
    drawn from those not already visiting today.
    """
    uplift = site.simulation.campaign_uplift.get(campaign.id, 0.0)
    c0, c1 = _campaign_window(campaign, site)
    w0 = max(c0, planner.opens_ms)
    w1 = min(c1 - 10 * 60_000, planner.closes_ms - 45 * 60_000)
    targets = [s for s in campaign.target_stores if s in planner.stores.index]
    if uplift <= 0 or w1 <= w0 or not targets:
        return [], None
    target_set = set(targets)
    baseline = _target_entries(visits, target_set, c0, c1)
    k = round(baseline * uplift)
    times = sorted((w0 + nrng.random(k) * (w1 - w0)).astype(np.int64).tolist())
    members = pick_members(absent, int(nrng.binomial(k, site.simulation.member_share)) if k else 0, planner.day,
                           nrng)
    member_slots = set(nrng.choice(k, size=len(members), replace=False).tolist()) if members else set()
    queue = iter(members)
    appeal = [float(planner.stores.appeal[planner.stores.index[s]]) for s in targets]
    avoid = (*targets, *campaign.control_stores)
    extra = []
    for i, t in enumerate(times):
        who = crowd.member(next(queue), t) if i in member_slots else crowd.anonymous(t)
        who.campaign = campaign.id
        who.first_store = planner.rng.choices(targets, appeal)[0]
        who.avoid = avoid
        extra.append(planner.visit(who))
    return extra, CampaignDay(campaign.id, uplift, baseline, k, baseline + _target_entries(extra, target_set, c0, c1))


def _transactions(site: Site, day: date, visits: list[Visit], rng: random.Random) -> list[Transaction]:
    """POS sales: per store entry (bounces never buy) with a category propensity, scaled so that the day's mean
    over all entries is ``purchase_probability``; amounts lognormal by category and member tier."""
    store = site.store_by_id
    entries = [(v, s) for v in visits for s in v.stores]
    if not entries:
        return []

    def propensity(s: StoreStay) -> float:
        if s.t1 - s.t0 < BOUNCE_MS:
            return 0.0
        return profiles.PURCHASE_PROPENSITY.get(store[s.store].category, 1.0)

    weights = [propensity(s) for _, s in entries]
    norm = sum(weights) / len(entries)
    scale = site.simulation.purchase_probability / norm if norm else 0.0
    sales = []
    for (v, s), w in zip(entries, weights, strict=True):
        if w == 0 or rng.random() >= min(profiles.MAX_PURCHASE_PROBABILITY, w * scale):
            continue
        category = store[s.store].category
        median = profiles.spend_median(category) * profiles.TIER_SPEND.get(v.tier or "standard", 1.0)
        amount = round(rng.lognormvariate(math.log(median), profiles.SPEND_SIGMA), 2)
        till = s.t1 - int(rng.uniform(10_000, min(120_000, (s.t1 - s.t0) / 2)))
        sales.append((till, s.store, amount, v.member_id))
    sales.sort(key=lambda sale: (sale[0], sale[1]))
    return [Transaction(f"T{day:%Y%m%d}-{i + 1:06d}", ts, sid, amount, mid)
            for i, (ts, sid, amount, mid) in enumerate(sales)]
