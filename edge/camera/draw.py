"""Annotated frames for people checking a camera's setup locally (boxes, ids, line, counts).

For the evaluation tool and installers only: annotated video is written to the local disk when asked for and is
never published. Drawing is kept apart from counting so the counting code never touches pixels it does not need.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.camera.lines import CountingLine
from edge.camera.pipeline import CameraPipeline, Step


def draw_counting_line(out: np.ndarray, line: CountingLine) -> None:
    """The line (yellow) and its inside point (green dot, kept in the picture), drawn in place."""
    a, b = tuple(round(v) for v in line.a), tuple(round(v) for v in line.b)
    cv2.line(out, a, b, (0, 255, 255), 2)
    ix, iy = (round(v) for v in line.inside)
    h, w = out.shape[:2]
    cv2.circle(out, (min(max(ix, 4), w - 5), min(max(iy, 4), h - 5)), 4, (0, 255, 0), -1)


def annotate(image: np.ndarray, step: Step | None, pipeline: CameraPipeline, frame_index: int) -> np.ndarray:
    out = image.copy()
    totals = pipeline.totals()
    for counter in pipeline.counters:
        line = counter.line
        draw_counting_line(out, line)
        text = f"{line.id}: in {totals[line.id]['in']} out {totals[line.id]['out']}"
        cv2.putText(out, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 2)
    cv2.putText(out, f"frame {frame_index}", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    if step is None:
        return out
    crossed = {c.track: c.direction for c in step.crossings}
    for track in step.tracks:
        x0, y0, x1, y1 = (round(v) for v in track.box)
        color = (0, 200, 0) if crossed.get(track.id) == "in" else (0, 0, 230) if track.id in crossed else (255, 160, 0)
        cv2.rectangle(out, (x0, y0), (x1, y1), color, 3 if track.id in crossed else 1)
        cv2.putText(out, str(track.id % 1000), (x0, max(y0 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1)
    return out
