"""The Live page built by create_app, its callbacks called directly against a seeded (or empty, or absent) database."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import numpy as np
import plotly.graph_objects as go
import psycopg
import pytest
from dash import Dash
from dash.development.base_component import Component

from dashboards import context
from dashboards.app import create_app
from dashboards.guard import DATABASE_DOWN, SCHEMA_MISSING
from mallsense.site import load_site
from models import live
from tests.dashboards.rows import NOW, add_batch, add_crossings, add_node_state, add_occupancy, add_positions, local

pytestmark = pytest.mark.integration
SITE = load_site()


def text(value: Any) -> str:
    """Every string shown by a component tree (what the browser would display), space-separated."""
    if isinstance(value, Component):
        return text(getattr(value, "children", None))
    if isinstance(value, list | tuple):
        return " ".join(" ".join(text(v) for v in value).split())
    return "" if value is None else str(value)


def ids(value: Any) -> set[str]:
    if isinstance(value, Component):
        own = {value.id} if getattr(value, "id", None) else set()
        return own | ids(getattr(value, "children", None))
    if isinstance(value, list | tuple):
        return set().union(*(ids(v) for v in value)) if value else set()
    return set()


def annotations(fig: go.Figure) -> str:
    return " ".join(a.text for a in fig.layout.annotations)


@pytest.fixture
def cockpit() -> Iterator[Callable[..., tuple[Dash, ModuleType]]]:
    """Build the app with create_app; returns it and the Live page module that Dash Pages imported for it."""

    def build(dsn: str, **kwargs: Any) -> tuple[Dash, ModuleType]:
        app = create_app(dsn, SITE, **{"login": False, **kwargs})  # the login gate is tested in test_auth.py
        return app, importlib.import_module("dashboards.pages.live")

    yield build
    context.close()


@pytest.fixture
def seeded(pg_dsn):
    """A busy Saturday morning up to NOW (12:00 mall time): 60 in and 20 out, positions, snapshots, two nodes."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        add_crossings(conn, [(local(2025, 6, 14, 10, 0) + timedelta(minutes=2 * k), "e-south", "in")
                             for k in range(60)])  # 10:00 .. 11:58
        add_crossings(conn, [(local(2025, 6, 14, 11, 0) + timedelta(minutes=3 * k), "e-park-west", "out")
                             for k in range(20)])  # 11:00 .. 11:57
        add_crossings(conn, [(NOW, "e-north", "in")])
        add_positions(conn, [(NOW - timedelta(minutes=k % 14), "f1", 20 + k % 30, 40.5) for k in range(120)])
        add_positions(conn, [(NOW - timedelta(hours=1), "f1", 20, 40)] * 7)  # outside the 15-minute window
        add_occupancy(conn, [(NOW - timedelta(minutes=1), "f1-atrium", 17)])
        add_node_state(conn, "node-f1-w", "online", timedelta(seconds=3),
                       {"uptime_s": 60, "published": 10, "outbox_depth": 2, "outbox_dropped": 0, "sensors": {},
                        "cameras": {  # one keeps up at half the frame rate, one detects on 64 % of its frames
                            "cam-e-south": {"frames_read": 1800, "frames_dropped": 0, "detect_every": 2,
                                            "detect_steps": 900, "reconnects": 0},
                            "cam-f1-west": {"frames_read": 1800, "frames_dropped": 648, "detect_every": 2,
                                            "detect_steps": 576, "reconnects": 1}}})
        add_node_state(conn, "node-b1-e", "offline", timedelta(minutes=10))
        add_batch(conn, "node-f1-w", "cam-e-south", 1, timedelta(seconds=1))
    return pg_dsn


