"""Cockpit login and roles (dashboards/auth.py): accounts, rate limiting, the permission table, and the Flask gate in
front of a real Dash app, driven through its test client like a browser and the Dash renderer would."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from dash import Dash, Input, Output, html
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dashboards import auth, throttle
from dashboards.auth import AREAS, PERMISSIONS, Forbidden, TooManyAttempts, User, UserError, allowed

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SECRET_MEMBERS = "Alice Example +41 79 000 00 00"  # what the members callback returns: must never reach a refused user


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


# --- accounts and passwords -------------------------------------------------------------------------------------------


def test_password_is_stored_as_argon2id_and_verifies(db_dsn: str) -> None:
    with connect(db_dsn) as conn:
        user = auth.create_user(conn, " Anna ", PASSWORD, "leasing")
        assert user == User("anna", "leasing")
        stored = conn.execute("SELECT password_hash FROM cockpit_user WHERE username = 'anna'").fetchone()[0]
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert auth.verify(conn, "ANNA", PASSWORD, "10.0.0.1") == User("anna", "leasing")
        last_login = conn.execute("SELECT last_login FROM cockpit_user WHERE username = 'anna'").fetchone()[0]
        assert last_login is not None
        journal = conn.execute("SELECT username, ip, ok FROM login_attempt").fetchall()
        assert journal == [("anna", "10.0.0.1", True)]


def test_wrong_password_unknown_user_and_disabled_user_fail(db_dsn: str) -> None:
    with connect(db_dsn) as conn:
        auth.create_user(conn, "bob", PASSWORD, "operator")
        assert auth.verify(conn, "bob", PASSWORD + "x", "10.0.0.2") is None
        assert auth.verify(conn, "nobody", PASSWORD, "10.0.0.2") is None
        auth.set_disabled(conn, "bob", True)
        assert auth.verify(conn, "bob", PASSWORD, "10.0.0.2") is None
        auth.set_disabled(conn, "bob", False)
        assert auth.verify(conn, "bob", PASSWORD, "10.0.0.2") == User("bob", "operator")
        auth.set_password(conn, "bob", "another long password")
        assert auth.verify(conn, "bob", PASSWORD, "10.0.0.2") is None
        assert auth.verify(conn, "bob", "another long password", "10.0.0.2") == User("bob", "operator")


def test_account_validation(db_dsn: str) -> None:
    with connect(db_dsn) as conn:
        auth.create_user(conn, "carol", PASSWORD, "marketing")
        with pytest.raises(UserError, match="exists"):
            auth.create_user(conn, "Carol", PASSWORD, "admin")
        with pytest.raises(UserError, match="role"):
            auth.create_user(conn, "dave", PASSWORD, "root")
        with pytest.raises(UserError, match="characters"):
            auth.create_user(conn, "dave", "short", "operator")
        with pytest.raises(UserError, match="user name"):
            auth.create_user(conn, "da ve", PASSWORD, "operator")
        with pytest.raises(UserError, match="no user"):
            auth.set_disabled(conn, "nobody", True)
        with pytest.raises(psycopg.errors.CheckViolation):  # the database refuses unknown roles too
            conn.execute("INSERT INTO cockpit_user (username, password_hash, role) VALUES ('x', 'h', 'root')")


def test_unknown_users_cost_a_password_check_too() -> None:
    """Timing does not reveal whether a user exists: the dummy hash has the real parameters."""
    assert auth._DUMMY_HASH.startswith("$argon2id$")
    assert auth.HASHER.check_needs_rehash(auth._DUMMY_HASH) is False


# --- rate limiting ----------------------------------------------------------------------------------------------------


def test_backoff_is_per_address_and_account_and_grows(db_dsn: str) -> None:
    with connect(db_dsn) as conn:
        auth.create_user(conn, "erin", PASSWORD, "admin")
        free = throttle.DEFAULT.free_failures
        for _ in range(free):
            assert auth.verify(conn, "erin", "wrong password!", "10.0.0.3") is None
        with pytest.raises(TooManyAttempts) as refused:
            auth.verify(conn, "erin", PASSWORD, "10.0.0.3")  # even the right password waits
        assert timedelta(0) < refused.value.retry_after <= throttle.DEFAULT.base_delay
        # refusals are journaled but do not count as failures (they would extend the back-off forever)
        assert conn.execute("SELECT count(*) FROM login_attempt WHERE ok IS NULL").fetchone()[0] == 1
        assert auth.verify(conn, "erin", PASSWORD, "10.0.0.4") == User("erin", "admin")  # another address: no wait
        # the wait doubles with each further failure, up to the cap
        waits = [throttling_backoff(n) for n in range(free, free + 14)]
        assert waits[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
        assert waits[-1] == throttle.DEFAULT.max_delay and waits == sorted(waits)
        # time passes (the journal moves into the past instead of waiting): the address may try again
        conn.execute("UPDATE login_attempt SET ts = ts - interval '2 seconds'")
        assert auth.verify(conn, "erin", PASSWORD, "10.0.0.3") == User("erin", "admin")


def throttling_backoff(failures: int) -> timedelta:
    return throttle.backoff(failures)


def test_backoff_settings_are_parameters(db_dsn: str) -> None:
    quick = throttle.Throttle(free_failures=2, base_delay=timedelta(seconds=1))
    with connect(db_dsn) as conn:
        auth.create_user(conn, "fred", PASSWORD, "operator")
        for _ in range(2):
            assert auth.verify(conn, "fred", "wrong password!", "10.0.0.5", throttle=quick) is None
        with pytest.raises(TooManyAttempts) as refused:
            auth.verify(conn, "fred", PASSWORD, "10.0.0.5", throttle=quick)
        assert refused.value.retry_after <= timedelta(seconds=1) and refused.value.wait_text == "1 second(s)"
        time.sleep(refused.value.retry_after.total_seconds() + 0.2)
        assert auth.verify(conn, "fred", PASSWORD, "10.0.0.5", throttle=quick) == User("fred", "operator")


def test_limit_per_address_reset_by_success_and_local_admins(db_dsn: str) -> None:
    tight = throttle.Throttle(max_failures_ip=3, free_failures=3)
    with connect(db_dsn) as conn:
        auth.create_user(conn, "gina", PASSWORD, "operator")
        auth.create_user(conn, "root", PASSWORD, "admin")
        # one address trying many user names
        for i in range(3):
            assert auth.verify(conn, f"guess{i}", "wrong password!", "10.9.9.9", throttle=tight) is None
        with pytest.raises(TooManyAttempts):
            auth.verify(conn, "gina", PASSWORD, "10.9.9.9", throttle=tight)
        assert auth.verify(conn, "gina", PASSWORD, "10.0.0.6", throttle=tight) == User("gina", "operator")
        # a successful login clears the pair's earlier failures
        for _ in range(2):
            assert auth.verify(conn, "gina", "wrong password!", "10.0.0.7") is None
        assert auth.verify(conn, "gina", PASSWORD, "10.0.0.7") is not None
        for _ in range(2):
            assert auth.verify(conn, "gina", "wrong password!", "10.0.0.7") is None
        assert auth.verify(conn, "gina", PASSWORD, "10.0.0.7") is not None
        for _ in range(3):
            assert auth.verify(conn, "gina", "wrong password!", "10.0.0.7") is None
        with pytest.raises(TooManyAttempts):  # three in a row since the last success: now it waits
            auth.verify(conn, "gina", PASSWORD, "10.0.0.7")
        # loopback: other accounts' failures fill the address's limit, yet an admin still gets in (not an operator)
        for i in range(3):
            assert auth.verify(conn, f"local{i}", "wrong password!", "127.0.0.1", throttle=tight) is None
        with pytest.raises(TooManyAttempts):
            auth.verify(conn, "gina", PASSWORD, "127.0.0.1", throttle=tight)
        assert auth.verify(conn, "root", PASSWORD, "127.0.0.1", throttle=tight) == User("root", "admin")


# --- permissions ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "areas"),
    [
        ("operator", {"live", "flows"}),
        ("leasing", {"live", "flows", "visitors", "leasing"}),
        ("marketing", {"live", "flows", "visitors", "campaigns", "members"}),
        ("admin", set(AREAS)),
    ],
)
def test_permission_table(role: str, areas: set[str]) -> None:
    assert {area for area in AREAS if allowed(role, area)} == areas
    assert PERMISSIONS[role] == areas


def test_only_admin_sees_member_pii_and_unknowns_fail_closed() -> None:
    assert [r for r in auth.ROLES if allowed(r, "members_pii")] == ["admin"]
    assert [r for r in auth.ROLES if allowed(r, "members")] == ["marketing", "admin"]
    assert not allowed("root", "live") and not allowed(None, "live")
    with pytest.raises(ValueError, match="unknown cockpit area"):
        allowed("admin", "member")  # a typo in a page fails loudly
    with pytest.raises(ValueError, match="unknown cockpit area"):
        auth.require("member")


def test_forbidden_outside_a_request() -> None:
    @auth.require("live")
    def panel() -> str:
        return "data"

    with pytest.raises(Forbidden) as refused:
        panel()
    assert refused.value.code == 403 and "log in" in refused.value.message


# --- CLI entry point --------------------------------------------------------------------------------------------------


def test_manage_users(db_dsn: str) -> None:
    report = auth.manage_users(db_dsn, "add", "Hank", role="operator", password=PASSWORD)
    assert report == "added hank (operator)"
    generated = auth.manage_users(db_dsn, "passwd", "hank")
    new_password = generated.rsplit("password: ", 1)[1]
    assert auth.manage_users(db_dsn, "disable", "hank") == "disabled hank"
    with connect(db_dsn) as conn:
        assert auth.verify(conn, "hank", new_password, None) is None
    assert auth.manage_users(db_dsn, "enable", "hank") == "enabled hank"
    assert auth.manage_users(db_dsn, "role", "hank", role="leasing") == "hank is now leasing"
    with connect(db_dsn) as conn:
        assert auth.verify(conn, "hank", new_password, None) == User("hank", "leasing")
    for bad in (("add", "ivy", None), ("frobnicate", "hank", None), ("disable", "nobody", None)):
        with pytest.raises(UserError):
            auth.manage_users(db_dsn, *bad)


# --- the Flask gate in front of a Dash app ----------------------------------------------------------------------------


def make_app(dsn: str, **kwargs: object) -> Dash:
    """A tiny Dash app with a members callback (raises Forbidden when refused) and a live one (maps the refusal)."""
    app = Dash("authtest", health_endpoint="healthz", **kwargs)  # type: ignore[arg-type]
    app.layout = html.Div([html.Button(id="go"), html.Div(id="members"), html.Div(id="live")])

    @app.callback(Output("members", "children"), Input("go", "n_clicks"))
    @auth.require("members")
    def members(_n: int | None) -> str:
        return SECRET_MEMBERS

    @app.callback(Output("live", "children"), Input("go", "n_clicks"))
    @auth.require("live", refuse=lambda message: f"refused: {message}")
    def live(_n: int | None) -> str:
        return "live data"

    auth.install(app, b"k" * 32, dsn, recheck_s=0)
    return app


def callback_body(output_id: str) -> dict[str, object]:
    """What the Dash renderer posts to /_dash-update-component for a single-output callback."""
    return {
        "output": f"{output_id}.children",
        "outputs": {"id": output_id, "property": "children"},
        "inputs": [{"id": "go", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["go.n_clicks"],
        "parsedChangedPropsIds": ["go.n_clicks"],
    }


def call(client: FlaskClient, output_id: str) -> TestResponse:
    return client.post("/_dash-update-component", json=callback_body(output_id))


def csrf_from(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, next_: str = "/") -> TestResponse:
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_from(page), "next": next_}
    )


@pytest.fixture
def accounts(db_dsn: str) -> str:
    with connect(db_dsn) as conn:
        for name, role in (("lea", "leasing"), ("ada", "admin"), ("mo", "marketing")):
            auth.create_user(conn, name, PASSWORD, role)
    return db_dsn


@pytest.fixture
def client_for(accounts: str) -> Callable[..., FlaskClient]:
    def build(**kwargs: object) -> FlaskClient:
        return make_app(accounts, **kwargs).server.test_client()

    return build


def test_anonymous_requests_are_refused(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    deep = client.get("/members?x=1")
    assert deep.status_code == 302 and "next=/members?x%3D1" in deep.headers["Location"].replace("%2F", "/")
    for response in (call(client, "members"), call(client, "live"), client.get("/_dash-layout")):
        assert response.status_code == 401
        assert response.get_json()["error"] == "login required"
        assert SECRET_MEMBERS not in response.get_data(as_text=True)
    # public: health check, login page, Dash's own scripts
    assert client.get("/healthz").status_code == 200
    login_page = client.get("/login")
    assert login_page.status_code == 200 and "password" in login_page.get_data(as_text=True)
    assert login_page.headers["X-Frame-Options"] == "DENY"
    assert client.get("/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v1.min.js").status_code != 401


def test_login_needs_the_csrf_token(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    client.get("/login")
    response = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert call(client, "members").status_code == 401


def test_leasing_may_not_run_the_members_callback(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    response = log_in(client, "lea")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200
    refused = call(client, "members")
    assert refused.status_code == 403
    assert SECRET_MEMBERS not in refused.get_data(as_text=True)
    mapped = call(client, "live")  # leasing may see live
    assert mapped.status_code == 200 and "live data" in mapped.get_data(as_text=True)


def test_refusal_mapped_to_a_message(client_for: Callable[..., FlaskClient], accounts: str) -> None:
    """require(area, refuse=...) answers the refusal as the callback's output instead of a 403."""
    with connect(accounts) as conn:
        auth.create_user(conn, "otto", PASSWORD, "operator")
    client = client_for()
    log_in(client, "otto")
    assert "live data" in call(client, "live").get_data(as_text=True)
    with pytest.MonkeyPatch.context() as mp:  # a permission table in which operators may not see live
        mp.setitem(auth.PERMISSIONS, "operator", frozenset({"flows"}))
        response = call(client, "live")
    assert response.status_code == 200
    data = json.loads(response.get_data(as_text=True))
    assert data["response"]["live"]["children"] == "refused: Your role (operator) does not give access to live."


