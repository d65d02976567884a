"""The radio side of simulated phones: MAC addresses (fixed, or randomized and rotating), probe-request
fingerprints, and received signal strength from a log-distance path-loss model.

MACs exist only inside the simulator's sensing step, the way they exist only inside a real sniffer: what leaves is a
keyed device hash (:class:`edge.privacy.DeviceKeyer`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from simulator import profiles
from simulator.members import Phone

LOCAL_BIT, MULTICAST_BIT = 0x02, 0x01
NEVER = 2**62


@dataclass(frozen=True, slots=True)
class PathLoss:
    """Log-distance path loss: ``rssi = at_1m - 10 * exponent * log10(d) + N(0, sigma)`` dBm.

    Attributes:
        at_1m: received power at one metre, dBm.
        exponent: path-loss exponent (2 in free space, 2.5–3.5 indoors with people around).
        sigma: shadowing noise, dB.
        sensitivity: weakest signal the receiver decodes, dBm.
        wall_loss: extra loss through a shop wall (phone and sensor not in the same shop, one of them in one), dB.
    """

    at_1m: float
    exponent: float
    sigma: float
    sensitivity: float
    wall_loss: float = 6.0

    def rssi(self, distance_m: float, z: float, *, behind_wall: bool = False) -> float:
        """Received power at ``distance_m`` metres; ``z`` is a standard normal draw (the shadowing).

        >>> round(WIFI_PATH.rssi(10.0, 0.0))
        -67
        """
        loss = 10 * self.exponent * math.log10(max(distance_m, 1.0)) + (self.wall_loss if behind_wall else 0.0)
        return self.at_1m - loss + z * self.sigma


WIFI_PATH = PathLoss(at_1m=-40.0, exponent=2.7, sigma=4.0, sensitivity=-92.0)
BLE_PATH = PathLoss(at_1m=-59.0, exponent=2.2, sigma=4.0, sensitivity=-100.0)


def rotation(phone: Phone) -> tuple[int, int]:
    """(period, phase) in ms of a randomized MAC's rotation: about every 15 minutes, each phone on its own clock."""
    lo, hi = profiles.MAC_ROTATION_S
    period = (lo + phone.mac_seed % (hi - lo + 1)) * 1000
    return period, (phone.mac_seed >> 20) % period


def mac_epoch(phone: Phone, t_ms: int) -> int:
    """Which MAC the phone uses at ``t_ms``: 0 for a fixed MAC, else the rotation period's number."""
    if not phone.randomized_mac:
        return 0
    period, phase = rotation(phone)
    return (t_ms + phase) // period


def epoch_end(phone: Phone, epoch: int) -> int:
    """When rotation ``epoch`` of the phone's MAC ends (ms; never for a fixed MAC)."""
    if not phone.randomized_mac:
        return NEVER
    period, phase = rotation(phone)
    return (epoch + 1) * period - phase


def mac_address(phone: Phone, epoch: int) -> bytes:
    """The 6 MAC bytes of ``phone`` in rotation ``epoch``: locally administered when randomized, else a fixed
    globally unique (vendor) address. Never multicast."""
    raw = bytearray(hashlib.blake2b(f"mac|{phone.mac_seed}|{epoch}".encode(), digest_size=6).digest())
    if phone.randomized_mac:
        raw[0] = (raw[0] | LOCAL_BIT) & ~MULTICAST_BIT & 0xFF
    else:
        raw[0] &= ~(LOCAL_BIT | MULTICAST_BIT) & 0xFF
    return bytes(raw)


def fingerprint(model: str) -> str:
    """Hex hash of the information elements a phone model puts in its probe requests (same for every phone of a
    model, so it survives MAC randomization)."""
    ies = dict(profiles.PHONE_MODELS).get(model, model)
    return hashlib.blake2b(ies.encode(), digest_size=8).hexdigest()
