"""``mallsense camera`` (run a camera sensor) and ``mallsense camera-eval`` (count a clip, score it against truth).

``register(sub)`` adds both subcommands to the main parser (mallsense/cli.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from pydantic import TypeAdapter

from edge.camera.config import CameraSensorConfig, DetectorConfig, load_camera_config
from edge.camera.evaluate import SPLIT_NAMES, WARMUP_FRAMES, Score, load_truth, score, split_summary
from edge.camera.lines import CountingLine
from edge.camera.replay import count_clip
from edge.camera.source import probe
from edge.camera.view_setup import truth_setup

REPO = Path(__file__).resolve().parents[2]


def _pair(text: str, n: int) -> list[float]:
    values = [float(v) for v in text.replace(" ", ",").split(",") if v]
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"expected {n} numbers separated by commas, got {text!r}")
    return values


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_camera(args: argparse.Namespace) -> int:
    """One camera sensor: a file, stream or local camera → counts, occupancy, positions → outbox → MQTT."""
    from edge.camera.node import run_camera_sensor
    from mallsense.settings import SettingsError, broker_from_url
    from mallsense.site import load_site

    site = load_site(args.site)
    cfg = load_camera_config(args.config, args.sensor)
    source = args.source or cfg.source
    if source is None:
        raise SettingsError("give --source (video file, rtsp:// or http:// URL, camera index) or 'source' in the "
                            "camera config")
    broker = None if args.offline else broker_from_url(args.mqtt)
    node = site.sensor_by_id[args.sensor].node if args.sensor in site.sensor_by_id else "node"

    def serve_metrics(link) -> None:
        if args.metrics_port:
            from mallsense.telemetry import edge_metrics, serve

            serve(lambda: edge_metrics([link]), args.metrics_port, args.metrics_host)
            print(f"metrics on http://{args.metrics_host}:{args.metrics_port}/metrics", flush=True)

    outbox = args.outbox / f"{node}-{args.sensor}.db"  # one per collector process: they run side by side on a node
    run = run_camera_sensor(site, args.sensor, source, cfg=cfg, broker=broker, outbox_path=outbox,
                            stop=_stop_on_signals(), paced=args.paced, on_link=serve_metrics)
    print(f"camera {args.sensor}: {run.frames} frames ({run.steps} detected) in {run.wall_s:.1f} s, "
          f"{run.fps:.1f} frames/s, {run.dropped} dropped; counts {run.totals}")
    return 0


def _detector_from_args(args: argparse.Namespace, base: dict) -> DetectorConfig:
    spec = dict(base)
    if args.detector and args.detector != spec.get("type"):
        spec = {"type": args.detector}
    if "type" not in spec and args.model:
        spec["type"] = "ultralytics" if str(args.model).endswith(".pt") else "onnx"
    spec.setdefault("type", "motion")
    # over several truth files each option applies to the clips whose detector has it (--model sets the network of
    # the clips counted with one and leaves the overhead clips on the motion detector); on one clip, all apply
    network = spec["type"] in ("onnx", "ultralytics")
    for key, value, applies in (("model", args.model, network), ("imgsz", args.imgsz, network),
                                ("person_area_px", args.person_area, not network),
                                ("process_width", args.process_width, not network)):
        if value is not None and (applies or not args.truth_many):
            spec[key] = value
    return TypeAdapter(DetectorConfig).validate_python(spec)


def _evaluate_one(args: argparse.Namespace, video: Path, line: CountingLine, detector: dict, anchor: str | None,
                  truth: list | None, name: str, frames: int | None = None, every: int = 1,
                  start: int = 0) -> Score | None:
    cfg = CameraSensorConfig(sensor="eval", detector=_detector_from_args(args, detector),
                             anchor=args.anchor or anchor, detect_every=args.detect_every or every)
    result = count_clip(video, line, cfg, annotate_to=args.annotate if args.annotate and not args.truth_many
                        else None, max_frames=args.max_frames or frames)
    print(f"{name}: {result.frames} frames {result.size[0]}x{result.size[1]} @ {result.fps:.2f} fps, "
          f"{cfg.detector.type} detector, {result.frames_per_s:.1f} frames/s ({result.realtime_factor:.2f}x real "
          f"time); counted in {result.totals['in']} out {result.totals['out']}")
    if args.verbose_crossings:
        for c in result.crossings:
            print(f"  frame {c.frame:>5} {c.direction:<3} track {c.track}")
    if truth is None:
        return None
    result_score = score(truth, [(c.frame, c.direction) for c in result.crossings], tolerance=args.tolerance,
                         warmup=max(args.warmup, start))  # an audit's stretch begins at its start
    print("  " + result_score.line(name))
    return result_score


def cmd_camera_eval(args: argparse.Namespace) -> int:
    """Count a clip on a line; with ground truth, print precision, recall and count error."""
    data = Path(os.environ.get("MALLSENSE_DATA", REPO.parent / "shared" / "data"))
    args.truth_many = len(args.truth or []) > 1
    if args.truth:
        by_split: dict[str, list[Score]] = {}
        for path in args.truth:
            truth = load_truth(path)
            video = Path(args.video or data / "video" / truth.clip)
            line = CountingLine("line", *truth.line, inside=truth.inside, margin_px=args.margin)
            setup = truth_setup(truth, probe(str(video))[0])
            s = _evaluate_one(args, video, line, setup.detector, setup.anchor, truth.crossings,
                              f"{truth.clip} [{truth.split}]", truth.frames,
                              every=setup.detect_every if args.realtime else 1, start=truth.start)
            by_split.setdefault(truth.split, []).append(s)
        for split, scores in by_split.items():
            print(split_summary(SPLIT_NAMES[split], scores))
        return 0
    if args.video is None or args.line is None or args.inside is None:
        raise SystemExit("camera-eval: give VIDEO --line x1,y1,x2,y2 --inside x,y, or --truth FILE")
    x0, y0, x1, y1 = args.line
    line = CountingLine("line", (x0, y0), (x1, y1), inside=tuple(args.inside), margin_px=args.margin)
    _evaluate_one(args, Path(args.video), line, {}, None, None, Path(args.video).name)
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x384, got {text!r}") from None
    return w, h


def cmd_camera_model(args: argparse.Namespace) -> int:
    """Derive a faster ONNX model: input fitted to the stream's shape and, with a calibration clip, int8."""
    from edge.camera.model_prep import ModelPrepError
    from edge.camera.models import ModelFileError

    try:
        return _camera_model(args)
    except (ModelPrepError, ModelFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _camera_model(args: argparse.Namespace) -> int:
    import time

    from edge.camera.model_prep import agreement, calibration_frames, fitted_size, prepare, video_size
    from edge.camera.models import resolve_model

    src = resolve_model("onnx", args.model)
    if args.size is None and args.calibrate is None:
        raise SystemExit("camera-model: give --size WxH or --calibrate VIDEO (the size is then fitted to its frames)")
    if args.size is not None:
        width, height = args.size
    else:
        width, height = fitted_size(*video_size(args.calibrate), args.longest)
    began = time.perf_counter()
    out = prepare(src, args.out, width, height, args.calibrate)
    kind = "int8 (calibrated on " + str(args.calibrate) + ")" if args.calibrate else "float32"
    print(f"wrote {out}: {width}x{height} input, {kind}, {out.stat().st_size / 1e6:.1f} MB "
          f"(from {src.name}, {src.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - began:.1f} s")
    if args.calibrate is not None:
        found, total = agreement(src, out, calibration_frames(args.calibrate, 16))
        print(f"check on 16 frames of the clip: the new model finds {found} of the {total} people the original "
              f"finds with score >= 0.4 ({100 * found / max(total, 1):.1f}%)")
    print(f"use it: detector: {{type: onnx, model: {out}}}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera", help="run a camera sensor: count people on a video file, stream or camera")
    p.add_argument("--sensor", required=True, help="camera sensor id from the site file")
    p.add_argument("--site", type=Path, default=None, help="site file (default: the demo mall)")
    p.add_argument("--config", type=Path, default=None, help="edge camera config (config/edge-camera.example.yaml)")
    p.add_argument("--source", help="video file, rtsp:// or http(s):// URL, or camera index (overrides config)")
    p.add_argument("--paced", action="store_true", help="read a file at its own frame rate (as if live)")
    p.add_argument("--mqtt", help="broker URL (default $MALLSENSE_MQTT or mqtt://127.0.0.1:1883)")
    p.add_argument("--offline", action="store_true", help="do not publish (count only)")
    p.add_argument("--outbox", type=Path, default=Path(".mallsense/edge/outbox"), help="folder of the disk outbox")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve Prometheus metrics (outbox, and whether the camera keeps up) on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for the metrics endpoint")
    p.set_defaults(func=cmd_camera)

    p = sub.add_parser("camera-eval", help="count a video on a line; score against ground truth")
    p.add_argument("video", nargs="?", type=Path, help="video file (default: the truth file's clip)")
    p.add_argument("--line", type=lambda t: _pair(t, 4), help="x1,y1,x2,y2 in pixels of the source")
    p.add_argument("--inside", type=lambda t: _pair(t, 2), help="x,y: a pixel on the 'in' side")
    p.add_argument("--truth", type=Path, nargs="+", help="ground-truth YAML file(s) (tests/edge/camera_truth/)")
    p.add_argument("--detector", choices=["motion", "onnx", "ultralytics"], help="detector (default: the truth "
                   "file's, else motion)")
    p.add_argument("--model", help="model file for onnx/ultralytics (default: the packaged person model)")
    p.add_argument("--imgsz", type=int, help="network input size for dynamic ONNX / ultralytics models")
    p.add_argument("--person-area", type=float, help="motion: pixel area of one person (splits merged blobs)")
    p.add_argument("--process-width", type=int, help="motion: resize to this width first")
    p.add_argument("--anchor", choices=["bottom", "center"], help="box point that is the person's position")
    p.add_argument("--detect-every", type=int, default=None, help="detect on every n-th frame (default: every "
                   "frame; with --realtime the view's real-time rate)")
    p.add_argument("--realtime", action="store_true", help="with truth files: detect at the rate that keeps up on a "
                   "2-core edge CPU (edge/camera/view_setup.py)")
    p.add_argument("--margin", type=float, default=10.0, help="hysteresis in pixels")
    p.add_argument("--tolerance", type=int, default=15, help="frames between a counted and a true crossing")
    p.add_argument("--warmup", type=int, default=WARMUP_FRAMES, help="crossings in the first frames are not "
                   "scored (default %(default)s: people already on the line at the clip's start)")
    p.add_argument("--annotate", type=Path, help="write an annotated video here (local only)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--verbose-crossings", action="store_true", help="print every counted crossing")
    p.set_defaults(func=cmd_camera_eval)

    p = sub.add_parser("camera-model", help="derive a faster ONNX person model: input fitted to the stream, int8")
    p.add_argument("out", type=Path, help="where to write the new .onnx file")
    p.add_argument("--model", help="source YOLOv8 ONNX export (default: the packaged person model)")
    p.add_argument("--size", type=_size, help="network input WIDTHxHEIGHT, multiples of 32 (e.g. 640x384)")
    p.add_argument("--longest", type=int, default=640, help="with --calibrate and no --size: longest side")
    p.add_argument("--calibrate", type=Path, help="a clip of this camera: quantize to int8 with its frames")
    p.set_defaults(func=cmd_camera_model)

    from edge.camera.audit_cli import register as register_audit  # here: audit_cli uses this module's helpers

    register_audit(sub)

    from edge.camera.train_cli import register as register_train

    register_train(sub)