def test_layout_has_the_panels_browser_tests_look_for(pg_dsn, cockpit):
    app, page = cockpit(pg_dsn)
    found = ids(page.layout())
    assert {"live-interval", "live-now", "live-occupancy", "live-entrances", "live-heatmap", "live-floor",
            "live-health", "live-heatmap-graph", "live-entrances-graph", "live-entrances-totals"} <= found
    assert all(i.startswith("live-") for i in found)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200
    outputs = {d["output"] for d in client.get("/_dash-dependencies").get_json()}
    assert {"live-now.data", "live-occupancy-body.children", "live-heatmap-graph.figure",
            "live-health.children"} <= outputs
    # one refresh through HTTP, as the browser sends it
    answer = client.post("/_dash-update-component", json={
        "output": "live-now.data", "outputs": {"id": "live-now", "property": "data"},
        "inputs": [{"id": "live-interval", "property": "n_intervals", "value": 0}],
        "changedPropIds": ["live-interval.n_intervals"], "state": []})
    assert answer.status_code == 200
    assert answer.get_json()["response"]["live-now"]["data"]["problem"].startswith("No crossings received yet")


def test_callbacks_fill_every_panel_from_the_seeded_database(seeded, cockpit):
    _app, page = cockpit(seeded)
    clock = page.read_clock(0)
    assert datetime.fromisoformat(clock["now"]) == NOW and clock["problem"] is None

    occupancy = text(page.show_occupancy(clock))
    assert "41" in occupancy.split()  # 61 in − 20 out
    assert "as of 12:00:00 (mall time)" in occupancy and "Sat 14 Jun 2025" in occupancy
    assert "61 in · 20 out" in occupancy
    assert "17" in occupancy.split()  # in view on the ground floor

    figure, totals = page.show_entrances(clock)
    bars = [t for t in figure.data if isinstance(t, go.Bar)]
    assert sum(int(y) for t in bars for y in t.y if y > 0) == 61
    assert -sum(int(y) for t in bars for y in t.y if y < 0) == 20
    assert {t.name for t in bars} == {"South main entrance", "Car park west lifts", "North entrance"}
    totals_text = text(totals)
    assert "South main entrance" in totals_text and "All entrances 61 20" in totals_text
    assert "West entrance Ground floor 0 0" in totals_text  # a door with no crossings still shows, at zero

    heat = page.show_heatmap(clock, "f1")
    (heatmap,) = [t for t in heat.data if isinstance(t, go.Heatmap)]
    assert np.nansum(np.array(heatmap.z, dtype=float)) == 120
    assert any("Galleria Department Store" in cell for row in heatmap.text for cell in row)
    assert len(heat.layout.shapes) > 10  # zones, entrances and the outline
    assert "Choose a floor" in annotations(page.show_heatmap(clock, "nope"))

    health = page.show_health(0)
    health_text = text(health)
    assert "1/6 nodes online" in health_text
    for node in SITE.nodes:
        assert node in health_text
    assert "node-b1-e · offline" in health_text and "never heard" in health_text
    chips = next(part.children for part in health if part.className == "chips")
    (chip,) = [c for c in chips if "node-f1-w" in text(c)]
    assert "cam-f1-west detects on 64% of frames" in text(chip) and "cam-e-south" not in text(chip)
    assert "behind" in chip.className.split()
    assert "camera cam-e-south: detector on 100% of its planned frames" in chip.title
    assert "camera cam-f1-west: detector on 64% of its planned frames (detect_every 2), 648 of 1,800" in chip.title


def test_panels_say_why_they_are_empty(pg_dsn, cockpit):
    _app, page = cockpit(pg_dsn)
    clock = page.read_clock(0)
    assert clock["now"] is None
    assert "No crossings received yet" in text(page.show_occupancy(clock))
    figure, totals = page.show_entrances(clock)
    assert "No crossings received yet" in annotations(figure) and totals == ""
    heat = page.show_heatmap(clock, "b1")
    assert "No crossings received yet" in annotations(heat) and heat.layout.shapes  # the plan is still drawn
    assert "No edge node has reported yet" in text(page.show_health(0))


