"""tshark (Wireshark's dissector, a Debian package) as the independent reference for the WiFi parser."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class RefFrame:
    number: int  # 1-based position in the file
    subtype: int | None
    signals: tuple[int, ...]  # every dBm antenna signal radiotap carries, in order
    seq: int | None
    freq: int | None
    bad_fcs: bool
    addresses: tuple[str, ...]  # every MAC-like field tshark decoded (sa, da, ta, ra, bssid)

    @property
    def is_probe_request(self) -> bool:
        return self.subtype == 4 and not self.bad_fcs


FIELDS = ["frame.number", "wlan.fc.type_subtype", "radiotap.dbm_antsignal", "wlan.seq", "radiotap.channel.freq",
          "radiotap.flags.badfcs", "wlan.sa", "wlan.da", "wlan.ta", "wlan.ra", "wlan.bssid"]


@functools.cache
def tshark_frames(path: Path) -> list[RefFrame]:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed (scripts/bootstrap.sh --browser installs it)")
    cmd = [exe, "-n", "-r", str(path), "-T", "fields", "-E", "separator=;", "-E", "occurrence=a", "-E",
           "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        number, subtype, signals, seq, freq, bad, *addrs = line.split(";")
        frames.append(RefFrame(
            int(number), int(subtype, 0) if subtype else None,
            tuple(int(v) for v in signals.split(",") if v), int(seq) if seq else None,
            int(freq.split(",")[0]) if freq else None, bad in ("1", "True"),
            tuple(a for field in addrs for a in field.split(",") if a)))
    return frames
