"""Generated hostile input for the cockpit's login form and filters: never a crash, never a leaked traceback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboards import analysis, auth, context
from dashboards.app import create_app
from mallsense.site import load_site

pytestmark = pytest.mark.integration
LEAKS = ("Traceback", "psycopg", "File \"", "Exception", "SELECT ")
junk = st.one_of(st.none(), st.text(max_size=60), st.integers(), st.floats(allow_nan=True), st.booleans(),
                 st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                                           max_size=2))


@pytest.fixture(scope="module")
def app(pg_server) -> Iterator[Any]:
    from ingest.storage import migrate
    from tests.conftest import _new_database

    dsn = _new_database(pg_server)
    migrate(dsn)
    with psycopg.connect(dsn) as conn:
        auth.create_user(conn, "fuzz", "fuzz-password-123", "admin")
    app = create_app(dsn, load_site(), secret_key=b"fuzz-secret-0123456789abcdef")
    yield app
    context.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=junk, last=junk, floor=junk, zone=junk, extra=st.dictionaries(st.text(max_size=8), junk, max_size=3))
def test_any_filter_value_becomes_a_sane_selection(app, first, last, floor, zone, extra) -> None:
    site = load_site()
    with app.server.test_request_context():
        try:
            sel = analysis.selection({**extra, "first": first, "last": last, "floor": floor, "zone": zone})
        except analysis.PeriodRefused as refused:  # readable dates outside the calendar, or a reversed period
            assert "pick" in refused.message
            return
    assert isinstance(sel.first, date) and isinstance(sel.last, date)
    assert sel.first <= sel.last and (sel.last - sel.first).days <= 366
    assert sel.floor is None or sel.floor in site.floor_by_id
    assert sel.zone is None or sel.zone in site.zone_by_id


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(username=st.text(max_size=300), password=st.text(max_size=300), next_=st.text(max_size=200))
def test_the_login_form_answers_every_input_without_crashing_or_leaking(app, username, password, next_) -> None:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"  # the rate limit then spares the other tests' address
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf,
                                         "next": next_})
    assert answer.status_code in (302, 400, 401, 429), answer.status_code
    text = answer.get_data(as_text=True)
    assert not any(word in text for word in LEAKS)
    if answer.status_code == 302:  # only a real login gets in, and only to a path of this site
        location = answer.headers["Location"]
        assert location.startswith("/") and not location.startswith("//")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=st.dictionaries(st.sampled_from(["first", "last", "floor", "zone"]), junk, max_size=4))
def test_page_callbacks_answer_any_filter_without_a_traceback(app, filters) -> None:
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "fuzz", "password": "fuzz-password-123", "csrf_token": csrf, "next": "/"})
    for output in ("flows-daily-graph.figure", "leasing-stores-graph.figure", "visitors-kpis-body.children"):
        out_id, prop = output.split(".")
        answer = client.post("/_dash-update-component", json={
            "output": output, "outputs": {"id": out_id, "property": prop},
            "inputs": [{"id": "filters", "property": "data", "value": filters}],
            "changedPropIds": ["filters.data"], "parsedChangedPropsIds": ["filters.data"]})
        assert answer.status_code in (200, 204), (output, answer.status_code)
        assert not any(word in answer.get_data(as_text=True) for word in LEAKS)