def test_quiet_windows_are_explained(pg_dsn, cockpit):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        add_crossings(conn, [(NOW - timedelta(hours=5), "e-south", "in"), (NOW, "store-door", "in")])
    _app, page = cockpit(pg_dsn)
    clock = page.read_clock(0)
    figure, totals = page.show_entrances(clock)
    assert "No crossings between 09:00 and 12:00" in annotations(figure)
    assert "All entrances 1 0" in text(totals)
    assert "No positions on this floor since 11:45" in annotations(page.show_heatmap(clock, "f1"))


def test_a_database_outage_shows_a_message_not_a_traceback(cockpit, caplog):
    _app, page = cockpit("host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=1", pool_timeout_s=0.5)
    with caplog.at_level(logging.WARNING, logger="dashboards"):
        clock = page.read_clock(0)
        health = text(page.show_health(0))
    assert clock == {"now": None, "problem": DATABASE_DOWN}
    assert DATABASE_DOWN in text(page.show_occupancy(clock))
    assert DATABASE_DOWN in health
    assert "database unavailable" in caplog.text


def test_a_missing_schema_is_named(pg_dsn, cockpit):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE crossing CASCADE")  # the rollups built on it go too
    _app, page = cockpit(pg_dsn)
    assert page.read_clock(0) == {"now": None, "problem": SCHEMA_MISSING}


def test_an_unexpected_error_is_logged_with_a_reference(seeded, cockpit, monkeypatch, caplog):
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise KeyError("a bug")

    _app, page = cockpit(seeded)
    monkeypatch.setattr(page.live, "occupancy_now", broken)
    with caplog.at_level(logging.ERROR, logger="dashboards"):
        shown = text(page.show_occupancy(page.read_clock(0)))
    assert "could not be updated (ref " in shown
    assert "Traceback" not in shown and "KeyError" not in shown
    ref = shown.split("(ref ")[1].split(")")[0]
    assert ref in caplog.text and "KeyError: 'a bug'" in caplog.text


def test_camera_audits_reach_the_sensor_strip_and_the_entrance_notes(cockpit, pg_dsn):
    """A camera's last commissioning audit (CameraHealth.audit in its node's health) is read back per camera,
    flags the node's chip when off target, and is listed under the entrance figures; unaudited cameras say so."""
    _, page = cockpit(pg_dsn)
    site = SITE
    entrance_ids = {e.id for e in site.entrances}
    door_cams = [s for s in site.sensors if s.kind == "camera" and entrance_ids & set(s.lines)]
    good, poor = door_cams[0], door_cams[1]
    load = {"frames_read": 100, "frames_dropped": 0, "detect_every": 1, "detect_steps": 100}
    audit = {"at": 1_764_547_200_000, "crossings": 120, "count_error_pct": 2.5, "ci_low_pct": 0.5,
             "ci_high_pct": 7.3}
    off = {**audit, "count_error_pct": 12.0, "ci_low_pct": 6.2, "ci_high_pct": 21.0}
    health = {"uptime_s": 10, "published": 3, "outbox_depth": 0, "sensors": {},
              "cameras": {good.id: {**load, "audit": audit}, poor.id: {**load, "audit": off}}}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        add_node_state(conn, good.node, "online", timedelta(seconds=1), health)
        audits = live.camera_audits(conn, site.site.id)
        node = next(n for n in live.sensor_health(conn, site.site.id) if n.node == good.node)
    assert {k: a.count_error_pct for k, a in audits.items()} == {good.id: 2.5, poor.id: 12.0}
    assert list(node.cameras_off_target) == [poor.id]
    chip = page._chip(node)
    assert "behind" in chip.className and f"{poor.id} audit 12% off" in str(chip.children)
    assert "count error 2.5% (95% interval 0.5-7.3%) on 120 crossings" in chip.title
    notes = str(page.quality_notes(site, audits))
    assert f"2 of {len(door_cams)} entrance cameras audited" in notes
    assert "not audited yet" in notes if len(door_cams) > 2 else "not audited yet" not in notes
