"""The camera's counts against an installer's audit, with a confidence interval; fitting its settings on part of it.

**The interval.** The count error of a stretch, ``k = |counted in - true in| + |counted out - true out|``, is read
as a number of error events among the ``n`` true crossings, and the camera's count error rate (errors per true
crossing) gets the exact Poisson (Garwood) interval ``[chi2(a/2, 2k) / 2n, chi2(1 - a/2, 2k + 2) / 2n]``. Why this
one for an audit of a few dozen crossings:

- it is exact for counts, never narrower than the data allow, and honest at zero: an audit with no error out of 30
  crossings says "under 12 %", not "0 %" (a bootstrap over time windows of a short stretch gives [0, 0] there, and
  with five or six windows its intervals are too narrow in general);
- it holds an error larger than the number of crossings (a camera counting double), which a binomial interval on
  ``k / n`` cannot;
- a miss and a spurious count of the same direction cancel in the count error, as they do on the dashboard; the
  interval is for that operator-facing rate (precision and recall are printed beside it for the events).

What it assumes: errors independent of each other. In crowds they cluster (one merged blob, two errors), so for a
crowded entrance the interval is a lower bound on the uncertainty; audit a stretch that includes the busy minutes.

**Fitting.** ``fit`` splits the stretch in time (first part / rest), counts the first part with each setting of a
small grid, keeps the one with the lowest count error there, then the highest recall (the camera's own settings
first, so a tie keeps them), and reports on the rest only: the rest's crossings play no part in the choice.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from scipy.stats import chi2

from edge.camera.audit import AuditError
from edge.camera.config import CameraSensorConfig
from edge.camera.evaluate import WARMUP_FRAMES, Score, TruthFile, score
from edge.camera.lines import CountingLine
from edge.camera.replay import count_clip

CONFIDENCE = 0.95
TOLERANCE = 15  # frames between a counted and a marked crossing (as the scorer's default)
Counted = list[tuple[int, str]]


def count_error_interval(errors: int, crossings: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact Poisson interval of the count error rate (errors per true crossing); see the module's docstring."""
    if crossings <= 0:
        raise AuditError("no crossing was marked: an error rate needs at least one true crossing")
    if errors < 0:
        raise AuditError(f"a count error is >= 0, got {errors}")
    alpha = 1.0 - confidence
    low = chi2.ppf(alpha / 2, 2 * errors) / 2 if errors > 0 else 0.0
    high = chi2.ppf(1 - alpha / 2, 2 * errors + 2) / 2
    return float(low) / crossings, float(high) / crossings


@dataclass(frozen=True)
class PartScore:
    """The camera against the marks on frames ``first`` .. ``end - 1``."""

    first: int
    end: int
    score: Score

    @property
    def crossings(self) -> int:
        return self.score.truth

    @property
    def error_rate(self) -> float:
        return self.score.count_error / self.crossings if self.crossings else float("inf")

    @property
    def interval(self) -> tuple[float, float]:
        return count_error_interval(self.score.count_error, self.crossings)

    def text(self, name: str) -> str:
        low, high = self.interval
        s = self.score
        return (f"{name}: frames {self.first}-{self.end - 1}, marked in/out {s.true_in}/{s.true_out}, counted "
                f"{s.counted_in}/{s.counted_out}; count error {s.count_error} of {self.crossings} "
                f"({100 * self.error_rate:.1f} %, {100 * CONFIDENCE:.0f} % interval {100 * low:.1f}-{100 * high:.1f} "
                f"%); precision {s.precision:.2f}, recall {s.recall:.2f}")


def score_part(audit: TruthFile, counted: Sequence[tuple[int, str]], first: int, end: int) -> PartScore:
    """Marks and counted crossings on frames ``first`` .. ``end - 1``. The camera's pipeline ran from the clip's
    first frame, so only a part starting there leaves out the scorer's warm-up frames."""
    marks = [(f, d) for f, d in audit.crossings if first <= f < end]
    mine = [(f, d) for f, d in counted if f < end]
    return PartScore(first, end, score(marks, mine, tolerance=TOLERANCE, warmup=max(first, WARMUP_FRAMES)))


def audit_line(audit: TruthFile, margin_px: float) -> CountingLine:
    return CountingLine("audit", audit.line[0], audit.line[1], inside=audit.inside, margin_px=margin_px)


def count_to(video: Path, audit: TruthFile, cfg: CameraSensorConfig, end: int, margin_px: float) -> Counted:
    """The camera's crossings from the clip's start to frame ``end`` (and a tolerance beyond, so that a crossing
    just before ``end`` can be confirmed; ``score_part`` keeps only those before ``end``)."""
    result = count_clip(video, audit_line(audit, margin_px), cfg, max_frames=end + TOLERANCE)
    return [(c.frame, c.direction) for c in result.crossings]


