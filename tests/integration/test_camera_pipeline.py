"""A rendered clip through the real camera edge path: video → camera node → outbox → Mosquitto → ingest → database.

The demo mall's ``cam-e-park-west`` counts the car-park west door; the clip's people cross the projected entrance
line, and the database must hold exactly the generator's crossings on that line, plus the hall's occupancy and
floor positions, with the sensor's batch sequence complete.
"""

from __future__ import annotations

import threading
import time
import urllib.request

import psycopg
import pytest

from edge.camera.config import CameraSensorConfig, MotionConfig
from edge.camera.node import run_camera_sensor
from edge.camera.synthetic import PERSON_AREA, SCENES, ground_truth, write_video
from edge.publisher import BrokerConfig
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.site import load_site
from mallsense.telemetry import edge_metrics, serve
from tests.videoserver import free_port, serve_folder

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


def test_a_live_camera_reports_its_load_in_the_node_health(db_dsn, mqtt_server, tmp_path):
    """An HTTP stream (the clip served again each time it ends, like a camera that drops and comes back) through
    the node: the node's health on its state topic, stored by ingest, carries the camera's frame and detection
    counters and the stream's reconnects."""
    site = load_site()
    write_video(SCENES["side_by_side"](), tmp_path / "door.avi")
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="camera-ingest"),
                    Validator({site.site.id: site})).start()
    assert ingest.wait_connected()
    stop, port, servers = threading.Event(), free_port(), []
    query = (f"SELECT health -> 'cameras' -> '{SENSOR}' FROM node_state"
             f" WHERE health -> 'cameras' -> '{SENSOR}' ->> 'reconnects' >= '1'")
    try:
        with serve_folder(tmp_path) as url:
            cfg = CameraSensorConfig(sensor=SENSOR, detect_every=2,
                                     detector=MotionConfig(person_area_px=PERSON_AREA, process_width=320))
            node = threading.Thread(target=run_camera_sensor, args=(site, SENSOR, f"{url}/door.avi"),
                                    kwargs=dict(cfg=cfg, broker=broker, outbox_path=tmp_path / "node.db", stop=stop,
                                                on_link=lambda link: servers.append(
                                                    serve(lambda: edge_metrics([link]), port))),
                                    daemon=True)
            node.start()
            deadline, rows = time.monotonic() + 40, []  # health goes out every 10 s
            while time.monotonic() < deadline and not rows:
                rows = _rows(db_dsn, query)
                time.sleep(0.5)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        stop.set()
        for server in servers:
            server.shutdown()
        node.join(timeout=30)
        ingest.stop()
    assert not node.is_alive()
    assert rows, "no health report with the camera's load reached the database"
    (report,) = rows[0]
    assert report["detect_every"] == 2 and report["reconnects"] >= 1
    assert report["frames_read"] > 0 and 0 < report["detect_steps"] <= report["frames_read"]
    (line,) = [x for x in metrics.splitlines() if x.startswith("mallsense_edge_camera_keeping_up{")]
    assert f'sensor="{SENSOR}"' in line and 0 < float(line.rsplit(" ", 1)[1]) <= 1
