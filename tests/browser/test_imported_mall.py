"""A simulated day on the imported Hangzhou mall through the real path, shown by the cockpit over the real plan.

``mallsense import-plan --place-sensors`` turns the shared floor plans (F1, F2, with their floor images) into a
site file with a sensor layout; the simulator publishes one day of it through the edge outbox and link to a real
Mosquitto, ingest writes it to PostgreSQL, and the cockpit's Live page draws the position heatmap over the imported
floor: its image, its store polygons (STARBUCKS COFFEE among them). Screenshots of the heatmap panel land in
``test-artifacts/imported-mall-heatmap.png`` (F1) and ``imported-mall-heatmap-f2.png``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import date, timedelta

import psycopg
import pytest
from werkzeug.serving import make_server

from dashboards import auth, context
from dashboards.app import create_app
from dashboards.floorplan import _path
from edge.publisher import BrokerConfig
from ingest.consumer import Ingest, IngestConfig
from ingest.validation import Validator
from mallsense.plan_import import register
from mallsense.services import free_port
from mallsense.site import Site, load_site
from simulator.run import simulate
from tests.conftest import REPO, shared_data

pytestmark = [pytest.mark.integration, pytest.mark.browser]
TRACES = shared_data() / "ble" / "mall-traces"
OVERRIDES = REPO / "config" / "plan-overrides.example.yaml"
SCALE = 0.02  # about 500 visitors on a Saturday: a day of ~20 000 batches
PASSWORD = "imported-mall-password"


def _last_saturday() -> date:
    today = date.today()
    return today - timedelta(days=(today.weekday() - 5) % 7 or 7)


def _import(tmp_path) -> Site:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "site" / "hz-site1.yaml"
    argv = ["import-plan", "--site-id", "hz-site1", "--name", "Hangzhou site1 mall", "--timezone", "Asia/Shanghai",
            "--overrides", str(OVERRIDES), "--out", str(out), "--place-sensors"]
    for f in ("F1", "F2"):
        plan = TRACES / f"site1_{f}_geojson_map.json"
        assert plan.is_file(), f"expected the Indoor Location Competition plans under {TRACES} (set MALLSENSE_DATA)"
        argv += ["--floor", f"{f}={plan}:{TRACES / f'site1_{f}_floor_image.png'}",
                 "--floor-info", f"{f}={TRACES / f'site1_{f}_floor_info.json'}"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    site = load_site(out)
    assert site.path == out.resolve()  # the cockpit finds the floor images relative to it
    return site


def _scalar(dsn: str, sql: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchone()[0]


def _wait_for_ingest(dsn: str) -> None:
    """Until the batch count has been still for 3 s (ingest has written what the broker acknowledged)."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        n = _scalar(dsn, "SELECT count(*) FROM ingest_batch") + _scalar(dsn, "SELECT count(*) FROM dead_letter")
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 3:
            return
        time.sleep(0.2)


HEATMAP = """() => {
    const g = document.querySelector('#live-heatmap-graph .js-plotly-plot');
    if (!g || !g._fullData) return null;
    const t = g._fullData.find(t => t.type === 'heatmap');
    if (!t) return null;
    let finite = 0;
    for (const row of t.z || []) for (const v of row || []) if (Number.isFinite(v) && v > 0) finite += 1;
    const text = [];
    for (const row of t.text || []) for (const v of row || []) if (v && !text.includes(v.split('<br>')[0]))
        text.push(v.split('<br>')[0]);
    const notes = (g.layout.annotations || []).map(a => a.text);
    return {finite, labels: text, notes, shapes: (g.layout.shapes || []).map(s => s.path || ''),
            images: (g.layout.images || []).map(i => ({source: (i.source || '').slice(0, 22), x: i.x, y: i.y,
                sizex: i.sizex, sizey: i.sizey}))};
}"""


def _heatmap(page, floor: str) -> dict:
    page.wait_for_function(f"""() => {{
        const r = ({HEATMAP})();
        return r && r.finite > 0 && !r.notes.includes('Loading…')
            && document.querySelector('#live-floor input:checked').value === {floor!r};
    }}""", timeout=30_000)
    page.wait_for_timeout(500)  # let plotly finish drawing the image
    return page.evaluate(HEATMAP)


