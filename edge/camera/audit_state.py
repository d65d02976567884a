"""Where a camera's last audit result lives on the node, and how the camera's health report reads it.

``mallsense camera-audit report`` writes ``audit-<sensor>.json`` into the node's state folder (by default the
camera node's outbox folder); the running camera picks it up in its next health report (``CameraHealth.audit``),
looking at the file at most every few seconds and re-reading it only when it changed. A missing file is no audit;
an unreadable one is logged once and ignored: a bad audit file never stops a camera from counting.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from mallsense.contract import CameraAudit

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path(".mallsense/edge/outbox")  # the camera node's default outbox folder (mallsense camera)


def audit_path(state_dir: Path | str, sensor: str) -> Path:
    return Path(state_dir) / f"audit-{sensor}.json"


def read_audit(path: Path) -> CameraAudit:
    """The health summary of an audit result file (raises OSError, ValueError on a bad file)."""
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    return CameraAudit.model_validate({k: record.get(k) for k in CameraAudit.model_fields})


class LastAudit:
    """The camera's last audit, as its health report carries it; call it for the current value."""

    def __init__(self, path: Path, every_s: float = 5.0) -> None:
        self.path, self.every_s = path, every_s
        self._seen: tuple[int, CameraAudit | None] | None = None  # (mtime_ns, value)
        self._looked = -float("inf")  # monotonic time of the last look at the file
        self._value: CameraAudit | None = None

    def __call__(self) -> CameraAudit | None:
        now = time.monotonic()
        if now - self._looked >= self.every_s:  # the health is asked for on every frame: look now and then
            self._looked = now
            self._value = self._read()
        return self._value

    def _read(self) -> CameraAudit | None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if self._seen is None or self._seen[0] != mtime:
            try:
                value = read_audit(self.path)
            except (OSError, ValueError) as exc:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
                log.warning("ignoring the camera audit in %s: %s", self.path, exc)
                value = None
            self._seen = (mtime, value)
        return self._seen[1]
