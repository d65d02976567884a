"""Sniffer captures: real nRF Sniffer files (shared data: ble/captures) are read whole and their bad frames counted."""

from __future__ import annotations

from uuid import UUID

import pytest

from edge.ble.capture import (
    LINKTYPE_BLUETOOTH_HCI_H4,
    LINKTYPE_BLUETOOTH_LE_LL,
    CaptureReader,
    FrameError,
    FrameStatus,
    crc24,
    frame_advertisements,
    hci_event_advertisements,
    ll_advertisement,
)
from edge.ble.frames import APPLE, IBeacon, beacons
from tests.conftest import shared_data

CAPTURES = shared_data() / "ble" / "captures"
GALAXY = CAPTURES / "GalaxyS10-2_btle_sniffer_05-12-2020-134911.pcapng"
IPHONE = CAPTURES / "iPhone11-1_btle_sniffer_05-07-2020-125358.pcapng"
TS = 1_764_547_200_000
# ADV_IND from random address 67:ef:36:5f:6c:8d: Flags, "Galaxy S10", TX power -2 (frame 1 of the Galaxy capture)
GOOD_LL = bytes.fromhex("d6be898e6018" "8d6c5f36ef67" "02011a0b0947616c61787920533130020afe" "fe3ac6")


def test_galaxy_capture_counts_its_bad_crc_and_malformed_frames():
    """SOURCES.md: 10 bad-CRC and 7 malformed frames (the same frames Wireshark's expert info names)."""
    reader = CaptureReader(GALAXY)
    adverts = list(reader)
    assert reader.frames == 6204
    assert reader.counts == {FrameStatus.BAD_CRC: 10, FrameStatus.MALFORMED: 7, FrameStatus.ADVERTISEMENT: 6187}
    assert len(adverts) == 6187 and all(a.rssi is not None and -100 < a.rssi < 0 for a in adverts)
    assert adverts[0].address == "67:EF:36:5F:6C:8D" and adverts[0].tx_power == -2
    assert adverts[0].ts_ms == 1_589_305_180_274  # 2020-05-12 17:39:40.274654 UTC


def test_our_crc_agrees_with_the_sniffers_flag_on_every_frame():
    from scapy.utils import RawPcapReader

    checked = disagreements = 0
    with RawPcapReader(str(GALAXY)) as reader:
        for frame, _ in reader:
            ll = frame[7 + frame[7]:]
            if len(ll) == 9 + ll[5]:
                checked += 1
                disagreements += (crc24(ll[4:6 + ll[5]]) == ll[6 + ll[5]:]) != bool(frame[8] & 0x01)
    assert checked == 6204 and disagreements == 0


def test_iphone_capture_has_apple_frames_but_no_ibeacon():
    reader = CaptureReader(IPHONE)
    adverts = list(reader)
    assert reader.counts == {FrameStatus.ADVERTISEMENT: 3431}
    apple = [a for a in adverts if APPLE in a.manufacturer_data]
    assert len(apple) == 3431
    assert not any(isinstance(f, IBeacon) for a in adverts for f in beacons(a))
    assert {a.manufacturer_data[APPLE][0] for a in apple} <= {0x10, 0x0C, 0x0F, 0x12, 0x09, 0x07}  # Continuity


def test_link_layer_frames():
    adv = ll_advertisement(GOOD_LL, TS, rssi=-70)
    assert (adv.address, adv.rssi, adv.tx_power, adv.raw[:3]) == ("67:EF:36:5F:6C:8D", -70, -2, b"\x02\x01\x1a")
    flipped = bytearray(GOOD_LL)
    flipped[20] ^= 0x01
    cases = {
        bytes(flipped): FrameStatus.BAD_CRC,
        GOOD_LL[:-1]: FrameStatus.MALFORMED,
        b"\x01\x02\x03\x04" + GOOD_LL[4:]: FrameStatus.NOT_ADVERTISING,  # data channel
        GOOD_LL[:4] + b"\x03\x0c" + bytes(12) + crc24(b"\x03\x0c" + bytes(12)): FrameStatus.NOT_ADVERTISING,  # SCAN_REQ
        GOOD_LL[:5] + b"\x13" + GOOD_LL[6:]: FrameStatus.MALFORMED,  # length byte disagrees with the frame
        b"": FrameStatus.MALFORMED,
    }
    for frame, status in cases.items():
        with pytest.raises(FrameError) as err:
            ll_advertisement(frame, TS)
        assert err.value.status is status
    assert frame_advertisements(LINKTYPE_BLUETOOTH_LE_LL, GOOD_LL, TS)[0].address == "67:EF:36:5F:6C:8D"


def test_hci_extended_advertising_report():
    ad = bytes.fromhex("020106") + bytes.fromhex("1aff4c000215") + bytes(range(16)) + bytes.fromhex("00010002c5")
    report = (bytes.fromhex("1300" "01" "665544332211" "01" "00" "ff" "7f" "c4" "0000" "00" "000000000000")
              + bytes([len(ad)]) + ad)
    event = bytes([0x3E, 2 + len(report), 0x0D, 1]) + report
    [adv] = hci_event_advertisements(event, TS)
    assert (adv.address, adv.rssi) == ("11:22:33:44:55:66", -60)
    assert beacons(adv) == [IBeacon(UUID(bytes=bytes(range(16))), 1, 2, -59)]
    with pytest.raises(FrameError):
        hci_event_advertisements(event + b"\x00", TS)  # a byte no report accounts for
    fragment = bytearray(event)
    fragment[4] |= 0x20  # data status: incomplete, more to come
    with pytest.raises(FrameError) as err:
        hci_event_advertisements(bytes(fragment), TS)
    assert err.value.status is FrameStatus.UNSUPPORTED
    assert frame_advertisements(LINKTYPE_BLUETOOTH_HCI_H4, b"\x04" + event, TS) == [adv]
    with pytest.raises(FrameError):  # an HCI command, not an event
        frame_advertisements(LINKTYPE_BLUETOOTH_HCI_H4, b"\x01" + event, TS)


def test_a_file_that_is_not_a_capture_gives_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("not a capture\n")
    with pytest.raises(ValueError, match="not a pcap or pcapng file"):
        list(CaptureReader(bogus))
