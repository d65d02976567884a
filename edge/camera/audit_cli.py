"""``mallsense camera-audit``: the installer's audit at commissioning (docs/camera.md, "Commissioning audit").

``mark`` serves a local page to mark every crossing of a recorded stretch by keyboard; ``report`` counts the
stretch with the camera's settings and prints the counts against the marks with a 95 % interval of the count error
rate, and writes the result where the camera's health report picks it up; ``report --fit`` chooses the camera's
settings on the first part of the audit and reports on the rest only. Registered from ``edge/camera/cli.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.camera.audit import AuditError, AuditSession, clip_of, load_audit
from edge.camera.audit_state import DEFAULT_STATE_DIR, audit_path
from edge.camera.config import CameraSensorConfig, load_camera_config
from edge.camera.evaluate import TruthFile
from mallsense.contract import ID_PATTERN
from mallsense.yamlconf import ConfigError

DETECTOR_FLAGS = ("detector", "model", "imgsz", "person_area", "process_width")


def _pair(text: str, n: int) -> list[float]:
    from edge.camera.cli import _pair as pair  # the camera commands' one parser of "x,y,…"

    return pair(text, n)


def cmd_mark(args: argparse.Namespace) -> int:
    from edge.camera.audit_web import serve

    x0, y0, x1, y1 = args.line
    session = AuditSession(args.clip, ((x0, y0), (x1, y1)), tuple(args.inside), args.out, start=args.start,
                           frames=args.frames)
    try:
        resumed = session.resume()
        print(f"auditing {args.clip}, frames {session.start}-{session.end - 1}; marks go to {args.out}"
              + (f" ({resumed} marks taken up from it)" if resumed else ""))
        serve(session, args.port)
    finally:
        session.close()
    return 0


def camera_config(args: argparse.Namespace, audit: TruthFile) -> CameraSensorConfig:
    """The camera's settings: its edge config entry, or camera-eval's detector flags over the audit's own."""
    flags = [f"--{k.replace('_', '-')}" for k in DETECTOR_FLAGS if getattr(args, k) is not None]
    if args.config is not None:
        if flags:
            raise AuditError(f"give the camera's --config or detector flags ({', '.join(flags)}), not both")
        cfg = load_camera_config(args.config, args.sensor)
    else:
        from edge.camera.cli import _detector_from_args

        args.truth_many = False
        cfg = CameraSensorConfig(sensor=args.sensor, detector=_detector_from_args(args, audit.detector),
                                 anchor=args.anchor or audit.anchor)
    if args.detect_every is not None:
        cfg = CameraSensorConfig.model_validate({**cfg.model_dump(), "detect_every": args.detect_every})
    return cfg


def line_margin(args: argparse.Namespace, audit: TruthFile, cfg: CameraSensorConfig) -> float:
    """--margin, else the margin of the config's line drawn where the audit's is, else the config's default."""
    if args.margin is not None:
        return args.margin
    same = [line.margin_px for line in cfg.lines if tuple(map(tuple, line.pixels)) == tuple(map(tuple, audit.line))]
    return same[0] if same else cfg.margin_px


def cmd_report(args: argparse.Namespace) -> int:
    from edge.camera.audit_report import AuditResult, count_to, fit, score_part, settings_yaml

    audit = load_audit(args.audit)
    video = args.video or clip_of(audit, args.audit)
    if not Path(video).is_file():
        raise AuditError(f"the audited clip {video} is not on this node (give --video)")
    cfg = camera_config(args, audit)
    margin = line_margin(args, audit, cfg)
    fitted = None
    if args.fit:
        grid = dict(args.grid) if args.grid else None
        result = fit(Path(video), audit, cfg, margin_px=margin, grid=grid, fit_share=args.fit_share)
        print(f"fit on frames {audit.start}-{result.split - 1}, each setting by count error, then recall:")
        for settings, part in result.table:
            mark = "*" if settings == result.chosen else " "
            s = part.score
            print(f" {mark} {settings}: count error {s.count_error} of {part.crossings}, recall {s.recall:.2f}, "
                  f"precision {s.precision:.2f}")
        part, fitted = result.report, result.chosen
        out = args.settings_out or args.state_dir / f"audit-{args.sensor}-settings.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(settings_yaml(result.cfg, args.sensor, f"mallsense camera-audit report --fit {args.audit}: "
                                     f"chosen on frames {audit.start}-{result.split - 1}, reported on "
                                     f"{result.split}-{audit.frames - 1}"), encoding="utf-8")
        print(f"chosen {fitted}; the camera config snippet is in {out}")
    else:
        part = score_part(audit, count_to(Path(video), audit, cfg, audit.frames, margin), audit.start, audit.frames)
    if part.crossings == 0:
        raise AuditError(f"no marked crossing in frames {part.first}-{part.end - 1} (after the first frames, which "
                         "are not scored): nothing to measure an error rate on")
    print(part.text("report part" if args.fit else "audit"))
    record = AuditResult(args.sensor, str(args.audit), part, fitted).record()
    path = audit_path(args.state_dir, args.sensor)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)  # the running camera never reads half a file
    print(f"wrote {path} (the camera's health reports it)")
    return 0


