"""Beacon decoding against the public test vectors (shared data: ble/vectors) and hand-made edge cases.

Each vector holds bytes in the shape its ``form`` names and only what its source states. A stated key is checked
against our decoded fields or, for vendor sensor payloads that ride inside beacon fields (Tilt, Jaalee, Cypress,
Ruuvi, Govee...), against the vendor's published reading of those fields; keys that these bytes cannot carry are
listed in ``NOT_IN_THESE_BYTES`` with the reason. Any other stated key fails the test, so nothing is skipped quietly.

Our decoders are strict about declared lengths. Where a source read past one (the dataset's notes say so), the
strict result is asserted ("no beacon": the bytes contradict their own lengths) and the stated values are shown to
come from the bytes beyond the length, read the way that source reads them. That path is taken only for bytes the
strict parser flags as inconsistent, so it cannot hide a decoder that misses a well-formed frame.
"""

from __future__ import annotations

import base64
import csv
import json
import random
from collections import defaultdict
from uuid import UUID

import pytest

from edge.ble.capture import (
    FrameError,
    frame_advertisements,
    hci_event_advertisements,
    hci_set_advertising_data,
    ll_advertisement,
)
from edge.ble.frames import (
    APPLE,
    Advertisement,
    AltBeacon,
    EddystoneEid,
    EddystoneEncryptedTlm,
    EddystoneTlm,
    EddystoneUid,
    EddystoneUrl,
    IBeacon,
    advertisement_from_ad,
    beacons,
    decode_eddystone,
    decode_manufacturer,
    parse_ad,
    uuid16,
)
from tests.conftest import shared_data

VECTORS_DIR = shared_data() / "ble" / "vectors"
DATASET = json.loads((VECTORS_DIR / "ble_vectors.json").read_text()) if VECTORS_DIR.is_dir() else {"vectors": []}
VECTORS = {v["id"]: v for v in DATASET["vectors"]}
TS = 1_764_547_200_000
KIND_FRAMES = {
    "ibeacon": (IBeacon,),
    "altbeacon": (AltBeacon,),
    "eddystone": (EddystoneUid, EddystoneUrl, EddystoneTlm, EddystoneEncryptedTlm, EddystoneEid),
}
LINK_FORMS = ("hci_event", "btle_ll")  # the only shapes that carry the advertiser's address and an RSSI
NOT_IN_THESE_BYTES = {
    "name": "a device name from the source's scan response or service info, not in these bytes",
    "transient": "ibeacon-ble's guess from a Tesla device name, not a property of the frame",
    "ibeacon_ble_parse": "ibeacon-ble's policy to ignore Tilt UUIDs; the frame is a well-formed iBeacon",
}
ADDRESS_KEYS = ("address", "mac", "addr")


# ------------------------------------------------------------------------------------------------ reading a form
def read_form(vector: dict, *, past_lengths: bool = False) -> tuple[list[Advertisement], bool]:
    """The advertisements in a vector's bytes and whether the bytes agree with their own lengths.

    ``past_lengths`` reads the way the lenient sources do: the last AD structure runs to the end of the data, and an
    HCI report's data runs up to its final (RSSI) byte whatever its length field says.
    """
    raw = bytes.fromhex(vector["hex"])
    form = vector["form"]
    try:
        if form == "ad":
            return [advertisement_from_ad(_stretched(raw) if past_lengths else raw, TS)], parse_ad(raw)[1]
        if form == "mfg_hex":  # company id + value: the body of a manufacturer-specific AD structure
            return [advertisement_from_ad(bytes([len(raw) + 1, 0xFF]) + raw, TS)], True
        if form == "mfg_value":
            services = {uuid: bytes.fromhex(h) for uuid, h in vector.get("service_data", {}).items()}
            return [Advertisement(TS, manufacturer_data={vector["company_id"]: raw}, service_data=services)], True
        if form == "service_data":
            return [Advertisement(TS, service_data={vector["service_uuid"]: raw})], True
        if form == "hci_event" and past_lengths:  # beacontools' scanner: address at 7..13, AD up to the RSSI byte
            if len(raw) < 15:
                return [], False
            address = ":".join(f"{b:02x}" for b in reversed(raw[7:13]))
            return [advertisement_from_ad(raw[14:-1], TS, address=address, rssi=raw[-1] - 256)], True
        if form == "hci_event":  # byte 0 is the H4 packet indicator, not part of the HCI event
            return hci_event_advertisements(raw[1:], TS), True
        if form == "btle_ll":
            return [ll_advertisement(raw, TS)], True
        if form == "hci_cmd_set_adv_data":
            return [advertisement_from_ad(hci_set_advertising_data(raw), TS)], True
        if form == "hci_cmd_set_adv_data_h4":  # H4 command indicator, opcode 0x2008 (LE), parameter length
            if raw[:3] != bytes.fromhex("010820") or len(raw) < 4:
                return [], False
            return [advertisement_from_ad(hci_set_advertising_data(raw[4:4 + raw[3]]), TS)], True
    except FrameError:
        return [], False
    raise AssertionError(f"unknown form {form!r}")


