"""Rendered overhead test videos with exact ground truth: the camera pipeline's acceptance cases.

A scene is a textured, static floor seen from above, people as filled ellipses (a darker head in the middle)
walking along keyframed paths, optional static occluders drawn over them (a pillar, a sign), per-frame sensor
noise, and one counting line. Ground truth comes from the generator's own positions, including those outside the
picture, with a wide band (``TRUTH_BAND_PX``): a person has crossed when they settle on the other side, so
swaying on the line or stepping a few pixels over it and turning back is not a crossing, as a human annotator
would judge it. The cases (``SCENES``) are those the issue names: jitter on the line, a 60 px/frame mover, two
people side by side, a short occlusion, a line near the frame edge, people who approach and turn back; plus a
low detection rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.camera.lines import CountingLine

TRUTH_BAND_PX = 20.0
SIZE = (640, 360)
RADII = (14, 16)  # an overhead person: half-depth along x, half shoulder-width along y (pixels)
PERSON_AREA = float(np.pi * RADII[0] * RADII[1])
VERTICAL = CountingLine("line", (320, 0), (320, 360), inside=(640, 180))


@dataclass(frozen=True)
class Walker:
    keys: tuple[tuple[int, float, float], ...]  # (frame, x, y), linear in between; absent outside
    color: tuple[int, int, int] = (40, 60, 200)

    def at(self, frame: int) -> tuple[float, float] | None:
        if frame < self.keys[0][0] or frame > self.keys[-1][0]:
            return None
        for (f0, x0, y0), (f1, x1, y1) in zip(self.keys, self.keys[1:], strict=False):
            if f0 <= frame <= f1:
                t = 0.0 if f1 == f0 else (frame - f0) / (f1 - f0)
                return (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
        return (self.keys[-1][1], self.keys[-1][2])


@dataclass(frozen=True)
class Scene:
    name: str
    frames: int
    walkers: tuple[Walker, ...]
    line: CountingLine = VERTICAL
    occluders: tuple[tuple[int, int, int, int], ...] = ()
    fps: float = 25.0
    detect_every: int = 1
    size: tuple[int, int] = SIZE
    exposure: tuple[tuple[int, float], ...] = ()  # (frame, brightness factor from that frame on): auto exposure


@dataclass(frozen=True, slots=True)
class TrueCrossing:
    frame: int
    direction: str


def ground_truth(scene: Scene) -> list[TrueCrossing]:
    """Every settled change of side of every walker, at the frame it first stood on the new side."""
    out = []
    for walker in scene.walkers:
        settled, changed_at, last_sign = 0, 0, 0
        for frame in range(walker.keys[0][0], walker.keys[-1][0] + 1):
            s = scene.line.signed_distance(walker.at(frame))
            sign = 1 if s > 0 else -1 if s < 0 else last_sign
            if sign != last_sign:
                changed_at, last_sign = frame, sign
            if settled == 0:
                settled = sign
            elif sign != settled and abs(s) > TRUTH_BAND_PX:
                out.append(TrueCrossing(changed_at, "in" if sign > 0 else "out"))
                settled = sign
    return sorted(out, key=lambda c: c.frame)


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    base = rng.normal(150, 25, (h // 8 + 1, w // 8 + 1, 3)).clip(0, 255).astype(np.uint8)
    floor = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    floor = cv2.GaussianBlur(floor, (5, 5), 0)
    for x in range(0, w, 48):
        cv2.line(floor, (x, 0), (x, h), (120, 120, 125), 1)
    for y in range(0, h, 48):
        cv2.line(floor, (0, y), (w, y), (120, 120, 125), 1)
    return floor


def render(scene: Scene, seed: int = 0) -> Iterator[np.ndarray]:
    """The scene's frames (BGR uint8): a few pre-computed noisy floors, people drawn on, occluders on top."""
    rng = np.random.default_rng(seed)
    floor = _background(scene.size, rng)
    for x0, y0, x1, y1 in scene.occluders:
        cv2.rectangle(floor, (x0, y0), (x1, y1), (90, 95, 100), cv2.FILLED)
        cv2.rectangle(floor, (x0 + 6, y0 + 6), (x1 - 6, y1 - 6), (70, 75, 80), 2)
    noisy = [(floor + rng.normal(0, 2.0, floor.shape)).clip(0, 255).astype(np.uint8) for _ in range(7)]
    hidden = np.zeros(floor.shape[:2], bool)
    for x0, y0, x1, y1 in scene.occluders:
        hidden[y0:y1 + 1, x0:x1 + 1] = True
    for frame in range(scene.frames):
        base = noisy[frame % len(noisy)]
        image = base.copy()
        for walker in scene.walkers:
            p = walker.at(frame)
            if p is None:
                continue
            c = (round(p[0]), round(p[1]))
            cv2.ellipse(image, c, RADII, 0, 0, 360, walker.color, cv2.FILLED, cv2.LINE_AA)
            cv2.circle(image, c, 7, tuple(int(v * 0.45) for v in walker.color), cv2.FILLED, cv2.LINE_AA)
        if scene.occluders:
            image[hidden] = base[hidden]
        factor = next((f for start, f in reversed(scene.exposure) if frame >= start), 1.0)
        yield image if factor == 1.0 else cv2.convertScaleAbs(image, alpha=factor)


