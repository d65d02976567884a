"""Derive a faster edge model from a YOLOv8-style ONNX export: fit its input to the stream, quantize it to int8.

Both steps run on the node (or once, at installation) from a model file already on disk; nothing is downloaded.

**Fitting the input** (``fit_input``). A fixed-shape export (the packaged model is ``1×3×640×640``) letterboxes a
640×360 frame into 640×640: 44 % of the pixels the network convolves are grey padding. The network is
convolutional; only the detection head's constants depend on the input size: the anchor points (cell centres of the
stride 8/16/32 grids), the stride of each anchor, and reshapes that name the anchor count. ``fit_input`` recomputes
those constants for another size (multiples of 32), so a 640×360 stream runs through a ``640×384`` network. The
weights are untouched: on the content part of a frame, detections agree with the original's (the border cells see
less padding, so scores near the top and bottom edges differ slightly; ``tests/edge/test_camera_model_prep.py``).

**Quantizing** (``quantize_int8``). Static post-training quantization with onnxruntime (QDQ format, int8 weights per
channel, uint8 activations) calibrated on frames of the camera's own video: activation ranges come from what this
camera sees. The detection head's class branch and its decoding stay in float (``_float_nodes``): the scores are
what the tracker thresholds on, and the packaged model scores people in oblique views at 0.1–0.5, where int8's
rounding moved boxes across the tracker's 0.3 and cost crossings (5 errors of 14 in the hall clip at detect_every 2,
1 with the class branch in float). Speed-up over the fitted float32 model: about 1.5× on a 2-core AVX2-only CPU
(2.3× on an AVX-512 machine, measured before the class branch stayed float). The test bounds how many confident
detections change.

Both steps need the ``onnx`` package (a dependency of mallsense). Command: ``mallsense camera-model``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

STRIDES = (8, 16, 32)


class ModelPrepError(ValueError):
    """The model is not a YOLOv8-style detection export this module can adapt; the message says what is missing."""


def anchor_constants(height: int, width: int, strides: Iterable[int] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """YOLOv8's anchor points ``1 × 2 × N`` (cell centres in grid units, x then y, stride 8 grid first) and each
    anchor's stride ``1 × N`` for a ``height × width`` input."""
    points, stride = [], []
    for s in strides:
        gy, gx = np.meshgrid(np.arange(height // s) + 0.5, np.arange(width // s) + 0.5, indexing="ij")
        points.append(np.stack([gx.ravel(), gy.ravel()]))
        stride.append(np.full(gx.size, s, np.float32))
    return np.concatenate(points, axis=1)[None].astype(np.float32), np.concatenate(stride)[None]


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is a declared dependency
        raise ModelPrepError("preparing a model needs the 'onnx' package: pip install onnx") from exc
    return onnx, numpy_helper


def fit_input(src: Path, dst: Path, width: int, height: int) -> Path:
    """Write ``dst``: the fixed-shape YOLOv8 export ``src`` with its input set to ``1 × 3 × height × width``.

    Raises ModelPrepError when a side is not a multiple of 32 or ``src`` lacks the head constants of a YOLOv8
    detection export (anchor points, strides) for its own input size.
    """
    if width % 32 or height % 32 or width <= 0 or height <= 0:
        raise ModelPrepError(f"input {width}x{height}: both sides must be positive multiples of 32")
    onnx, nh = _onnx()
    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or not all(d.HasField("dim_value") for d in dims[2:]):
        raise ModelPrepError(f"{src}: input is not a fixed 1×3×H×W image tensor (a dynamic export needs no fitting: "
                             "set detector.imgsz instead)")
    old_h, old_w = dims[2].dim_value, dims[3].dim_value
    old_points, old_stride = anchor_constants(old_h, old_w)
    new_points, new_stride = anchor_constants(height, width)
    n_old = old_points.shape[2]
    found = {"points": 0, "strides": 0}
    for init in model.graph.initializer:
        value = nh.to_array(init)
        if value.shape == old_points.shape and np.allclose(value, old_points):
            new, key = new_points, "points"
        elif value.shape == old_stride.shape and np.allclose(value, old_stride):
            new, key = new_stride, "strides"
        elif value.dtype == np.int64 and value.ndim == 1 and n_old in value.tolist():
            new, key = np.where(value == n_old, -1, value), None  # a reshape naming the anchor count: let it infer
        else:
            continue
        init.CopyFrom(nh.from_array(new.astype(value.dtype), init.name))
        if key:
            found[key] += 1
    if not found["points"] or not found["strides"]:
        raise ModelPrepError(f"{src}: no YOLOv8 anchor constants for its {old_w}x{old_h} input (found "
                             f"{found['points']} anchor-point and {found['strides']} stride tensors); is it an "
                             "ultralytics detection export?")
    dims[2].dim_value, dims[3].dim_value = height, width
    for out in model.graph.output:
        out_dims = out.type.tensor_type.shape.dim
        if len(out_dims) == 3 and out_dims[2].dim_value == n_old:
            out_dims[2].dim_value = new_points.shape[2]
    del model.graph.value_info[:]  # shapes inferred for the old size
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def quantize_int8(src: Path, dst: Path, blobs: Iterable[np.ndarray]) -> Path:
    """Write ``dst``: ``src`` statically quantized (QDQ, int8 per-channel weights, uint8 activations), activation
    ranges calibrated on ``blobs`` (network inputs, ``1 × 3 × H × W`` float32 in [0, 1])."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx, _ = _onnx()
    name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    batches = [{name: np.ascontiguousarray(b, np.float32)} for b in blobs]
    if not batches:
        raise ModelPrepError("quantization needs at least one calibration frame")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict] = iter(batches)

        def get_next(self) -> dict | None:
            return next(self._it, None)

    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        nodes_to_exclude=_float_nodes(prepared))
    return dst


def _float_nodes(path: Path) -> list[str]:
    """Nodes kept in float: the detection head's class branch (``cv3``: the convolutions that make the scores) and
    its decoding after the branches (concatenation of box distances and class logits, DFL, anchors, sigmoid scores).
    A YOLOv8 export concatenates pixel boxes (0–640) and scores (0–1) into one tensor: quantized with one scale,
    every score rounds to zero. The box branch (``cv2``) and the backbone are quantized."""
    onnx, _ = _onnx()
    graph = onnx.load(str(path), load_external_data=False).graph
    # the head is the module holding the DFL ('/model.22/dfl/...' in ultralytics exports, old and new: 8.0 joins
    # the box and class branches per scale, 8.4 reshapes each branch and joins scales per branch)
    heads = sorted({n.name.split("dfl/")[0] for n in graph.node if "/dfl/" in n.name})
    if len(heads) != 1 or not any(n.name.startswith(heads[0] + "cv3.") for n in graph.node):
        raise ModelPrepError(f"{path}: no YOLOv8 detection head (a module with a DFL and a class branch cv3) found")
    prefix = heads[0]
    return [n.name for n in graph.node if n.name.startswith(prefix) and not n.name.startswith(prefix + "cv2.")]


def calibration_frames(video: Path, count: int = 48) -> list[np.ndarray]:
    """``count`` frames spread evenly over a video file (BGR), for quantization."""
    from edge.camera.source import frame_count, frames_at

    total = frame_count(video)
    if total <= 0:
        raise ModelPrepError(f"cannot read frames from {video}")
    frames = frames_at(video, np.linspace(0, total - 1, min(count, total)).round().astype(int))
    if not frames:
        raise ModelPrepError(f"no frame could be decoded from {video}")
    return frames


def network_input(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """The detector's own preprocessing (``edge.camera.detect_onnx.to_blob``) of one frame."""
    from edge.camera.detect_onnx import to_blob

    return to_blob(frame, (width, height))[0]


def video_size(video: Path) -> tuple[int, int]:
    """A video file's frame size (w, h); ModelPrepError when it cannot be read."""
    from edge.camera.source import probe

    try:
        _, size = probe(str(video))
    except ValueError as exc:
        raise ModelPrepError(f"cannot read frames from {video}") from exc
    if min(size) <= 0:
        raise ModelPrepError(f"cannot read frames from {video}")
    return size


def fitted_size(frame_width: int, frame_height: int, longest: int = 640) -> tuple[int, int]:
    """The network size (w, h) for frames of this size: longest side ``longest``, the other rounded up to 32."""
    scale = longest / max(frame_width, frame_height)
    up = lambda v: max(32, int(np.ceil(v * scale / 32.0)) * 32)  # noqa: E731
    return up(frame_width), up(frame_height)


def prepare(src: Path, dst: Path, width: int, height: int, calibrate: Path | None) -> Path:
    """``fit_input`` to ``width × height`` and, given a calibration video, ``quantize_int8`` on its frames."""
    if calibrate is None:
        return fit_input(src, dst, width, height)
    with tempfile.TemporaryDirectory() as tmp:
        fitted = fit_input(src, Path(tmp) / "fitted.onnx", width, height)
        blobs = [network_input(f, width, height) for f in calibration_frames(calibrate)]
        return quantize_int8(fitted, dst, blobs)


def agreement(reference: Path, candidate: Path, frames: list[np.ndarray], confident: float = 0.4,
              loose: float = 0.2, iou: float = 0.5) -> tuple[int, int]:
    """How many of ``reference``'s confident people (score ≥ ``confident``) ``candidate`` also finds (a box of
    score ≥ ``loose`` overlapping by IoU ≥ ``iou``) on ``frames``: ``(found, confident)``. Each model letterboxes
    to its own input size, exactly as the detector does."""
    from edge.camera.config import OnnxConfig
    from edge.camera.detect_onnx import OnnxDetector
    from edge.camera.track import box_iou

    ref, cand = OnnxDetector(OnnxConfig(model=str(reference))), OnnxDetector(OnnxConfig(model=str(candidate)))
    found = total = 0
    for frame in frames:
        a, b = ref.detect(frame), cand.detect(frame)
        want, have = a.xyxy[a.score >= confident], b.xyxy[b.score >= loose]
        total += len(want)
        if len(want) and len(have):
            found += int((box_iou(want, have).max(axis=1) >= iou).sum())
    return found, total