def test_a_simulated_day_on_the_imported_mall_is_drawn_over_its_plan(db_dsn, mqtt_server, browser, artifacts,
                                                                     tmp_path):
    started = time.monotonic()
    site = _import(tmp_path)
    assert len(site.sensors) > 20 and site.entrance_lines == ["f1-placeholder"]
    assert {f.id for f in site.floors} == {"f1", "f2"} and all(f.image for f in site.floors)

    # the real path: simulator → edge outbox/link → Mosquitto → ingest → PostgreSQL
    broker = BrokerConfig(port=mqtt_server.port, min_backoff_s=0.2, max_backoff_s=1)
    ingest = Ingest(IngestConfig(dsn=db_dsn, broker=broker, client_id="imported-mall-ingest"),
                    Validator({site.site.id: site})).start()
    try:
        assert ingest.wait_connected()
        summary = simulate(site, _last_saturday(), 1, broker=broker, outdir=tmp_path, scale=SCALE, seed=11,
                           progress=False)
        _wait_for_ingest(db_dsn)
    finally:
        ingest.stop()
    simulated = time.monotonic() - started
    published = json.loads((tmp_path / "truth" / "summary.json").read_text())["published_crossings"]
    with psycopg.connect(db_dsn) as conn:
        rows = conn.execute("SELECT line, direction, count(*) FROM crossing GROUP BY 1, 2").fetchall()
        dead = conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
        by_floor = dict(conn.execute("SELECT floor, count(*) FROM track_position GROUP BY 1").fetchall())
        auth.create_user(conn, "t-ops", PASSWORD, "operator")
    in_db: dict[str, dict[str, int]] = {}
    for line, direction, n in rows:
        in_db.setdefault(line, {})[direction] = n
    assert in_db == {line: {d: n for d, n in dirs.items() if n} for line, dirs in published.items()}
    assert in_db["f1-placeholder"]["in"] > 200 and dead == 0
    assert by_floor.get("f1", 0) > 1000 and by_floor.get("f2", 0) > 1000, by_floor
    assert summary["observations_by_kind"]["wifi"] > 0 and summary["observations_by_kind"]["ble"] > 0

    # the cockpit on that site and database, behind its login
    app = create_app(db_dsn, site, secret_key=b"imported-mall-secret-0123456789")
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/", wait_until="networkidle")
        page.fill("#username", "t-ops")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#live-heatmap-graph .js-plotly-plot")

        f1 = site.floor_by_id["f1"]
        shown = _heatmap(page, "f1")
        starbucks = site.zone_by_id["f1-starbucks-coffee"]
        assert starbucks.name == "STARBUCKS COFFEE"
        assert _path(starbucks.polygon) in shown["shapes"]  # the real plan's store polygons are drawn
        assert sum("STARBUCKS COFFEE" in label for label in shown["labels"]) >= 1  # and named on hover
        assert shown["finite"] > 20, shown["finite"]  # the heatmap has cells with positions
        width, height = max(p[0] for p in f1.outline), max(p[1] for p in f1.outline)
        assert shown["images"] == [{"source": "data:image/png;base64,", "x": 0, "y": pytest.approx(height),
                                    "sizex": pytest.approx(width), "sizey": pytest.approx(height)}]
        page.locator("#live-heatmap").screenshot(path=str(artifacts / "imported-mall-heatmap.png"))

        f2 = site.floor_by_id["f2"]
        page.locator("#live-floor label", has_text=f2.name).click()
        shown = _heatmap(page, "f2")
        assert _path(site.zone_by_id["f2-starbucks-coffee"].polygon) in shown["shapes"]
        page.locator("#live-heatmap").screenshot(path=str(artifacts / "imported-mall-heatmap-f2.png"))
        assert errors == [], errors
    finally:
        server.shutdown()
        context.close()
    print(f"imported mall: {sum(n for d in in_db.values() for n in d.values())} crossings, "
          f"{sum(by_floor.values())} positions; simulated and ingested in {simulated:.1f} s, "
          f"test {time.monotonic() - started:.1f} s")
