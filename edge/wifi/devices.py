"""How many devices, and how many people, a WiFi sensor heard in an interval: an estimate, with its method.

Counting distinct source addresses overstates devices 20-40x: phones send probe requests from a fresh random
(locally administered) address every scan, often every frame. The estimate works only on what the collector
publishes — keyed device hashes, the randomized flag, a keyed hash of the information elements (``fp``), the 802.11
sequence number and the signal — so it can run at the edge or on stored sightings alike.

Method, per interval (default 5 minutes), over probes at or above ``min_rssi_dbm`` (the sensor's useful range):

1. **Stable addresses** (not randomized): one device each, except *fixtures*: an address heard in the sensor's range
   for longer than ``fixture_after_s`` without a gap of ``fixture_gap_s`` is a printer, a desktop or a laptop left on,
   not a visitor, and is excluded from then on (for the rest of the key period).
2. **Randomized addresses** are linked into chains: address B continues chain A when both carry the same element
   fingerprint, B starts at most ``chain_gap_s`` after A was last heard, and B's first sequence number follows A's
   last within ``max_seq_step`` (devices that randomize their address rarely reset the 12-bit counter). Each chain
   is one device. Devices of one model and OS share a fingerprint, so without the sequence test a crowd of iPhones
   would count as one; without the fingerprint test two phones' counters could be joined.
3. **People** = ``people_per_device`` x devices + ``people_offset``: a calibration the operator sets from a few
   manual counts (:func:`calibrate` fits it by least squares on calibration intervals).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

SEQ_MOD = 4096
MAX_QUIET_MS = 24 * 3600 * 1000  # a longer silence (or a jump back in time) restarts the interval grid


@dataclass(frozen=True, slots=True)
class Sighting:
    ts_ms: int
    dev: str
    rand: bool
    fp: str | None
    sn: int | None
    rssi: int | None


@dataclass(frozen=True)
class EstimatorConfig:
    interval_s: int = 300
    min_rssi_dbm: int | None = -75
    chain_gap_s: float = 60.0
    max_seq_step: int = 256
    fixture_after_s: float = 3 * 3600.0
    fixture_gap_s: float = 900.0
    people_per_device: float = 1.0
    people_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.interval_s < 10:
            raise ValueError("interval_s must be at least 10 seconds")
        if not 0 < self.max_seq_step < SEQ_MOD:
            raise ValueError(f"max_seq_step must be within 1..{SEQ_MOD - 1}")
        if self.people_per_device < 0:
            raise ValueError("people_per_device cannot be negative")


@dataclass(frozen=True, slots=True)
class IntervalEstimate:
    start_ms: int
    probes: int  # probes in range
    keys: int  # distinct device keys in range (the naive count)
    randomized_keys: int
    stable_devices: int
    random_devices: int
    fixtures: int  # stable keys heard but excluded as fixtures
    people: float

    @property
    def devices(self) -> int:
        return self.stable_devices + self.random_devices


@dataclass
class _Presence:
    since_ms: int
    last_ms: int


@dataclass
class DeviceEstimator:
    """Feeds on sightings in time order; :meth:`close` returns the estimate of each finished interval."""

    config: EstimatorConfig = field(default_factory=EstimatorConfig)
    fixtures: set[str] = field(default_factory=set)
    _presence: dict[str, _Presence] = field(default_factory=dict)
    _open: list[Sighting] = field(default_factory=list)
    _start_ms: int | None = None

    def add(self, s: Sighting) -> list[IntervalEstimate]:
        """Add one sighting; returns the intervals it closed (empty intervals in between included)."""
        step = self.config.interval_s * 1000
        closed: list[IntervalEstimate] = []
        # a sighting up to one interval late joins the open interval; further back, or after a long silence, the
        # time line broke (a new capture, a clock step): start afresh
        if self._start_ms is not None and not self._start_ms - step <= s.ts_ms < self._start_ms + MAX_QUIET_MS:
            closed.append(self._close_one())
            self._start_ms = None
        if self._start_ms is None:
            self._start_ms = s.ts_ms - s.ts_ms % step
        while s.ts_ms >= self._start_ms + step:
            closed.append(self._close_one())  # quiet intervals in between are published as zeros
        if self.config.min_rssi_dbm is not None and (s.rssi is None or s.rssi < self.config.min_rssi_dbm):
            return closed
        self._open.append(s)
        if not s.rand:
            self._track_presence(s)
        return closed

    def flush(self) -> IntervalEstimate | None:
        """Close the open interval now (end of a replay, shutdown)."""
        return self._close_one() if self._start_ms is not None else None

    def _track_presence(self, s: Sighting) -> None:
        p = self._presence.get(s.dev)
        if p is None or s.ts_ms - p.last_ms > self.config.fixture_gap_s * 1000:
            self._presence[s.dev] = _Presence(s.ts_ms, s.ts_ms)
            return
        p.last_ms = s.ts_ms
        if (p.last_ms - p.since_ms) / 1000 >= self.config.fixture_after_s:
            self.fixtures.add(s.dev)

    def _close_one(self) -> IntervalEstimate:
        assert self._start_ms is not None
        est = estimate_interval(self._start_ms, self._open, self.config, self.fixtures)
        self._open = []
        self._start_ms += self.config.interval_s * 1000
        return est


def estimate_interval(start_ms: int, sightings: Sequence[Sighting], config: EstimatorConfig,
                      fixtures: set[str] | frozenset[str] = frozenset()) -> IntervalEstimate:
    """The estimate of one interval's in-range sightings (see the module docstring for the method)."""
    stable = {s.dev for s in sightings if not s.rand}
    visitors = stable - fixtures
    random = [s for s in sightings if s.rand]
    chains = count_chains(random, config.chain_gap_s, config.max_seq_step)
    devices = len(visitors) + chains
    people = max(0.0, config.people_per_device * devices + config.people_offset) if devices else 0.0
    return IntervalEstimate(start_ms, len(sightings), len(stable) + len({s.dev for s in random}),
                            len({s.dev for s in random}), len(visitors), chains, len(stable & fixtures), people)


