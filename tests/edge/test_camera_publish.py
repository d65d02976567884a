"""A rendered clip through the camera node into its outbox: every batch follows the contract and ingest's rules.

The demo mall's ``cam-e-park-west`` looks down on the car-park west door: its homography puts the entrance line
(floor x = 0) on the image column x = 320 with the inside (the lift hall) on the right, which is where the rendered
scenes draw their line, so no pixel line is configured: it is projected from the site file.
"""

from __future__ import annotations

import json

import pytest

from edge.camera.config import CameraSensorConfig, LineConfig, MotionConfig
from edge.camera.node import run_camera_sensor
from edge.camera.placement import PlacementError, place
from edge.camera.synthetic import PERSON_AREA, SCENES, ground_truth, write_video
from edge.outbox import Outbox
from ingest.validation import Validator
from mallsense.contract import parse_topic
from mallsense.site import load_site

SENSOR = "cam-e-park-west"
START_MS = 1_764_547_200_000


def camera_config(**over) -> CameraSensorConfig:
    detector = MotionConfig(person_area_px=PERSON_AREA, process_width=320)
    return CameraSensorConfig(sensor=SENSOR, detector=detector, **over)


def test_the_entrance_line_is_projected_through_the_homography():
    placement = place(load_site(), SENSOR, camera_config())
    (line,) = placement.lines
    assert line.id == "e-park-west"
    assert line.a[0] == pytest.approx(320) and line.b[0] == pytest.approx(320)
    assert line.signed_distance((600, 180)) > 0  # the lift hall side is 'in'
    assert placement.zones == {"e-park-west-hall": [(0, 30), (10, 30), (10, 50), (0, 50)]}


def test_a_config_line_must_be_one_of_the_sensors_lines():
    cfg = camera_config(lines=[LineConfig(id="e-west", pixels=((0, 0), (10, 10)), inside=(10, 0))])
    with pytest.raises(PlacementError, match="not in the sensor's site lines"):
        place(load_site(), SENSOR, cfg)


def test_published_batches_validate_and_carry_the_counts(tmp_path):
    site = load_site()
    scene = SCENES["side_by_side"]()
    clip = write_video(scene, tmp_path / "clip.avi")
    run = run_camera_sensor(site, SENSOR, clip, cfg=camera_config(), outbox_path=tmp_path / "box.db",
                            start_ms=START_MS)
    truth = ground_truth(scene)
    expected = {"in": sum(c.direction == "in" for c in truth), "out": sum(c.direction == "out" for c in truth)}
    assert run.totals == {"e-park-west": expected}
    assert run.frames == scene.frames

    box = Outbox(tmp_path / "box.db")
    validator = Validator({site.site.id: site})
    kinds: dict[str, list] = {}
    seqs = []
    for item in box.peek(0, 10_000):
        batch = validator.decode(item.topic, item.payload)  # raises on anything off-contract
        assert parse_topic(item.topic).sensor == SENSOR
        kinds.setdefault(batch.kind.value, []).extend(batch.obs)
        seqs.append(batch.seq)
        assert set(json.loads(item.payload)) == {"v", "site", "node", "sensor", "seq", "epoch", "sent", "kind", "obs"}
    box.close()
    assert sorted(seqs) == list(range(len(seqs)))
    crossings = kinds["crossing"]
    assert {(c.line, c.dir) for c in crossings} == {("e-park-west", "in"), ("e-park-west", "out")}
    assert len(crossings) == len(truth)
    assert all(START_MS <= c.ts < START_MS + 10_000 for c in crossings)
    occupancy = kinds["occupancy"]
    assert {o.zone for o in occupancy} == {"e-park-west-hall"}
    assert max(o.count for o in occupancy) == 2  # the pair stands in the hall together
    positions = kinds["position"]
    assert positions and all(p.floor == "b1" and -5.5 <= p.x <= 5.5 and 35 <= p.y <= 45 for p in positions)
