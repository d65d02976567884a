"""Every cockpit page in headless Chromium on a simulated month: charts hold data, filters work, roles hold.

The cockpit runs on the suite's month database (``month_db``: 30 days of the demo mall, CRM and POS imported) behind
its real login. Screenshots of every page land in ``test-artifacts/cockpit-<page>.png``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from werkzeug.serving import make_server

from dashboards import auth, context
from dashboards.app import create_app
from mallsense.services import free_port
from tests.browser.first_look import FAILED, PAGES, traces
from tests.month import Month

# the first test here may build the suite's month database (about 6 minutes on 2 idle cores)
pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(2400)]
PASSWORD = "cockpit-test-password"
SECRET_NAME = "Zhang Wei (test VIP)"


@dataclass(frozen=True)
class Cockpit:
    url: str
    dsn: str


@pytest.fixture(scope="module")
def cockpit(month_db: Month) -> Iterator[Cockpit]:
    with psycopg.connect(month_db.dsn, autocommit=True) as conn:
        for role in auth.ROLES:
            if not conn.execute("SELECT 1 FROM cockpit_user WHERE username = %s", (f"t-{role}",)).fetchone():
                auth.create_user(conn, f"t-{role}", PASSWORD, role)
        # a VIP member seen in the month gets contact details: personal data only admins may read
        conn.execute("""
            UPDATE member SET name = %s, phone = '+86 138 0000 0000' WHERE member_id = (
                SELECT m.member_id FROM member m JOIN app_visit v ON v.dev = m.device_key
                WHERE m.tier = 'vip' ORDER BY m.member_id LIMIT 1)""", (SECRET_NAME,))
    app = create_app(month_db.dsn, month_db.site, secret_key=b"browser-test-secret-0123456789")
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Cockpit(f"http://127.0.0.1:{port}", month_db.dsn)
    server.shutdown()
    context.close()


def log_in(browser, cockpit: Cockpit, role: str):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(cockpit.url + "/flows", wait_until="networkidle")
    assert "/login" in page.url
    page.fill("#username", f"t-{role}")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page, errors


def settle(page, blocks: list[str]) -> None:
    page.wait_for_load_state("networkidle")
    for block in blocks:
        page.wait_for_function(f"""() => {{
            const g = document.querySelector('#{block}-graph .js-plotly-plot');
            return g && g.data && !(g.layout.annotations || []).some(a => a.text === 'Loading…');
        }}""", timeout=30_000)


def test_every_page_loads_with_data_for_an_admin(browser, cockpit, artifacts):
    page, errors = log_in(browser, cockpit, "admin")
    page.goto(cockpit.url + "/", wait_until="networkidle")
    page.wait_for_selector("#live-occupancy")
    page.screenshot(path=str(artifacts / "cockpit-live.png"), full_page=True)
    for path, blocks in PAGES.items():
        page.goto(cockpit.url + path, wait_until="networkidle")
        settle(page, blocks)
        body = page.inner_text("main")
        for word in FAILED:
            assert word not in body, (path, body[:500])
        for block in blocks:
            assert traces(page, block) >= 1, (path, block)
        page.screenshot(path=str(artifacts / f"cockpit-{path.strip('/')}.png"), full_page=True)
    assert errors == [], errors


def test_kpis_suggestions_and_contacts_are_filled(browser, cockpit):
    page, _ = log_in(browser, cockpit, "admin")
    page.goto(cockpit.url + "/visitors", wait_until="networkidle")
    page.wait_for_selector("#visitors-kpis-body .tile")
    assert page.locator("#visitors-kpis-body .tile").count() == 7
    page.goto(cockpit.url + "/leasing", wait_until="networkidle")
    page.wait_for_selector("#leasing-suggestions-body li")
    assert "lift" in page.inner_text("#leasing-suggestions-body")
    page.goto(cockpit.url + "/members", wait_until="networkidle")
    page.wait_for_selector("#members-contacts-body table")
    assert SECRET_NAME in page.inner_text("#members-contacts-body")  # admins see contact details


def test_a_filter_change_updates_the_charts_and_carries_to_the_next_page(browser, cockpit):
    page, _ = log_in(browser, cockpit, "leasing")
    page.goto(cockpit.url + "/flows", wait_until="networkidle")
    settle(page, ["flows-daily"])
    names = "() => document.querySelector('#flows-daily-graph .js-plotly-plot').data.map(t => t.name)"
    before = page.evaluate(names)
    assert "Car park west lifts" in before
    page.click("#f-floor")
    page.get_by_role("option", name="Ground floor").first.click()
    page.wait_for_function(f"() => !({names})().includes('Car park west lifts')", timeout=20_000)
    after = page.evaluate(names)
    assert set(after) < set(before) and "South main entrance" in after
    # the selection label has its own callback: it may land a moment after the chart
    page.wait_for_function("() => document.querySelector('#flows-selection').innerText.endsWith('f1')",
                           timeout=20_000)
    page.click("a.nav-link[href='/leasing']")  # the filter stays set on the next page
    page.wait_for_selector("#leasing-selection")
    page.wait_for_function("() => document.querySelector('#leasing-selection').innerText.endsWith('f1')")
    settle(page, ["leasing-plan"])
    title = page.evaluate("() => document.querySelector('#leasing-plan-graph .js-plotly-plot').layout.title.text")
    assert title == "Ground floor"


def test_leasing_cannot_obtain_member_data_even_by_calling_the_callbacks(browser, cockpit):
    page, _ = log_in(browser, cockpit, "leasing")
    nav = page.inner_text("nav")
    assert "Leasing" in nav and "Members" not in nav and "Campaigns" not in nav
    page.goto(cockpit.url + "/members", wait_until="networkidle")
    assert "Not for your role" in page.inner_text("main")
    for output in ("members-contacts-body.children", "members-vip-body.children"):
        out_id, prop = output.split(".")
        body = {"output": output, "outputs": {"id": out_id, "property": prop},
                "inputs": [{"id": "filters", "property": "data", "value": None}],
                "changedPropIds": ["filters.data"], "parsedChangedPropsIds": ["filters.data"]}
        answer = page.request.post(cockpit.url + "/_dash-update-component", data=body)
        assert answer.status == 403, (output, answer.status)
        assert SECRET_NAME not in answer.text() and "M0" not in answer.text()
    # marketing may see members, but not their contact details
    page, _ = log_in(browser, cockpit, "marketing")
    answer = page.request.post(cockpit.url + "/_dash-update-component", data={
        "output": "members-contacts-body.children", "outputs": {"id": "members-contacts-body", "property": "children"},
        "inputs": [{"id": "filters", "property": "data", "value": None}], "changedPropIds": ["filters.data"],
        "parsedChangedPropsIds": ["filters.data"]})
    assert answer.status == 403 and SECRET_NAME not in answer.text()
    # and without a session nothing runs at all
    anonymous = browser.new_page()
    answer = anonymous.request.post(cockpit.url + "/_dash-update-component", data={
        "output": "flows-daily-graph.figure", "outputs": {"id": "flows-daily-graph", "property": "figure"},
        "inputs": [{"id": "filters", "property": "data", "value": None}], "changedPropIds": ["filters.data"],
        "parsedChangedPropsIds": ["filters.data"]})
    assert answer.status == 401


def test_csv_export_downloads_the_chart_data(browser, cockpit):
    page, _ = log_in(browser, cockpit, "leasing")
    page.goto(cockpit.url + "/leasing", wait_until="networkidle")
    settle(page, ["leasing-stores"])
    with page.expect_download() as info:
        page.click("#leasing-stores-csv")
    text = info.value.path().read_text()
    header = text.splitlines()[0].split(",")
    assert {"store", "entries", "conversion", "capture_rate"} <= set(header)
    assert len(text.splitlines()) == 58  # header + 57 shops
