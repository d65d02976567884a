"""Crossings held for a short window, and withdrawn when their own track crosses back within it.

A line counter confirms a crossing once the track is ``margin_px`` past the line (``lines.py``). In a crowd seen
from above, a track sometimes crosses and crosses straight back: its id passed to someone walking the other way, or
a merged blob was split differently in the next frame. On the annotated overhead clips every such pair within half a
second was at least half wrong, and withdrawing both halves lowered the count error of the four clips from 10 to 8
in both set-ups (docs/camera.md). Someone who really steps over the line and straight back has not entered either.

Trade-offs: every crossing is reported ``window`` later (half a second by default, less than a batch's flush
interval); a true crossing whose track is then taken over by someone crossing back is withdrawn with the false one.
A window of 0 reports every crossing at once and withdraws nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


class _Crossing(Protocol):
    @property
    def line(self) -> str: ...
    @property
    def track(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def ts_ms(self) -> int: ...


@dataclass
class ReversalFilter:
    """Holds crossings ``window_ms``; a crossing back by the same track on the same line within it withdraws both."""

    window_ms: int = 500
    withdrawn: int = 0  # crossings withdrawn so far (always in pairs)
    _held: list[_Crossing] = field(default_factory=list)

    def add(self, crossing: _Crossing) -> None:
        for i, held in enumerate(self._held):
            if (held.line, held.track) == (crossing.line, crossing.track) and held.direction != crossing.direction \
                    and crossing.ts_ms - held.ts_ms <= self.window_ms:
                del self._held[i]
                self.withdrawn += 2
                return
        self._held.append(crossing)

    def release(self, now_ms: int, gone: Iterable[int] = ()) -> list[_Crossing]:
        """Crossings whose window has passed by ``now_ms``, and those of tracks that ended (``gone``: they can no
        longer cross back), oldest first."""
        ended = set(gone)
        out, kept = [], []
        for c in self._held:
            (out if now_ms - c.ts_ms >= self.window_ms or c.track in ended else kept).append(c)
        self._held = kept
        return out

    def drain(self) -> list[_Crossing]:
        """Everything still held (the source ended)."""
        out, self._held = self._held, []
        return out
