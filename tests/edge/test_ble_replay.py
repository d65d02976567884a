"""The JSON-lines recording format: round trip, line rules, malformed lines counted and logged, pacing."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from edge.ble.frames import Advertisement
from edge.ble.replay import ReplayLineError, ReplayReader, ReplayWriter, parse_line, recorded, to_line

T0 = 1_764_547_200_000
EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
IBEACON = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e00064000ac5")


def advert(ts: int = T0, **fields) -> Advertisement:
    base = {"address": "C4:7C:8D:6A:12:34", "rssi": -67, "manufacturer_data": {0x004C: IBEACON}}
    return Advertisement(ts, **{**base, **fields})


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def write_lines(path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_round_trip_and_the_address_is_left_out_unless_asked(tmp_path):
    adverts = [advert(), advert(T0 + 5, rssi=None, tx_power=-4, service_data={EDDYSTONE: b"\x00\xe3" + bytes(16)},
                                raw=bytes.fromhex("020106"))]
    with ReplayWriter(tmp_path / "a.jsonl") as writer:
        for adv in adverts:
            writer.write(adv)
    with ReplayWriter(tmp_path / "b.jsonl", keep_address=True) as writer:
        writer.write(adverts[0])
    assert list(ReplayReader(tmp_path / "a.jsonl")) == [
        Advertisement(a.ts_ms, None, a.rssi, a.tx_power, a.manufacturer_data, a.service_data, a.raw) for a in adverts]
    assert "C4:7C:8D:6A:12:34" not in (tmp_path / "a.jsonl").read_text()
    assert list(ReplayReader(tmp_path / "b.jsonl")) == adverts[:1]
    assert json.loads(to_line(adverts[0]))["manufacturer_data"] == {"0x004c": IBEACON.hex()}


def test_line_variants_that_are_accepted():
    adv = parse_line(json.dumps({"ts": "2025-12-01T08:00:00.250+08:00", "manufacturer_data": {"76": "0215"},
                                 "service_data": {"FEAA": "10"}, "rssi": -80, "extra": "ignored"}))
    assert adv == Advertisement(T0 + 250, None, -80, None, {76: b"\x02\x15"}, {EDDYSTONE: b"\x10"})
    assert parse_line('{"ts": "2025-12-01T00:00:00Z"}').ts_ms == T0
    assert parse_line(f'{{"ts": {T0}, "service_data": {{"{EDDYSTONE.upper()}": ""}}}}').service_data == {EDDYSTONE: b""}


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ("{}", "ts must be"),
    ('{"ts": 1764547200.5}', "ts must be"),
    ('{"ts": true}', "ts must be"),
    ('{"ts": 1764547200}', "seconds, not milliseconds?"),
    ('{"ts": "2025-12-01T08:00:00"}', "UTC offset"),
    ('{"ts": "yesterday"}', "not ISO 8601"),
    ('{"ts": 1764547200000, "rssi": -300}', "rssi must be"),
    ('{"ts": 1764547200000, "tx_power": "high"}', "tx_power must be"),
    ('{"ts": 1764547200000, "address": 12}', "address must be"),
    ('{"ts": 1764547200000, "manufacturer_data": []}', "must be an object"),
    ('{"ts": 1764547200000, "manufacturer_data": {"apple": "00"}}', "company id"),
    ('{"ts": 1764547200000, "manufacturer_data": {"0x10000": "00"}}', "not 16-bit"),
    ('{"ts": 1764547200000, "manufacturer_data": {"76": "0g"}}', "not hex"),
    ('{"ts": 1764547200000, "manufacturer_data": {"76": 2}}', "hex text"),
    ('{"ts": 1764547200000, "service_data": {"eddystone": "00"}}', "service UUIDs"),
    ('{"ts": 1764547200000, "raw": "abc"}', "raw: not hex"),
])
def test_a_line_that_breaks_a_rule_names_the_rule(line, reason):
    with pytest.raises(ReplayLineError, match=reason.replace("?", r"\?")):
        parse_line(line)


def test_malformed_lines_are_skipped_counted_with_line_numbers_and_logged(tmp_path, caplog):
    path = tmp_path / "rec.jsonl"
    write_lines(path, to_line(advert()), "", "{oops", to_line(advert(T0 + 1)), '{"ts": 5}', to_line(advert(T0 + 2)))
    with path.open("ab") as f:
        f.write(b'\xff\xfe{"ts": \x00}\n')  # bytes that are not UTF-8: a malformed line, not a crash
    reader = ReplayReader(path)
    with caplog.at_level(logging.WARNING, logger="edge.ble.replay"):
        got = list(reader)
    assert [a.ts_ms for a in got] == [T0, T0 + 1, T0 + 2]
    assert (reader.stats.lines, reader.stats.records, reader.stats.malformed) == (7, 3, 3)
    assert [n for n, _ in reader.stats.malformed_lines] == [3, 5, 7]
    messages = [r.getMessage() for r in caplog.records]
    assert any("rec.jsonl:3: skipped: not JSON" in m for m in messages)
    assert any("rec.jsonl:5: skipped: ts 5 is outside" in m for m in messages)
    assert any("3 of 7 lines were malformed" in m for m in messages)


def test_recorded_pace_speed_and_as_fast_as_possible(tmp_path):
    path = tmp_path / "rec.jsonl"
    write_lines(path, *(to_line(advert(T0 + ms)) for ms in (0, 500, 1500, 1200, 61_500)))
    fast = FakeTime()
    assert len(list(ReplayReader(path, clock=fast.clock, sleep=fast.sleep))) == 5 and fast.sleeps == []
    paced = FakeTime()
    list(ReplayReader(path, speed=1.0, clock=paced.clock, sleep=paced.sleep))
    assert paced.sleeps == [0.5, 1.0, 60.0]  # the record that went back in time is passed on at once
    double = FakeTime()
    list(ReplayReader(path, speed=2.0, max_gap_s=5, clock=double.clock, sleep=double.sleep))
    assert double.sleeps == [0.25, 0.5, 5.0]  # the one-minute silence shortened to five seconds


def test_pacing_does_not_drift_when_the_consumer_is_slow(tmp_path):
    path = tmp_path / "rec.jsonl"
    write_lines(path, *(to_line(advert(T0 + 1000 * i)) for i in range(4)))
    fake = FakeTime()
    for _ in ReplayReader(path, speed=1.0, clock=fake.clock, sleep=fake.sleep):
        fake.now += 0.25  # the consumer works a quarter second per record
    assert fake.sleeps == [0.75, 0.75, 0.75]


def test_async_reading_and_recording_on_the_way(tmp_path):
    source = tmp_path / "in.jsonl"
    write_lines(source, *(to_line(advert(T0 + 100 * i)) for i in range(3)))
    fake = FakeTime()

    async def copy() -> list[Advertisement]:
        with ReplayWriter(tmp_path / "out.jsonl") as writer:
            reader = ReplayReader(source, speed=1.0, clock=fake.clock, async_sleep=fake.async_sleep)
            return [adv async for adv in recorded(reader.__aiter__(), writer)]

    got = asyncio.run(copy())
    assert len(got) == 3 and fake.sleeps == [0.1, 0.1]
    assert list(ReplayReader(tmp_path / "out.jsonl")) == got


def test_bad_reader_settings():
    with pytest.raises(ValueError, match="speed"):
        ReplayReader("x.jsonl", speed=0)