def cmd_camera_audit(args: argparse.Namespace) -> int:
    try:
        return args.audit_func(args)
    except (AuditError, ConfigError, OSError) as exc:  # a bad file, flag or port: one clear line
        print(f"camera-audit: {exc}", file=sys.stderr)
        return 2


def _grid_axis(text: str) -> tuple[str, list[float]]:
    key, _, values = text.partition("=")
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if "." not in key or not numbers:
        raise argparse.ArgumentTypeError(f"expected SECTION.SETTING=V1,V2,… such as detector.person_area_px=1500,"
                                         f"2000, got {text!r}")
    return key.strip(), numbers


def _sensor(text: str) -> str:
    import re

    if not re.match(ID_PATTERN, text):
        raise argparse.ArgumentTypeError(f"a sensor id is lower-case a-z 0-9 _ . - (max 64), got {text!r}")
    return text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera-audit", help="installer's audit: mark a recorded stretch by hand, then compare the "
                       "camera's counts with it (interval; optional fitting of its settings)")
    p.set_defaults(func=cmd_camera_audit)
    steps = p.add_subparsers(dest="audit_step", required=True)

    m = steps.add_parser("mark", help="serve a local page (127.0.0.1) to mark every crossing of a stretch")
    m.add_argument("clip", type=Path, help="a recording of the camera (stays on the node)")
    m.add_argument("--line", required=True, type=lambda t: _pair(t, 4), help="x1,y1,x2,y2 in pixels of the clip")
    m.add_argument("--inside", required=True, type=lambda t: _pair(t, 2), help="x,y: a pixel on the 'in' side")
    m.add_argument("--start", type=int, default=0, help="first frame of the stretch")
    m.add_argument("--frames", type=int, help="frames in the stretch (default: to the clip's end)")
    m.add_argument("--out", required=True, type=Path, help="the audit file (a truth file; taken up again if it "
                   "exists)")
    m.add_argument("--port", type=int, default=8766, help="port on 127.0.0.1 (reach it by ssh -L)")
    m.set_defaults(audit_func=cmd_mark)

    r = steps.add_parser("report", help="the camera's counts against an audit, with a 95 %% interval")
    r.add_argument("audit", type=Path, help="the audit file written by 'mark'")
    r.add_argument("--sensor", required=True, type=_sensor, help="the camera's sensor id")
    r.add_argument("--config", type=Path, help="the node's edge camera config (the sensor's settings)")
    r.add_argument("--video", type=Path, help="the audited clip (default: as the audit names it)")
    r.add_argument("--detector", choices=["motion", "onnx", "ultralytics"], help="without --config: detector")
    r.add_argument("--model", help="without --config: model file for onnx/ultralytics")
    r.add_argument("--imgsz", type=int, help="without --config: network input size of dynamic models")
    r.add_argument("--person-area", type=float, help="without --config: motion, pixel area of one person")
    r.add_argument("--process-width", type=int, help="without --config: motion, resize to this width first")
    r.add_argument("--anchor", choices=["bottom", "center"], help="without --config: the box point that counts")
    r.add_argument("--detect-every", type=int, help="detect on every n-th frame (default: the config's)")
    r.add_argument("--margin", type=float, help="hysteresis in pixels (default: the config's)")
    r.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where the camera node keeps its "
                   "state (its --outbox folder; default %(default)s): audit-<sensor>.json goes there")
    r.add_argument("--fit", action="store_true", help="choose the settings on the first part, report on the rest")
    r.add_argument("--grid", type=_grid_axis, action="append", help="with --fit: a setting and its values to try "
                   "(repeat; replaces the default grid), e.g. detector.person_area_px=1500,2000 or "
                   "tracker.high_score=0.25,0.3")
    r.add_argument("--fit-share", type=float, default=0.5, help="with --fit: share of the stretch to fit on")
    r.add_argument("--settings-out", type=Path, help="with --fit: the config snippet (default: in --state-dir)")
    r.set_defaults(audit_func=cmd_report)