# ------------------------------------------------------------------------------------------------------ fitting
def default_grid(cfg: CameraSensorConfig) -> dict[str, list[float]]:
    """A few settings per detector, each list led by the camera's own value. Keys are ``section.field``."""
    det = cfg.detector
    if det.type == "motion":
        area = det.person_area_px or 2000.0
        return {"detector.person_area_px": [area, 0.75 * area, 1.25 * area],
                "detector.var_threshold": [det.var_threshold, 16.0, 40.0],
                "detector.min_area_px": [det.min_area_px, 2 * det.min_area_px]}
    return {"detector.conf": [det.conf, 0.05, 0.2], "tracker.high_score": [cfg.tracker.high_score, 0.25, 0.4]}


def candidates(cfg: CameraSensorConfig, grid: dict[str, Sequence[float]]) -> list[tuple[dict, CameraSensorConfig]]:
    """Every combination of the grid applied to ``cfg`` (validated; the first is ``cfg``'s own values when each
    list starts with them)."""
    keys = list(grid)
    out, seen = [], set()
    for values in itertools.product(*(list(dict.fromkeys(grid[k])) for k in keys)):
        data = cfg.model_dump()
        for key, value in zip(keys, values, strict=True):
            section, name = key.split(".", 1)
            if section not in ("detector", "tracker") or name not in data[section]:
                raise AuditError(f"cannot fit {key!r}: not a detector or tracker setting of a {cfg.detector.type} "
                                 "camera")
            data[section][name] = value
        settings = dict(zip(keys, values, strict=True))
        if tuple(settings.items()) not in seen:
            seen.add(tuple(settings.items()))
            out.append((settings, CameraSensorConfig.model_validate(data)))
    return out


@dataclass(frozen=True)
class Fit:
    split: int  # the fit part is start .. split - 1, the report part split .. end - 1
    table: list[tuple[dict, PartScore]]  # every candidate on the fit part, in grid order
    chosen: dict
    cfg: CameraSensorConfig
    report: PartScore  # the chosen settings on the report part only


def fit(video: Path, audit: TruthFile, cfg: CameraSensorConfig, *, margin_px: float,
        grid: dict[str, Sequence[float]] | None = None, fit_share: float = 0.5) -> Fit:
    """Choose settings on the first ``fit_share`` of the stretch and report on the rest (see the module)."""
    if not 0 < fit_share < 1:
        raise AuditError(f"the fit part is a share of the stretch between 0 and 1, got {fit_share}")
    start, end = audit.start, audit.frames
    split = start + round((end - start) * fit_share)
    for name, lo, hi in (("fit", start, split), ("report", split, end)):
        if not any(lo <= f < hi and f >= WARMUP_FRAMES for f, _ in audit.crossings):
            raise AuditError(f"the {name} part (frames {lo}-{hi - 1}) has no marked crossing: mark a longer stretch "
                             "or move the split (--fit-share)")
    table = []
    for settings, candidate in candidates(cfg, grid or default_grid(cfg)):
        table.append((settings, score_part(audit, count_to(video, audit, candidate, split, margin_px), start, split),
                      candidate))
    best = min(table, key=lambda row: (row[1].score.count_error, -row[1].score.recall))  # first of equals
    report = score_part(audit, count_to(video, audit, best[2], end, margin_px), split, end)
    return Fit(split, [(s, p) for s, p, _ in table], best[0], best[2], report)


def settings_yaml(cfg: CameraSensorConfig, sensor: str, note: str) -> str:
    """The fitted detector and tracker as a snippet of the camera's edge config."""
    entry = {"sensor": sensor, "detector": cfg.detector.model_dump(exclude_none=True),
             "tracker": cfg.tracker.model_dump()}
    return (f"# {note}\n# merge 'detector' and 'tracker' into this camera's entry of the node's edge config\n"
            + yaml.safe_dump({"camera": [entry]}, sort_keys=False))


# ------------------------------------------------------------------------------------------------------ result
@dataclass(frozen=True)
class AuditResult:
    """What ``camera-audit report`` writes next to the node's state (``audit-<sensor>.json``)."""

    sensor: str
    audit_file: str
    part: PartScore
    fitted: dict | None = None
    at_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def record(self) -> dict:
        low, high = self.part.interval
        s = self.part.score
        return {"sensor": self.sensor, "at": self.at_ms, "audit": self.audit_file,
                "frames": [self.part.first, self.part.end - 1], "crossings": self.part.crossings,
                "count_error": s.count_error, "count_error_pct": round(100 * self.part.error_rate, 2),
                "ci_low_pct": round(100 * low, 2), "ci_high_pct": round(100 * high, 2), "confidence": CONFIDENCE,
                "interval": "exact Poisson (Garwood) on the count error per true crossing",
                "precision": round(s.precision, 4), "recall": round(s.recall, 4),
                "true_in": s.true_in, "true_out": s.true_out, "counted_in": s.counted_in,
                "counted_out": s.counted_out, "fitted": self.fitted}
