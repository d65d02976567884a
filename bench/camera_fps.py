"""Camera pipeline speed per stream on this machine: frames per second per detector, at 640 px and at source size.

For each detector the whole per-frame path runs (decode, detect, track, count) on one clip; the figure that matters
is the real-time factor: frames processed per second over the clip's own frame rate (>= 1 keeps up with a live
stream of that size on this machine). Each packaged ONNX model installed (the default COCO YOLOv8n, and the
YOLOv8s-size fall-detection model that was the default until stop 17) is measured as it ships at ``detect_every`` 1
and 5, and its derived models of ``mallsense camera-model`` (input fitted to 640x384, float32 and int8) at 1, 2
and 3, each ONNX row with its speed as a ratio of the YOLOv8s-size model's as shipped, every frame, in the same run.
With ultralytics installed, the ``.pt`` default and the ONNX default run through this pipeline and through ultralytics'
own ``solutions.ObjectCounter`` (which also needs shapely and lap) on the same clip and line in the same run
(counts and speed); without them those rows say so. Last, the held-out table (bench/camera_heldout.py): each set-up
on every held-out clip at the clip's own size, frames/s and real-time factor per clip, and the set-up's held-out
count error, precision and recall, with ObjectCounter on the same clips (``--heldout-only``, ``--no-heldout``).

    .venv/bin/python bench/camera_fps.py [--clip example_03.mp4] [--frames 150] [--line 430,180,640,180]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.camera_heldout import heldout_table  # noqa: E402
from edge.camera.config import CameraSensorConfig, MotionConfig, OnnxConfig, UltralyticsConfig  # noqa: E402
from edge.camera.detect_onnx import OnnxDetector  # noqa: E402
from edge.camera.lines import CountingLine  # noqa: E402
from edge.camera.model_prep import prepare  # noqa: E402
from edge.camera.models import PACKAGES, ModelFileError, packaged_model  # noqa: E402
from edge.camera.replay import ClipResult, count_clip  # noqa: E402


def _row(name: str, r: ClipResult) -> str:
    return (f"{name:<64} {r.size[0]}x{r.size[1]} {r.frames:>4} frames {r.frames_per_s:7.1f} frames/s "
            f"(clip {r.fps:5.2f} fps: {r.realtime_factor:5.2f}x real time) counted in {r.totals['in']:>3} "
            f"out {r.totals['out']:>3}")


def object_counter(clip: Path, line: CountingLine, frames: int, model: Path, classes: list[int] | None) -> str:
    """ultralytics' own counting solution on the same clip, line and model, for comparison."""
    label = f"ultralytics ObjectCounter ({model.name})"
    try:
        import cv2
        from ultralytics import solutions
    except ImportError:
        return f"{label:<64} skipped: ultralytics (torch) not installed"
    cap = cv2.VideoCapture(str(clip))
    began, n = time.perf_counter(), 0
    try:  # the solution imports what it needs (shapely, and lap for its tracker) only when built and first run
        counter = solutions.ObjectCounter(model=str(model), region=[line.a, line.b], show=False, verbose=False,
                                          classes=classes)
        while n < frames:
            ok, image = cap.read()
            if not ok:
                break
            counter(image)
            n += 1
    except ImportError as exc:
        return f"{label:<64} skipped: {exc} (pip install shapely lap)"
    wall = time.perf_counter() - began
    fps = cap.get(cv2.CAP_PROP_FPS)
    return (f"{label:<64} {n:>4} frames {n / wall:7.1f} frames/s "
            f"({n / wall / fps:5.2f}x real time) counted in {counter.in_count:>3} out {counter.out_count:>3}")


def packaged_onnx() -> dict[str, Path]:
    """Every packaged ONNX person model installed, the default first: short name -> file."""
    out = {}
    for p in PACKAGES:
        path = packaged_model("onnx", p.package) if "onnx" in p.files else None
        if path is not None:
            out[f"{p.package} {path.stem}"] = path
    return out


