"""The bleak scanner: clear errors without an adapter, restarts with back-off (fake scanners), records as replay."""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace

import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError, BleakError

from edge.ble.frames import Advertisement
from edge.ble.scanner import (
    PASSIVE_PATTERNS,
    BleScanner,
    ScanConfig,
    ScannerFailed,
    ScannerUnavailable,
    bleak_scanner,
    unavailable_reason,
)

IBEACON = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e00064000ac5")
NOT_READY = BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"])
GONE = BleakError("adapter 'hci1' not found")


def bleak_advert(rssi: int = -60) -> tuple[SimpleNamespace, SimpleNamespace]:
    device = SimpleNamespace(address="C4:7C:8D:6A:12:34")
    data = SimpleNamespace(rssi=rssi, tx_power=None, manufacturer_data={0x004C: IBEACON},
                           service_data={"0000feaa-0000-1000-8000-00805f9b34fb": b"\x10\x00\x03ab"})
    return device, data


class FakeScanners:
    """A factory of scanners that play a script: each start either raises or delivers some advertisements."""

    def __init__(self, *script: BaseException | int) -> None:
        self.script, self.starts, self.stops = list(script), 0, 0

    def __call__(self, callback, config: ScanConfig):
        fakes = self

        class Fake:
            async def start(self) -> None:
                fakes.starts += 1
                step = fakes.script.pop(0) if fakes.script else 0
                if isinstance(step, BaseException):
                    raise step
                for i in range(step):
                    asyncio.get_running_loop().call_soon(callback, *bleak_advert(-60 - i))

            async def stop(self) -> None:
                fakes.stops += 1

        return Fake()


def collect(scanner: BleScanner, count: int) -> list[Advertisement]:
    async def run() -> list[Advertisement]:
        out = []
        async for adv in scanner.advertisements():
            out.append(adv)
            if len(out) == count:
                break
        return out

    return asyncio.run(asyncio.wait_for(run(), 20))


def scanner_with(fakes: FakeScanners, delays: list[float], **config) -> BleScanner:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    config = ScanConfig(silence_restart_s=0.05, **config)
    return BleScanner(config, factory=fakes, sleep=sleep, clock=lambda: 1764547200.5)


def test_a_missing_adapter_is_a_clear_error_not_a_retry_loop():
    """This machine has no Bluetooth stack; with one, bleak says the adapter is not found. Both name the adapter."""
    with pytest.raises(ScannerUnavailable, match="'hci-none'") as err:
        collect(BleScanner(ScanConfig(adapter="hci-none")), 1)
    assert "no Bluetooth stack" in str(err.value) or "not found" in str(err.value)


@pytest.mark.parametrize(("exc", "says"), [
    (BleakBluetoothNotAvailableError("No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH),
     "not available for adapter 'hci1' (no_bluetooth)"),
    (BleakBluetoothNotAvailableError("denied", BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM), "denied_by_system"),
    (BleakDBusError("org.freedesktop.DBus.Error.AccessDenied", []), "no permission"),
    (PermissionError(13, "Permission denied"), "'bluetooth' group"),
    (FileNotFoundError(2, "No such file or directory"), "D-Bus system bus"),
    (ConnectionRefusedError(111, "refused"), "D-Bus system bus"),
    (GONE, "adapter 'hci1' not found"),
])
def test_errors_that_retrying_cannot_fix_say_what_to_fix(exc, says):
    assert says in unavailable_reason(exc, "hci1")


@pytest.mark.parametrize("exc", [NOT_READY, BleakDBusError("org.bluez.Error.InProgress", []), BleakError("boom"),
                                 OSError(5, "I/O error")])
def test_other_adapter_errors_are_retried(exc):
    assert unavailable_reason(exc, None) is None


def test_restarts_back_off_exponentially_and_reset_after_advertisements():
    fakes = FakeScanners(NOT_READY, NOT_READY, NOT_READY, 2, NOT_READY, 1)
    delays: list[float] = []
    got = collect(scanner_with(fakes, delays, backoff_initial_s=1, backoff_max_s=3), 3)
    # three failed starts (1, 2, 3 s capped), two adverts, silence (1 s: the adverts reset the back-off), a failed
    # start (2 s), then one more advert
    assert delays == [1, 2, 3, 1, 2]
    assert [a.rssi for a in got] == [-60, -61, -60]
    assert fakes.starts == 6 and fakes.stops == 2  # every scanner that started is stopped, the last one on break
    adv = got[0]
    assert isinstance(adv, Advertisement) and adv.ts_ms == 1764547200500 and adv.manufacturer_data == {76: IBEACON}
    assert adv.address == "C4:7C:8D:6A:12:34"  # the record keeps it; only the collector decides what leaves


def test_unavailable_after_a_first_good_start_is_retried():
    fakes = FakeScanners(1, GONE, GONE, 1)
    delays: list[float] = []
    assert len(collect(scanner_with(fakes, delays), 2)) == 2
    assert delays == [1.0, 2.0, 4.0]  # silence, then the dongle is away twice


def test_restarts_run_out():
    fakes = FakeScanners(1, NOT_READY, NOT_READY, NOT_READY)
    with pytest.raises(ScannerFailed, match="gave up after 2 restarts"):
        collect(scanner_with(fakes, [], max_restarts=2), 5)


def test_a_slow_consumer_loses_the_oldest_advertisements_counted():
    scanner = BleScanner(ScanConfig(queue_size=2), clock=lambda: 1764547200.0)
    for rssi in (-50, -51, -52):
        scanner._on_advertisement(*bleak_advert(rssi))
    assert scanner.dropped == 1 and scanner._queue.get_nowait().rssi == -51


def test_bad_config():
    with pytest.raises(ValueError, match="scan mode"):
        ScanConfig(mode="sneaky")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="back-off"):
        ScanConfig(backoff_initial_s=10, backoff_max_s=1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks the BlueZ backend's settings")
def test_bleak_gets_the_adapter_duplicates_off_and_passive_patterns():
    passive = bleak_scanner(lambda d, a: None, ScanConfig(adapter="hci1", mode="passive"))._backend
    assert passive._adapter == "hci1" and passive._scanning_mode == "passive"
    assert passive._filters["DuplicateData"].value is False
    assert passive._or_patterns == PASSIVE_PATTERNS
    active = bleak_scanner(lambda d, a: None, ScanConfig())._backend
    assert active._adapter is None and active._scanning_mode == "active" and not active._or_patterns
