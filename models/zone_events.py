"""Zone enter/exit events with dwell from a time-ordered stream of per-device zone assignments, with hysteresis.

Input: ``(ts_ms, device, zone)`` assignments, one per position fix (``zone`` None = in no zone, e.g. a corridor when
only stores are zones). A device's **current** zone changes only when a different zone is seen on ``min_fixes``
consecutive fixes spanning at least ``min_seconds`` (both conditions; set one to 1 / 0 to use only the other). A fix
back in the current zone cancels a pending change, so flicker across a border (A A B A B A …) creates no events.

When a change is confirmed the events are **back-dated**: the new zone is entered at the first fix of the confirming
run, and the old zone is left at its last fix before that run, so dwell (``exit − enter``, as DESIGN.md defines it:
first to last sighting in the zone) is not stretched by the confirmation delay. A device silent for more than ``gap_s``
leaves its zone at its last fix there; ``close`` ends every open stay at the end of the stream.

Trade-off of ``min_fixes`` / ``min_seconds``: larger values suppress more false enter/exit pairs from fixes that
jump across a border (the position error of BLE fixes is several metres), but a real stay shorter than the threshold
is never reported (it is absorbed into the surrounding zone, whose dwell then includes it), and a live consumer hears
of a change that much later (the event itself still carries the back-dated time). With fixes every few seconds,
3 fixes (≈ 5–10 s) removes single-fix jumps while keeping the shortest store visits that matter (bounce < 2 min).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

MIN_FIXES = 3
MIN_SECONDS = 0.0
GAP_S = 300.0
EVENT_COLUMNS = ["device", "zone", "kind", "ts", "dwell_s"]


@dataclass(frozen=True)
class ZoneEvent:
    device: Hashable
    zone: Hashable
    kind: Literal["enter", "exit"]
    ts: int  # ms
    dwell_s: float | None = None  # on exits: last fix in the zone − entry


@dataclass
class _State:
    zone: Hashable | None = None
    entered: int = 0
    last_in_zone: int = 0
    last_ts: int | None = None
    pending: Hashable | None = None
    pending_first: int = 0
    pending_count: int = 0
    has_pending: bool = False


class ZoneTracker:
    """Streaming hysteresis: feed fixes in time order per device with ``update``; ``close`` at the end of the stream."""

    def __init__(self, min_fixes: int = MIN_FIXES, min_seconds: float = MIN_SECONDS, gap_s: float = GAP_S) -> None:
        if min_fixes < 1:
            raise ValueError("min_fixes must be at least 1")
        self.min_fixes, self.min_ms, self.gap_ms = min_fixes, min_seconds * 1000.0, gap_s * 1000.0
        self.state: dict[Hashable, _State] = {}

    @staticmethod
    def _exit(device: Hashable, st: _State) -> ZoneEvent:
        return ZoneEvent(device, st.zone, "exit", st.last_in_zone, (st.last_in_zone - st.entered) / 1000.0)

    def update(self, ts: int, device: Hashable, zone: Hashable | None) -> list[ZoneEvent]:
        """Events (possibly none) caused by one fix. ``ts`` must not go backwards for a device."""
        st = self.state.setdefault(device, _State())
        events: list[ZoneEvent] = []
        if st.last_ts is not None and ts < st.last_ts:
            raise ValueError(f"fixes of {device!r} out of order: {ts} after {st.last_ts}")
        if st.last_ts is not None and ts - st.last_ts > self.gap_ms:
            if st.zone is not None:
                events.append(self._exit(device, st))
            st.zone, st.has_pending = None, False
        st.last_ts = ts
        if zone == st.zone:
            st.has_pending = False
            st.last_in_zone = ts
            return events
        if st.has_pending and zone == st.pending:
            st.pending_count += 1
        else:
            st.pending, st.pending_first, st.pending_count, st.has_pending = zone, ts, 1, True
        if st.pending_count >= self.min_fixes and ts - st.pending_first >= self.min_ms:
            if st.zone is not None:
                events.append(self._exit(device, st))
            st.zone, st.entered, st.last_in_zone, st.has_pending = zone, st.pending_first, ts, False
            if zone is not None:
                events.append(ZoneEvent(device, zone, "enter", st.pending_first))
        return events

    def close(self) -> list[ZoneEvent]:
        """Exit events for every device still in a zone (at its last fix there)."""
        events = [self._exit(d, st) for d, st in self.state.items() if st.zone is not None]
        for st in self.state.values():
            st.zone, st.has_pending = None, False
        return events


def _zone(value: object) -> Hashable | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value  # type: ignore[return-value]


def zone_events(assignments: pd.DataFrame, min_fixes: int = MIN_FIXES, min_seconds: float = MIN_SECONDS,
                gap_s: float = GAP_S) -> pd.DataFrame:
    """Enter/exit events of a batch of assignments (columns ``ts`` in ms, ``device``, ``zone``; None/NaN = no zone).

    Rows are ordered by device then time (stable) first; the result has ``EVENT_COLUMNS``, ordered by device and
    time, an exit before the enter it coincides with.
    """
    tracker = ZoneTracker(min_fixes, min_seconds, gap_s)
    ordered = assignments.sort_values(["device", "ts"], kind="stable")
    events: list[ZoneEvent] = []
    for ts, device, zone in zip(ordered["ts"].to_numpy(), ordered["device"].to_numpy(), ordered["zone"].to_numpy(),
                                strict=True):
        events += tracker.update(int(ts), device, _zone(zone))
    events += tracker.close()
    return events_frame(events)


def events_frame(events: Iterable[ZoneEvent]) -> pd.DataFrame:
    rows = [(e.device, e.zone, e.kind, e.ts, e.dwell_s) for e in events]
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    if frame.empty:
        return frame
    frame["order"] = (frame["kind"] == "enter").astype(int)
    frame = frame.sort_values(["device", "ts", "order"], kind="stable").drop(columns="order").reset_index(drop=True)
    return frame