def prepare_models(folder: Path, calibrate: Path, name: str, src: Path) -> dict[str, Path]:
    """``src`` fitted to 640x384 (float32) and also quantized to int8 on frames of ``calibrate`` (a clip other than
    the measured ones), as ``mallsense camera-model`` makes them."""
    began = time.perf_counter()
    stem = name.replace(" ", "-")
    out = {f"{name} (640x384 network, float32)": prepare(src, folder / f"{stem}-fit.onnx", 640, 384, None),
           f"{name} (640x384 network, int8)": prepare(src, folder / f"{stem}-int8.onnx", 640, 384, calibrate)}
    print(f"derived models of {name} (mallsense camera-model; int8 calibrated on {calibrate.name}) made in "
          f"{time.perf_counter() - began:.1f} s")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = Path(os.environ.get("MALLSENSE_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--clip", default="example_03.mp4", help="file under the shared data's video/ folder")
    parser.add_argument("--big-clip", default="example_02.mp4", help="a larger clip for 'source size' (1280x720)")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--line", default="430,180,640,180")
    parser.add_argument("--inside", default="540,0")
    parser.add_argument("--calibrate", default="example_02.mp4", help="clip whose frames calibrate the int8 model")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (this machine: 2 cores)")
    parser.add_argument("--heldout-only", action="store_true", help="only the held-out table")
    parser.add_argument("--no-heldout", action="store_true", help="skip the held-out table (the longest part)")
    args = parser.parse_args()
    x0, y0, x1, y1 = (float(v) for v in args.line.split(","))
    ix, iy = (float(v) for v in args.inside.split(","))
    line = CountingLine("line", (x0, y0), (x1, y1), inside=(ix, iy))
    print(f"camera pipeline speed, {os.cpu_count()} CPUs, {args.frames} frames per run")
    if args.heldout_only:
        heldout_table(data, args.threads)
        return 0
    packaged = packaged_onnx()
    if not packaged:
        print("onnx rows: skipped: no packaged ONNX model installed (scripts/bootstrap.sh installs them)")
    folder = Path(tempfile.mkdtemp(prefix="mallsense-bench-"))
    prepared = {}
    for name, src in packaged.items():
        prepared |= prepare_models(folder, data / "video" / args.calibrate, name, src)
    # the baseline of the ratios: the YOLOv8s-size model as it ships (the ONNX default until stop 17), every frame
    baseline = next((n for n in packaged if n.startswith("fall_detection")), next(iter(packaged), None))
    for clip_name in (args.clip, args.big_clip):
        clip = data / "video" / clip_name
        runs: list[tuple[str, CameraSensorConfig]] = [
            ("motion @640 px", CameraSensorConfig(sensor="b", detector=MotionConfig(process_width=640))),
            ("motion @source size", CameraSensorConfig(sensor="b", detector=MotionConfig())),
        ]
        for name, src in packaged.items():
            onnx = OnnxConfig(threads=args.threads, model=str(src))
            runs += [(f"{name} (640x640 network) every frame", CameraSensorConfig(sensor="b", detector=onnx)),
                     (f"{name} (640x640 network) detect_every 5",
                      CameraSensorConfig(sensor="b", detector=onnx, detect_every=5))]
        for name, model in prepared.items():
            onnx = OnnxConfig(threads=args.threads, model=str(model))
            runs += [(f"{name} every frame", CameraSensorConfig(sensor="b", detector=onnx))]
            runs += [(f"{name} detect_every {n}", CameraSensorConfig(sensor="b", detector=onnx, detect_every=n))
                     for n in (2, 3)]
        base = None
        for name, cfg in sorted(runs, key=lambda r: r[0] != f"{baseline} (640x640 network) every frame"):
            frames = args.frames if cfg.detector.type == "motion" or cfg.detect_every > 1 else args.frames // 3
            try:
                result = count_clip(clip, line, cfg, max_frames=frames)
            except ModelFileError as exc:
                print(f"{clip_name}: {name}: skipped: {exc}")
                continue
            if name == f"{baseline} (640x640 network) every frame":
                base = result.frames_per_s
            onnx_row = base and cfg.detector.type == "onnx"
            ratio = f"  {result.frames_per_s / base:5.2f}x {baseline} 640x640" if onnx_row else ""
            print(_row(f"{clip_name}: {name}", result) + ratio)
    clip = data / "video" / args.clip
    # the same clip, line and model through this pipeline and through ultralytics' ObjectCounter: the .pt default,
    # and the ONNX default (ultralytics runs .onnx files with onnxruntime too)
    pairs = [(packaged_model("ultralytics"), UltralyticsConfig(), None)]
    if packaged:
        onnx_default = next(iter(packaged.values()))
        detector = OnnxConfig(threads=args.threads, model=str(onnx_default))
        pairs.append((onnx_default, detector, OnnxDetector(detector).classes))  # ObjectCounter counts the same
    for model, detector, classes in pairs:
        if model is None:
            print(f"{args.clip}: {detector.type}: skipped: no packaged model installed")
            continue
        try:
            cfg = CameraSensorConfig(sensor="b", detector=detector)
            result = count_clip(clip, line, cfg, max_frames=args.frames)
            print(_row(f"{args.clip}: {model.name}, this pipeline", result))
        except ImportError:
            print(f"{args.clip}: ultralytics .pt: skipped: ultralytics (torch) not installed")
            continue
        print(object_counter(clip, line, args.frames, model, classes))
    if not args.no_heldout:
        heldout_table(data, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
