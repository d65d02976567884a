"""An installer's audit of a camera: a recorded stretch, frame by frame, with every crossing marked by a person.

``AuditSession`` is what the marking page (``edge/camera/audit_web.py``) drives: frame access with a small cache,
the current frame, the marks (``[frame, dir]``), undo and save. The marks are written as a truth file
(``edge/camera/evaluate.py``: ``start`` .. ``frames - 1`` is the audited stretch), so the scorer and
``mallsense camera-eval --truth`` read audits as they read the project's own annotations. Frames stay on the node:
they are shown on a page bound to 127.0.0.1, which the installer reaches through an SSH tunnel.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from edge.camera.draw import draw_counting_line
from edge.camera.evaluate import TruthFile, dump_truth, load_truth
from edge.camera.lines import CountingLine
from edge.camera.source import frame_count

Point = tuple[float, float]
STEP, BIG_STEP = 1, 10  # frames per arrow key, per Shift+arrow


class AuditError(ValueError):
    """An audit cannot be made or read as asked (clip, stretch, line or marks)."""


def load_audit(path: Path | str) -> TruthFile:
    """An audit (a truth file); its marks must lie in its stretch and the stretch must be given."""
    try:
        audit = load_truth(path)
    except ValueError as exc:  # ConfigError (file, line, field) or a bad crossing
        raise AuditError(str(exc)) from exc
    if audit.frames is None:
        raise AuditError(f"{path}: an audit states its stretch ('start' and 'frames')")
    if audit.start >= audit.frames:
        raise AuditError(f"{path}: start {audit.start} is not before frames {audit.frames}")
    outside = [f for f, _ in audit.crossings if not audit.start <= f < audit.frames]
    if outside:
        raise AuditError(f"{path}: marks outside the stretch {audit.start}..{audit.frames - 1}: {outside}")
    return audit


def clip_of(audit: TruthFile, audit_path: Path | str) -> Path:
    """The audited clip: as written, or next to the audit file."""
    clip = Path(audit.clip)
    if clip.is_absolute() or clip.exists():
        return clip
    return Path(audit_path).parent / clip


def _tint_inside(image: np.ndarray, line: CountingLine) -> np.ndarray:
    """Shade the half of the picture on the line's 'in' side (green), so the direction reads at a glance."""
    h, w = image.shape[:2]
    (ax, ay), (bx, by) = line.a, line.b
    ys, xs = np.mgrid[0:h, 0:w]
    side = (bx - ax) * (ys - ay) - (by - ay) * (xs - ax)
    ix, iy = line.inside
    inside = np.sign(side) == np.sign((bx - ax) * (iy - ay) - (by - ay) * (ix - ax))
    out = image.copy()
    out[inside] = (0.8 * out[inside] + 0.2 * np.array([0, 255, 0])).astype(np.uint8)
    return out


