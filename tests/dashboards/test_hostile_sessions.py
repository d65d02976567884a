"""Hostile use of the cockpit's sessions and login (issue 21, item 5): replayed cookies after logout, disable, password
and role changes; security headers on every kind of response and no version banner; a stranger hammering an account;
dates no calendar of the data holds. All over loopback, with a bounded number of requests."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from dashboards import auth, context
from dashboards.app import create_app
from mallsense.services import free_port
from mallsense.site import load_site
from tests.dashboards.test_auth import PASSWORD, SECRET_MEMBERS, call, log_in, make_app

pytestmark = pytest.mark.integration
COOKIE = "mallsense_session"
STRANGER, FRIEND = "203.0.113.66", "198.51.100.20"  # documentation addresses: only ever the test client's environ


@pytest.fixture
def accounts(db_dsn: str) -> str:
    with psycopg.connect(db_dsn) as conn:
        for name, role in (("ada", "admin"), ("mo", "marketing")):
            auth.create_user(conn, name, PASSWORD, role)
    return db_dsn


@pytest.fixture
def tiny(accounts: str) -> Any:
    """The small app of test_auth.py: its ``members`` callback returns member names and phones."""
    return make_app(accounts)


def captured(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie after login"
    return cookie.value


def replay(app: Any, cookie: str) -> FlaskClient:
    """A second client (an attacker's) that only has the captured cookie."""
    thief = app.server.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief


def logout(client: FlaskClient) -> None:
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


# --- sessions end on the server --------------------------------------------------------------------------------------


def test_a_cookie_captured_before_logout_is_refused_after_it(tiny: Any) -> None:
    client = tiny.server.test_client()
    assert log_in(client, "ada").status_code == 302
    cookie = captured(client)
    thief = replay(tiny, cookie)
    assert SECRET_MEMBERS in call(thief, "members").get_data(as_text=True)  # the cookie works while logged in
    logout(client)
    refused = call(thief, "members")
    assert refused.status_code == 401 and SECRET_MEMBERS not in refused.get_data(as_text=True)
    page = thief.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


@pytest.mark.parametrize("change", ["disable", "passwd", "role"])
def test_disable_password_and_role_changes_end_open_sessions_at_once(tiny: Any, accounts: str, change: str) -> None:
    client = tiny.server.test_client()
    assert log_in(client, "ada").status_code == 302
    thief = replay(tiny, captured(client))
    assert call(thief, "members").status_code == 200
    auth.manage_users(accounts, change, "ada", role="marketing" if change == "role" else None)  # as the CLI does
    for who in (client, thief):
        answer = call(who, "members")
        assert answer.status_code == 401 and SECRET_MEMBERS not in answer.get_data(as_text=True), change
    if change == "disable":
        auth.manage_users(accounts, "enable", "ada")
        assert call(thief, "members").status_code == 401  # ended, not suspended


# --- a stranger hammering an account ---------------------------------------------------------------------------------


def attempt(app: Any, address: str, username: str, password: str) -> Any:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client, log_in(client, username, password)


def test_a_strangers_guesses_do_not_lock_the_owner_out(tiny: Any) -> None:
    statuses = [attempt(tiny, STRANGER, "ada", f"guess number {i}")[1].status_code for i in range(50)]
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) >= 40, statuses  # the stranger is slowed down at once...
    _, own = attempt(tiny, STRANGER, "ada", PASSWORD)
    assert own.status_code == 429 and int(own.headers["Retry-After"]) >= 1  # ...even with the right password
    friend, answer = attempt(tiny, FRIEND, "ada", PASSWORD)  # the owner, elsewhere, is not
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    assert SECRET_MEMBERS in call(friend, "members").get_data(as_text=True)
    _local, answer = attempt(tiny, "127.0.0.1", "ada", PASSWORD)
    assert answer.status_code == 302


def test_one_address_trying_many_accounts_is_stopped(tiny: Any) -> None:
    statuses = [attempt(tiny, STRANGER, f"user{i}", "wrong password!")[1].status_code
                for i in range(auth.MAX_FAILURES_IP + 3)]
    assert statuses[: auth.MAX_FAILURES_IP] == [401] * auth.MAX_FAILURES_IP
    assert statuses[auth.MAX_FAILURES_IP:] == [429] * 3
    assert attempt(tiny, FRIEND, "mo", PASSWORD)[1].status_code == 302


