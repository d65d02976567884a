"""What the mall's sensors would report about a day plan, window by window, as contract observations.

Cameras: entrance-line crossings (with the plan's misses), occupancy of their zones every minute and track positions
every few seconds. WiFi sensors: probe requests of probing phones within range, keyed with the edge's device keyer
(randomized MACs rotate; the MAC never leaves this module). BLE scanners: the member app's advertisements.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from edge.privacy import DeviceKeyer
from mallsense.contract import BleObs, CrossingObs, Kind, OccupancyObs, PositionObs, WifiObs
from mallsense.geometry import contains, distance
from mallsense.site import Site
from simulator.world import DayPlan, Segment, Visit

POSITION_EVERY_MS = 10_000
OCCUPANCY_EVERY_MS = 60_000
PROBE_MEAN_MS = 75_000
BLE_EVERY_MS = 15_000
MAC_ROTATION_MS = 15 * 60_000


@dataclass(frozen=True, slots=True)
class Observation:
    sensor: str
    kind: Kind
    obs: object


def _segment_at(visit: Visit, t: int) -> Segment | None:
    for seg in visit.segments:
        if seg.t0 <= t < seg.t1:
            return seg
    return None


def _mac(visit: Visit, t: int) -> bytes:
    """The phone's MAC at time t: rotating, locally administered when randomized; fixed otherwise."""
    epoch = t // MAC_ROTATION_MS if visit.randomized_mac else 0
    raw = bytearray(hashlib.blake2b(f"{visit.person}|{visit.phone}|{epoch}".encode(), digest_size=6).digest())
    raw[0] = (raw[0] | 0x02) & 0xFE if visit.randomized_mac else raw[0] & 0xFC
    return bytes(raw)


def _rssi(d: float, rng: random.Random, tx_1m: float = -42.0, n: float = 2.6) -> int:
    return round(tx_1m - 10 * n * math.log10(max(d, 1.0)) + rng.gauss(0, 3.5))


