"""The radiotap header in front of every monitor-mode 802.11 frame: signal, channel, flags.

Only the fields a probe-request sensor needs are decoded; every other field is skipped by its alignment and size
(radiotap.org's field table), including extended presence words, radiotap namespaces for further antennas and vendor
namespaces (skipped by their declared length). Parsing stops at the first field of unknown size, which is safe:
fields are ordered by bit number, so the ones we need come first or are absent.

Signal: the first dBm antenna signal (bit 5) is the combined signal; later namespaces may add one per antenna. A
value of 0 dBm is a driver's "no value" and positive values are not physical for a received probe request: both count
as no value, and the strongest plausible per-antenna value is used instead when there is one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# bit: (alignment, size) for the radiotap namespace, bits 0..27 (radiotap.org/fields/defined)
_FIELDS: dict[int, tuple[int, int]] = {
    0: (8, 8), 1: (1, 1), 2: (1, 1), 3: (2, 4), 4: (1, 2), 5: (1, 1), 6: (1, 1), 7: (2, 2), 8: (2, 2),
    9: (2, 2), 10: (1, 1), 11: (1, 1), 12: (1, 1), 13: (1, 1), 14: (2, 2), 15: (2, 2), 16: (1, 1), 17: (1, 1),
    18: (4, 8), 19: (1, 3), 20: (4, 8), 21: (2, 12), 22: (8, 12), 23: (2, 12), 24: (2, 12), 25: (2, 6),
    26: (1, 1), 27: (2, 4),
}
_FLAGS, _CHANNEL, _SIGNAL = 1, 3, 5
_TLV, _NS_RADIOTAP, _NS_VENDOR, _EXT = 28, 29, 30, 31
FLAG_FCS_AT_END = 0x10
FLAG_BAD_FCS = 0x40
MIN_DBM = -120


class RadiotapError(ValueError):
    """The header is truncated or inconsistent."""


@dataclass(frozen=True, slots=True)
class Radiotap:
    length: int  # bytes to skip to reach the 802.11 frame
    signal_dbm: int | None  # plausible received signal, None when the capture gives none
    raw_signal_dbm: int | None  # the first dBm antenna signal as recorded (0 and positive values included)
    freq_mhz: int | None
    flags: int

    @property
    def fcs_at_end(self) -> bool:
        return bool(self.flags & FLAG_FCS_AT_END)

    @property
    def bad_fcs(self) -> bool:
        return bool(self.flags & FLAG_BAD_FCS)


def plausible(dbm: int) -> bool:
    return MIN_DBM <= dbm < 0


def parse(buf: bytes | memoryview) -> Radiotap:
    """Decode the radiotap header at the start of ``buf`` (raises :class:`RadiotapError`)."""
    if len(buf) < 8:
        raise RadiotapError("radiotap header shorter than 8 bytes")
    version, _pad, length = struct.unpack_from("<BBH", buf, 0)
    if version != 0:
        raise RadiotapError(f"radiotap version {version} (only 0 exists)")
    if length < 8 or length > len(buf):
        raise RadiotapError(f"radiotap length {length} outside the frame ({len(buf)} bytes)")
    words: list[int] = []
    at = 4
    while True:
        if at + 4 > length:
            raise RadiotapError("presence bitmap runs past the header")
        (word,) = struct.unpack_from("<I", buf, at)
        words.append(word)
        at += 4
        if not word & (1 << _EXT):
            break
    flags = 0
    freq = None
    signals: list[int] = []
    in_radiotap, word_in_ns = True, 0
    for word in words:
        if in_radiotap and word_in_ns == 0:
            at, complete, fields = _fields(buf, at, length, word)
            flags = flags or fields.get(_FLAGS, 0)
            freq = freq or fields.get(_CHANNEL)
            signals.extend(fields.get(_SIGNAL, []))
            if not complete:
                break
        elif in_radiotap and word & 0x1FFFFFFF:
            break  # bits 32+ of the radiotap namespace: undefined, sizes unknown
        if not word & (1 << _EXT):
            break
        if word & (1 << _NS_VENDOR):
            # vendor namespace: OUI(3) sub-namespace(1) skip_length(2), 2-aligned, then skip_length bytes of data
            at = (at + 1) // 2 * 2
            if at + 6 > length:
                raise RadiotapError("vendor namespace runs past the header")
            (skip,) = struct.unpack_from("<H", buf, at + 4)
            at += 6 + skip
            in_radiotap, word_in_ns = False, 0
        elif word & (1 << _NS_RADIOTAP):
            in_radiotap, word_in_ns = True, 0
        else:
            word_in_ns += 1
    return Radiotap(length, _best(signals), signals[0] if signals else None, freq or None, flags)


def _fields(buf: bytes | memoryview, at: int, length: int, word: int) -> tuple[int, bool, dict]:
    """Walk one radiotap-namespace presence word's fields: (next offset, all sizes known, wanted values)."""
    found: dict = {}
    for bit in range(29):
        if not word & (1 << bit):
            continue
        if bit == _TLV or bit not in _FIELDS:
            return at, False, found
        align, size = _FIELDS[bit]
        at = (at + align - 1) // align * align
        if at + size > length:
            raise RadiotapError(f"radiotap field {bit} runs past the header")
        if bit == _FLAGS:
            found[_FLAGS] = buf[at]
        elif bit == _CHANNEL:
            found[_CHANNEL] = struct.unpack_from("<H", buf, at)[0]
        elif bit == _SIGNAL:
            found[_SIGNAL] = [struct.unpack_from("<b", buf, at)[0]]
        at += size
    return at, True, found


def _best(signals: list[int]) -> int | None:
    if signals and plausible(signals[0]):
        return signals[0]
    per_antenna = [s for s in signals[1:] if plausible(s)]
    return max(per_antenna) if per_antenna else None


def channel_of(freq_mhz: int | None) -> int | None:
    """IEEE channel number of a centre frequency (2.4, 5 and 6 GHz bands); None when unknown."""
    if freq_mhz is None:
        return None
    if freq_mhz == 2484:
        return 14
    if 2412 <= freq_mhz < 2484:
        return (freq_mhz - 2407) // 5
    if 5955 <= freq_mhz <= 7115:
        return (freq_mhz - 5950) // 5
    if 5000 <= freq_mhz <= 5900:
        return (freq_mhz - 5000) // 5
    return None
