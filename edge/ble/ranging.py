"""The member app's side of BLE: the mall's fixed beacons heard by a consented phone → position → zone events.

The second BLE deployment of DESIGN.md: instead of scanners hearing phones, the app hears the mall's beacons (the
site file's ``beacons``: id, uuid/major/minor, floor, position, calibrated power). Every ``fix_every_s`` the app takes
the beacons heard in the last ``window_s`` (RSSI averaged per beacon), keeps the floor whose beacons it hears best,
and places itself by a weighted centroid of those beacons (:func:`models.positioning.weighted_centroid`: loud beacons
dominate). The fix is snapped to the site's zones on that floor (:class:`models.zone_snap.ZoneSnapper`: the smallest
zone containing it, so a shop wins over the corridor around it), and :class:`models.zone_events.ZoneTracker` turns
the zone sequence into enter/exit events with hysteresis and back-dated dwell. Events go out as ``zone`` observations
under the app's consented stable key; the app's raw sightings do not leave the phone.

Accuracy follows the beacon density: with a beacon every 10-15 m, zones of shop size; with the demo mall's sparse
beacons, large shops and corridor sections. See docs/ble.md for the measured positioning errors on a real mall.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from edge.ble.frames import Advertisement, IBeacon, beacons
from mallsense.contract import ZoneEventObs
from mallsense.site import Site
from models.positioning import weighted_centroid
from models.zone_events import ZoneEvent, ZoneTracker
from models.zone_snap import ZoneSnapper


@dataclass(frozen=True)
class RangingConfig:
    window_s: float = 4.0  # sightings averaged into one fix
    fix_every_s: float = 2.0
    min_beacons: int = 2  # fewer beacons heard: no fix
    sharpness_db: float = 6.0  # weighted centroid: weight x10 per this many dB louder
    min_fixes: int = 3  # zone change confirmed after this many consecutive fixes
    gap_s: float = 120.0  # silence that ends a stay


@dataclass
class _Heard:
    ts_ms: int
    beacon: int
    rssi: int


class AppRanging:
    """Positions one app from the beacons it hears and reports zone enter/exit events (see module docstring)."""

    def __init__(self, site: Site, device_key: str, config: RangingConfig | None = None) -> None:
        self.config = config or RangingConfig()
        self.device_key = device_key
        self.beacons = list(site.beacons)
        if not self.beacons:
            raise ValueError(f"site {site.site.id} lists no beacons: app ranging needs the mall's fixed beacons")
        self._index = {(b.uuid.lower(), b.major, b.minor): i for i, b in enumerate(self.beacons)}
        self._xy = np.array([b.position for b in self.beacons], dtype=float)
        self._floor = np.array([b.floor for b in self.beacons])
        self._snappers = {f.id: ZoneSnapper({z.id: z.polygon for z in site.zones if z.floor == f.id})
                          for f in site.floors}
        self._heard: deque[_Heard] = deque()
        self._next_fix: int | None = None
        self.tracker = ZoneTracker(min_fixes=self.config.min_fixes, gap_s=self.config.gap_s)
        self.fixes: list[tuple[int, str, float, float, str | None]] = []  # ts, floor, x, y, zone (for checks)
        self.unknown_beacons = 0

    def observe(self, adv: Advertisement) -> list[ZoneEvent]:
        """One advertisement heard by the phone; returns the events that became certain."""
        events: list[ZoneEvent] = []
        if self._next_fix is not None:
            while adv.ts_ms >= self._next_fix:
                events += self._fix(self._next_fix)
                self._next_fix += int(self.config.fix_every_s * 1000)
        else:
            self._next_fix = adv.ts_ms + int(self.config.fix_every_s * 1000)
        if adv.rssi is None or not -127 <= adv.rssi < 0:
            return events
        for frame in beacons(adv):
            if isinstance(frame, IBeacon):
                i = self._index.get((str(frame.uuid), frame.major, frame.minor))
                if i is None:
                    self.unknown_beacons += 1
                else:
                    self._heard.append(_Heard(adv.ts_ms, i, adv.rssi))
        return events

    def _fix(self, now_ms: int) -> list[ZoneEvent]:
        horizon = now_ms - int(self.config.window_s * 1000)
        while self._heard and self._heard[0].ts_ms < horizon:
            self._heard.popleft()
        recent = [h for h in self._heard if h.ts_ms < now_ms]
        if len({h.beacon for h in recent}) < self.config.min_beacons:
            return []
        idx = np.array([h.beacon for h in recent])
        rssi = np.array([h.rssi for h in recent], dtype=float)
        ids = np.unique(idx)
        mean = np.array([rssi[idx == i].mean() for i in ids])
        floors = self._floor[ids]
        best_floor = max(set(floors), key=lambda f: np.sort(mean[floors == f])[-2:].sum() if (floors == f).sum() > 1
                         else mean[floors == f].max() - 100)
        on = floors == best_floor
        if on.sum() < self.config.min_beacons:
            return []
        xy = weighted_centroid(mean[on][None, :], self._xy[ids[on]], self.config.sharpness_db)[0]
        zone = self._snappers[best_floor].snap_many(xy[None, :])[0]
        self.fixes.append((now_ms, best_floor, float(xy[0]), float(xy[1]), zone))
        return self.tracker.update(now_ms, self.device_key, zone)

    def close(self) -> list[ZoneEvent]:
        """End of the stream: the open stay ends at its last fix."""
        return self.tracker.close()


def to_obs(events: Iterable[ZoneEvent]) -> list[ZoneEventObs]:
    return [ZoneEventObs(ts=e.ts, dev=str(e.device), zone=str(e.zone), event=e.kind,
                         dwell_s=None if e.dwell_s is None else round(float(e.dwell_s), 1)) for e in events]