class Sensing:
    """Generates observations for consecutive windows of one day plan (call :meth:`window` with rising times)."""

    def __init__(self, site: Site, plan: DayPlan, keyer: DeviceKeyer, seed: int = 0) -> None:
        self.site, self.plan, self.keyer = site, plan, keyer
        self.rng = random.Random(f"sensing-{seed}-{plan.day}")
        self.visits = sorted(plan.visits, key=lambda v: v.t_in)
        self._next = 0
        self._active: list[Visit] = []
        self.cameras = [s for s in site.sensors if s.kind == "camera"]
        self.zone_camera = {z: cam for cam in self.cameras for z in cam.zones}
        self.door_camera = {e: cam for cam in self.cameras for e in cam.lines}
        self.zone_polygon = {z.id: z.polygon for z in site.zones}
        self.wifi = [s for s in site.sensors if s.kind == "wifi"]
        self.ble = [s for s in site.sensors if s.kind == "ble"]
        self._track_ids: dict[tuple[str, str], int] = {}
        self._next_track: dict[str, int] = defaultdict(int)
        self._probe_at: dict[str, int] = {}
        self._sn: dict[str, int] = {}
        self.published_crossings: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
        self.true_crossings: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
        self.crossing_log: list[tuple[int, str, str, str, int]] = []

    def _track(self, sensor: str, visit: Visit) -> int:
        key = (sensor, visit.visit_id)
        if key not in self._track_ids:
            self._track_ids[key] = self._next_track[sensor]
            self._next_track[sensor] += 1
        return self._track_ids[key]

    def window(self, t0: int, t1: int) -> Iterator[Observation]:
        """Observations with t0 <= ts < t1."""
        while self._next < len(self.visits) and self.visits[self._next].t_in < t1:
            self._active.append(self.visits[self._next])
            self._next += 1
        yield from self._crossings(t0, t1)
        yield from self._positions(t0, t1)
        yield from self._occupancy(t0, t1)
        yield from self._wifi(t0, t1)
        yield from self._ble(t0, t1)
        self._active = [v for v in self._active if v.t_out >= t1]

    def _crossings(self, t0: int, t1: int) -> Iterator[Observation]:
        for v in self._active:
            for t, door, direction, seen in ((v.t_in, v.entrance_in, "in", v.crossing_in_seen),
                                             (v.t_out, v.entrance_out, "out", v.crossing_out_seen)):
                if not t0 <= t < t1:
                    continue
                self.true_crossings[door][direction] += 1
                cam = self.door_camera.get(door)
                published = seen and cam is not None
                self.crossing_log.append((t, door, direction, v.visit_id, int(published)))
                if published:
                    self.published_crossings[door][direction] += 1
                    yield Observation(cam.id, Kind.CROSSING,
                                      CrossingObs(ts=t, line=door, dir=direction, track=self._track(cam.id, v)))

    def _positions(self, t0: int, t1: int) -> Iterator[Observation]:
        start = -(-t0 // POSITION_EVERY_MS) * POSITION_EVERY_MS
        for t in range(start, t1, POSITION_EVERY_MS):
            for v in self._active:
                if not v.t_in <= t < v.t_out:
                    continue
                seg = _segment_at(v, t)
                if seg is None or seg.zone not in self.zone_camera:
                    continue
                cam = self.zone_camera[seg.zone]
                if self.rng.random() < 0.05:  # occlusion: the tracker loses a sample now and then
                    continue
                x, y = seg.at(t)
                if not contains(self.zone_polygon[seg.zone], (x, y)):
                    continue  # still inside a shop on the way out: the corridor camera cannot see it
                yield Observation(cam.id, Kind.POSITION, PositionObs(
                    ts=t, track=self._track(cam.id, v), floor=seg.floor, x=round(x, 2), y=round(y, 2)))

    def _occupancy(self, t0: int, t1: int) -> Iterator[Observation]:
        start = -(-t0 // OCCUPANCY_EVERY_MS) * OCCUPANCY_EVERY_MS
        for t in range(start, t1, OCCUPANCY_EVERY_MS):
            counts: dict[str, int] = defaultdict(int)
            for v in self._active:
                if v.t_in <= t < v.t_out:
                    seg = _segment_at(v, t)
                    if seg is not None and seg.zone in self.zone_camera:
                        counts[seg.zone] += 1
            for zone, cam in self.zone_camera.items():
                yield Observation(cam.id, Kind.OCCUPANCY, OccupancyObs(ts=t, zone=zone, count=counts.get(zone, 0)))

    def _wifi(self, t0: int, t1: int) -> Iterator[Observation]:
        for v in self._active:
            if v.phone is None:
                continue
            t = self._probe_at.get(v.visit_id, v.t_in + int(self.rng.uniform(0, PROBE_MEAN_MS)))
            while t < t1:
                if t >= t0 and v.t_in <= t < v.t_out:
                    yield from self._probe(v, t)
                t += int(self.rng.expovariate(1 / PROBE_MEAN_MS)) + 5_000
            self._probe_at[v.visit_id] = t

    def _probe(self, v: Visit, t: int) -> Iterator[Observation]:
        seg = _segment_at(v, t)
        if seg is None:
            return
        pos = seg.at(t)
        sn = (self._sn.get(v.visit_id, self.rng.randrange(4096)) + self.rng.randint(1, 4)) % 4096
        self._sn[v.visit_id] = sn
        mac = _mac(v, t)
        dev = self.keyer.key(mac, t)
        fingerprint = hashlib.blake2b(v.phone.encode(), digest_size=8).hexdigest()
        for sensor in self.wifi:
            if sensor.floor != seg.floor:
                continue
            d = distance(pos, sensor.position)
            if d > sensor.range_m:
                continue
            rssi = _rssi(d, self.rng)
            if rssi < -95:
                continue
            yield Observation(sensor.id, Kind.WIFI, WifiObs(
                ts=t, dev=dev, rssi=max(-120, min(-1, rssi)), rand=v.randomized_mac,
                ch=self.rng.choice((1, 6, 11)), sn=sn, fp=fingerprint))

    def _ble(self, t0: int, t1: int) -> Iterator[Observation]:
        start = -(-t0 // BLE_EVERY_MS) * BLE_EVERY_MS
        app_visits = [v for v in self._active if v.app_id]
        for t in range(start, t1, BLE_EVERY_MS):
            for v in app_visits:
                if not v.t_in <= t < v.t_out:
                    continue
                seg = _segment_at(v, t)
                if seg is None:
                    continue
                pos = seg.at(t)
                for sensor in self.ble:
                    if sensor.floor == seg.floor and distance(pos, sensor.position) <= sensor.range_m:
                        rssi = _rssi(distance(pos, sensor.position), self.rng, tx_1m=-59, n=2.2)
                        yield Observation(sensor.id, Kind.BLE, BleObs(
                            ts=t, dev=self.keyer.stable_key(v.app_id.encode()), rssi=max(-127, min(20, rssi)),
                            tx=-59, frame="ibeacon"))

