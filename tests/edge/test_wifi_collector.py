"""The WiFi collector: keyed and rotating identities, opt-out at the source, contract batches, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.outbox import Outbox
from edge.privacy import OptOutList, opt_out_hash
from edge.wifi.capture import CaptureError, check_interface, read_capture
from edge.wifi.config import WifiSensorConfig, load_wifi_config
from edge.wifi.node import build_collector
from mallsense.contract import Kind, decode_batch, parse_topic
from mallsense.site import load_site
from mallsense.yamlconf import ConfigError
from tests.conftest import shared_data
from tests.edge.tshark import tshark_frames
from tests.privacy_scan import macs_in

WIFI = shared_data() / "wifi"
NIGHT = WIFI / "probe-request-project" / "PCAP_position_1_sc6-61_2023-04-17_anonymized.pcap"
AFTERNOON = WIFI / "probe-request-project" / "PCAP_position_1_sc6-61_2024-03-14_anonymized.pcap"
SECRET = b"collector-test-secret-0123456789"
PI = "dc:a6:32:eb:59:4d"  # a Raspberry Pi heard in both lab captures


def collect(paths, cfg: WifiSensorConfig | None = None):
    site = load_site()
    outbox = Outbox(None)
    collector = build_collector(site, "node-f1-w", cfg or WifiSensorConfig(sensor="wifi-f1-1"), outbox, SECRET)
    for path in paths:
        for ts_us, frame in read_capture(path):
            collector.feed(ts_us, frame)
    collector.finish()
    batches = []
    for pending in outbox.peek(0, 1_000_000):
        batches.append((pending.payload, decode_batch(parse_topic(pending.topic), pending.payload)))
    return collector, batches


def addresses(path: Path) -> set[str]:
    return {a for f in tshark_frames(path) for a in f.addresses}


def test_batches_follow_the_contract_and_carry_no_address():
    collector, batches = collect([NIGHT, AFTERNOON])
    kinds = {b.kind for _, b in batches}
    assert kinds == {Kind.WIFI, Kind.WIFI_COUNT}
    sightings = [o for _, b in batches if b.kind is Kind.WIFI for o in b.obs]
    assert len(sightings) == collector.stats.probes == 511 + 17_183
    assert [b.seq for _, b in batches] == list(range(len(batches))), "one sequence per sensor, no gaps"
    macs = addresses(NIGHT) | addresses(AFTERNOON)
    assert len(macs) > 2000
    blob = b"\n".join(payload for payload, _ in batches)
    assert macs_in(PI.upper().encode() + b" " + PI.replace(":", "").encode(), macs) == {PI.replace(":", "")}
    assert macs_in(blob, macs) == set()


def test_keys_and_fingerprints_rotate_with_the_key_period():
    """The lab captures are eleven months apart; the same Raspberry Pi probes in both, under unrelated keys."""
    def keys(path: Path) -> tuple[set[str], set[str]]:
        obs = [o for _, b in collect([path])[1] if b.kind is Kind.WIFI for o in b.obs]
        return {o.dev for o in obs}, {o.fp for o in obs}

    (keys1, fps1), (keys2, fps2) = keys(NIGHT), keys(AFTERNOON)
    assert PI in addresses(NIGHT) and PI in addresses(AFTERNOON)
    assert keys1 and keys2 and not keys1 & keys2
    assert not fps1 & fps2, "a fingerprint could link days: it rotates with the key"


def test_an_opted_out_device_is_never_recorded(tmp_path: Path):
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text(f"# opted out at the mall's web page\n{opt_out_hash(SECRET, PI)}\n")
    heard = sum(1 for f in tshark_frames(NIGHT) if f.is_probe_request and f.addresses[0] == PI)
    assert heard > 100
    plain, _ = collect([NIGHT])
    collector, batches = collect([NIGHT], WifiSensorConfig(sensor="wifi-f1-1", opt_out_file=opt_out))
    assert collector.opted_out == heard
    count = sum(len(b.obs) for _, b in batches if b.kind is Kind.WIFI)
    assert count == plain.stats.probes - heard
    assert PI.encode() not in opt_out.read_bytes(), "the list holds keyed hashes, not addresses"


def test_a_bad_opt_out_line_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "opt-out.txt"
    bad.write_text(f"{'a' * 64}\n{PI}\n")
    with pytest.raises(ValueError, match=r"opt-out.txt:2: opt-out hash: not an opt-out hash"):
        OptOutList.load(SECRET, bad)


def test_a_bad_config_names_file_line_and_field(tmp_path: Path):
    path = tmp_path / "edge.yaml"
    path.write_text("wifi:\n  - sensor: wifi-f1-1\n    channels: [1, 6, 11]\n    hop_interval_s: -2\n")
    with pytest.raises(ConfigError) as err:
        load_wifi_config(path, "wifi-f1-1")
    assert "edge.yaml" in str(err.value) and "4" in str(err.value) and "hop_interval_s" in str(err.value)
    path.write_text("wifi:\n  - sensor: wifi-f1-1\n")
    with pytest.raises(ValueError, match="no wifi entry for sensor 'wifi-f1-2'"):
        load_wifi_config(path, "wifi-f1-2")


def test_the_example_config_is_valid():
    cfg = load_wifi_config(Path(__file__).parents[2] / "config" / "edge-wifi.example.yaml", "wifi-f1-1")
    assert cfg.estimator().min_rssi_dbm == -75 and cfg.channels == [1, 6, 11]


def test_live_capture_says_what_is_wrong_with_the_interface():
    with pytest.raises(CaptureError, match="no network interface 'wlan9mon'"):
        check_interface("wlan9mon")
    with pytest.raises(CaptureError, match="not in monitor mode"):
        check_interface("lo")


def test_the_command_needs_a_secret_and_reports_what_it_saw(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "MALLSENSE_DEVICE_SECRET_FILE"}
    cmd = [sys.executable, "-m", "mallsense.cli", "wifi", "--sensor", "wifi-f1-1", "--pcap", str(NIGHT), "--offline",
           "--outbox", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode != 0 and "no device-key secret" in done.stderr
    key = tmp_path / "node.key"
    key.write_bytes(SECRET)
    done = subprocess.run([*cmd, "--secret-file", str(key)], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "511 frames, 511 probe requests, 0 other frames dropped, 0 malformed" in done.stdout
    assert PI not in done.stdout + done.stderr


def test_lacking_privileges_are_named(tmp_path: Path, monkeypatch):
    import socket

    import edge.wifi.capture as capture

    (tmp_path / "wlan1mon").mkdir()
    (tmp_path / "wlan1mon" / "type").write_text("803\n")
    monkeypatch.setattr(capture, "SYS_NET", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", refuse)
    with pytest.raises(CaptureError, match="root or CAP_NET_RAW"):
        check_interface("wlan1mon")


def test_replay_at_recorded_pace_and_stop():
    import threading
    import time

    from edge.wifi.capture import paced

    frames = list(read_capture(NIGHT))
    span_s = (frames[-1][0] - frames[0][0]) / 1e6
    started = time.monotonic()
    assert len(list(paced(iter(frames), span_s / 1.0))) == len(frames)  # the whole night in about one second
    assert 0.8 <= time.monotonic() - started <= 5.0
    stop = threading.Event()
    got = []
    for item in paced(iter(frames), span_s / 2.0, stop):
        got.append(item)
        if len(got) == 10:
            stop.set()
    assert len(got) == 10
