"""Masks for what is not floor (edge/camera/mask.py) and exposure measured only where it can be (detect_motion)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge.camera.config import CameraSensorConfig, MotionConfig
from edge.camera.detect import build_detector
from edge.camera.detect_motion import exposure_gain
from edge.camera.mask import MASK_GREY, MaskedDetector
from edge.camera.pipeline import build_pipeline
from edge.camera.synthetic import PERSON_AREA, Scene, Walker, empty_floor, ground_truth, render

GLASS = [(0, 0), (640, 0), (640, 110), (0, 110)]  # the top band: a glass panel that mirrors walkers


def _scene() -> Scene:
    """One walker crosses the line in the glass band (a reflection), one on the floor below."""
    mirrored = Walker(((0, 200.0, 50.0), (60, 440.0, 50.0)))
    real = Walker(((10, 440.0, 250.0), (70, 200.0, 250.0)), color=(200, 60, 40))
    return Scene("reflection", 90, (mirrored, real))


def _count(mask) -> list[str]:
    scene = _scene()
    cfg = CameraSensorConfig(sensor="cam", mask=mask, detector=MotionConfig(person_area_px=PERSON_AREA))
    detector = build_detector(cfg.detector, cfg.mask)
    detector.prime(empty_floor(scene))
    pipeline = build_pipeline(cfg, [scene.line], scene.fps, scene.size, detector=detector)
    crossings = []
    for index, image in enumerate(render(scene)):
        step = pipeline.step(index, round(index * 1000 / scene.fps), image)
        if step is not None:
            crossings += step.crossings
    crossings += pipeline.finish()
    return sorted(c.direction for c in crossings)


def test_a_reflection_in_a_masked_panel_is_not_counted():
    assert len(ground_truth(_scene())) == 2  # both cross in the rendering: only the mask tells them apart
    assert _count([]) == ["in", "out"]
    assert _count([GLASS]) == ["out"]  # the real walker, right to left across x = 320 (inside is the right)


def test_the_masked_region_is_painted_flat_and_the_rest_untouched():
    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    masked = MaskedDetector(build_detector(MotionConfig()), [GLASS]).apply(frame)
    assert (masked[:100] == MASK_GREY).all()
    assert (masked[120:] == frame[120:]).all()
    assert not (frame[:100] == MASK_GREY).all()  # the input frame itself is not changed


@pytest.mark.parametrize("polygon, error", [([(0, 0), (10, 10)], "at least 3 points"),
                                            ([(0, 0), (10, -1), (5, 5)], "negative")])
def test_a_bad_mask_is_refused_with_its_reason(polygon, error):
    with pytest.raises(ValidationError, match=error):
        CameraSensorConfig(sensor="cam", mask=[polygon])


def test_exposure_is_not_corrected_in_a_dark_empty_scene():
    """An empty dark doorway: floor at grey 3-8 with sensor noise; ratios of such small numbers are noise."""
    rng = np.random.default_rng(1)
    reference = rng.uniform(3, 8, (90, 160)).astype(np.float32)
    frame = np.clip(reference + rng.normal(0, 1.5, reference.shape), 0, 255).astype(np.float32)
    assert exposure_gain(frame, reference) == 1.0


def test_exposure_is_corrected_on_a_lit_floor_and_not_for_a_light_switched_off():
    rng = np.random.default_rng(2)
    reference = rng.uniform(60, 200, (90, 160)).astype(np.float32)
    assert exposure_gain(reference * 1.16, reference) == pytest.approx(1 / 1.16, rel=0.01)  # auto exposure
    assert exposure_gain(reference * 0.3, reference) == 1.0  # the light itself: not undone
