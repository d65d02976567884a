"""Probe requests parsed per second from a pcap: mallsense's parser against tshark on the same file, same run.

    .venv/bin/python bench/wifi_parse.py [--capture PATH] [--repeat 5]

Three figures per repeat, the median printed:
  * mallsense parse only: read the file (scapy's raw reader) and select/decode every frame (edge.wifi.frames);
  * mallsense collector: the same plus keyed hashing, estimation and contract batches into an in-memory outbox;
  * tshark: ``tshark -r FILE -Y wlan.fc.type_subtype==4 -T fields`` with the same fields (signal, sequence number,
    frequency, source), the independent reference the tests compare against (its process start included; its
    start-up alone is timed on an empty read and shown too).
Default capture: the 17,183-frame lab capture of probe-request-project.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from edge.outbox import Outbox
from edge.wifi.capture import read_capture
from edge.wifi.config import WifiSensorConfig
from edge.wifi.frames import FrameStats, parse_frame
from edge.wifi.node import build_collector
from mallsense.site import load_site

DATA = Path(os.environ.get("MALLSENSE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT = DATA / "wifi" / "probe-request-project" / "PCAP_position_1_sc6-61_2024-03-14_anonymized.pcap"


def parse_only(path: Path) -> int:
    stats = FrameStats()
    for ts_us, frame in read_capture(path):
        parse_frame(frame, ts_us, stats)
    return stats.frames


def collector(path: Path, site) -> int:
    outbox = Outbox(None)
    c = build_collector(site, "node-f1-w", WifiSensorConfig(sensor="wifi-f1-1"), outbox, b"bench-secret-0123")
    for ts_us, frame in read_capture(path):
        c.feed(ts_us, frame)
    c.finish()
    outbox.close()
    return c.stats.frames


def tshark(path: Path, count: int | None = None) -> int:
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "wlan.fc.type_subtype == 4", "-T", "fields",
           "-e", "radiotap.dbm_antsignal", "-e", "wlan.seq", "-e", "radiotap.channel.freq", "-e", "wlan.sa"]
    if count is not None:
        cmd[2:2] = ["-c", str(count)]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return out.count(b"\n")


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capture", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("tshark") is None:
        raise SystemExit("tshark is not installed (apt-get install tshark)")
    frames = parse_only(args.capture)
    site = load_site()  # outside the timings
    runs = {"mallsense parse": [], "mallsense collector": [], "tshark": [], "tshark start-up": []}
    for _ in range(args.repeat):
        runs["mallsense parse"].append(timed(parse_only, args.capture))
        runs["mallsense collector"].append(timed(collector, args.capture, site))
        runs["tshark"].append(timed(tshark, args.capture))
        runs["tshark start-up"].append(timed(tshark, args.capture, 1))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"{args.capture.name}: {frames} frames, median of {args.repeat} runs")
    for name in ("mallsense parse", "mallsense collector", "tshark"):
        print(f"  {name:<20} {med[name] * 1000:8.1f} ms  {frames / med[name]:>10,.0f} frames/s  "
              f"{med['tshark'] / med[name]:5.2f}x tshark")
    net = med["tshark"] - med["tshark start-up"]
    print(f"  tshark without its start-up ({med['tshark start-up'] * 1000:.0f} ms): "
          f"{frames / net:,.0f} frames/s; mallsense parse is {net / med['mallsense parse']:.2f}x that")


if __name__ == "__main__":
    main()