def test_admin_may_run_the_members_callback(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    log_in(client, "ada")
    response = call(client, "members")
    assert response.status_code == 200
    assert json.loads(response.get_data(as_text=True))["response"]["members"]["children"] == SECRET_MEMBERS


def test_app_wide_on_error_does_not_leak(
    client_for: Callable[..., FlaskClient], caplog: pytest.LogCaptureFixture
) -> None:
    """With an app-wide on_error (as the cockpit has), a refusal leaves the outputs as they were."""
    seen: list[Exception] = []
    client = client_for(on_error=seen.append)
    log_in(client, "mo")  # marketing: members yes
    assert SECRET_MEMBERS in call(client, "members").get_data(as_text=True)
    client = client_for(on_error=seen.append)
    log_in(client, "lea")
    with caplog.at_level(logging.WARNING, "dashboards.auth"):
        response = call(client, "members")
    assert SECRET_MEMBERS not in response.get_data(as_text=True)
    assert response.status_code in (200, 204)  # Dash answers "no update" for every output
    assert "members" not in (response.get_json(silent=True) or {}).get("response", {})
    assert isinstance(seen[-1], Forbidden) and "refused" in caplog.text


def test_rate_limited_login_page(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    for _ in range(throttle.DEFAULT.free_failures):
        assert log_in(client, "ada", "wrong password!").status_code == 401
    response = log_in(client, "ada")
    assert response.status_code == 429
    assert "Too many attempts, try again in 1 second(s)." in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert call(client, "members").status_code == 401


def test_sessions_end_when_disabled_or_password_changed(client_for: Callable[..., FlaskClient], accounts: str) -> None:
    client = client_for()
    log_in(client, "ada")
    assert call(client, "members").status_code == 200
    with connect(accounts) as conn:
        auth.set_disabled(conn, "ada", True)
    assert call(client, "members").status_code == 401
    with connect(accounts) as conn:
        auth.set_disabled(conn, "ada", False)
    assert call(client, "members").status_code == 401  # the session was ended, not just suspended
    log_in(client, "ada")
    assert call(client, "members").status_code == 200
    with connect(accounts) as conn:
        auth.set_password(conn, "ada", "a brand new password")
    assert call(client, "members").status_code == 401
    # a role change ends the open session: the user logs in again with the new role
    log_in(client, "mo")
    assert call(client, "members").status_code == 200
    with connect(accounts) as conn:
        auth.set_role(conn, "mo", "leasing")
    assert call(client, "members").status_code == 401
    log_in(client, "mo")
    assert call(client, "members").status_code == 403


def test_logout(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    log_in(client, "ada")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert call(client, "members").status_code == 200
    with client.session_transaction() as sess:
        token = sess["csrf"]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert call(client, "members").status_code == 401


def test_open_redirects_are_not_followed(client_for: Callable[..., FlaskClient]) -> None:
    client = client_for()
    assert log_in(client, "ada", next_="//evil.example/x").headers["Location"] == "/"
    client = client_for()
    assert log_in(client, "ada", next_="/visitors?day=1").headers["Location"] == "/visitors?day=1"


def test_secret_key_and_https_cookie(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, accounts: str) -> None:
    monkeypatch.delenv(auth.SECRET_ENV, raising=False)
    monkeypatch.delenv(auth.SECRET_FILE_ENV, raising=False)
    assert len(auth.load_secret_key()) == 32
    monkeypatch.setenv(auth.SECRET_ENV, "s" * 40)
    assert auth.load_secret_key() == b"s" * 40
    monkeypatch.delenv(auth.SECRET_ENV)
    (tmp_path / "key").write_bytes(b"f" * 40 + b"\n")
    monkeypatch.setenv(auth.SECRET_FILE_ENV, str(tmp_path / "key"))
    assert auth.load_secret_key() == b"f" * 40
    monkeypatch.setenv(auth.HTTPS_ENV, "1")
    server = make_app(accounts).server
    assert server.config["SESSION_COOKIE_SECURE"] is True
    assert server.config["SESSION_COOKIE_NAME"].startswith("__Host-")