def empty_floor(scene: Scene, seed: int = 0) -> np.ndarray:
    """The scene without people (to prime a background model)."""
    return next(render(Scene(scene.name, 1, (), scene.line, scene.occluders, scene.fps), seed))


def write_video(scene: Scene, path: Path, seed: int = 0) -> Path:
    """Write the scene as a video file (MJPG in .avi: lossless enough and decodable by every OpenCV build)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), scene.fps, scene.size)
    try:
        for image in render(scene, seed):
            writer.write(image)
    finally:
        writer.release()
    return path


# ------------------------------------------------------------------------------------------------ the cases
RED, BLUE, GREEN, ORANGE, PURPLE = (40, 40, 210), (200, 80, 30), (40, 170, 40), (20, 140, 240), (160, 40, 150)


def _walk(color, *keys) -> Walker:
    return Walker(tuple(keys), color)


def _jitter() -> Scene:
    sway = [(40 + i * 2, 320 + (7 if i % 2 else -7), 120) for i in range(20)]
    sway_back = [(40 + i * 2, 320 + (7 if i % 2 else -7), 250) for i in range(20)]
    return Scene("jitter", 140, (
        _walk(RED, (0, 60, 120), *sway, (130, 600, 120)),  # sways on the line, then goes in
        _walk(BLUE, (0, 600, 250), *sway_back, (130, 580, 250)),  # sways on the line, goes back out
    ))


def _fast() -> Scene:
    return Scene("fast", 40, (
        _walk(RED, (5, -40, 120), (17, 680, 120)),  # 60 px per frame, in
        _walk(BLUE, (15, 680, 250), (27, -40, 250)),  # 60 px per frame, out
    ))


def _side_by_side() -> Scene:
    return Scene("side_by_side", 230, (
        _walk(RED, (0, 120, 150), (100, 680, 150)),
        _walk(BLUE, (0, 120, 180), (100, 680, 180)),  # shoulder to shoulder: the blobs touch
        _walk(GREEN, (130, 680, 150), (220, 120, 150)),
        _walk(PURPLE, (130, 680, 181), (220, 120, 181)),
    ))


def _occlusion() -> Scene:
    return Scene("occlusion", 150, (
        _walk(RED, (0, 100, 180), (100, 600, 180)),  # hidden behind the pillar while crossing
        _walk(BLUE, (20, 600, 60), (120, 60, 60)),
    ), occluders=((290, 130, 350, 230),))


def _edge() -> Scene:
    line = CountingLine("line", (0, 345), (640, 345), inside=(320, 0))  # 15 px from the bottom edge
    return Scene("edge", 140, (
        _walk(RED, (0, 200, 150), (80, 200, 420)),  # walks out of the picture across the line: out
        _walk(BLUE, (20, 440, 420), (110, 440, 60)),  # walks in from below the picture: in
    ), line=line)


def _turn_back() -> Scene:
    return Scene("turn_back", 170, (
        _walk(RED, (0, 80, 80), (50, 312, 80), (60, 312, 80), (110, 80, 80)),  # stops 8 px short
        _walk(BLUE, (0, 560, 180), (50, 328, 180), (60, 328, 180), (110, 560, 180)),  # stops 8 px short
        _walk(GREEN, (40, 80, 280), (80, 326, 280), (90, 326, 280), (140, 80, 280)),  # 6 px over, turns back
        _walk(ORANGE, (60, 600, 120), (160, 60, 120)),  # a real crossing among them
    ))


def _low_rate() -> Scene:
    return Scene("low_rate", 160, (
        _walk(RED, (0, 60, 100), (80, 600, 100)),
        _walk(BLUE, (30, 600, 260), (140, 40, 260)),
    ), detect_every=5)  # 5 fps detection: ~34 px between detections


def _exposure() -> Scene:
    # the camera brightens the picture by 15 % within four frames, while both people walk (example_03 does this)
    steps = tuple((60 + i, 1.0 + 0.0375 * (i + 1)) for i in range(4))
    return Scene("exposure", 150, (
        _walk(RED, (0, 60, 100), (140, 600, 100)),
        _walk(BLUE, (10, 600, 260), (150, 40, 260)),
    ), exposure=steps)


SCENES: dict[str, Callable[[], Scene]] = {
    "jitter": _jitter, "fast": _fast, "side_by_side": _side_by_side, "occlusion": _occlusion,
    "edge": _edge, "turn_back": _turn_back, "low_rate": _low_rate, "exposure": _exposure,
}

