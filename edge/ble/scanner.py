"""Live advertisements from a Bluetooth adapter through bleak, restarted with back-off when the adapter fails.

Choices and their costs:

- **Duplicate filtering off** (BlueZ discovery filter ``DuplicateData=False``): every advertisement comes through,
  which RSSI tracking needs; the price is CPU and queue traffic proportional to the advertisements in range.
- **Active** scanning (default) sends scan requests and also hears scan responses (more service data), but makes the
  scanner visible on air and adds traffic. **Passive** scanning is silent; on BlueZ, bleak implements it with
  advertisement monitors, which need OR patterns (we pass iBeacon, AltBeacon and Eddystone ones, so passive mode
  hears beacons only) and, on older BlueZ, ``bluetoothd --experimental``.
- On BlueZ, bleak reports the device's cached properties: a manufacturer record heard once stays in the callbacks that
  follow until BlueZ forgets the device, so a phone that stops advertising an iBeacon can still show one briefly.
- **Errors.** On the first start a missing adapter, a missing Bluetooth stack (no D-Bus/bluetoothd) or a refused
  permission raises :class:`ScannerUnavailable` with what to fix: retrying cannot help and a supervisor should see it.
  After scanning has worked once, any adapter error (a replugged dongle, a restarted bluetoothd) is retried with
  exponential back-off; so is a scan that went silent for ``silence_restart_s`` (adapters wedge without an error).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

from edge.ble.frames import Advertisement

log = logging.getLogger(__name__)

# BlueZ advertisement-monitor patterns for passive mode (offset into the AD data after its type byte)
_MANUFACTURER, _SERVICE_16 = AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, AdvertisementDataType.SERVICE_DATA_UUID16
PASSIVE_PATTERNS = [
    OrPattern(0, _MANUFACTURER, b"\x4c\x00\x02\x15"),  # iBeacon: Apple company id, type 0x02, length 0x15
    OrPattern(2, _MANUFACTURER, b"\xbe\xac"),  # AltBeacon: beacon code after any company id
    OrPattern(0, _SERVICE_16, b"\xaa\xfe"),  # Eddystone service data
]
_DENIED_DBUS_ERRORS = ("org.freedesktop.DBus.Error.AccessDenied", "org.bluez.Error.NotAuthorized",
                       "org.bluez.Error.NotPermitted")


class ScannerUnavailable(RuntimeError):
    """No usable adapter, no Bluetooth stack or no permission: fix the machine; retrying will not help."""


class ScannerFailed(RuntimeError):
    """The scan kept failing and ``max_restarts`` ran out."""


@dataclass(frozen=True, slots=True)
class ScanConfig:
    adapter: str | None = None  # "hci0"; None: the first powered adapter
    mode: Literal["active", "passive"] = "active"
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_restarts: int | None = None  # consecutive failed restarts before giving up; None: never give up
    silence_restart_s: float | None = 120.0  # restart a scan that delivered nothing for this long; None: never
    queue_size: int = 10_000  # advertisements waiting for the consumer; the oldest are dropped (and counted) beyond

    def __post_init__(self) -> None:
        if self.mode not in ("active", "passive"):
            raise ValueError(f"scan mode must be 'active' or 'passive', not {self.mode!r}")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("back-off needs 0 < backoff_initial_s <= backoff_max_s")
        if self.queue_size < 1 or (self.silence_restart_s is not None and self.silence_restart_s <= 0):
            raise ValueError("queue_size and silence_restart_s must be positive")


class Scanner(Protocol):
    """What :class:`BleScanner` needs from a scanner object (bleak's ``BleakScanner``, or a fake in tests)."""

    def start(self) -> Awaitable[None]: ...

    def stop(self) -> Awaitable[None]: ...


ScannerFactory = Callable[[Callable[[Any, Any], None], ScanConfig], Scanner]


def bleak_scanner(callback: Callable[[Any, Any], None], config: ScanConfig) -> Scanner:
    from bleak import BleakScanner

    bluez: BlueZScannerArgs = {"filters": {"DuplicateData": False}}
    if config.adapter:
        bluez["adapter"] = config.adapter
    if config.mode == "passive":
        bluez["or_patterns"] = list(PASSIVE_PATTERNS)
    return BleakScanner(callback, scanning_mode=config.mode, bluez=bluez)


def unavailable_reason(exc: BaseException, adapter: str | None) -> str | None:
    """What to fix, when ``exc`` says scanning cannot work on this machine as configured; None for other errors."""
    name = f"adapter {adapter!r}" if adapter else "the default adapter"
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return f"Bluetooth is not available for {name} ({exc.reason.name.lower()}): {exc.args[0]}"
    if (isinstance(exc, BleakDBusError) and exc.dbus_error in _DENIED_DBUS_ERRORS) or isinstance(exc, PermissionError):
        return (f"no permission to scan with {name} ({exc}): run as a user in the 'bluetooth' group or allow it in "
                "BlueZ's D-Bus policy")
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return (f"cannot reach BlueZ for {name} over the D-Bus system bus ({exc}): no Bluetooth stack here? Start "
                "dbus and bluetoothd (in a container, mount /run/dbus)")
    if isinstance(exc, BleakError) and "adapter" in str(exc) and "not found" in str(exc):
        return f"{name} not found ({exc}): list the adapters with `bluetoothctl list`"
    return None


def advertisement_from_bleak(device: Any, data: Any, ts_ms: int) -> Advertisement:
    """bleak's ``(BLEDevice, AdvertisementData)`` as a record."""
    return Advertisement(ts_ms=ts_ms, address=device.address, rssi=data.rssi, tx_power=data.tx_power,
                         manufacturer_data={cid: bytes(v) for cid, v in data.manufacturer_data.items()},
                         service_data={uuid: bytes(v) for uuid, v in data.service_data.items()})


class BleScanner:
    """Yields :class:`Advertisement` records from the adapter until the consumer stops; restarts failed scans.

    Close the generator when done (``contextlib.aclosing``) so that the adapter's scan stops at once:

    >>> async with aclosing(BleScanner(ScanConfig(adapter="hci0")).advertisements()) as adverts:  # doctest: +SKIP
    ...     await collector.run(adverts, clock=now_ms)
    """

    def __init__(self, config: ScanConfig | None = None, *, factory: ScannerFactory = bleak_scanner,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config or ScanConfig()
        self._factory, self._sleep, self._clock = factory, sleep, clock
        self._queue: asyncio.Queue[Advertisement] = asyncio.Queue(self.config.queue_size)
        self.restarts = 0
        self.dropped = 0  # advertisements dropped because the consumer fell behind

    def _on_advertisement(self, device: Any, data: Any) -> None:
        adv = advertisement_from_bleak(device, data, int(self._clock() * 1000))
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(adv)

    async def advertisements(self) -> AsyncIterator[Advertisement]:
        failures, started_once = 0, False
        where = f"{self.config.adapter or 'default adapter'}, {self.config.mode}"
        while True:
            scanner = self._factory(self._on_advertisement, self.config)
            try:
                await scanner.start()
            except (BleakError, OSError) as exc:
                reason = unavailable_reason(exc, self.config.adapter)
                if reason is not None and not started_once:
                    raise ScannerUnavailable(reason) from exc
                failures = await self._back_off(failures, f"starting the scan failed ({reason or exc})")
                continue
            started_once = True
            log.info("BLE scan running (%s)", where)
            try:
                while True:
                    try:
                        adv = await asyncio.wait_for(self._queue.get(), self.config.silence_restart_s)
                    except TimeoutError:
                        break
                    failures = 0
                    yield adv
            finally:
                await self._stop(scanner)
            failures = await self._back_off(failures, f"no advertisement for {self.config.silence_restart_s} s")

    async def _back_off(self, failures: int, why: str) -> int:
        failures += 1
        if self.config.max_restarts is not None and failures > self.config.max_restarts:
            raise ScannerFailed(f"BLE scan on {self.config.adapter or 'the default adapter'}: {why}; "
                                f"gave up after {self.config.max_restarts} restarts")
        delay = min(self.config.backoff_max_s, self.config.backoff_initial_s * 2 ** (failures - 1))
        log.warning("BLE scan: %s; restarting in %.1f s (attempt %d)", why, delay, failures)
        self.restarts += 1
        await self._sleep(delay)
        return failures

    async def _stop(self, scanner: Scanner) -> None:
        try:
            await scanner.stop()
        except (BleakError, OSError) as exc:
            log.warning("BLE scan: stopping failed (%s); starting a new scanner anyway", exc)
