"""A rendered clip through the real camera edge path: video → camera node → outbox → Mosquitto → ingest → database.

The demo mall's ``cam-e-park-west`` counts the car-park west door; the clip's people cross the projected entrance
line, and the database must hold exactly the generator's crossings on that line, plus the hall's occupancy and
floor positions, with the sensor's batch sequence complete.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from edge.camera.config import CameraSensorConfig, MotionConfig
from edge.camera.node import run_camera_sensor
from edge.camera.synthetic import PERSON_AREA, SCENES, ground_truth, write_video
from edge.publisher import BrokerConfig
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.site import load_site

pytestmark = pytest.mark.integration
SENSOR, LINE = "cam-e-park-west", "e-park-west"


def _rows(dsn: str, sql: str) -> list:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_a_camera_clip_reaches_the_database(db_dsn, mqtt_server, tmp_path):
    site = load_site()
    scene = SCENES["side_by_side"]()
    clip = write_video(scene, tmp_path / "door.avi")
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="camera-ingest"),
                    Validator({site.site.id: site})).start()
    assert ingest.wait_connected()
    try:
        cfg = CameraSensorConfig(sensor=SENSOR, detector=MotionConfig(person_area_px=PERSON_AREA, process_width=320))
        run = run_camera_sensor(site, SENSOR, clip, cfg=cfg, broker=broker, outbox_path=tmp_path / "node.db")
        truth = ground_truth(scene)
        expected = {d: sum(c.direction == d for c in truth) for d in ("in", "out")}
        assert run.totals == {LINE: expected}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = _rows(db_dsn, "SELECT line, direction, count(*) FROM crossing GROUP BY 1, 2 ORDER BY 1, 2")
            if sum(n for *_, n in rows) >= len(truth):
                break
            time.sleep(0.2)
    finally:
        ingest.stop()
    assert rows == [(LINE, d, n) for d, n in sorted(expected.items())]
    assert _rows(db_dsn, "SELECT count(*) FROM dead_letter") == [(0,)]
    assert _rows(db_dsn, "SELECT DISTINCT zone FROM occupancy") == [("e-park-west-hall",)]
    assert _rows(db_dsn, "SELECT max(count) FROM occupancy") == [(2,)]
    assert _rows(db_dsn, "SELECT count(*) > 0 FROM track_position") == [(True,)]
    gaps = _rows(db_dsn, "SELECT count(*), max(seq) + 1 FROM ingest_batch WHERE sensor = 'cam-e-park-west'")
    assert gaps[0][0] == gaps[0][1]
