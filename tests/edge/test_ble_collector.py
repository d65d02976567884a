"""The collector: recordings in, contract batches out of the outbox, keyed identities only and never an address."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
from uuid import UUID

import pytest

from edge.batching import SensorStream
from edge.ble.capture import CaptureReader
from edge.ble.collector import BleCollector
from edge.ble.frames import Advertisement, beacon_identity
from edge.ble.replay import ReplayReader, to_line
from edge.outbox import Outbox
from edge.privacy import DeviceKeyer, OptOutList, opt_out_hash
from mallsense.contract import BleBatch, Kind, decode_batch, parse_topic
from tests.conftest import shared_data

T0 = 1_764_547_200_000
APP_UUID = "a7ae2eb7-1f00-4168-b99b-a749bac1ca64"  # the member app's proximity UUID (consented, stable keys)
MALL_UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
NAMESPACE, INSTANCE = bytes.fromhex("edd1ebeac04e5defa017"), bytes.fromhex("0badc0ffee01")
EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
ADDRESSES = ["C4:7C:8D:6A:12:34", "F0:0D:F0:0D:00:01", "DE:AD:BE:EF:00:02", "0A:0B:0C:0D:0E:0F"]


def ibeacon(uuid: str, major: int, minor: int, power: int = -59) -> dict[int, bytes]:
    return {0x004C: bytes.fromhex("0215") + UUID(uuid).bytes + major.to_bytes(2, "big") + minor.to_bytes(2, "big")
            + (power & 0xFF).to_bytes(1, "big")}


def identity(uuid: str, major: int, minor: int) -> bytes:
    return UUID(uuid).bytes + major.to_bytes(2, "big") + minor.to_bytes(2, "big")


def box_and_collector(**options) -> tuple[Outbox, BleCollector, DeviceKeyer]:
    box = Outbox(None)
    keyer = DeviceKeyer(b"node-secret-1", site="demo", tz="Asia/Shanghai")
    stream = SensorStream(box, "demo", "node-1", Kind.BLE, "ble-1")
    return box, BleCollector(stream, keyer, **options), keyer


def batches(box: Outbox) -> list[tuple[BleBatch, bytes]]:
    out = []
    for pending in box.peek(0, 10_000):
        batch = decode_batch(parse_topic(pending.topic), pending.payload)
        assert isinstance(batch, BleBatch)
        out.append((batch, pending.payload))
    return out


def assert_no_address(payloads: list[bytes], addresses: list[str]) -> None:
    """Not in any notation: colons, dashes, bare hex, either case, nor in the byte order of a radio frame."""
    for address in addresses:
        octets = address.lower().split(":")
        forms = {sep.join(order) for sep in (":", "-", "") for order in (octets, octets[::-1])}
        assert not any(form.encode() in payload.lower() for form in forms for payload in payloads), address


def write_recording(path) -> None:
    adverts = [
        Advertisement(T0, ADDRESSES[0], -70, manufacturer_data=ibeacon(MALL_UUID, 100, 7)),
        Advertisement(T0 + 300, ADDRESSES[0], -72, manufacturer_data=ibeacon(MALL_UUID, 100, 7)),
        Advertisement(T0 + 400, ADDRESSES[1], -81, manufacturer_data=ibeacon(APP_UUID, 1, 4242)),
        # AltBeacon with the mall beacon's ids: the same device as the iBeacon above
        Advertisement(T0 + 900, ADDRESSES[0], -69, manufacturer_data={
            0x0118: bytes.fromhex("beac") + identity(MALL_UUID, 100, 7) + bytes.fromhex("c300")}),
        Advertisement(T0 + 1200, ADDRESSES[2], -90, service_data={EDDYSTONE: b"\x00\xee" + NAMESPACE + INSTANCE}),
        Advertisement(T0 + 1300, ADDRESSES[2], -90, service_data={EDDYSTONE: bytes.fromhex("10ee03616263")}),  # URL
        Advertisement(T0 + 1400, ADDRESSES[3], -60, manufacturer_data={0x004C: bytes.fromhex("1005441cbd08c5")}),
        Advertisement(T0 + 1500, ADDRESSES[0], 0, manufacturer_data=ibeacon(MALL_UUID, 100, 7)),  # "unknown" RSSI
        Advertisement(T0 + 2600, None, -75, raw=bytes.fromhex("0201061aff4c000215") + identity(MALL_UUID, 100, 8)
                      + b"\x00"),  # raw AD only; measured power 0 = not calibrated
    ]
    lines = [to_line(adv, keep_address=True) for adv in adverts]
    lines.insert(3, '{"ts": 1764547200500, "rssi": "loud"}')  # a malformed line: counted and skipped
    path.write_text("\n".join(lines) + "\n")


def test_a_recording_becomes_keyed_contract_batches_without_addresses(tmp_path):
    path = tmp_path / "ble.jsonl"
    write_recording(path)
    assert ADDRESSES[0] in path.read_text()  # the recording holds them: they must stop at the collector
    box, collector, keyer = box_and_collector(app_ids=[APP_UUID])
    reader = ReplayReader(path)
    stats = collector.replay(reader)
    assert reader.stats.malformed == 1 and reader.stats.malformed_lines[0][0] == 4
    assert (stats.advertisements, stats.published, stats.without_identity, stats.no_beacon, stats.bad_rssi) == (
        9, 6, 1, 1, 1)

    decoded = batches(box)
    assert [b.seq for b, _ in decoded] == [0, 1, 2]  # batches of one second of advertisement time
    obs = [o for b, _ in decoded for o in b.obs]
    mall, app = keyer.key(identity(MALL_UUID, 100, 7), T0), keyer.stable_key(identity(APP_UUID, 1, 4242))
    eddystone, uncalibrated = keyer.key(NAMESPACE + INSTANCE, T0), keyer.key(identity(MALL_UUID, 100, 8), T0)
    assert [(o.ts - T0, o.dev, o.rssi, o.tx, o.frame) for o in obs] == [
        (0, mall, -70, -59, "ibeacon"),
        (300, mall, -72, -59, "ibeacon"),
        (400, app, -81, -59, "ibeacon"),
        (900, mall, -69, -61, "altbeacon"),
        (1200, eddystone, -90, -18 - 41, "eddystone"),
        (2600, uncalibrated, -75, None, "ibeacon"),
    ]
    assert {o.dev for o in obs} == {mall, app, eddystone, uncalibrated}
    assert all(b.site == "demo" and b.node == "node-1" and b.sensor == "ble-1" for b, _ in decoded)
    assert_no_address([p for _, p in decoded], ADDRESSES)


def test_real_mall_ibeacon_sightings(tmp_path):
    """The first 2,000 iBeacon sightings of a real mall walk (shared data: ble/mall-traces), recorded and replayed."""
    with (shared_data() / "ble" / "mall-traces" / "site1_F1_ibeacon.tsv").open() as f:
        rows = list(itertools.islice(csv.DictReader(f, delimiter="\t"), 2000))
    path = tmp_path / "walks.jsonl"
    path.write_text("".join(to_line(Advertisement(
        int(r["ts_ms"]), r["beacon_mac"], int(r["rssi"]),
        manufacturer_data=ibeacon(r["uuid"], int(r["major"]), int(r["minor"]), int(r["tx_power"]))),
        keep_address=True) + "\n" for r in rows))
    box, collector, keyer = box_and_collector()
    stats = collector.replay(ReplayReader(path))
    assert stats.published == len(rows) == 2000

    obs = [o for b, _ in batches(box) for o in b.obs]
    assert [(o.ts, o.rssi, o.tx) for o in obs] == [(int(r["ts_ms"]), int(r["rssi"]), int(r["tx_power"])) for r in rows]
    assert [o.dev for o in obs] == [keyer.key(identity(r["uuid"], int(r["major"]), int(r["minor"])), int(r["ts_ms"]))
                                    for r in rows]
    beacons = {(r["uuid"], r["major"], r["minor"]) for r in rows}
    assert len({o.dev for o in obs}) == len(beacons)  # one key per beacon identity (several boxes share 0/0 ids)
    assert_no_address([p for p in (x.payload for x in box.peek(0, 10_000))], sorted({r["beacon_mac"] for r in rows}))


def test_a_sniffer_capture_as_source_apple_frames_publish_nothing():
    box, collector, _ = box_and_collector()
    capture = CaptureReader(shared_data() / "ble" / "captures" / "iPhone11-1_btle_sniffer_05-07-2020-125358.pcapng")
    stats = collector.replay(capture)
    assert (stats.advertisements, stats.no_beacon, stats.published, box.depth()) == (3431, 3431, 0, 0)


def test_async_run_closes_quiet_batches_on_a_timer():
    box, collector, keyer = box_and_collector(batch_ms=20)

    async def scanner():
        yield Advertisement(T0, "C4:7C:8D:6A:12:34", -70, manufacturer_data=ibeacon(MALL_UUID, 1, 1))
        await asyncio.sleep(0.2)  # quiet: the timer must close the batch meanwhile
        assert box.depth() == 1
        yield Advertisement(T0 + 5, "C4:7C:8D:6A:12:34", -71, manufacturer_data=ibeacon(MALL_UUID, 1, 1))

    stats = asyncio.run(collector.run(scanner(), clock=lambda: T0 + 10_000))
    decoded = batches(box)
    assert stats.published == 2 and [b.sent for b, _ in decoded] == [T0 + 10_000] * 2
    assert json.loads(decoded[0][1])["obs"][0]["dev"] == keyer.key(identity(MALL_UUID, 1, 1), T0)


def test_bad_settings():
    box = Outbox(None)
    keyer = DeviceKeyer(b"node-secret-1", site="demo", tz="UTC")
    with pytest.raises(ValueError, match="BLE stream"):
        BleCollector(SensorStream(box, "demo", "n1", Kind.WIFI, "w1"), keyer)
    with pytest.raises(ValueError, match="app id"):
        BleCollector(SensorStream(box, "demo", "n1", Kind.BLE, "b1"), keyer, app_ids=["not-a-uuid"])


def test_beacon_identities_as_people_read_them():
    assert beacon_identity(f"{MALL_UUID.upper()}:100:7") == identity(MALL_UUID, 100, 7)
    assert beacon_identity(f"{MALL_UUID.replace('-', '')}:0x64:7") == identity(MALL_UUID, 100, 7)
    assert beacon_identity(f"{NAMESPACE.hex()}:{INSTANCE.hex()}") == NAMESPACE + INSTANCE
    for bad in (f"{MALL_UUID}:100", f"{MALL_UUID}:70000:1", "zz:1:2", f"{NAMESPACE.hex()}:0bad", "nothing"):
        with pytest.raises(ValueError, match="UUID:major:minor"):
            beacon_identity(bad)


def test_an_opted_out_beacon_is_dropped_before_any_key_and_the_list_names_none(tmp_path):
    secret = b"node-secret-1"
    listing = tmp_path / "ble-opt-out.txt"
    listing.write_text(f"# opted out at the desk\n{opt_out_hash(secret, identity(MALL_UUID, 100, 7))}\n\n"
                       f"{opt_out_hash(secret, NAMESPACE + INSTANCE)}  # Eddystone tag\n")
    assert MALL_UUID.replace("-", "") not in listing.read_text() and NAMESPACE.hex() not in listing.read_text()
    path = tmp_path / "ble.jsonl"
    write_recording(path)
    box, collector, keyer = box_and_collector(app_ids=[APP_UUID], opt_out=OptOutList.load(secret, listing))
    stats = collector.replay(ReplayReader(path))
    # the iBeacon and AltBeacon frames of 100/7 (four, one with a bad RSSI) and the Eddystone-UID frame
    assert stats.opted_out == 5 and stats.published == 2
    devs = {o.dev for b, _ in batches(box) for o in b.obs}
    assert devs == {keyer.stable_key(identity(APP_UUID, 1, 4242)), keyer.key(identity(MALL_UUID, 100, 8), T0)}
    listing.write_text("not-a-hash\n")
    with pytest.raises(ValueError, match=r"ble-opt-out.txt:1: opt-out hash"):
        OptOutList.load(secret, listing)


def test_ble_opt_out_command_appends_a_keyed_hash_once(tmp_path, capsys):
    from mallsense.cli import main

    secret_file, listing = tmp_path / "secret", tmp_path / "opt-out.txt"
    secret_file.write_bytes(b"s" * 32)
    for _ in range(2):
        assert main(["ble-opt-out", f"{MALL_UUID}:100:7", "--file", str(listing),
                     "--secret-file", str(secret_file)]) == 0
    assert "1 devices" in capsys.readouterr().out
    entries = listing.read_text().split()
    assert len(entries) == 1 and len(entries[0]) == 64 and MALL_UUID.replace("-", "") not in entries[0]
    assert main(["ble-opt-out", "12:34", "--file", str(listing), "--secret-file", str(secret_file)]) == 2
    assert "UUID:major:minor" in capsys.readouterr().err
