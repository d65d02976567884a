"""The installer's audit (``mallsense camera-audit``): marking a stretch frame by frame, the page that does it, the
report's interval against the error the counter really makes, fitting on one part and reporting on the other, and
the last audit in the camera's health."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from edge.camera.audit import AuditError, AuditSession, load_audit
from edge.camera.audit_report import count_error_interval, fit, score_part
from edge.camera.audit_state import LastAudit, audit_path
from edge.camera.audit_web import create_app
from edge.camera.config import CameraSensorConfig, MotionConfig, load_camera_config
from edge.camera.evaluate import dump_truth, load_truth, score
from edge.camera.lines import CountingLine
from edge.camera.load import CameraLoad
from edge.camera.replay import count_clip
from edge.camera.source import read_file
from mallsense.cli import main
from mallsense.contract import CameraAudit, CameraHealth, NodeHealth, NodeState, decode_state, encode, state_topic

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MALLSENSE_DATA", REPO.parent / "shared" / "data"))
TRUTH = load_truth(REPO / "tests/edge/camera_truth/example_06.yaml")  # overhead rain, motion detector
CLIP = DATA / "video" / TRUTH.clip
pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"shared clip {CLIP} not found (set MALLSENSE_DATA)")


def _session(tmp_path: Path, start: int = 100, frames: int = 30) -> AuditSession:
    return AuditSession(CLIP, TRUTH.line, TRUTH.inside, tmp_path / "audit.yaml", start=start, frames=frames)


def _audit_of_truth(tmp_path: Path, end: int) -> Path:
    """An audit of frames 0 .. end-1 whose marks are the project's annotation (a scripted installer)."""
    audit = TRUTH.model_copy(update={"clip": str(CLIP), "start": 0, "frames": end, "annotator_notes": "",
                                     "crossings": [c for c in TRUTH.crossings if c[0] < end]})
    path = tmp_path / "audit.yaml"
    path.write_text(dump_truth(audit), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def whole_clip() -> list[tuple[int, str]]:
    """The camera (the truth file's settings) once over the whole clip: what it really counts."""
    line = CountingLine("line", *TRUTH.line, inside=TRUTH.inside)
    return [(c.frame, c.direction) for c in count_clip(CLIP, line, _camera()).crossings]


def _camera() -> CameraSensorConfig:
    return CameraSensorConfig(sensor="cam-rain", detector=MotionConfig(**{k: v for k, v in TRUTH.detector.items()
                                                                          if k != "type"}), anchor=TRUTH.anchor)


def test_marks_undo_save_and_take_up_again(tmp_path):
    session = _session(tmp_path)
    for _ in range(3):
        session.key("ArrowRight")
    session.key("i")
    session.key("ArrowRight", shift=True)
    session.key("o")
    session.key("O")
    assert session.undo() == (113, "out") and session.unsaved
    session.key("ArrowLeft", shift=True)
    session.key("ArrowLeft", shift=True)  # clamped to the stretch
    session.key("o")
    assert session.current == 100 and session.marks == [(103, "in"), (113, "out"), (100, "out")]
    with pytest.raises(AuditError, match="outside the audited stretch"):
        session.mark("in", frame=130)
    with pytest.raises(AuditError, match="unknown key"):
        session.key("x")
    session.key("s")
    assert not session.unsaved
    audit = load_audit(tmp_path / "audit.yaml")  # a truth file: the scorer and camera-eval read it
    assert (audit.start, audit.frames, audit.line, audit.inside) == (100, 130, TRUTH.line, TRUTH.inside)
    assert audit.crossings == [(100, "out"), (103, "in"), (113, "out")]
    again = _session(tmp_path)
    assert again.resume() == 3 and sorted(again.marks) == audit.crossings
    other = AuditSession(CLIP, TRUTH.line, TRUTH.inside, tmp_path / "audit.yaml", start=90, frames=30)
    with pytest.raises(AuditError, match="another clip, line or stretch"):
        other.resume()
    for s in (session, again, other):
        s.close()


def test_frames_are_the_clips_own_after_seeking_back_and_forth(tmp_path):
    session = _session(tmp_path, start=100, frames=40)
    for index in (139, 100, 101, 120, 119, 138):  # seeks, steps forward, cache hits and a step back
        session.raw(index)
    expected = {f.index: f.image for f in read_file(CLIP, max_frames=140) if f.index in (100, 119, 138)}
    for index, image in expected.items():
        assert np.array_equal(session.raw(index), image), index
    session.close()


def test_the_page_shows_frames_and_takes_keys_on_localhost_only(tmp_path):
    session = _session(tmp_path)
    client = create_app(session).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "keydown" in page and "/frame/" in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page  # no external assets
    image = cv2.imdecode(np.frombuffer(client.get("/frame/105.jpg").data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    shown, raw = image.astype(float), session.raw(105).astype(float)
    outside, inside = np.s_[260:320, 200:280], np.s_[260:320, 380:460]  # right of the line x = 320 is 'in'
    assert np.abs(shown[outside] - raw[outside]).mean() < 6  # as recorded (up to JPEG)
    green = shown[inside][..., 1] - shown[inside][..., 2] - (raw[inside][..., 1] - raw[inside][..., 2])
    assert green.mean() > 20  # shaded green
    state = client.post("/key", json={"key": "ArrowRight", "shift": True}).get_json()
    assert state["frame"] == 110
    state = client.post("/key", json={"key": "i"}).get_json()
    assert state["marks"] == [[110, "in"]] and state["counts"] == {"in": 1, "out": 0} and state["unsaved"]
    assert client.post("/key", data="key=i").status_code == 400  # a cross-site form cannot post JSON
    assert client.get("/frame/99.jpg").status_code == 400  # outside the stretch
    assert client.post("/key", json={"key": "o"}, headers={"Host": "attacker.example:8766"}).status_code == 403
    assert session.marks == [(110, "in")]
    assert client.post("/key", json={"key": "s"}).get_json()["unsaved"] is False
    assert load_audit(tmp_path / "audit.yaml").crossings == [(110, "in")]
    session.close()


def test_the_interval_covers_the_rate_at_least_as_often_as_it_says():
    rng = np.random.default_rng(7)
    for rate, crossings in ((0.04, 20), (0.15, 30), (0.4, 12)):
        errors = rng.poisson(rate * crossings, size=4000)
        bounds = {k: count_error_interval(int(k), crossings) for k in np.unique(errors)}
        covered = np.mean([bounds[k][0] <= rate <= bounds[k][1] for k in errors])
        assert covered >= 0.95, (rate, crossings, covered)
    assert count_error_interval(0, 30)[0] == 0.0 and 0.05 < count_error_interval(0, 30)[1] < 0.2  # honest at zero
    with pytest.raises(AuditError):
        count_error_interval(1, 0)


def test_the_reports_interval_covers_the_error_the_counter_makes_on_the_whole_clip(tmp_path, capsys, whole_clip):
    audit = _audit_of_truth(tmp_path, end=260)  # the first 260 of 422 frames marked
    state = tmp_path / "state"
    assert main(["camera-audit", "report", str(audit), "--sensor", "cam-rain", "--person-area",
                 str(TRUTH.detector["person_area_px"]), "--anchor", TRUTH.anchor, "--state-dir", str(state)]) == 0
    assert "95 % interval" in capsys.readouterr().out
    record = json.loads(audit_path(state, "cam-rain").read_text())
    assert record["frames"] == [0, 259] and record["crossings"] == len(load_audit(audit).crossings)

    true = score(TRUTH.crossings, whole_clip)  # the error the counter makes on the whole clip
    true_rate_pct = 100 * true.count_error / true.truth
    assert true.truth > record["crossings"]  # the audit saw only part of the clip
    assert record["ci_low_pct"] <= true_rate_pct <= record["ci_high_pct"]
    assert record["ci_high_pct"] < 100  # and says something

    # the camera's next health report carries it, and it travels on the state topic
    load = CameraLoad("cam-rain", SimpleNamespace(frames=10, steps=5, detect_every=2),  # type: ignore[arg-type]
                      audit=LastAudit(audit_path(state, "cam-rain")))
    health = load.health()
    assert health.audit == CameraAudit(at=record["at"], crossings=record["crossings"],
                                       count_error_pct=record["count_error_pct"], ci_low_pct=record["ci_low_pct"],
                                       ci_high_pct=record["ci_high_pct"])
    topic = state_topic("demo-mall", "node-1")
    sent = NodeState(site="demo-mall", node="node-1", status="online", ts=record["at"],
                     health=NodeHealth(uptime_s=1.0, published=0, outbox_depth=0, cameras={"cam-rain": health}))
    assert decode_state(topic, encode(sent)).health.cameras["cam-rain"].audit == health.audit


def test_fit_chooses_on_one_part_and_reports_on_the_other_only(tmp_path, whole_clip):
    audit = load_audit(_audit_of_truth(tmp_path, end=160))
    # a person of 600 px² splits every single walker of this camera (1,000-2,100 px²) into several
    grid = {"detector.person_area_px": [2000.0, 600.0]}
    result = fit(CLIP, audit, _camera(), margin_px=10.0, grid=grid)
    assert result.split == 80 and all((p.first, p.end) == (0, 80) for _, p in result.table)
    assert result.report.first == result.split and result.report.end == 160  # frames do not overlap
    assert result.report.crossings == sum(1 for f, _ in audit.crossings if 80 <= f < 160) > 0
    assert [s["detector.person_area_px"] for s, _ in result.table] == [2000.0, 600.0]
    best = min(result.table, key=lambda row: (row[1].score.count_error, -row[1].score.recall))
    assert result.chosen == best[0] == {"detector.person_area_px": 2000.0}
    assert result.table[1][1].score.count_error > result.table[0][1].score.count_error
    # the report part is scored on the chosen settings' count (the camera's own, counted over the whole clip)
    assert result.report == score_part(audit, whole_clip, 80, 160)


def test_fit_settings_snippet_is_a_valid_camera_config(tmp_path):
    from edge.camera.audit_report import settings_yaml

    cfg = _camera()
    path = tmp_path / "fitted.yaml"
    path.write_text(settings_yaml(cfg, "cam-rain", "test"), encoding="utf-8")
    loaded = load_camera_config(path, "cam-rain")
    assert loaded.detector == cfg.detector and loaded.tracker == cfg.tracker
    assert yaml.safe_load(path.read_text())["camera"][0]["sensor"] == "cam-rain"


def test_audit_in_the_contract_is_bounded_and_a_bad_file_is_ignored(tmp_path):
    at = 1_764_547_200_000
    with pytest.raises(ValidationError):
        CameraAudit(at=at, crossings=20, count_error_pct=30.0, ci_low_pct=1.0, ci_high_pct=25.0)  # outside its CI
    with pytest.raises(ValidationError):
        CameraAudit(at=at, crossings=0, count_error_pct=0.0, ci_low_pct=0.0, ci_high_pct=10.0)
    older = CameraHealth.model_validate({"frames_read": 1, "frames_dropped": 0, "detect_every": 1, "detect_steps": 1})
    assert older.audit is None  # a node without an audit, or from before it
    path = audit_path(tmp_path, "cam-x")
    path.write_text('{"crossings": "many"}')
    assert LastAudit(path)() is None and LastAudit(tmp_path / "none.json")() is None