def _stretched(raw: bytes) -> bytes:
    """AD bytes where the last complete structure is extended over a tail that overruns the data."""
    pos = last = 0
    while pos < len(raw) and pos + 1 + raw[pos] <= len(raw):
        last, pos = pos, pos + 1 + raw[pos]
    return raw[:last] + bytes([len(raw) - last - 1]) + raw[last + 1:] if pos < len(raw) else raw


def frames_of(adverts: list[Advertisement]) -> list:
    return [frame for adv in adverts for frame in beacons(adv)]


# ------------------------------------------------------------------------------------------------ what was decoded
def readings(adverts: list[Advertisement], frames: list) -> dict[str, list]:
    """Every stated-key name mapped to the values our decoding gives for it."""
    out: dict[str, list] = defaultdict(list)
    for f in frames:
        if isinstance(f, IBeacon | AltBeacon):
            out["uuid"].append(f.uuid.hex)
            out["major"].append(f.major)
            out["minor"].append(f.minor)
        for key in ("tx_power", "power", "txpower", "measured_power"):
            out[key] += [f.tx_power] if hasattr(f, "tx_power") else []
        if isinstance(f, EddystoneUid):
            out["namespace"].append(f.namespace.hex())
            out["instance"].append(f.instance.hex())
        if isinstance(f, EddystoneUrl):
            out["url"].append(f.url)
        if isinstance(f, EddystoneEid):
            out["eid_ascii"].append(f.eid.decode("latin-1"))
        if isinstance(f, EddystoneTlm):
            out["voltage"].append(f.battery_mv)
            out["temperature"].append(f.temperature_c)
            out["advertising_count"].append(f.adv_count)
            out["seconds_since_boot"].append(f.uptime_ds)  # beacontools' name for the raw SEC_CNT (0.1 s units)
        if isinstance(f, EddystoneEncryptedTlm):
            out["encrypted_data_ascii"].append(f.etlm.decode("latin-1"))
            out["salt"].append(int.from_bytes(f.salt, "little"))  # as beacontools reads them
            out["mic"].append(int.from_bytes(f.mic, "little"))
    ibeacons = [f for f in frames if isinstance(f, IBeacon)]
    out["parsed_not_none"].append(bool(frames))
    out["parsed"].append(frames or None)
    out["ibeacon"].append(bool(ibeacons))
    out["distance"] += [None if f.rssi_at_1m is None else "computable" for f in ibeacons]
    for adv in adverts:
        out["rssi"].append(adv.rssi)
        for key in ADDRESS_KEYS:
            out[key].append(adv.address)
        out["svc_uuid"] += [uuid16(key) for key in adv.service_data]
        if APPLE in adv.manufacturer_data:
            out["brand"].append("Apple")
            out["apple_subtypes"].append(_apple_tlv_types(adv.manufacturer_data[APPLE]))
    for key, values in vendor_readings(adverts, frames).items():
        out[key] += values
    return out