class AuditSession:
    """Marking one stretch of a clip: frames ``start`` .. ``start + frames - 1`` (default: to the clip's end).

    Args:
        clip: the recorded video file (it stays where it is; nothing is copied).
        line, inside: the counting line's ends and a pixel on its 'in' side.
        out: where ``save`` writes the audit (a truth file).
        cache: decoded frames kept in memory (stepping back and forth reads nothing again).
    """

    def __init__(self, clip: Path | str, line: tuple[Point, Point], inside: Point, out: Path | str, *,
                 start: int = 0, frames: int | None = None, cache: int = 48) -> None:
        self.clip, self.out = Path(clip), Path(out)
        total = frame_count(self.clip)
        if total <= 0:
            raise AuditError(f"cannot read video {self.clip}")
        if not 0 <= start < total:
            raise AuditError(f"--start {start} is outside the clip's {total} frames")
        self.start = start
        self.end = min(total, start + frames) if frames is not None else total  # exclusive
        self.line = CountingLine("audit", tuple(line[0]), tuple(line[1]), inside=tuple(inside))
        self.current = start
        self.marks: list[tuple[int, str]] = []  # in the order made (undo takes the last)
        self.saved_at: float | None = None
        self.unsaved = False  # marks changed since the last save
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = max(cache, 2)
        self._cap = cv2.VideoCapture(str(self.clip))
        self._next = 0  # the index the capture reads next

    # ----------------------------------------------------------------------------------------------- frames
    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` of the clip as decoded (BGR)."""
        if not self.start <= index < self.end:
            raise AuditError(f"frame {index} is outside the audited stretch {self.start}..{self.end - 1}")
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if not self._next <= index < self._next + 2 * BIG_STEP:  # far away or behind: seek
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._next = index
        while self._next <= index:
            ok, image = self._cap.read()
            if not ok:
                raise AuditError(f"cannot decode frame {self._next} of {self.clip}")
            self._remember(self._next, image)
            self._next += 1
        return self._cache[index]

    def _remember(self, index: int, image: np.ndarray) -> None:
        self._cache[index] = image
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def view(self, index: int) -> np.ndarray:
        """The frame as the page shows it: the 'in' side shaded, the line, the frame number and its marks."""
        out = _tint_inside(self.raw(index), self.line)
        draw_counting_line(out, self.line)
        here = [d for f, d in self.marks if f == index]
        text = f"frame {index}  ({index - self.start + 1} of {self.end - self.start})" + (
            f"  marked: {', '.join(here)}" if here else "")
        cv2.putText(out, text, (8, out.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3)
        cv2.putText(out, text, (8, out.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        return out

    def jpeg(self, index: int, quality: int = 85) -> bytes:
        ok, data = cv2.imencode(".jpg", self.view(index), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise AuditError(f"cannot encode frame {index} as JPEG")
        return data.tobytes()

    # ----------------------------------------------------------------------------------------------- marking
    def go(self, index: int) -> int:
        self.current = min(max(index, self.start), self.end - 1)
        return self.current

    def mark(self, direction: str, frame: int | None = None) -> tuple[int, str]:
        if direction not in ("in", "out"):
            raise AuditError(f"a crossing is 'in' or 'out', not {direction!r}")
        at = self.current if frame is None else frame
        if not self.start <= at < self.end:
            raise AuditError(f"frame {at} is outside the audited stretch {self.start}..{self.end - 1}")
        self.marks.append((at, direction))
        self.unsaved = True
        return at, direction

    def undo(self) -> tuple[int, str] | None:
        """Take back the last mark made (None when there is none)."""
        if not self.marks:
            return None
        self.unsaved = True
        return self.marks.pop()

    def key(self, name: str, shift: bool = False) -> None:
        """One key of the page: arrows move, ``i``/``o`` mark in/out here, Backspace undoes, ``s`` saves."""
        step = BIG_STEP if shift else STEP
        if name == "ArrowRight":
            self.go(self.current + step)
        elif name == "ArrowLeft":
            self.go(self.current - step)
        elif name.lower() in ("i", "o"):
            self.mark("in" if name.lower() == "i" else "out")
        elif name == "Backspace":
            self.undo()
        elif name.lower() == "s":
            self.save()
        else:
            raise AuditError(f"unknown key {name!r} (arrows, Shift+arrows, i, o, Backspace, s)")

    def resume(self) -> int:
        """Take up the marks of an earlier save of this same audit (clip, line, stretch); how many were taken."""
        if not self.out.exists():
            return 0
        before = load_audit(self.out)
        mine = self.truth()
        if (Path(before.clip).resolve(), before.line, before.inside, before.start, before.frames) != (
                Path(mine.clip), mine.line, mine.inside, mine.start, mine.frames):
            raise AuditError(f"{self.out} is an audit of another clip, line or stretch: give another --out")
        self.marks = list(before.crossings)
        return len(self.marks)

    def truth(self) -> TruthFile:
        (ax, ay), (bx, by) = self.line.a, self.line.b
        return TruthFile(
            clip=str(self.clip.resolve()), source="installer's audit (mallsense camera-audit mark)",
            line=((ax, ay), (bx, by)), inside=self.line.inside, start=self.start, frames=self.end,
            annotator_notes=f"audit of frames {self.start}-{self.end - 1}, marked by eye on "
                            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime())}",
            crossings=sorted(self.marks))

    def save(self) -> Path:
        """Write the marks as a truth file (atomically: a half-written audit is never left behind)."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(dump_truth(self.truth()), encoding="utf-8")
        tmp.replace(self.out)
        self.saved_at, self.unsaved = time.time(), False
        return self.out

    def state(self) -> dict:
        """What the page shows besides the frame."""
        return {"frame": self.current, "start": self.start, "end": self.end - 1,
                "marks": [[f, d] for f, d in self.marks], "out": str(self.out), "unsaved": self.unsaved,
                "counts": {d: sum(1 for _, x in self.marks if x == d) for d in ("in", "out")}}

    def close(self) -> None:
        self._cap.release()
