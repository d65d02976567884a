"""Recorded advertisements as JSON lines: the format, a writer (the scanner records with it) and a paced reader.

One advertisement per line (UTF-8), bleak's shape with bytes as hex::

    {"ts": 1764547200123, "address": null, "rssi": -67, "tx_power": null,
     "manufacturer_data": {"0x004c": "0215e2c56db5dffb48d2b060d0f5a71096e00064000ac5"},
     "service_data": {"0000feaa-0000-1000-8000-00805f9b34fb": "00e3..."}, "raw": "0201061aff4c000215..."}

- ``ts`` (required): integer milliseconds since the Unix epoch, or ISO 8601 text with a UTC offset
  (``"2025-12-01T08:00:00.123Z"``). Fractional seconds as a number are refused: they are the usual unit mistake.
- ``address``: the advertiser's address (or the platform's stand-in, a UUID on macOS), or null. The writer leaves it
  out unless asked: a recording with addresses is personal data.
- ``rssi``, ``tx_power`` (the advertised TX Power Level): integer dBm in -128..127, or null.
- ``manufacturer_data``: company id (``"0x004c"`` or decimal ``"76"``) → hex value without the company id.
- ``service_data``: service UUID (128-bit text, or ``"feaa"`` for a 16-bit one) → hex value.
- ``raw`` (optional): the AD structures as received; it keeps repeated records, which the maps cannot hold.

Unknown keys are ignored, so newer recordings stay readable; blank lines are skipped. A line that breaks these rules
is skipped, counted with its line number in :class:`ReplayStats` and logged (the first ``LOGGED_LINES`` one by one,
the rest in a summary): never fatal, never silent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from edge.ble.frames import BASE_UUID_TAIL, Advertisement
from mallsense.contract import TS_MAX_MS, TS_MIN_MS

log = logging.getLogger(__name__)
LOGGED_LINES = 20
KEPT_LINES = 1000
MAX_LINE_CHARS = 64 * 1024


class ReplayLineError(ValueError):
    """A line that is not a recorded advertisement; the message says which rule it breaks (never its content)."""


@dataclass
class ReplayStats:
    lines: int = 0
    records: int = 0
    malformed: int = 0
    malformed_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), the first ones


# ------------------------------------------------------------------------------------------------ one line
def to_line(adv: Advertisement, *, keep_address: bool = False) -> str:
    record: dict[str, Any] = {
        "ts": adv.ts_ms, "address": adv.address if keep_address else None, "rssi": adv.rssi, "tx_power": adv.tx_power,
        "manufacturer_data": {f"0x{cid:04x}": value.hex() for cid, value in adv.manufacturer_data.items()},
        "service_data": {uuid: value.hex() for uuid, value in adv.service_data.items()},
    }
    if adv.raw is not None:
        record["raw"] = adv.raw.hex()
    return json.dumps(record, separators=(",", ":"))


def parse_line(line: str) -> Advertisement:
    """One recorded advertisement; raises :class:`ReplayLineError` naming the broken rule."""
    if len(line) > MAX_LINE_CHARS:
        raise ReplayLineError(f"longer than {MAX_LINE_CHARS} characters")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ReplayLineError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ReplayLineError("not a JSON object")
    address = record.get("address")
    if address is not None and not (isinstance(address, str) and 0 < len(address) <= 64):
        raise ReplayLineError("address must be text (1-64 characters) or null")
    raw = record.get("raw")
    return Advertisement(
        ts_ms=_ts(record.get("ts")),
        address=address,
        rssi=_dbm(record, "rssi"),
        tx_power=_dbm(record, "tx_power"),
        manufacturer_data={_company(k): _hex(v, "manufacturer_data") for k, v in _map(record, "manufacturer_data")},
        service_data={_service(k): _hex(v, "service_data") for k, v in _map(record, "service_data")},
        raw=None if raw is None else _hex(raw, "raw"),
    )


def _ts(value: object) -> int:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ReplayLineError("ts text is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise ReplayLineError("ts text needs a UTC offset (Z or +08:00)")
        value = round(parsed.timestamp() * 1000)
    elif not isinstance(value, int) or isinstance(value, bool):
        raise ReplayLineError("ts must be integer milliseconds or ISO 8601 text")
    if not TS_MIN_MS <= value < TS_MAX_MS:
        hint = " (seconds, not milliseconds?)" if TS_MIN_MS // 1000 <= value < TS_MAX_MS // 1000 else ""
        raise ReplayLineError(f"ts {value} is outside 2000..2100{hint}")
    return value


def _dbm(record: dict, key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not -128 <= value <= 127:
        raise ReplayLineError(f"{key} must be an integer dBm in -128..127 or null")
    return value


def _map(record: dict, key: str) -> list[tuple[str, object]]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, dict):
        raise ReplayLineError(f"{key} must be an object")
    return list(value.items())


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ReplayLineError(f"{what}: values must be hex text")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ReplayLineError(f"{what}: not hex") from None


def _company(key: str) -> int:
    try:
        cid = int(key, 16) if key.lower().startswith("0x") else int(key, 10)
    except ValueError:
        raise ReplayLineError(f"manufacturer_data: company id {key[:12]!r} is not 0x-hex or decimal") from None
    if not 0 <= cid <= 0xFFFF:
        raise ReplayLineError(f"manufacturer_data: company id {cid} is not 16-bit")
    return cid


def _service(key: str) -> str:
    text = key.strip().lower()
    if len(text) in (4, 8) and all(c in "0123456789abcdef" for c in text):
        return f"{int(text, 16):08x}{BASE_UUID_TAIL}"
    parts = text.split("-")
    if [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(c in "0123456789abcdef" for c in "".join(parts)):
        return text
    raise ReplayLineError("service_data: keys must be service UUIDs")


# ------------------------------------------------------------------------------------------------ files
class ReplayWriter:
    """Appends advertisements to a JSON-lines file, one flushed line each (a crash loses at most the last line)."""

    def __init__(self, path: Path | str, *, keep_address: bool = False) -> None:
        self.path = Path(path)
        self.keep_address = keep_address
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = self.path.open("a", encoding="utf-8")

    def write(self, adv: Advertisement) -> None:
        self._file.write(to_line(adv, keep_address=self.keep_address) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReplayWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def recorded(adverts: AsyncIterator[Advertisement], writer: ReplayWriter) -> AsyncIterator[Advertisement]:
    """Pass advertisements through, writing each one: ``collector.run(recorded(scanner.advertisements(), w))``."""
    async for adv in adverts:
        writer.write(adv)
        yield adv


class ReplayReader:
    """Reads a recording as fast as possible (``speed=None``) or at its recorded pace times ``speed``.

    Pacing follows the recorded timestamps from the first record on, against a monotonic clock, so sleeps do not add
    up drift; records that went back in time are passed on at once. ``max_gap_s`` shortens long silences (a night in
    a day-long recording) to that many seconds.
    """

    def __init__(self, path: Path | str, *, speed: float | None = None, max_gap_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
                 async_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.path, self.speed, self.max_gap_s = Path(path), speed, max_gap_s
        self._clock, self._sleep, self._async_sleep = clock, sleep, async_sleep
        self.stats = ReplayStats()

    def records(self) -> Iterator[Advertisement]:
        """Every valid record in file order, unpaced; malformed lines are counted and logged."""
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                self.stats.lines += 1
                if not line.strip():
                    continue
                try:
                    adv = parse_line(line)
                except ReplayLineError as exc:
                    self._malformed(number, str(exc))
                    continue
                self.stats.records += 1
                yield adv
        if self.stats.malformed:
            log.warning("%s: %d of %d lines were malformed and skipped (first: line %d)", self.path.name,
                        self.stats.malformed, self.stats.lines, self.stats.malformed_lines[0][0])

    def _malformed(self, number: int, reason: str) -> None:
        self.stats.malformed += 1
        if len(self.stats.malformed_lines) < KEPT_LINES:
            self.stats.malformed_lines.append((number, reason))
        if self.stats.malformed <= LOGGED_LINES:
            log.warning("%s:%d: skipped: %s", self.path.name, number, reason)

    def _delays(self) -> Iterator[tuple[float, Advertisement]]:
        anchor: tuple[float, int] | None = None  # (clock, ts) that paces the records after it
        for adv in self.records():
            if self.speed is None:
                yield 0.0, adv
                continue
            now = self._clock()
            if anchor is None:
                anchor = (now, adv.ts_ms)
            delay = anchor[0] + (adv.ts_ms - anchor[1]) / 1000 / self.speed - now
            if self.max_gap_s is not None and delay > self.max_gap_s:
                anchor, delay = (now + self.max_gap_s, adv.ts_ms), self.max_gap_s
            yield max(delay, 0.0), adv

    def __iter__(self) -> Iterator[Advertisement]:
        for delay, adv in self._delays():
            if delay > 0:
                self._sleep(delay)
            yield adv

    async def __aiter__(self) -> AsyncIterator[Advertisement]:
        for delay, adv in self._delays():
            if delay > 0:
                await self._async_sleep(delay)
            yield adv
