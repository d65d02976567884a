"""The mall's CRM member base and the phones people carry: stable per member across days, fresh per anonymous visit.

A member keeps tier, join date, app (BLE) and phone from day to day, and has a visit propensity, so a multi-day run
has regulars and occasional visitors. :func:`seed_words` turns run parameters into reproducible seeds.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from mallsense.site import Simulation, Site
from simulator import profiles


def seed_words(*parts: object) -> list[int]:
    """Eight 32-bit words for ``numpy.random.default_rng`` / a ``random.Random`` seed, from any labels.

    >>> seed_words("world", 0, "2026-11-14") == seed_words("world", 0, "2026-11-14")
    True
    """
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=32).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]


def seeded(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from labels (see :func:`seed_words`)."""
    return random.Random(int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode()).digest()[:16], "big"))


@dataclass(frozen=True, slots=True)
class Phone:
    """A visitor's phone as WiFi sensors see it.

    Attributes:
        model: phone model (its probe requests carry that model's information elements).
        randomized_mac: whether it probes with a locally administered MAC that rotates.
        mac_seed: private seed of its MAC addresses (the simulator's stand-in for the hardware address).
    """

    model: str
    randomized_mac: bool
    mac_seed: int


@dataclass(frozen=True, slots=True)
class Member:
    """One CRM member.

    Attributes:
        member_id: CRM id.
        joined: join date.
        tier: standard, silver, gold or vip.
        app: carries the member app (consented BLE identity).
        frequency: relative propensity to visit on a given day.
        phone: the member's phone if it probes WiFi.
    """

    member_id: str
    joined: date
    tier: str
    app: bool
    frequency: float
    phone: Phone | None


def draw_phone(sim: Simulation, rng: random.Random) -> Phone | None:
    """A phone for one person: probing WiFi with probability ``wifi_share``, randomized MACs per the site."""
    if rng.random() >= sim.wifi_share:
        return None
    model = rng.choice(profiles.PHONE_MODELS)[0]
    return Phone(model, rng.random() < sim.randomized_mac_share, rng.getrandbits(63))


def member_base(site: Site, as_of: date, *, scale: float = 1.0, seed: int = 0) -> list[Member]:
    """The CRM member base: ``simulation.members * scale`` members who joined before ``as_of``.

    The base scales with the visitor volume so that a light test day has the same share of returning members as a
    full one. Deterministic for (site, as_of, scale, seed).
    """
    sim = site.simulation
    n = max(1, round(sim.members * scale)) if sim.members else 0
    rng = seeded("members", seed, as_of.isoformat())
    tiers, weights = zip(*profiles.TIERS, strict=True)
    members = []
    for i in range(n):
        tier = rng.choices(tiers, weights)[0]
        members.append(Member(
            member_id=f"M{i + 1:06d}",
            joined=as_of - timedelta(days=rng.randint(1, profiles.MEMBER_HISTORY_DAYS)),
            tier=tier,
            app=rng.random() < sim.app_share,
            frequency=rng.lognormvariate(0.0, profiles.FREQUENCY_SIGMA) * profiles.TIER_FREQUENCY[tier],
            phone=draw_phone(sim, rng),
        ))
    return members


def pick_members(members: list[Member], k: int, day: date, rng: np.random.Generator) -> list[Member]:
    """``k`` distinct members who visit on ``day``, drawn in proportion to their visit propensity.

    Weighted sampling without replacement (Efraimidis–Spirakis keys), so nobody comes twice on one day.
    """
    eligible = [m for m in members if m.joined <= day]
    k = min(k, len(eligible))
    if k <= 0:
        return []
    weights = np.fromiter((m.frequency for m in eligible), dtype=float, count=len(eligible))
    keys = np.log(rng.random(len(eligible))) / weights
    chosen = np.argpartition(-keys, k - 1)[:k]
    chosen.sort()
    return [eligible[i] for i in chosen]