def _apple_tlv_types(value: bytes) -> list[int]:
    types, pos = [], 0
    while pos + 2 <= len(value):
        types.append(value[pos])
        pos += 2 + value[pos + 1]
    return types


TILT_COLOURS = {"10": "red", "20": "green", "30": "black", "40": "purple", "50": "orange", "60": "blue",
                "70": "yellow", "80": "pink"}


def vendor_readings(adverts: list[Advertisement], frames: list) -> dict[str, list]:
    """Sensor values that vendors put into beacon fields, read as each vendor (or the stating source) documents."""
    out: dict[str, list] = defaultdict(list)
    for f in frames:
        if isinstance(f, IBeacon):
            uuid = f.uuid.hex
            if uuid.startswith("a495bb") and uuid.endswith("c5b14b44b5121370f02d74de"):  # Tilt: °F, SG x 1000
                out["tempf"].append(f.major)
                out["temperature_c"].append(round((f.major - 32) * 5 / 9, 1))
                out["gravity"].append(f.minor / 1000)
                out["color"].append(TILT_COLOURS.get(uuid[6:8]))
            if uuid == "ebefd08370a247c89837e7b5634df525":  # Jaalee: SHT-style in major/minor, battery appended
                out["temperature"].append(round(175 * f.major / 65535 - 45, 2))
                out["humidity"].append(round(100 * f.minor / 65535, 2))
                out["battery"] += list(f.extra[:1])
            if uuid == "b5b182c7eab14988aa99b5c1517008d9":  # April Brother ABTemp: minor = battery %, °C
                out["batt"].append(f.minor >> 8)
                out["tempc"].append(f.minor & 0xFF)
            # Cypress CYALKIT-E02 (temperature in the minor's low byte), as beacontools and ibeacon-ble read it
            temperature = 175.72 * (f.minor & 0xFF) * 256 / 65536 - 46.85
            out["cypress_temperature_x100"].append(round(temperature * 100))
            out["cypress_humidity_x100"].append(round((125 * (f.minor & 0xFF00) / 65536 - 6) * 100))
            out["cypress_temperature"].append(temperature)
            out["cypress_humidity"].append(125 * (f.major & 0xFF) * 256 / 65536 - 6)
            out["volt"].append((f.tx_power & 0xFF) / 10)  # theengs' NRF51822 model: that byte is the battery
        if isinstance(f, EddystoneUrl) and f.url.startswith("https://ruu.vi/#"):  # RuuviTag formats 2 and 4
            data = base64.urlsafe_b64decode(f.url.split("#", 1)[1][:8])
            out["humidity"].append(data[1] / 2)
            out["temperature"].append((data[2] & 0x7F) * (-1 if data[2] & 0x80 else 1) + data[3] / 100)
            out["pressure"].append((int.from_bytes(data[4:6], "big") + 50_000) / 100)
    for adv in adverts:
        govee = adv.manufacturer_data.get(0xEC88)  # Govee H5075: 3-byte temperature/humidity word, battery
        if govee is not None and len(govee) >= 5:
            word = int.from_bytes(govee[1:4], "big")
            out["temperature"].append(int(word / 1000) / 10)
            out["humidity"].append(word % 1000 / 10)
            out["battery"].append(govee[4])
    return out


def _same(key: str, stated, decoded) -> bool:
    if isinstance(stated, float) or isinstance(decoded, float):
        return isinstance(decoded, int | float) and decoded == pytest.approx(stated, abs=1e-9)
    if key in ("uuid", "namespace", "instance", *ADDRESS_KEYS) and isinstance(stated, str):
        return isinstance(decoded, str) and decoded.replace(":", "").lower() == stated.replace("-", "").replace(
            ":", "").lower()
    return stated == decoded


def check_stated(vector: dict, adverts: list[Advertisement], frames: list) -> None:
    found = readings(adverts, frames)
    for key, stated in vector["stated"].items():
        if key in NOT_IN_THESE_BYTES or (key in ("rssi", *ADDRESS_KEYS) and vector["form"] not in LINK_FORMS):
            continue
        assert key in found, f"stated {key!r} is neither decoded nor listed as not in these bytes"
        assert any(_same(key, stated, value) for value in found[key]), f"{key}: stated {stated!r}, got {found[key]!r}"