def count_chains(random: Iterable[Sighting], chain_gap_s: float, max_seq_step: int) -> int:
    """Number of devices behind randomized addresses: address tracks linked by fingerprint and sequence number."""
    tracks: dict[str, list[int]] = {}  # dev -> [first_ts, last_ts, first_sn, last_sn]
    fps: dict[str, str | None] = {}
    for s in sorted(random, key=lambda s: s.ts_ms):
        t = tracks.get(s.dev)
        if t is None:
            tracks[s.dev] = [s.ts_ms, s.ts_ms, s.sn if s.sn is not None else -1, s.sn if s.sn is not None else -1]
            fps[s.dev] = s.fp
        else:
            t[1] = s.ts_ms
            if s.sn is not None:
                t[3] = s.sn
                if t[2] < 0:
                    t[2] = s.sn
    by_fp: dict[str | None, list[list[int]]] = defaultdict(list)
    for dev, t in tracks.items():
        by_fp[fps[dev]].append(t)
    gap_ms = chain_gap_s * 1000
    chains = 0
    for fp, group in by_fp.items():
        if fp is None:
            chains += len(group)
            continue
        ends: list[tuple[int, int]] = []  # (last_ts, last_sn) of each open chain
        for first_ts, last_ts, first_sn, last_sn in sorted(group):
            best = None
            for i, (end_ts, end_sn) in enumerate(ends):
                if end_sn < 0 or first_sn < 0 or not 0 <= first_ts - end_ts <= gap_ms:
                    continue
                step = (first_sn - end_sn) % SEQ_MOD
                if 0 < step <= max_seq_step and (best is None or step < best[1]):
                    best = (i, step)
            if best is None:
                ends.append((last_ts, last_sn))
                chains += 1
            else:
                ends[best[0]] = (last_ts, last_sn)
    return chains


def calibrate(devices: Sequence[float], people: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``people ≈ a * devices + b`` (a ≥ 0) from calibration intervals; returns (a, b)."""
    x = np.asarray(devices, dtype=float)
    y = np.asarray(people, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("calibration needs at least two intervals with different device counts")
    a, b = np.polyfit(x, y, 1)
    if a < 0:
        return 0.0, float(y.mean())
    return float(a), float(b)
