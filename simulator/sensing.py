"""What the mall's sensors report about a day plan, window by window, as contract observations.

Cameras count entrance-line crossings (missing some, as real trackers do), snapshot the people in their zones every
minute and report each visible person's floor position every few seconds under an ephemeral track id (a new one
each time the person comes into view). WiFi sensors hear the probe requests of probing phones in range, keyed at
once with the edge's :class:`~edge.privacy.DeviceKeyer` (randomized MACs rotate; the MAC never leaves this module).
BLE scanners hear the member app's advertisements (a consented, stable key).

:class:`Sensing` is pure apart from its own random source: call :meth:`Sensing.window` with consecutive windows.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from edge.privacy import DeviceKeyer
from mallsense.contract import BleObs, CrossingObs, Kind, OccupancyObs, PositionObs, WifiObs
from mallsense.geometry import contains
from mallsense.site import Site
from simulator import profiles, radio
from simulator.itinerary import Segment
from simulator.layout import Layout
from simulator.members import seeded
from simulator.world import DayPlan, Visit, ms

POSITION_EVERY_MS = 5_000  # a tracked person's floor position, about every five seconds
OCCUPANCY_EVERY_MS = 60_000  # zone head counts, on the minute
OCCLUSION_SHARE = 0.05  # position samples the tracker loses (someone in front, a pillar)
POSITION_NOISE_M = 0.3  # tracker position error (homography, foot-point estimate)
BLE_JITTER_MS = 2_000
PROBE_MIN_GAP_MS = int(profiles.PROBE_MIN_GAP_S * 1000)
NOISE_MASK = (1 << 18) - 1  # size of the noise pools, minus one
NEVER = 2**62
_BY_TS = attrgetter("obs.ts")

Obs = CrossingObs | OccupancyObs | PositionObs | WifiObs | BleObs


class Observation(NamedTuple):
    """One observation for one sensor's stream of one kind."""

    sensor: str
    kind: Kind
    obs: Obs


@dataclass(frozen=True, slots=True)
class CrossingTruth:
    """A true entrance-line crossing and whether a camera published it."""

    ts: int
    line: str
    dir: str
    person: str
    visit_id: str
    published: bool


_Radio = tuple[str, float, float, float, str | None]  # sensor id, x, y, squared range (m²), store zone it is in


class _Tracked:
    """Sensing state of one visitor while inside: itinerary index, camera tracks, radio schedule."""

    __slots__ = ("ble_dev", "ble_next", "cam_k", "cam_next", "cam_segments", "cams", "dev", "dev_until", "door_k",
                 "door_next", "miss_in",
                 "miss_out", "phase", "probe_mean", "probe_next", "sn", "starts", "stint", "tracks", "visit")

    def __init__(self, visit: Visit, zone_cameras: dict[str, tuple[str, ...]], miss_in: bool, miss_out: bool,
                 rng: random.Random) -> None:
        self.visit = visit
        self.miss_in, self.miss_out = miss_in, miss_out
        segs = visit.segments
        self.starts = [s.t0 for s in segs]
        self.cams = [zone_cameras.get(s.zone, ()) for s in segs]
        # a stint is a run of segments seen by the same cameras: one track per camera per stint
        self.stint = [0] * len(segs)
        for j in range(1, len(segs)):
            self.stint[j] = self.stint[j - 1] + (self.cams[j] != self.cams[j - 1])
        self.cam_segments = [j for j, cams in enumerate(self.cams) if cams]
        self.cam_k = 0  # next entry of cam_segments that may still be seen
        self.cam_next = segs[self.cam_segments[0]].t0 if self.cam_segments else NEVER
        self.tracks: dict[tuple[int, str], int] = {}
        self.dev, self.dev_until = "", 0  # current WiFi device key and until when it holds
        self.phase = rng.randrange(POSITION_EVERY_MS)
        self.probe_mean = rng.uniform(*profiles.PROBE_MEAN_S) * 1000
        self.probe_next = visit.t_in + int(rng.uniform(0, self.probe_mean))
        self.sn = rng.randrange(4096)
        self.ble_next = visit.t_in + rng.randrange(int(profiles.BLE_ADVERT_EVERY_S * 1000))
        self.ble_dev: str | None = None
        self.door_k = 0  # next store-door event: stay door_k // 2, in (even) or out (odd)
        self.door_next = visit.stores[0].t0 if visit.stores else NEVER

    def segment_at(self, t: int) -> Segment | None:
        j = bisect_right(self.starts, t) - 1
        if j < 0:
            return None
        seg = self.visit.segments[j]
        return seg if t < seg.t1 else None