# ------------------------------------------------------------------------------------------------ the vectors
def test_the_vector_file_is_there():
    assert len(VECTORS) == DATASET.get("count") == 45, f"expected 45 vectors in {VECTORS_DIR}"


@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
def test_vector_decodes_to_what_its_source_states(vector):
    adverts, consistent = read_form(vector)
    frames = frames_of(adverts)
    expected = KIND_FRAMES.get(vector["kind"])
    if vector["kind"] == "negative":
        assert frames == []
        check_stated(vector, adverts, frames)
    elif expected is not None and any(isinstance(f, expected) for f in frames):
        check_stated(vector, adverts, frames)
    else:  # the source read past a declared length: we refuse, and show where its values came from
        assert not consistent, "no beacon decoded from bytes that agree with their own lengths"
        assert not any(isinstance(f, expected or ()) for f in frames)
        lenient, _ = read_form(vector, past_lengths=True)
        check_stated(vector, lenient, frames_of(lenient))
        assert frames_of(lenient), "the stated beacon is not in the bytes either"


def pcap_rows() -> list[dict]:
    index = VECTORS_DIR / "ble_vectors_pcap_index.csv"
    return list(csv.DictReader(index.open())) if index.exists() else []


@pytest.mark.parametrize("row", pcap_rows(), ids=lambda r: f"{r['pcap']}#{r['frame']}")
def test_constructed_pcap_frame_decodes_like_its_vector(row):
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(VECTORS_DIR / row["pcap"])) as reader:
        frames = list(reader)
        linktype = reader.linktype
    frame, _ = frames[int(row["frame"]) - 1]
    vector = VECTORS[row["vector_id"]]
    assert frame == bytes.fromhex(vector["hex"])
    adverts = frame_advertisements(linktype, frame, TS)
    decoded = frames_of(adverts)
    if vector["kind"] == "negative":
        assert decoded == []
    else:
        assert any(isinstance(f, KIND_FRAMES[vector["kind"]]) for f in decoded)
    check_stated(vector, adverts, decoded)


def test_every_vector_survives_truncation_and_mutation():
    rng = random.Random(8)
    for vector in VECTORS.values():
        raw = bytes.fromhex(vector["hex"])
        variants = [raw[:n] for n in range(len(raw))]
        for _ in range(50):
            mutated = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            variants.append(bytes(mutated))
        for data in variants:
            frames_of(read_form({**vector, "hex": data.hex()})[0])
            frames_of(read_form({**vector, "hex": data.hex()}, past_lengths=True)[0])
            decode_eddystone(data)
            decode_manufacturer(APPLE, data)
            beacons(advertisement_from_ad(data, TS))


# ------------------------------------------------------------------------------------------------ edge cases
IBEACON_VALUE = bytes.fromhex("0215") + UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0").bytes + bytes.fromhex("0064000ac5")


