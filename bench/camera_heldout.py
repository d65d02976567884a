"""Held-out table of ``bench/camera_fps.py``: speed and count error of each camera set-up on the held-out clips.

Every held-out clip (``split: heldout`` in tests/edge/camera_truth/) is counted at its own size by each set-up, in one
run on this machine: frames per second and the real-time factor per clip, and the held-out count error, precision and
recall of the set-up over all of them (errors summed per clip). No setting is chosen here: the set-ups are the
documented ones (edge/camera/view_setup.py), and ultralytics' own ``solutions.ObjectCounter`` runs beside them on the
same clips and lines when ultralytics is installed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge.camera.config import CameraSensorConfig, MotionConfig, OnnxConfig
from edge.camera.evaluate import Score, TruthFile, combined, load_truth, ratio_text, score
from edge.camera.lines import CountingLine
from edge.camera.models import packaged_model
from edge.camera.replay import count_clip
from edge.camera.source import probe
from edge.camera.view_setup import EdgeModels, realtime_config, truth_setup, view_setup

TRUTH = Path(__file__).resolve().parent.parent / "tests" / "edge" / "camera_truth"


@dataclass
class ClipRun:
    clip: str
    size: tuple[int, int]
    frames_per_s: float
    realtime: float
    score: Score


Counter = Callable[[TruthFile, Path], tuple[list[tuple[int, str]], int, float, float]]  # crossings, frames, s, fps


def heldout_truths() -> list[TruthFile]:
    return [t for t in (load_truth(p) for p in sorted(TRUTH.glob("*.yaml"))) if t.split == "heldout"]


def _pipeline(make_cfg: Callable[[TruthFile, float, tuple[int, int]], CameraSensorConfig]) -> Counter:
    def run(truth: TruthFile, video: Path):
        fps, size = probe(str(video))
        cfg = make_cfg(truth, fps, size)
        result = count_clip(video, CountingLine("line", *truth.line, inside=truth.inside), cfg,
                            max_frames=truth.frames)
        return [(c.frame, c.direction) for c in result.crossings], result.frames, result.wall_s, result.fps
    return run


def _object_counter(model: Path) -> Counter:
    from ultralytics import solutions

    def run(truth: TruthFile, video: Path):
        cap = cv2.VideoCapture(str(video))
        counter = solutions.ObjectCounter(model=str(model), region=[tuple(truth.line[0]), tuple(truth.line[1])],
                                          show=False, verbose=False, classes=[0])
        crossings, n, before = [], 0, (0, 0)
        began = time.perf_counter()
        while truth.frames is None or n < truth.frames:
            ok, image = cap.read()
            if not ok:
                break
            counter(image)
            now = (counter.in_count, counter.out_count)
            # ObjectCounter's 'in' is its own convention; mapped to the truth's by the sign that fits best below
            crossings += [(n, "a")] * (now[0] - before[0]) + [(n, "b")] * (now[1] - before[1])
            before, n = now, n + 1
        wall = time.perf_counter() - began
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        as_is = [(f, "in" if d == "a" else "out") for f, d in crossings]
        swapped = [(f, "out" if d == "a" else "in") for f, d in crossings]
        best = max((as_is, swapped), key=lambda c: score(truth.crossings, c).matched)
        return best, n, wall, fps
    return run


def setups(threads: int, folder: Path, data: Path) -> dict[str, Counter]:
    """The set-ups of the table: name -> counter."""
    models = EdgeModels(folder)
    onnx = packaged_model("onnx")

    def realtime(truth: TruthFile, fps: float, size: tuple[int, int]) -> CameraSensorConfig:
        return realtime_config(truth, data / "video" / truth.clip, models, threads=threads)[0]

    def shipped(truth: TruthFile, fps: float, size: tuple[int, int]) -> CameraSensorConfig:
        return CameraSensorConfig(sensor="b", anchor=truth_setup(truth, fps).anchor,
                                  detector=OnnxConfig(model=str(onnx), threads=threads))

    def motion(truth: TruthFile, fps: float, size: tuple[int, int]) -> CameraSensorConfig:
        rule = view_setup("overhead", truth.person_size_px, fps)  # as if the camera looked straight down
        spec = {k: v for k, v in rule.detector.items() if k != "type"}
        return CameraSensorConfig(sensor="b", anchor=truth_setup(truth, fps).anchor, detect_every=rule.detect_every,
                                  detector=MotionConfig(**spec))

    out: dict[str, Counter] = {}
    if onnx is not None:
        out["YOLOv8n as shipped (640x640), every frame"] = _pipeline(shipped)
        out["view rule, real time: YOLOv8n fitted + int8, every n-th frame"] = _pipeline(realtime)
    out["motion detector (person area from the picture), ~15 detections/s"] = _pipeline(motion)
    if onnx is not None:
        try:
            out["ultralytics ObjectCounter (YOLOv8n .onnx), every frame"] = _object_counter(onnx)
        except ImportError:
            print("ultralytics ObjectCounter: skipped: ultralytics (torch), shapely or lap not installed")
    return out


def heldout_table(data: Path, threads: int) -> None:
    """Print one row per clip and set-up, and each set-up's held-out total."""
    truths = heldout_truths()
    if not truths:
        print("held-out table: skipped: no held-out truth files")
        return
    crossings = sum(len(t.crossings) for t in truths)
    sources = sorted({t.source for t in truths})
    print(f"\nheld-out clips: {len(truths)} from {len(sources)} sources ({', '.join(sources)}), {crossings} crossings")
    with tempfile.TemporaryDirectory(prefix="mallsense-heldout-") as tmp:
        totals = []
        for name, run in setups(threads, Path(tmp), data).items():
            runs = []
            for truth in truths:
                video = data / "video" / truth.clip
                counted, frames, wall, fps = run(truth, video)
                _, size = probe(str(video))
                per_s = frames / wall if wall else 0.0
                runs.append(ClipRun(truth.clip, size, per_s, per_s / fps if fps else 0.0,
                                    score(truth.crossings, counted)))
                r = runs[-1]
                print(f"  {name:<66} {r.clip:<28} {r.size[0]}x{r.size[1]} {r.frames_per_s:6.1f} frames/s "
                      f"{r.realtime:5.2f}x real time  count error {r.score.count_error:>2} of {r.score.truth}")
            totals.append((name, runs))
        print(f"\n{'set-up':<66} {'slowest clip':>14} {'held-out count error':>22} {'precision':>9} {'recall':>6}")
        for name, runs in totals:
            total = combined([r.score for r in runs])
            slowest = min(r.realtime for r in runs)
            share = 100 * total.count_error / max(total.truth, 1)
            p, rc = ratio_text(total.precision).strip(), ratio_text(total.recall).strip()
            print(f"{name:<66} {slowest:>10.2f}x rt {total.count_error:>5} of {total.truth} ({share:4.1f}%) "
                  f"{p:>9} {rc:>6}")
