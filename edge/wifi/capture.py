"""Where frames come from: a pcap/pcapng file (replay) or a monitor-mode interface (live, with channel hopping).

Both yield ``(timestamp in µs, raw frame bytes)`` with the radiotap header in front, so everything downstream is the
same for a replay and a live sensor. scapy reads the files (pcap and pcapng alike) and opens the capture socket;
frames are not dissected by scapy, which would be two orders of magnitude slower than :mod:`edge.wifi.frames`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from edge.pcap import CaptureError, raw_frames

log = logging.getLogger(__name__)

DLT_IEEE802_11_RADIO = 127  # radiotap + 802.11
ARPHRD_IEEE80211_RADIOTAP = 803  # /sys/class/net/<if>/type of a monitor-mode interface
SYS_NET = Path("/sys/class/net")


def read_capture(path: Path | str) -> Iterator[tuple[int, bytes]]:
    """Frames of a pcap or pcapng file, in file order: (µs since the epoch, radiotap frame)."""
    for linktype, ts_us, frame in raw_frames(path):
        if linktype != DLT_IEEE802_11_RADIO:
            raise CaptureError(f"{path}: link type {linktype}, expected {DLT_IEEE802_11_RADIO} (802.11 with radiotap "
                               "headers: capture on a monitor-mode interface)")
        yield ts_us, frame


def paced(frames: Iterator[tuple[int, bytes]], speed: float | None,
          stop: threading.Event | None = None) -> Iterator[tuple[int, bytes]]:
    """Replay frames at ``speed`` × their recorded pace (None: as fast as possible). Timestamps stay as recorded."""
    if not speed:
        yield from frames
        return
    start_wall = start_ts = None
    for ts_us, data in frames:
        if stop is not None and stop.is_set():
            return
        if start_ts is None:
            start_wall, start_ts = time.monotonic(), ts_us
        wait = (ts_us - start_ts) / 1e6 / speed - (time.monotonic() - start_wall)
        if wait > 0 and (stop.wait(wait) if stop is not None else time.sleep(wait)):
            return
        yield ts_us, data


def check_interface(iface: str) -> None:
    """Fail with a clear message unless ``iface`` exists, is in monitor mode and can be opened by this process."""
    net = SYS_NET / iface
    if not net.exists():
        have = ", ".join(sorted(p.name for p in SYS_NET.iterdir())) or "none"
        raise CaptureError(f"no network interface {iface!r} (interfaces here: {have})")
    kind = int((net / "type").read_text().strip())
    if kind != ARPHRD_IEEE80211_RADIOTAP:
        raise CaptureError(
            f"interface {iface!r} is not in monitor mode (link type {kind}, monitor mode is "
            f"{ARPHRD_IEEE80211_RADIOTAP}): e.g. 'ip link set {iface} down; iw dev {iface} set type monitor; "
            f"ip link set {iface} up'")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        import socket

        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
        except PermissionError as exc:
            raise CaptureError("capturing needs root or CAP_NET_RAW: run as root or "
                               "'setcap cap_net_raw,cap_net_admin=eip' on the Python binary") from exc


class ChannelHopper(threading.Thread):
    """Moves the interface through ``channels`` every ``interval_s`` with ``iw`` (one channel: set once)."""

    def __init__(self, iface: str, channels: Sequence[int], interval_s: float, stop: threading.Event) -> None:
        super().__init__(name=f"hop-{iface}", daemon=True)
        if not channels:
            raise ValueError("the channel list is empty")
        if interval_s <= 0:
            raise ValueError("the hop interval must be positive")
        self.iface, self.channels, self.interval_s, self.stop = iface, list(channels), interval_s, stop
        self.iw = shutil.which("iw")
        if self.iw is None:
            raise CaptureError("channel hopping needs the 'iw' tool (apt-get install iw)")

    def set_channel(self, channel: int) -> None:
        done = subprocess.run([self.iw, "dev", self.iface, "set", "channel", str(channel)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log.warning("iw could not set %s to channel %d: %s", self.iface, channel, done.stderr.strip())

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            self.set_channel(self.channels[i % len(self.channels)])
            if len(self.channels) == 1:
                return
            i += 1
            self.stop.wait(self.interval_s)


def sniff_live(iface: str, stop: threading.Event, *, channels: Sequence[int] = (1, 6, 11),
               hop_interval_s: float = 0.5) -> Iterator[tuple[int, bytes]]:
    """Frames from a monitor-mode interface until ``stop`` is set (scapy's raw L2 socket; no dissection)."""
    check_interface(iface)
    from scapy.config import conf

    ChannelHopper(iface, channels, hop_interval_s, stop).start()
    sock = conf.L2listen(iface=iface)
    try:
        while not stop.is_set():
            ready = sock.select([sock], 0.5) if hasattr(sock, "select") else [sock]
            if not ready:
                continue
            _cls, data, ts = sock.recv_raw()
            if data:
                yield int((ts or time.time()) * 1_000_000), data
    finally:
        sock.close()