def test_a_truncated_ibeacon_is_no_beacon_at_every_length():
    assert decode_manufacturer(APPLE, IBEACON_VALUE) == IBeacon(
        UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0"), 100, 10, -59)
    assert all(decode_manufacturer(APPLE, IBEACON_VALUE[:n]) is None for n in range(len(IBEACON_VALUE)))


def test_several_manufacturer_records_in_one_advertisement_are_all_decoded():
    other = bytearray(IBEACON_VALUE)
    other[-2] = 0x0B  # minor 11
    alt = bytes.fromhex("ffff beac") + bytes(range(20)) + bytes.fromhex("c400")
    raw = b"".join(bytes([len(body) + 1, 0xFF]) + body for body in (
        b"\x88\xec\x00\x01\x2d\x6e\x64\x00", b"\x4c\x00" + IBEACON_VALUE, b"\x4c\x00" + bytes(other), alt))
    frames = beacons(advertisement_from_ad(raw, TS))
    assert [type(f).__name__ for f in frames] == ["IBeacon", "IBeacon", "AltBeacon"]
    assert [f.minor for f in frames] == [10, 11, int.from_bytes(bytes([18, 19]), "big")]
    # bleak's dictionary keeps one record per company: the raw data, when a source has it, keeps them all
    assert len(beacons(Advertisement(TS, manufacturer_data={APPLE: IBEACON_VALUE, 0xFFFF: alt[2:]}))) == 2


def test_ibeacon_and_altbeacon_with_the_same_ids_are_one_identity():
    ibeacon = decode_manufacturer(APPLE, IBEACON_VALUE)
    alt = decode_manufacturer(0x0118, bytes.fromhex("beac") + IBEACON_VALUE[2:22] + bytes.fromhex("c500"))
    assert isinstance(alt, AltBeacon) and (alt.uuid, alt.major, alt.minor) == (ibeacon.uuid, 100, 10)
    assert alt.identity == ibeacon.identity and len(ibeacon.identity) == 20


@pytest.mark.parametrize(("encoded", "url"), [
    ("00" + "6578616d706c65" + "07", "http://www.example.com"),
    ("01" + "6d616c6c" + "00" + "6d6170", "https://www.mall.com/map"),
    ("02" + "61" + "0d", "http://a.gov"),
    ("03" + "67" + "03" + "78", "https://g.net/x"),
])
def test_eddystone_url_expansions(encoded, url):
    frame = decode_eddystone(bytes.fromhex("10ee" + encoded))
    assert frame == EddystoneUrl(-18, url) and frame.identity is None


@pytest.mark.parametrize("encoded", ["04616263", "0361206263", "03617f", "03", ""])
def test_eddystone_url_with_a_reserved_scheme_or_byte_is_no_frame(encoded):
    assert decode_eddystone(bytes.fromhex("10ee" + encoded)) is None


def test_eddystone_tlm_fields_and_not_supported_values():
    tlm = decode_eddystone(bytes.fromhex("2000" "0b18" "1380" "00001467" "00002ac4"))
    assert tlm == EddystoneTlm(2840, 19.5, 5223, 10948) and tlm.uptime_s == pytest.approx(1094.8)
    assert decode_eddystone(bytes.fromhex("2000" "0000" "8000" "00000001" "00000002")) == EddystoneTlm(None, None, 1, 2)
    assert decode_eddystone(bytes.fromhex("2000" "0b18" "ff00" "00000001" "00000002")).temperature_c == -1.0
    etlm = decode_eddystone(bytes.fromhex("2001") + b"A" * 12 + bytes.fromhex("dead beef"))
    assert etlm == EddystoneEncryptedTlm(b"A" * 12, b"\xde\xad", b"\xbe\xef")
    assert decode_eddystone(bytes.fromhex("2001") + b"A" * 12) is None  # no salt/MIC: truncated
    assert decode_eddystone(bytes.fromhex("2002") + bytes(16)) is None  # unknown TLM version


def test_calibrated_power_at_one_metre():
    assert decode_manufacturer(APPLE, IBEACON_VALUE).rssi_at_1m == -59
    assert decode_manufacturer(APPLE, IBEACON_VALUE[:-1] + b"\x00").rssi_at_1m is None  # 0: not calibrated
    assert decode_manufacturer(APPLE, IBEACON_VALUE[:-1] + b"\x1a").rssi_at_1m is None  # +26 dBm: not physical
    uid = decode_eddystone(bytes.fromhex("00e3") + bytes(range(16)))  # 18 bytes: without the RFU pair
    assert uid.rssi_at_1m == -29 - 41 and uid.identity == bytes(range(16))


def test_ad_structures_padding_and_overruns():
    assert parse_ad(bytes.fromhex("020106 00 0000")) == parse_ad(bytes.fromhex("020106"))
    structures, well_formed = parse_ad(bytes.fromhex("020106 05ff4c00"))
    assert len(structures) == 1 and not well_formed
    assert parse_ad(b"") == ([], True)
