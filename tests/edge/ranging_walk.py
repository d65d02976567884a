"""A synthetic shopper with the member app walking the demo mall's ground floor, and what the app hears.

The app hears every beacon of the site with a log-distance path loss (exponent 2.0), Gaussian noise (σ 2 dB) and a
15 dB floor loss for beacons on other floors; below -92 dBm nothing is heard. The walk's true zones come from the
same site polygons, so the expected events are exact.
"""

from __future__ import annotations

import math
import random
import uuid

from edge.ble.frames import Advertisement
from mallsense.site import Site
from models.zone_snap import ZoneSnapper

APPLE = 0x004C
T0 = 1_764_565_200_000  # 2025-12-01 13:00 Asia/Shanghai
# (x, y, seconds to stay) along the corridor at y = 40: west corridor, atrium, east corridor
STOPS = [(30.0, 40.0, 30), (100.0, 40.0, 60), (160.0, 40.0, 60)]
SPEED_M_S = 1.2


def ibeacon(uuid_text: str, major: int, minor: int, tx: int) -> bytes:
    return (b"\x02\x15" + uuid.UUID(uuid_text).bytes + major.to_bytes(2, "big") + minor.to_bytes(2, "big")
            + (tx & 0xFF).to_bytes(1, "big"))


def path(step_s: float = 1.0) -> list[tuple[int, float, float]]:
    """(ts_ms, x, y) every ``step_s`` along the stops."""
    (x, y, stay) = STOPS[0]
    out = [(x, y)] * int(stay / step_s)
    for nx, ny, stay in STOPS[1:]:
        dist = math.hypot(nx - x, ny - y)
        for k in range(1, int(dist / SPEED_M_S / step_s) + 1):
            f = k * SPEED_M_S * step_s / dist
            out.append((x + (nx - x) * f, y + (ny - y) * f))
        x, y = nx, ny
        out += [(x, y)] * int(stay / step_s)
    return [(T0 + int(i * step_s * 1000), px, py) for i, (px, py) in enumerate(out)]


def heard(site: Site, seed: int = 1) -> list[Advertisement]:
    rng = random.Random(seed)
    adverts = []
    for ts, x, y in path():
        for b in site.beacons:
            d = max(1.0, math.hypot(b.position[0] - x, b.position[1] - y))
            rssi = b.tx_power - 20.0 * math.log10(d) + rng.gauss(0, 2.0) - (0 if b.floor == "f1" else 15)
            if rssi >= -92:
                adverts.append(Advertisement(ts + rng.randrange(900), rssi=round(rssi),
                                             manufacturer_data={APPLE: ibeacon(b.uuid, b.major, b.minor,
                                                                               b.tx_power)}))
    return sorted(adverts, key=lambda a: a.ts_ms)


def true_zones(site: Site) -> list[tuple[str, int, int]]:
    """(zone, first ms, last ms) of the walk's consecutive true zones on f1."""
    snapper = ZoneSnapper({z.id: z.polygon for z in site.zones if z.floor == "f1"})
    runs: list[list] = []
    for ts, x, y in path():
        zone = snapper.containing((x, y))
        if runs and runs[-1][0] == zone:
            runs[-1][2] = ts
        else:
            runs.append([zone, ts, ts])
    return [tuple(r) for r in runs]
