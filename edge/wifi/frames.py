"""802.11 probe requests out of radiotap frames: selection, source address, sequence number, element signature.

A monitor-mode capture holds every frame on the air; a people sensor keeps only probe requests (management type 0,
subtype 4). Everything else is counted and dropped. A frame too short for its own headers is counted as malformed and
never raises; a probe request whose information elements are truncated is still a probe request (its address,
signal and sequence number are sound) and is kept with the elements that could be read.

The raw source address exists only inside :class:`ProbeRequest`, in this process: the collector turns it into a keyed
hash before anything leaves (see :mod:`edge.wifi.collector`).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

from edge.wifi import radiotap
from edge.wifi.radiotap import RadiotapError

HEADER_LEN = 24  # frame control, duration, addr1..3, sequence control
FC_ORDER = 0x80  # +HTC: 4 more header bytes in a management frame
# Elements whose contents describe the device's radio, not the moment: they stay the same across MAC rotations.
# SSID (0) and DS parameter set (3) change with the network asked for and the channel, so only their presence counts.
STABLE_CONTENT = frozenset({1, 45, 50, 59, 70, 107, 127, 191, 255})
VENDOR = 221


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    ts_us: int
    src: bytes  # 6 bytes, raw: never published, logged or stored
    signal_dbm: int | None
    raw_signal_dbm: int | None
    freq_mhz: int | None
    channel: int | None
    seqno: int
    signature: bytes  # canonical bytes of the information elements (see element_signature)
    elements_complete: bool

    @property
    def randomized(self) -> bool:
        """Locally administered source address (bit 0x02 of the first octet): a randomized MAC."""
        return bool(self.src[0] & 0x02)


@dataclass
class FrameStats:
    """What the parser saw, by outcome; nothing is dropped without being counted here."""

    frames: int = 0
    probes: int = 0
    other: Counter = field(default_factory=Counter)  # frames that are not probe requests, by reason
    malformed: Counter = field(default_factory=Counter)  # frames that could not be read, by reason
    truncated_elements: int = 0  # probes kept although their information elements were cut short

    def as_dict(self) -> dict[str, int]:
        return {"frames": self.frames, "probes": self.probes, "other": sum(self.other.values()),
                "malformed": sum(self.malformed.values()), "truncated_elements": self.truncated_elements,
                **{f"other_{k}": v for k, v in self.other.items()},
                **{f"malformed_{k}": v for k, v in self.malformed.items()}}


def parse_frame(buf: bytes, ts_us: int, stats: FrameStats) -> ProbeRequest | None:
    """One captured radiotap frame → a probe request, or None (counted in ``stats`` under its reason)."""
    stats.frames += 1
    try:
        rt = radiotap.parse(buf)
    except RadiotapError:
        stats.malformed["radiotap"] += 1
        return None
    end = len(buf) - 4 if rt.fcs_at_end else len(buf)
    at = rt.length
    if end - at < 2:
        stats.malformed["short_80211"] += 1
        return None
    fc0, fc1 = buf[at], buf[at + 1]
    if fc0 & 0x03:
        stats.malformed["protocol_version"] += 1
        return None
    if fc0 != 0x40:  # type 0 (management), subtype 4 (probe request)
        stats.other["not_probe_request"] += 1
        return None
    if rt.bad_fcs:
        stats.other["bad_fcs"] += 1
        return None
    header = HEADER_LEN + (4 if fc1 & FC_ORDER else 0)
    if end - at < header:
        stats.malformed["short_header"] += 1
        return None
    src = bytes(buf[at + 10:at + 16])
    (seq_ctrl,) = struct.unpack_from("<H", buf, at + 22)
    signature, complete = element_signature(buf, at + header, end)
    if not complete:
        stats.truncated_elements += 1  # counted, but the probe is kept
    stats.probes += 1
    return ProbeRequest(ts_us, src, rt.signal_dbm, rt.raw_signal_dbm, rt.freq_mhz,
                        radiotap.channel_of(rt.freq_mhz) or _ds_channel(buf, at + header, end),
                        seq_ctrl >> 4, signature, complete)


def element_signature(buf: bytes, start: int, end: int) -> tuple[bytes, bool]:
    """Canonical bytes of the information elements: every element's id in order, the contents of the elements
    that do not vary between probes of one device (rates, HT/VHT/HE and extended capabilities, interworking), the
    vendor OUI and type of vendor elements. Returns (signature, whether the elements ran to the frame's end)."""
    out = bytearray()
    at = start
    while at + 2 <= end:
        eid, size = buf[at], buf[at + 1]
        if at + 2 + size > end:
            return bytes(out), False
        body = buf[at + 2:at + 2 + size]
        out.append(eid)
        if eid in STABLE_CONTENT:
            out += bytes((size,)) + body
        elif eid == VENDOR:
            out += bytes((min(size, 4),)) + body[:4]
        at += 2 + size
    return bytes(out), at == end


def _ds_channel(buf: bytes, start: int, end: int) -> int | None:
    """The channel from the DS parameter set element, when radiotap gives no frequency."""
    at = start
    while at + 2 <= end:
        eid, size = buf[at], buf[at + 1]
        if eid == 3 and size >= 1 and at + 3 <= end:
            return buf[at + 2] or None
        at += 2 + size
    return None