# --- the real cockpit: headers, banner, dates ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cockpit(pg_server) -> Iterator[tuple[Any, str]]:
    from ingest.storage import migrate
    from tests.conftest import _new_database

    dsn = _new_database(pg_server)
    migrate(dsn)
    with psycopg.connect(dsn) as conn:
        auth.create_user(conn, "root", PASSWORD, "admin")
    app = create_app(dsn, load_site(), secret_key=b"hostile-secret-0123456789abcdef")
    yield app, dsn
    context.close()


@pytest.fixture
def admin(cockpit: tuple[Any, str]) -> FlaskClient:
    client = cockpit[0].server.test_client()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    assert log_in(client, "root").status_code == 302
    return client


def filters_call(client: FlaskClient, output: str, filters: dict[str, Any]) -> Any:
    out_id, prop = output.split(".")
    return client.post("/_dash-update-component", json={
        "output": output, "outputs": {"id": out_id, "property": prop},
        "inputs": [{"id": "filters", "property": "data", "value": filters}],
        "changedPropIds": ["filters.data"], "parsedChangedPropsIds": ["filters.data"]})


def assert_secure_headers(response: Any, what: str, *, no_store: bool) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src" in csp, (what, csp)
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), what
    if no_store:
        assert "no-store" in headers.get("Cache-Control", ""), what


def test_every_kind_of_response_carries_the_security_headers(admin: FlaskClient) -> None:
    page = admin.get("/flows")
    assert page.status_code == 200
    assert_secure_headers(page, "page", no_store=True)
    callback = filters_call(admin, "flows-selection.children", {})
    assert callback.status_code == 200
    assert_secure_headers(callback, "callback", no_store=True)
    layout = admin.get("/_dash-layout")
    assert_secure_headers(layout, "layout", no_store=True)
    asset = admin.get("/assets/style.css")
    assert asset.status_code == 200
    assert_secure_headers(asset, "asset", no_store=False)
    missing = admin.get("/assets/no-such-file.css")
    assert missing.status_code == 404
    assert_secure_headers(missing, "404", no_store=True)
    for response, what in ((admin.application.test_client().get("/flows"), "redirect"),
                           (admin.application.test_client().get("/login"), "login")):
        assert_secure_headers(response, what, no_store=True)


def test_the_page_policy_allows_exactly_its_inline_scripts(admin: FlaskClient) -> None:
    """Dash's inline renderer script runs under the policy (its hash is listed); no 'unsafe-inline' for scripts."""
    page = admin.get("/flows")
    csp = page.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src, csp
    assert "'unsafe-inline'" not in script_src.group(1)
    html = re.sub(r"<!--.*?-->", "", page.get_data(as_text=True), flags=re.S)  # Dash's IE-only script is a comment
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    assert inline, "Dash's page has an inline renderer script"
    for body in inline:
        digest = b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src.group(1), body[:80]


def test_the_werkzeug_server_announces_no_versions(cockpit: tuple[Any, str]) -> None:
    from dashboards.headers import RequestHandler

    app, _ = cockpit
    server = make_server("127.0.0.1", free_port(), app.server, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/login", timeout=30) as resp:
            banner = resp.headers.get("Server", "")
            assert resp.headers.get("X-Frame-Options") == "DENY"
    finally:
        server.shutdown()
    assert "Werkzeug" not in banner and "Python" not in banner and not re.search(r"\d", banner), banner


@pytest.mark.parametrize("first,last,words", [
    ("0001-01-01", "0001-01-31", "between"),
    ("9999-12-01", "9999-12-31", "between"),
    ("2026-11-20", "2026-11-10", "starts after it ends"),
])
def test_dates_outside_the_range_get_a_message_not_an_error(
    admin: FlaskClient, caplog: pytest.LogCaptureFixture, first: str, last: str, words: str
) -> None:
    filters = {"first": first, "last": last, "floor": None, "zone": None}
    with caplog.at_level(logging.INFO):
        for output in ("flows-daily-graph.figure", "visitors-kpis-body.children", "flows-selection.children"):
            answer = filters_call(admin, output, filters)
            assert answer.status_code == 200, (output, answer.status_code)
            assert words in json.dumps(answer.get_json()["response"]), (output, answer.get_json())
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or "Overflow" in r.getMessage()]
    assert not problems, [r.getMessage() for r in problems]


def test_a_good_period_still_draws(admin: FlaskClient) -> None:
    first, last = date.today() - timedelta(days=5), date.today() - timedelta(days=3)
    answer = filters_call(admin, "flows-selection.children", {"first": str(first), "last": str(last)})
    assert answer.status_code == 200
    assert f"{first:%d %b %Y} – {last:%d %b %Y}" in answer.json["response"]["flows-selection"]["children"]

