"""The WiFi parser against tshark, frame for frame, on every real capture; and never a crash on bad input."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from edge.wifi import radiotap
from edge.wifi.capture import CaptureError, read_capture
from edge.wifi.frames import FrameStats, parse_frame
from tests.conftest import shared_data
from tests.edge.tshark import tshark_frames

CAPTURES = sorted((shared_data() / "wifi").glob("*/*.pcap*"))


def parsed(path: Path) -> tuple[dict, FrameStats]:
    stats = FrameStats()
    probes = {}
    for number, (ts_us, frame) in enumerate(read_capture(path), 1):
        probe = parse_frame(frame, ts_us, stats)
        if probe is not None:
            probes[number] = probe
    return probes, stats


def test_every_capture_is_there():
    assert len(CAPTURES) >= 8, f"expected the WiFi captures under {shared_data() / 'wifi'}"


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_selection_signal_and_sequence_agree_with_tshark(path: Path):
    ref = tshark_frames(path)
    probes, stats = parsed(path)
    assert stats.frames == len(ref)
    want = {f.number: f for f in ref if f.is_probe_request}
    assert sorted(probes) == sorted(want), "frame selection differs from tshark's wlan.fc.type_subtype == 4"
    assert stats.probes == len(want)
    assert stats.probes + sum(stats.other.values()) + sum(stats.malformed.values()) == stats.frames
    for number, probe in probes.items():
        f = want[number]
        assert probe.seqno == f.seq, f"frame {number}: sequence number"
        assert probe.freq_mhz == f.freq, f"frame {number}: frequency"
        first = f.signals[0] if f.signals else None
        assert probe.raw_signal_dbm == first, f"frame {number}: recorded signal"
        plausible = [s for s in f.signals[1:] if -120 <= s < 0]
        expected = first if first is not None and -120 <= first < 0 else (max(plausible) if plausible else None)
        assert probe.signal_dbm == expected, f"frame {number}: signal used ({f.signals})"
        assert probe.randomized == bool(int(f.addresses[0].split(":")[0], 16) & 0x02)


def test_zero_and_positive_dbm_are_no_value_not_a_reading():
    """mixed_4 carries 0 dBm readings and a probing-patterns file a +15 dBm one: neither becomes an RSSI."""
    seen = []
    for path in CAPTURES:
        for probe in parsed(path)[0].values():
            if probe.raw_signal_dbm is not None and probe.raw_signal_dbm >= 0:
                seen.append(probe.raw_signal_dbm)
                assert probe.signal_dbm is None
    assert 15 in seen


def radiotap_header(words: list[int], body: bytes) -> bytes:
    head = struct.pack("<BBH", 0, 0, 4 + 4 * len(words) + len(body)) + b"".join(struct.pack("<I", w) for w in words)
    return head + body


def test_per_antenna_signals_behind_an_extended_bitmap():
    # word 0: flags(1) signal(5) + radiotap namespace next + ext; word 1: antenna(11) signal(5)
    words = [(1 << 1) | (1 << 5) | (1 << 29) | (1 << 31), (1 << 5) | (1 << 11)]
    body = bytes([0x00, 0x00]) + struct.pack("<bB", -58, 1)  # flags, combined 0 dBm; antenna 1: -58 dBm
    rt = radiotap.parse(radiotap_header(words, body))
    assert rt.raw_signal_dbm == 0 and rt.signal_dbm == -58


def test_vendor_namespace_is_skipped_by_its_length():
    words = [(1 << 3) | (1 << 30) | (1 << 31), 0x0000_0001]  # channel, then a vendor namespace with one field
    body = struct.pack("<HH", 2437, 0) + bytes([0x00, 0x11, 0x22, 0x01]) + struct.pack("<H", 3) + b"\x09\x09\x09"
    rt = radiotap.parse(radiotap_header(words, body))
    assert rt.freq_mhz == 2437 and rt.length == len(radiotap_header(words, body))


@pytest.mark.parametrize("freq, channel", [(2412, 1), (2437, 6), (2484, 14), (5180, 36), (5955, 1), (900, None)])
def test_channels(freq, channel):
    assert radiotap.channel_of(freq) == channel


def test_truncated_and_corrupted_frames_are_counted_never_fatal():
    rng = random.Random(5)
    frames = [frame for path in CAPTURES for _, frame in list(read_capture(path))[:40]]
    stats = FrameStats()
    for frame in frames:
        for cut in range(len(frame)):
            parse_frame(frame[:cut], 0, stats)
        noisy = bytearray(frame)
        for _ in range(4):
            noisy[rng.randrange(len(noisy))] = rng.randrange(256)
        parse_frame(bytes(noisy), 0, stats)
    assert stats.frames == stats.probes + sum(stats.other.values()) + sum(stats.malformed.values())
    assert stats.malformed["radiotap"] > 0 and stats.malformed["short_header"] > 0
    assert stats.truncated_elements > 0  # probes cut inside their elements are still probes


def test_a_file_that_is_not_a_capture_names_itself(tmp_path: Path):
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    with pytest.raises(CaptureError, match=r"notes\.pcap"):
        list(read_capture(bad))
    with pytest.raises(CaptureError, match="no such capture file"):
        list(read_capture(tmp_path / "missing.pcap"))


def test_a_capture_of_another_link_type_is_refused():
    ble = sorted((shared_data() / "ble" / "captures").glob("*.pcapng"))[0]
    with pytest.raises(CaptureError, match="link type"):
        list(read_capture(ble))
