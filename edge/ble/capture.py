"""Advertisements from radio captures: nRF Sniffer pcapng files, BLE link-layer pcaps and HCI H4 pcaps.

Every captured frame ends in exactly one :class:`FrameStatus`, counted by :class:`CaptureReader`; only clean
advertisements come out as :class:`~edge.ble.frames.Advertisement` records (with the raw AD, so repeated records are
kept). The order of the checks sets the counts: a frame whose lengths do not add up is *malformed* whatever its CRC;
a well-formed frame that fails its CRC is *bad_crc* (the same split Wireshark's expert info makes). Bad-CRC frames are
never decoded further: a flipped bit in a beacon id would invent a device.

Framing (what the pcap link types put around the Bluetooth bytes):

- ``LINKTYPE_NORDIC_BLE`` (272), nRF Sniffer protocol versions 2 and 3: board id, payload length (LE16), protocol
  version, packet counter, packet id, then the event header (its own length, flags with CRC-OK in bit 0 and the PHY
  in bits 4-6, channel, RSSI magnitude, event counter, time) and the link-layer frame.
- ``LINKTYPE_BLUETOOTH_LE_LL`` (251): access address, PDU header, payload, CRC (3 bytes, as sent).
- ``LINKTYPE_BLUETOOTH_HCI_H4`` (187): the H4 packet indicator (0x04 for events), then an HCI event; LE
  Advertising Reports (legacy and extended) carry address, RSSI and AD.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from edge.ble.frames import Advertisement, advertisement_from_ad, parse_ad
from edge.pcap import raw_frames

log = logging.getLogger(__name__)

LINKTYPE_BLUETOOTH_HCI_H4 = 187
LINKTYPE_BLUETOOTH_LE_LL = 251
LINKTYPE_NORDIC_BLE = 272
ADV_ACCESS_ADDRESS = 0x8E89BED6
ADV_CRC_INIT = 0x555555
_PDUS_WITH_AD = {0x0, 0x2, 0x4, 0x6}  # ADV_IND, ADV_NONCONN_IND, SCAN_RSP, ADV_SCAN_IND: AdvA then AD
_H4_EVENT, _LE_META, _LE_ADV_REPORT, _LE_EXT_ADV_REPORT = 0x04, 0x3E, 0x02, 0x0D
_RSSI_UNAVAILABLE = 127


class FrameStatus(StrEnum):
    ADVERTISEMENT = "advertisement"
    BAD_CRC = "bad_crc"
    MALFORMED = "malformed"
    NOT_ADVERTISING = "not_advertising"  # data channel, scan/connect requests, sniffer messages, HCI commands
    UNSUPPORTED = "unsupported"  # link types, header versions and PDU kinds this reader does not decode


class FrameError(ValueError):
    def __init__(self, status: FrameStatus, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


def _reflect(value: int, bits: int) -> int:
    return int(f"{value:0{bits}b}"[::-1], 2)


_POLY = _reflect(0x00065B, 24)  # x^24 + x^10 + x^9 + x^6 + x^4 + x^3 + x + 1, bits sent least significant first
_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ (_POLY if _crc & 1 else 0)
    _TABLE.append(_crc)


def crc24(pdu: bytes, init: int = ADV_CRC_INIT) -> bytes:
    """The link-layer CRC of a PDU (header and payload) as its three bytes appear in a capture."""
    crc = _reflect(init, 24)
    for byte in pdu:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc.to_bytes(3, "little")


def _address(le_bytes: bytes) -> str:
    return ":".join(f"{b:02X}" for b in reversed(le_bytes))


def ll_advertisement(frame: bytes, ts_ms: int, *, rssi: int | None = None) -> Advertisement:
    """The advertisement in a link-layer frame (access address .. CRC); raises :class:`FrameError` otherwise."""
    if len(frame) < 6:
        raise FrameError(FrameStatus.MALFORMED, "shorter than access address and PDU header")
    if int.from_bytes(frame[:4], "little") != ADV_ACCESS_ADDRESS:
        raise FrameError(FrameStatus.NOT_ADVERTISING, "data-channel access address")
    pdu_type, length = frame[4] & 0x0F, frame[5]
    if len(frame) != 6 + length + 3:
        raise FrameError(FrameStatus.MALFORMED, f"PDU length {length} does not match the {len(frame)}-byte frame")
    if pdu_type not in _PDUS_WITH_AD:
        status = FrameStatus.UNSUPPORTED if pdu_type == 0x7 else FrameStatus.NOT_ADVERTISING
        raise FrameError(status, f"PDU type {pdu_type} carries no legacy advertising data")
    if length < 6 or not parse_ad(frame[12:6 + length])[1]:
        raise FrameError(FrameStatus.MALFORMED, "advertising data structures overrun the PDU")
    if crc24(frame[4:6 + length]) != frame[6 + length:]:
        raise FrameError(FrameStatus.BAD_CRC, "CRC mismatch")
    return advertisement_from_ad(frame[12:6 + length], ts_ms, address=_address(frame[6:12]), rssi=rssi)


def nordic_advertisement(frame: bytes, ts_ms: int) -> Advertisement:
    """The advertisement in an nRF Sniffer frame (protocol version 2 or 3)."""
    if len(frame) < 8:
        raise FrameError(FrameStatus.MALFORMED, "shorter than the nRF Sniffer header")
    if frame[3] not in (2, 3):
        raise FrameError(FrameStatus.UNSUPPORTED, f"nRF Sniffer protocol version {frame[3]}")
    if frame[6] not in (0x02, 0x06):  # packet ids that carry a radio packet
        raise FrameError(FrameStatus.NOT_ADVERTISING, f"sniffer message id {frame[6]}")
    header_len = frame[7]
    if header_len < 4 or len(frame) < 7 + header_len:
        raise FrameError(FrameStatus.MALFORMED, "event header overruns the frame")
    flags, rssi, ll = frame[8], -frame[10], frame[7 + header_len:]
    if (flags >> 4) & 0x7 == 2 and len(ll) > 4:  # LE Coded: a coding indicator byte follows the access address
        ll = ll[:4] + ll[5:]
    adv = ll_advertisement(ll, ts_ms, rssi=rssi)  # malformed before bad CRC, as above
    if not flags & 0x01:
        raise FrameError(FrameStatus.BAD_CRC, "the sniffer flags the CRC as bad")
    return adv


def hci_event_advertisements(event: bytes, ts_ms: int) -> list[Advertisement]:
    """The advertisements in an HCI LE Advertising Report event (legacy or extended), event code first.

    The parameter-length byte is not relied on (test fixtures carry wrong values there); the reports' own lengths
    are, and they must account for every byte present: a report that leaves bytes over or runs short is malformed.
    """
    if len(event) < 4 or event[0] != _LE_META or event[2] not in (_LE_ADV_REPORT, _LE_EXT_ADV_REPORT):
        raise FrameError(FrameStatus.NOT_ADVERTISING, "not an LE advertising report event")
    extended, count, pos, out = event[2] == _LE_EXT_ADV_REPORT, event[3], 4, []
    for _ in range(count):
        fixed = 24 if extended else 9  # bytes before the AD (extended: event type is 2 bytes, then 14 more fields)
        if pos + fixed > len(event):
            raise FrameError(FrameStatus.MALFORMED, "report header overruns the event")
        addr_at = pos + (3 if extended else 2)
        data_len = event[pos + fixed - 1]
        data = event[pos + fixed:pos + fixed + data_len]
        rssi_at = pos + 13 if extended else pos + fixed + data_len
        if len(data) != data_len or rssi_at >= len(event) or not parse_ad(data)[1]:
            raise FrameError(FrameStatus.MALFORMED, "report data overruns the event")
        if extended and (event[pos] >> 5) & 0x3:
            raise FrameError(FrameStatus.UNSUPPORTED, "fragmented extended advertising data")
        rssi = event[rssi_at] - 256 if event[rssi_at] > 127 else event[rssi_at]
        out.append(advertisement_from_ad(data, ts_ms, address=_address(event[addr_at:addr_at + 6]),
                                         rssi=None if rssi == _RSSI_UNAVAILABLE else rssi))
        pos += fixed + data_len + (0 if extended else 1)
    if pos != len(event):
        raise FrameError(FrameStatus.MALFORMED, f"{len(event) - pos} bytes left after the reports")
    return out


def hci_set_advertising_data(params: bytes) -> bytes:
    """The AD in the parameters of an HCI LE Set Advertising Data command (significant length, then 31 bytes)."""
    if not params or params[0] > 31 or len(params) < 1 + params[0] or not parse_ad(params[1:1 + params[0]])[1]:
        raise FrameError(FrameStatus.MALFORMED, "significant length does not fit the parameters")
    return params[1:1 + params[0]]


def frame_advertisements(linktype: int, frame: bytes, ts_ms: int) -> list[Advertisement]:
    """The advertisements in one captured frame of a known link type; raises :class:`FrameError` otherwise."""
    if linktype == LINKTYPE_NORDIC_BLE:
        return [nordic_advertisement(frame, ts_ms)]
    if linktype == LINKTYPE_BLUETOOTH_LE_LL:
        return [ll_advertisement(frame, ts_ms)]
    if linktype == LINKTYPE_BLUETOOTH_HCI_H4:
        if not frame or frame[0] != _H4_EVENT:
            raise FrameError(FrameStatus.NOT_ADVERTISING, "not an HCI event")
        return hci_event_advertisements(frame[1:], ts_ms)
    raise FrameError(FrameStatus.UNSUPPORTED, f"link type {linktype}")


class CaptureReader:
    """Iterates the advertisements of a pcap/pcapng file; ``counts`` holds one :class:`FrameStatus` per frame.

    >>> reader = CaptureReader("capture.pcapng")  # doctest: +SKIP
    >>> adverts = list(reader); reader.counts[FrameStatus.BAD_CRC]  # doctest: +SKIP
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.frames = 0
        self.counts: Counter[FrameStatus] = Counter()

    def __iter__(self) -> Iterator[Advertisement]:
        for linktype, ts_us, frame in raw_frames(self.path):
            self.frames += 1
            try:
                adverts = frame_advertisements(linktype, frame, ts_us // 1000)
            except FrameError as exc:
                self.counts[exc.status] += 1
                continue
            self.counts[FrameStatus.ADVERTISEMENT] += 1
            yield from adverts
        log.info("%s: %d frames, %s", self.path.name, self.frames, dict(self.counts))
