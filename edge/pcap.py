"""Capture files, pcap and pcapng alike, as raw frames: scapy reads the file and nothing is dissected here.

Shared by the WiFi replay (radiotap frames) and the BLE capture reader (nRF Sniffer, link layer, HCI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


class CaptureError(RuntimeError):
    """A capture cannot be read or started: the message says what to do."""


class CaptureFileError(CaptureError, ValueError):
    """The file is missing or is not a pcap/pcapng capture."""


def raw_frames(path: Path | str) -> Iterator[tuple[int, int, bytes]]:
    """``(link type, µs since the epoch, frame bytes)`` for every frame of the file, in file order."""
    from scapy.error import Scapy_Exception  # scapy is slow to import: only when a capture is read
    from scapy.utils import RawPcapReader

    path = Path(path)
    if not path.is_file():
        raise CaptureFileError(f"{path}: no such capture file")
    try:
        reader = RawPcapReader(str(path))
    except Scapy_Exception as exc:
        raise CaptureFileError(f"{path}: not a pcap or pcapng file ({exc})") from exc
    with reader:
        for data, meta in reader:
            yield getattr(meta, "linktype", None) or reader.linktype, _ts_us(meta, reader), data


def _ts_us(meta: Any, reader: Any) -> int:
    if hasattr(meta, "tshigh"):  # pcapng: a 64-bit count of 1/tsresol seconds
        return ((meta.tshigh << 32) | meta.tslow) * 1_000_000 // meta.tsresol
    fraction = meta.usec // 1000 if getattr(reader, "nano", False) else meta.usec  # nanosecond pcap
    return meta.sec * 1_000_000 + fraction
