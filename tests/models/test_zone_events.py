"""Zone enter/exit events with hysteresis on hand-made assignment sequences whose events are known exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from models.zone_events import EVENT_COLUMNS, ZoneEvent, ZoneTracker, zone_events


def seq(device: str, zones: list[str | None], t0_s: int = 0, every_s: int = 2) -> list[tuple[int, str, str | None]]:
    """One fix every ``every_s`` seconds from ``t0_s`` (ts in ms)."""
    return [((t0_s + i * every_s) * 1000, device, z) for i, z in enumerate(zones)]


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "device", "zone"])


def events(rows: list[tuple], **kw: float) -> list[tuple]:
    out = zone_events(frame(rows), **kw)
    assert list(out.columns) == EVENT_COLUMNS
    return [(r.device, r.zone, r.kind, r.ts, None if pd.isna(r.dwell_s) else r.dwell_s)  # enters have no dwell
            for r in out.itertuples(index=False)]


def test_flicker_at_a_border_creates_no_events() -> None:
    # in A, then single and double jumps into B at the border, never 3 B fixes in a row
    zones = ["A", "A", "A", "B", "A", "B", "B", "A", "B", "A", "A"]
    assert events(seq("d", zones)) == [("d", "A", "enter", 0, None), ("d", "A", "exit", 20_000, 20.0)]
    # flicker before the first zone is confirmed confirms nothing
    assert events(seq("d", ["A", "A", "B", "A", "B", "B", "A"])) == []


def test_a_confirmed_move_is_back_dated_and_dwell_is_first_to_last_fix() -> None:
    zones = ["A", "A", "A", "A", "B", "B", "B", "B", None, None, None]
    assert events(seq("d", zones)) == [
        ("d", "A", "enter", 0, None),
        ("d", "A", "exit", 6_000, 6.0),  # last fix in A, not the moment B was confirmed (12 s)
        ("d", "B", "enter", 8_000, None),  # first fix of the confirming run
        ("d", "B", "exit", 14_000, 6.0),  # three fixes in no zone: left B at its last fix
    ]


def test_a_stay_shorter_than_the_threshold_is_not_reported() -> None:
    zones = ["A", "A", "A", "B", "B", "A", "A", "A"]  # two fixes in B: below min_fixes=3
    assert [e[:3] for e in events(seq("d", zones))] == [("d", "A", "enter"), ("d", "A", "exit")]
    with_one = events(seq("d", zones), min_fixes=1)  # no hysteresis: every switch is an event
    assert [e[1:3] for e in with_one] == [("A", "enter"), ("A", "exit"), ("B", "enter"), ("B", "exit"),
                                         ("A", "enter"), ("A", "exit")]


def test_min_seconds_also_required() -> None:
    zones = ["A", "A", "A", "A", "B", "B", "B", "B"]  # B (from 8 s) has 2 fixes at 10 s but spans 5 s only at 14 s
    tracker = ZoneTracker(min_fixes=2, min_seconds=5.0)
    confirmed_at = [ts for ts, dev, zone in seq("d", zones) if tracker.update(ts, dev, zone)]
    assert confirmed_at == [6_000, 14_000]
    got = events(seq("d", zones), min_fixes=2, min_seconds=5.0)
    assert got[:3] == [("d", "A", "enter", 0, None), ("d", "A", "exit", 6_000, 6.0), ("d", "B", "enter", 8_000, None)]
    # a B run that never spans 5 s is not a move
    assert [e[1:3] for e in events(seq("d", ["A"] * 4 + ["B", "B", "A"]), min_fixes=2, min_seconds=5.0)] == [
        ("A", "enter"), ("A", "exit")]


def test_silence_longer_than_the_gap_ends_the_stay_at_its_last_fix() -> None:
    rows = seq("d", ["A"] * 4) + seq("d", ["A"] * 4, t0_s=1000)
    assert events(rows, gap_s=300) == [("d", "A", "enter", 0, None), ("d", "A", "exit", 6_000, 6.0),
                                       ("d", "A", "enter", 1_000_000, None), ("d", "A", "exit", 1_006_000, 6.0)]


def test_devices_are_independent_and_row_order_between_devices_does_not_matter() -> None:
    rows = seq("d1", ["A"] * 3 + ["B"] * 3) + seq("d2", ["B", "A", "B", "B", "B"], t0_s=1)
    shuffled = rows[::2] + rows[1::2]
    assert events(rows) == events(shuffled)
    d2 = [e for e in events(rows) if e[0] == "d2"]
    assert d2 == [("d2", "B", "enter", 5_000, None), ("d2", "B", "exit", 9_000, 4.0)]


def test_none_and_nan_mean_no_zone() -> None:
    rows = seq("d", [float("nan"), None, "A", "A", "A", float("nan")])
    assert [e[1:4] for e in events(rows)] == [("A", "enter", 4_000), ("A", "exit", 8_000)]
    assert zone_events(frame(seq("d", [None, None]))).empty


def test_streaming_tracker_matches_the_batch_and_refuses_time_going_back() -> None:
    tracker = ZoneTracker(min_fixes=2)
    live: list[ZoneEvent] = []
    for ts, dev, zone in seq("d", ["A", "A", "B", "B"]):
        live += tracker.update(ts, dev, zone)
    assert [e.kind for e in live] == ["enter", "exit", "enter"]  # B's enter arrives with its 2nd fix, dated at the 1st
    live += tracker.close()
    batch = zone_events(frame(seq("d", ["A", "A", "B", "B"])), min_fixes=2)
    assert [(e.zone, e.kind, e.ts) for e in live] == list(zip(batch.zone, batch.kind, batch.ts, strict=True))
    with pytest.raises(ValueError, match="out of order"):
        tracker.update(0, "d", "A")
    with pytest.raises(ValueError, match="min_fixes"):
        ZoneTracker(min_fixes=0)
