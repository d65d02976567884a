"""Ground truth for a clip's counting line, and how counted crossings score against it.

A truth file (YAML) states the clip, the line (pixels), its inside point, and every crossing as ``[frame, dir]``:

.. code-block:: yaml

    clip: example_06.mp4
    line: [[320, 0], [320, 215]]
    inside: [640, 100]          # 'in' = moving towards this point
    crossings:
    - [12, in]
    - [40, out]

Scoring matches counted crossings to true ones of the same direction within ``tolerance`` frames (Hungarian on
frame distance): precision and recall say whether the right events were counted; the *count error*
``|counted in - true in| + |counted out - true out|`` is what an operator sees on the dashboard (a missed and a
spurious crossing cancel in it, which is why both are reported). Over several clips the count error is the sum of the
clips' own errors. Crossings in a clip's first ``WARMUP_FRAMES`` frames are not scored (``score``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment

from mallsense.yamlconf import validate_file

Point = tuple[float, float]
WARMUP_FRAMES = 10  # crossings in a clip's first frames are not scored (see ``score``)


class TruthFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clip: str = Field(description="file name under the shared data's video/ folder")
    source: str = Field(default="", description="where the clip comes from (repository, as in SOURCES.md)")
    split: Literal["dev", "heldout"] = Field(
        default="dev", description="dev: settings may be chosen on it; heldout: never (docs/camera.md, held-out rule)")
    view: Literal["overhead", "steep", "oblique", "side"] | None = Field(
        default=None, description="how the camera sees people: overhead (straight down), steep (high, tilted), "
        "oblique (high-angle), side (about eye level)")
    person_size_px: tuple[int, int] | None = Field(
        default=None, description="a typical person's box at the line, width and height in pixels, read off the "
        "picture by eye (what an installer measures)")
    line: tuple[Point, Point]
    inside: Point
    detector: dict = Field(default_factory=dict, description="detector settings used for this clip (config form)")
    anchor: str | None = None
    frames: int | None = Field(default=None, gt=0, description="only the first this many frames are annotated "
                               "(the evaluation stops there); none: the whole clip")
    start: int = Field(default=0, ge=0, description="annotation begins at this frame (an installer's audit of a "
                       "stretch: frames start .. frames-1; the scorer leaves earlier crossings out)")
    annotator_notes: str = ""
    crossings: list[tuple[int, str]]


def load_truth(path: Path | str) -> TruthFile:
    truth = validate_file(path, TruthFile)
    for frame, direction in truth.crossings:
        if direction not in ("in", "out") or frame < 0:
            raise ValueError(f"{path}: bad crossing [{frame}, {direction}] (frame >= 0, direction in|out)")
    return truth


def dump_truth(truth: TruthFile) -> str:
    return yaml.safe_dump(truth.model_dump(), sort_keys=False)


@dataclass(frozen=True)
class Score:
    true_in: int
    true_out: int
    counted_in: int
    counted_out: int
    matched: int
    clips_error: int | None = None  # several clips: the sum of their own count errors (no cancelling across clips)

    @property
    def truth(self) -> int:
        return self.true_in + self.true_out

    @property
    def counted(self) -> int:
        return self.counted_in + self.counted_out

    @property
    def precision(self) -> float | None:
        """Share of counted crossings that are true; None when nothing was counted (undefined, not perfect)."""
        return self.matched / self.counted if self.counted else None

    @property
    def recall(self) -> float | None:
        """Share of true crossings that were counted; None when there were none."""
        return self.matched / self.truth if self.truth else None

    @property
    def count_error(self) -> int:
        if self.clips_error is not None:
            return self.clips_error
        return abs(self.counted_in - self.true_in) + abs(self.counted_out - self.true_out)

    @property
    def error_share(self) -> float | None:
        """The count error as a share of the true crossings; None without any."""
        return self.count_error / self.truth if self.truth else None

    def line(self, name: str = "") -> str:
        return (f"{name:<28} true in/out {self.true_in:>3}/{self.true_out:<3} counted {self.counted_in:>3}/"
                f"{self.counted_out:<3} count error {self.count_error:>2} ({pct_text(self.error_share)}) "
                f"precision {ratio_text(self.precision)} recall {ratio_text(self.recall)}")


def ratio_text(value: float | None) -> str:
    return "   –" if value is None else f"{value:.2f}"


def pct_text(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _matches(truth: Sequence[int], counted: Sequence[int], tolerance: int) -> int:
    if not truth or not counted:
        return 0
    cost = np.abs(np.subtract.outer(np.asarray(truth), np.asarray(counted))).astype(float)
    cost[cost > tolerance] = 1e9
    rows, cols = linear_sum_assignment(cost)
    return int(sum(cost[r, c] <= tolerance for r, c in zip(rows, cols, strict=True)))


def score(truth: Sequence[tuple[int, str]], counted: Sequence[tuple[int, str]], tolerance: int = 15,
          warmup: int = WARMUP_FRAMES) -> Score:
    """Both as ``(frame, direction)`` pairs; ``tolerance`` in frames. Crossings, true or counted, in the first
    ``warmup`` frames are left out: a person already on the line when the clip starts crosses before any tracker
    has seen them on the other side, and a live camera has no first frame."""
    truth = [(f, d) for f, d in truth if f >= warmup]
    counted = [(f, d) for f, d in counted if f >= warmup]
    by = {d: ([f for f, x in truth if x == d], [f for f, x in counted if x == d]) for d in ("in", "out")}
    matched = sum(_matches(t, c, tolerance) for t, c in by.values())
    return Score(len(by["in"][0]), len(by["out"][0]), len(by["in"][1]), len(by["out"][1]), matched)


def combined(scores: Sequence[Score]) -> Score:
    """Totals over clips; the count error is the sum of each clip's own (a miss in one clip and a spurious
    crossing in another do not cancel)."""
    return Score(*(sum(getattr(s, k) for s in scores)
                   for k in ("true_in", "true_out", "counted_in", "counted_out", "matched")),
                 clips_error=sum(s.count_error for s in scores))


SPLIT_NAMES = {"dev": "development", "heldout": "held-out"}


def split_summary(name: str, scores: Sequence[Score]) -> str:
    """One set's totals (development or held-out): clips, true crossings, summed count error, precision, recall."""
    total = combined(scores)
    return (f"{name}: {len(scores)} clip(s), {total.truth} true crossings: count error {total.count_error} "
            f"({pct_text(total.error_share)}), precision {ratio_text(total.precision).strip()}, "
            f"recall {ratio_text(total.recall).strip()}")