class Sensing:
    """Observations of one day plan, for consecutive time windows.

    Args:
        site: the mall and its sensors.
        plan: the day's visits (:func:`simulator.world.plan_day`).
        keyer: the edge's device keyer (WiFi device keys rotate with it; BLE uses its stable consented key).
        seed: run seed (misses, noise and radio timing are deterministic for it).
        sensors: only these sensors report (an edge node simulates its own); default all.
        layout: the site's walking geometry, if already built.

    Attributes:
        true_crossings: line -> {"in": n, "out": n} of every crossing so far.
        published_crossings: the same, of the crossings a camera of ``sensors`` published.
    """

    def __init__(self, site: Site, plan: DayPlan, keyer: DeviceKeyer, *, seed: int = 0,
                 sensors: Collection[str] | None = None, layout: Layout | None = None) -> None:
        self.site, self.plan, self.keyer = site, plan, keyer
        layout = layout or Layout(site)
        self.rng = seeded("sensing", seed, plan.day.isoformat())
        wanted = set(sensors) if sensors is not None else {s.id for s in site.sensors}
        cameras = [s for s in site.sensors if s.kind == "camera" and s.id in wanted]
        zone_cameras: dict[str, list[str]] = defaultdict(list)
        for cam in cameras:
            for zone in cam.zones:
                zone_cameras[zone].append(cam.id)
        self.zone_cameras = {z: tuple(c) for z, c in zone_cameras.items()}
        self.camera_zones = [(cam.id, zone) for cam in cameras for zone in cam.zones]
        self.line_camera = {e.id: cam.id for e in site.entrances
                            if (cam := site.camera_for_line(e.id)) is not None and cam.id in wanted}
        self.door_camera = {st.id: cam.id for st in site.stores
                            if (cam := site.camera_for_line(st.id)) is not None and cam.id in wanted}
        self.miss_rate = site.simulation.camera_miss_rate
        self.inexact = {z for z in self.zone_cameras if not layout.convex[z]}
        self.polygon = layout.polygon
        self.walkable = layout.walkable
        self.wifi = _radios(site, "wifi", wanted, layout)
        self.ble = _radios(site, "ble", wanted, layout)
        self.midnight_ms = ms(datetime.combine(plan.day + timedelta(days=1), time(0), tzinfo=site.site.tz))
        self.fingerprints = {m: radio.fingerprint(m) for m, _ in profiles.PHONE_MODELS}
        self._visits = plan.visits  # sorted by t_in
        self._noise = _Noise(self.rng)
        self._misses = [(self.rng.random() < site.simulation.camera_miss_rate,
                         self.rng.random() < site.simulation.camera_miss_rate) for _ in plan.visits]
        self._next = 0
        self._active: list[_Tracked] = []
        self._next_track: dict[str, int] = defaultdict(int)
        self._crossings: list[CrossingTruth] = []
        self.true_crossings: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
        self.published_crossings: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})

    # ------------------------------------------------------------------ public
    def window(self, t0: int, t1: int) -> list[Observation]:
        """All observations with ``t0 <= ts < t1``, in time order. Windows must follow each other."""
        while self._next < len(self._visits) and self._visits[self._next].t_in < t1:
            miss_in, miss_out = self._misses[self._next]
            self._active.append(_Tracked(self._visits[self._next], self.zone_cameras, miss_in, miss_out, self.rng))
            self._next += 1
        out: list[Observation] = []
        heads: dict[tuple[int, str], int] = defaultdict(int)
        wifi, ble = bool(self.wifi), bool(self.ble)
        for person in self._active:
            v = person.visit
            if t0 <= v.t_in < t1 or t0 <= v.t_out < t1:
                self._crossings_of(person, t0, t1, out)
            if person.door_next < t1:
                self._doors_of(person, t0, t1, out)
            if person.cam_next < t1:
                self._cameras_of(person, t0, t1, out, heads)
            if wifi and person.probe_next < t1 and v.phone is not None:
                self._probes_of(person, t0, t1, out)
            if ble and person.ble_next < t1 and v.app_id is not None:
                self._adverts_of(person, t0, t1, out)
        self._occupancy(t0, t1, heads, out)
        self._active = [p for p in self._active if p.visit.t_out >= t1]
        out.sort(key=_BY_TS)
        return out

    def drain_crossings(self) -> list[CrossingTruth]:
        """The true crossings of the windows so far that were not drained yet (for the truth files)."""
        rows, self._crossings = self._crossings, []
        return rows

    # ------------------------------------------------------------------ cameras
    def _track(self, person: _Tracked, stint: int, camera: str) -> int:
        key = (stint, camera)
        track = person.tracks.get(key)
        if track is None:
            track = person.tracks[key] = self._next_track[camera]
            self._next_track[camera] += 1
        return track

    def _crossings_of(self, person: _Tracked, t0: int, t1: int, out: list[Observation]) -> None:
        v = person.visit
        for ts, line, direction, missed, j in ((v.t_in, v.entrance_in, "in", person.miss_in, 0),
                                                (v.t_out, v.entrance_out, "out", person.miss_out, -1)):
            if not t0 <= ts < t1:
                continue
            self.true_crossings[line][direction] += 1
            camera = self.line_camera.get(line)
            published = camera is not None and not missed
            self._crossings.append(CrossingTruth(ts, line, direction, v.person, v.visit_id, published))
            if camera is None or missed:
                continue
            self.published_crossings[line][direction] += 1
            # the door camera follows the person into (or out of) its hall: the same track
            stint = person.stint[j] if camera in person.cams[j] else -1 - (j == -1)
            track = self._track(person, stint, camera)
            out.append(Observation(camera, Kind.CROSSING, CrossingObs(ts=ts, line=line, dir=direction, track=track)))

    def _doors_of(self, person: _Tracked, t0: int, t1: int, out: list[Observation]) -> None:
        """Store-door crossings (into and out of each store stay) during [t0, t1), as the door counters saw them."""
        v = person.visit
        stays = v.stores
        uniform, i = self._noise.uniform, self._noise.i
        while person.door_k < 2 * len(stays):
            stay = stays[person.door_k // 2]
            inward = person.door_k % 2 == 0
            ts = stay.t0 if inward else stay.t1
            if ts >= t1:
                break
            person.door_k += 1
            if ts < t0:
                continue
            direction = "in" if inward else "out"
            self.true_crossings[stay.store][direction] += 1
            camera = self.door_camera.get(stay.store)
            missed = uniform[i & NOISE_MASK] < self.miss_rate
            i += 1
            published = camera is not None and not missed
            self._crossings.append(CrossingTruth(ts, stay.store, direction, v.person, v.visit_id, published))
            if not published:
                continue
            assert camera is not None
            self.published_crossings[stay.store][direction] += 1
            track = self._next_track[camera]
            self._next_track[camera] += 1
            out.append(Observation(camera, Kind.CROSSING, CrossingObs(ts=ts, line=stay.store, dir=direction,
                                                                      track=track)))
        self._noise.i = i
        k = person.door_k
        person.door_next = NEVER if k >= 2 * len(stays) else (stays[k // 2].t0 if k % 2 == 0 else stays[k // 2].t1)

    def _cameras_of(self, person: _Tracked, t0: int, t1: int, out: list[Observation],
                    heads: dict[tuple[int, str], int]) -> None:
        """Position samples and head counts of one person inside camera-covered zones during [t0, t1)."""
        segs, seg_cams, seen = person.visit.segments, person.cams, person.cam_segments
        normal, uniform, i = self._noise.normal, self._noise.uniform, self._noise.i
        append, phase = out.append, person.phase
        k = person.cam_k
        while k < len(seen) and segs[seen[k]].t1 <= t0:
            k += 1
        person.cam_k = k
        while k < len(seen):
            j = seen[k]
            seg = segs[j]
            if seg.t0 >= t1:
                break
            k += 1
            a, b = max(seg.t0, t0), min(seg.t1, t1)
            zone = seg.zone
            tick = a + (-a) % OCCUPANCY_EVERY_MS
            while tick < b:
                heads[(tick, zone)] += 1
                tick += OCCUPANCY_EVERY_MS
            t = a + (phase - a) % POSITION_EVERY_MS
            if t >= b:
                continue
            tracks = [(cam, self._track(person, person.stint[j], cam)) for cam in seg_cams[j]]
            ring = self.polygon[zone] if zone in self.inexact else None
            span = seg.t1 - seg.t0
            kx, ky = (seg.x1 - seg.x0) / span, (seg.y1 - seg.y0) / span
            while t < b:
                x = seg.x0 + kx * (t - seg.t0) + POSITION_NOISE_M * normal[i & NOISE_MASK]
                y = seg.y0 + ky * (t - seg.t0) + POSITION_NOISE_M * normal[(i + 1) & NOISE_MASK]
                i += 2
                if ring is None or contains(ring, (x, y)):
                    for cam, track in tracks:
                        if uniform[i & NOISE_MASK] >= OCCLUSION_SHARE:
                            append(Observation(cam, Kind.POSITION, PositionObs(
                                ts=t, track=track, floor=seg.floor, x=round(x, 2), y=round(y, 2))))
                        i += 1
                t += POSITION_EVERY_MS
        self._noise.i = i
        k = person.cam_k
        while k < len(seen) and segs[seen[k]].t1 <= t1:
            k += 1
        person.cam_k = k
        person.cam_next = max(t1, segs[seen[k]].t0) if k < len(seen) else NEVER

    def _occupancy(self, t0: int, t1: int, heads: dict[tuple[int, str], int], out: list[Observation]) -> None:
        tick = t0 + (-t0) % OCCUPANCY_EVERY_MS
        while tick < t1:
            for camera, zone in self.camera_zones:
                out.append(Observation(camera, Kind.OCCUPANCY,
                                       OccupancyObs(ts=tick, zone=zone, count=heads.get((tick, zone), 0))))
            tick += OCCUPANCY_EVERY_MS

    # ------------------------------------------------------------------ radios
    def _device_key(self, person: _Tracked, t: int) -> str:
        """The device key of the person's phone at ``t`` (kept until its MAC or the key period changes)."""
        if t < person.dev_until:
            return person.dev
        phone = person.visit.phone
        assert phone is not None
        epoch = radio.mac_epoch(phone, t)
        person.dev = self.keyer.key(radio.mac_address(phone, epoch), t)
        until = radio.epoch_end(phone, epoch)
        person.dev_until = min(until, self.midnight_ms) if t < self.midnight_ms else until
        return person.dev

    def _probes_of(self, person: _Tracked, t0: int, t1: int, out: list[Observation]) -> None:
        """Probe requests of the person's phone during [t0, t1), as heard by the WiFi sensors in range."""
        v = person.visit
        phone = v.phone
        assert phone is not None
        normal, uniform, i = self._noise.normal, self._noise.uniform, self._noise.i
        path, log10 = radio.WIFI_PATH, math.log10
        slope, floor_db, sigma = 5 * path.exponent, path.sensitivity, path.sigma  # 10·n·log10(d) = 5·n·log10(d²)
        at_1m, wall = path.at_1m, path.wall_loss
        fp, rand = self.fingerprints.get(phone.model) or radio.fingerprint(phone.model), phone.randomized_mac
        channels = profiles.WIFI_CHANNELS
        while person.probe_next < t1:
            t = person.probe_next
            gap = -math.log(1.0 - uniform[i & NOISE_MASK]) * person.probe_mean
            person.probe_next += int(max(PROBE_MIN_GAP_MS, gap))
            person.sn = (person.sn + 1 + int(3 * uniform[(i + 1) & NOISE_MASK])) % 4096  # other channels' frames
            channel = channels[int(len(channels) * uniform[(i + 2) & NOISE_MASK])]
            i += 3
            if t < t0 or t >= v.t_out:
                continue
            seg = person.segment_at(t)
            heard = self.wifi.get(seg.floor) if seg is not None else None
            if not heard:
                continue
            assert seg is not None
            x, y = seg.at(t)
            zone, in_store = seg.zone, seg.zone not in self.walkable
            dev = None
            for sensor, sx, sy, range2, room in heard:
                d2 = (x - sx) ** 2 + (y - sy) ** 2
                if d2 > range2:
                    continue
                walled = zone != room and (in_store or room is not None)  # a shop wall between phone and sensor
                rssi = at_1m - walled * wall - slope * log10(max(d2, 1.0)) + sigma * normal[i & NOISE_MASK]
                i += 1
                if rssi < floor_db:
                    continue
                dev = dev or self._device_key(person, t)
                out.append(Observation(sensor, Kind.WIFI, WifiObs(
                    ts=t, dev=dev, rssi=max(-120, min(0, round(rssi))), rand=rand, ch=channel, sn=person.sn, fp=fp)))
        self._noise.i = i

    def _adverts_of(self, person: _Tracked, t0: int, t1: int, out: list[Observation]) -> None:
        """The member app's BLE advertisements during [t0, t1), as heard by the scanners in range."""
        v = person.visit
        normal, uniform, i = self._noise.normal, self._noise.uniform, self._noise.i
        path, log10 = radio.BLE_PATH, math.log10
        slope, floor_db, sigma, tx = 5 * path.exponent, path.sensitivity, path.sigma, round(path.at_1m)
        at_1m, wall = path.at_1m, path.wall_loss
        every = int(profiles.BLE_ADVERT_EVERY_S * 1000)
        while person.ble_next < t1:
            t = person.ble_next
            person.ble_next += every + int((2 * uniform[i & NOISE_MASK] - 1) * BLE_JITTER_MS)
            i += 1
            if t < t0 or t >= v.t_out:
                continue
            seg = person.segment_at(t)
            heard = self.ble.get(seg.floor) if seg is not None else None
            if not heard:
                continue
            assert seg is not None
            x, y = seg.at(t)
            zone, in_store = seg.zone, seg.zone not in self.walkable
            for sensor, sx, sy, range2, room in heard:
                d2 = (x - sx) ** 2 + (y - sy) ** 2
                if d2 > range2:
                    continue
                walled = zone != room and (in_store or room is not None)  # a shop wall between phone and sensor
                rssi = at_1m - walled * wall - slope * log10(max(d2, 1.0)) + sigma * normal[i & NOISE_MASK]
                i += 1
                if rssi < floor_db:
                    continue
                if person.ble_dev is None:
                    assert v.app_id is not None
                    person.ble_dev = self.keyer.stable_key(v.app_id.encode())
                out.append(Observation(sensor, Kind.BLE, BleObs(
                    ts=t, dev=person.ble_dev, rssi=max(-127, min(20, round(rssi))), tx=tx, frame="ibeacon")))
        self._noise.i = i


class _Noise:
    """Reproducible noise, cheap to read in hot loops: standard normals and uniforms [0, 1) drawn once per day,
    read in turn through a running index (wrapping with ``NOISE_MASK``)."""

    def __init__(self, rng: random.Random) -> None:
        gen = np.random.default_rng(rng.getrandbits(64))
        self.normal: list[float] = gen.standard_normal(NOISE_MASK + 1).tolist()
        self.uniform: list[float] = gen.random(NOISE_MASK + 1).tolist()
        self.i = 0


def _radios(site: Site, kind: str, wanted: set[str], layout: Layout) -> dict[str, list[_Radio]]:
    """The radios of one kind per floor, each with the store zone it sits in (None in the mall's common areas)."""
    shops = [z for z in site.zones if z.kind == "store"]
    by_floor: dict[str, list[_Radio]] = defaultdict(list)
    for s in site.sensors:
        if s.kind == kind and s.id in wanted:
            room = next((z.id for z in shops if z.floor == s.floor and contains(layout.polygon[z.id], s.position)),
                        None)
            by_floor[s.floor].append((s.id, s.position[0], s.position[1], s.range_m**2, room))
    return dict(by_floor)
