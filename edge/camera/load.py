"""Whether a camera's pipeline keeps up with its source: counters for the node's health report, a warning in the log.

A live source hands the pipeline only its newest frame (``edge.camera.source.LiveSource``), so a node too slow for
its detector never falls behind the stream: it detects less often than ``detect_every`` asks, and counting, a
segment test between consecutive positions, goes on. That is safe up to a point and invisible without this: the
operator sees the share in the cockpit's sensor strip (``CameraHealth.keeping_up``), and the node logs a warning
naming the remedy when a window of ``window_s`` falls below ``warn_below``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.camera.pipeline import CameraPipeline
from edge.camera.source import LiveSource
from mallsense.contract import CameraAudit, CameraHealth

log = logging.getLogger(__name__)


@dataclass
class CameraLoad:
    """Load of one camera: frames its source delivered and dropped, and detection steps its pipeline ran.

    Args:
        sensor: the camera's id (for the log).
        pipeline: the camera's pipeline (its ``frames`` and ``steps`` counters).
        live: the live source, whose reader counts frames read, dropped and reconnects; None for a file.
        window_s: how often the share is checked for the log.
        warn_below: the share of planned detection steps under which a window is logged as a warning.
        audit: gives the camera's last commissioning audit (``edge.camera.audit_state.LastAudit``), or None.
    """

    sensor: str
    pipeline: CameraPipeline
    live: LiveSource | None = None
    window_s: float = 60.0
    warn_below: float = 0.9
    audit: Callable[[], CameraAudit | None] | None = None
    _window: tuple[float, int, int] = field(default=(0.0, 0, 0))  # (monotonic start, frames read, steps) then

    def health(self) -> CameraHealth:
        """Counters since the start, for the node's health report."""
        live = self.live
        return CameraHealth(
            frames_read=live.read if live is not None else self.pipeline.frames,
            frames_dropped=live.dropped if live is not None else 0,
            detect_every=self.pipeline.detect_every,
            detect_steps=self.pipeline.steps,
            reconnects=live.reconnects if live is not None else 0,
            audit=self.audit() if self.audit is not None else None,
        )

    def check(self, now: float | None = None) -> float | None:
        """Call after each frame: at the end of each window, the window's share of planned detection steps (and
        a warning when it is under ``warn_below``); None in between."""
        now = time.monotonic() if now is None else now
        h = self.health()
        began, read0, steps0 = self._window
        if began == 0.0:
            self._window = (now, h.frames_read, h.detect_steps)
            return None
        if now - began < self.window_s:
            return None
        self._window = (now, h.frames_read, h.detect_steps)
        window = CameraHealth(frames_read=h.frames_read - read0, frames_dropped=0, detect_every=h.detect_every,
                              detect_steps=h.detect_steps - steps0)
        share = window.keeping_up  # the contract's one definition of the share, over this window
        if share is None:
            return None
        if share < self.warn_below:
            rate = (h.detect_steps - steps0) / (now - began)
            log.warning("camera %s keeps up with %.0f %% of the frames meant for its detector (%.1f detections/s, "
                        "detect_every %d): this CPU is too slow for the detector; counting goes on at the lower "
                        "rate. Remedies: an int8 model fitted to the stream (mallsense camera-model), a larger "
                        "detect_every, or the motion detector for an overhead view", self.sensor, 100 * share,
                        rate, h.detect_every)
        return share
