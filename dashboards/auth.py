"""Cockpit login, roles and their enforcement on the server (not in the browser).

Three layers, each in this module:

* **Accounts** (table ``cockpit_user``, migration ``003_users.sql``): argon2id password hashes, a role, a disabled
  flag. :func:`create_user`, :func:`set_password`, :func:`set_disabled`, :func:`set_role` and, for the CLI,
  :func:`manage_users`. :func:`verify` checks a login, journals it (table ``login_attempt``) and slows guessing
  (:mod:`dashboards.throttle`).
* **Permissions**: one table, :data:`PERMISSIONS` (role → areas), read through :func:`allowed`. Pages never test role
  names themselves.
* **The web server**: :func:`install` puts a login in front of a Dash app, with sessions kept on the server
  (:mod:`dashboards.sessions`: logout, disable, password and role changes end them at once) and security headers on
  every response (:mod:`dashboards.headers`). Every request except the
  login page, the health check and static assets needs a session: a browser is redirected to ``/login``, the
  renderer's XHRs (``/_dash-update-component``, ``/_dash-layout``, ``/_dash-dependencies``) get ``401`` JSON, so no
  callback can run without a logged-in user. Which *areas* a user may see is then checked per callback with the
  :func:`require` decorator, which raises :class:`Forbidden`.

Using :func:`require` in a page::

    @callback(Output("members-table", "children"), Input("clock", "n_intervals"))
    @require("members")                       # outermost below @callback: runs before anything else
    @guarded(message_panel)
    def members_table(_n): ...

:class:`Forbidden` is a :class:`werkzeug.exceptions.Forbidden`: a callback that lets it escape answers ``403`` (the
browser keeps the old outputs, the data never leaves the server). An app-wide Dash ``on_error`` handler receives it
like any other exception; to *show* the refusal, map it to a message — either catch it in the page
(``except Forbidden as exc: return message_panel(exc.message)``), or pass ``refuse=message_panel`` to
:func:`require`, which then returns ``refuse(exc.message)`` instead of raising. ``dashboards.guard.guarded``
re-raises HTTP exceptions, so the order of ``@require`` and ``@guarded`` does not matter; keeping ``@require``
outermost (right below ``@callback``) means nothing else runs for a refused user.

``current_user()`` works in any Flask request context (callbacks included). Background (Celery/diskcache) callbacks
run without a request: check the user in the foreground callback that starts them.
"""

from __future__ import annotations

import functools
import hmac
import html
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, has_request_context, jsonify, redirect, request, session, url_for
from werkzeug.exceptions import Forbidden as HTTPForbidden

from dashboards import headers, sessions
from dashboards import throttle as throttling
from dashboards.throttle import Throttle

if TYPE_CHECKING:
    from dash import Dash
    from flask import Flask
    from flask.typing import ResponseReturnValue
    from psycopg_pool import ConnectionPool

log = logging.getLogger("dashboards.auth")
P = ParamSpec("P")
T = TypeVar("T")

# ---------------------------------------------------------------------------------------------------------------------
# Permissions: the one table pages read (through allowed / can / require).

ROLES = ("operator", "leasing", "marketing", "admin")
AREAS = frozenset({"live", "flows", "visitors", "leasing", "campaigns", "members", "members_pii", "users"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset({"live", "flows"}),
    "leasing": frozenset({"live", "flows", "visitors", "leasing"}),
    "marketing": frozenset({"live", "flows", "visitors", "campaigns", "members"}),  # members, without PII columns
    "admin": AREAS,  # everything, including members_pii (member names/phones) and users (account management)
}


def allowed(role: str | None, area: str) -> bool:
    """Whether ``role`` may see ``area``. Unknown roles (and ``None``) may see nothing.

    Raises ``ValueError`` for an area that is not in :data:`AREAS`, so that a typo in a page fails loudly instead of
    silently hiding (or showing) a panel.
    """
    if area not in AREAS:
        raise ValueError(f"unknown cockpit area {area!r} (known: {', '.join(sorted(AREAS))})")
    return role is not None and area in PERMISSIONS.get(role, frozenset())


# ---------------------------------------------------------------------------------------------------------------------
# Accounts and passwords.

MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MAX_FAILURES_IP = throttling.DEFAULT.max_failures_ip  # failed logins from one address within its window

HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 defaults; verify() rehashes when they change
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))  # verified for unknown users, so they take as long as known ones


@dataclass(frozen=True)
class User:
    """A logged-in cockpit user."""

    username: str
    role: str

    def can(self, area: str) -> bool:
        """Shorthand for ``allowed(self.role, area)``."""
        return allowed(self.role, area)


class UserError(ValueError):
    """A user-management request that cannot be done (unknown user, bad role, short password...): tell the operator."""


class TooManyAttempts(Exception):
    """A login refused by the rate limit, without looking at the password."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed logins, try again in {self.wait_text}")

    @property
    def seconds(self) -> int:
        """Whole seconds until a new attempt is considered (at least 1)."""
        return max(1, -(-int(self.retry_after.total_seconds() * 1000) // 1000))

    @property
    def minutes(self) -> int:
        """Whole minutes until a new attempt is considered (at least 1)."""
        return max(1, -(-self.seconds // 60))

    @property
    def wait_text(self) -> str:
        """The wait in words: seconds under two minutes, minutes above."""
        return f"{self.seconds} second(s)" if self.seconds < 120 else f"{self.minutes} minute(s)"


class Forbidden(HTTPForbidden):
    """A callback refused for the current user (none, or a role without the area). HTTP 403 if it escapes."""

    def __init__(self, area: str, user: User | None) -> None:
        self.area = area
        self.user = user
        if user is None:
            self.message = "Your session has ended: log in again to see this."
        else:
            self.message = f"Your role ({user.role}) does not give access to {area.replace('_', ' ')}."
        super().__init__(self.message)


def normalize_username(username: str) -> str:
    """User names are case-insensitive: stored and compared lower-case, without surrounding blanks."""
    return username.strip().lower()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (with its own salt and parameters, PHC string format)."""
    return HASHER.hash(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")


def create_user(conn: psycopg.Connection, username: str, password: str, role: str) -> User:
    """Add an enabled account. Raises :class:`UserError` for a bad name, role or password, or an existing user."""
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        raise UserError(f"invalid user name {username!r}: letters, digits and . _ @ - only, at most 64 characters")
    _check_role(role)
    _check_password(password)
    row = conn.execute(
        "INSERT INTO cockpit_user (username, password_hash, role) VALUES (%s, %s, %s)"
        " ON CONFLICT (username) DO NOTHING RETURNING username",
        (name, hash_password(password), role),
    ).fetchone()
    if row is None:
        raise UserError(f"user {name!r} exists already")
    return User(name, role)


def _update(conn: psycopg.Connection, username: str, sql: str, params: tuple[Any, ...]) -> None:
    name = normalize_username(username)
    cur = conn.execute(f"UPDATE cockpit_user SET {sql} WHERE username = %s", (*params, name))
    if cur.rowcount == 0:
        raise UserError(f"no user {name!r}")


def set_password(conn: psycopg.Connection, username: str, password: str) -> None:
    """Replace a user's password and end their open sessions (in the same transaction)."""
    _check_password(password)
    _update(conn, username, "password_hash = %s", (hash_password(password),))
    sessions.end_all(conn, normalize_username(username))


def set_disabled(conn: psycopg.Connection, username: str, disabled: bool) -> None:
    """Disable (ending their open sessions) or re-enable an account."""
    _update(conn, username, "disabled = %s", (disabled,))
    if disabled:
        sessions.end_all(conn, normalize_username(username))


def set_role(conn: psycopg.Connection, username: str, role: str) -> None:
    """Change a user's role and end their open sessions (they log in again with the new role)."""
    _check_role(role)
    _update(conn, username, "role = %s", (role,))
    sessions.end_all(conn, normalize_username(username))


def verify(
    conn: psycopg.Connection,
    username: str,
    password: str,
    ip: str | None,
    *,
    throttle: Throttle = throttling.DEFAULT,
) -> User | None:
    """The user if ``password`` is theirs and the account is enabled, else ``None``; every attempt is journaled.

    Raises :class:`TooManyAttempts` — before looking at the password — when :mod:`dashboards.throttle` says ``ip``
    must wait before trying this user name again (its own back-off, or its address's limit). Other addresses'
    failures never hold a login back. Unknown and disabled users cost one argon2 verification like everybody else,
    so timing does not tell them apart.
    A successful login rehashes the password if the hashing parameters changed and sets ``last_login``.
    """
    name = normalize_username(username)
    if not USERNAME_RE.match(name):
        # no account can have this name (and PostgreSQL text cannot hold every string, NUL for one): journal it
        # under a printable stand-in so the rate limit still counts it, and answer like any wrong password
        name = "invalid:" + name.encode("unicode_escape").decode("ascii")[:60]
    row = conn.execute(
        "SELECT password_hash, role, disabled FROM cockpit_user WHERE username = %s", (name,)
    ).fetchone()
    wait = throttling.retry_after(conn, name, ip, row[1] if row is not None else None, throttle)
    if wait is not None:
        conn.execute("INSERT INTO login_attempt (username, ip, ok) VALUES (%s, %s, NULL)", (name, ip))
        log.warning("login refused by the throttle: user %r from %s", name, ip)
        raise TooManyAttempts(wait)
    stored = row[0] if row is not None else _DUMMY_HASH
    try:
        ok = HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and row is not None and not row[2]
    conn.execute("INSERT INTO login_attempt (username, ip, ok) VALUES (%s, %s, %s)", (name, ip, ok))
    if not ok:
        log.info("failed login: user %r from %s", name, ip)
        return None
    if HASHER.check_needs_rehash(stored):
        conn.execute("UPDATE cockpit_user SET password_hash = %s WHERE username = %s", (hash_password(password), name))
    conn.execute("UPDATE cockpit_user SET last_login = now() WHERE username = %s", (name,))
    log.info("login: user %r (%s) from %s", name, row[1], ip)
    return User(name, row[1])


def prune_attempts(conn: psycopg.Connection, older_than: timedelta = timedelta(days=90)) -> int:
    """Delete journal rows older than ``older_than`` (they no longer count for anything); the number deleted."""
    return conn.execute("DELETE FROM login_attempt WHERE ts < now() - %s", (older_than,)).rowcount


def manage_users(
    dsn: str, action: str, username: str, role: str | None = None, password: str | None = None
) -> str:
    """What ``mallsense user add|disable|enable|passwd|role`` does; returns a one-line report for the operator.

    ``add`` needs ``role``; ``add`` and ``passwd`` generate a random password when ``password`` is None and include
    it in the report (shown once: it is stored only as a hash). Raises :class:`UserError` for anything that cannot
    be done (the CLI prints it and exits non-zero).
    """
    generated = password is None and action in ("add", "passwd")
    if generated:
        password = secrets.token_urlsafe(12)
    name = normalize_username(username)
    with psycopg.connect(dsn) as conn:  # one transaction, committed when the block ends without an error
        if action == "add":
            if role is None:
                raise UserError("a new user needs a role")
            assert password is not None
            create_user(conn, name, password, role)
            report = f"added {name} ({role})"
        elif action in ("disable", "enable"):
            set_disabled(conn, name, action == "disable")
            report = f"{action}d {name}"
        elif action == "passwd":
            assert password is not None
            set_password(conn, name, password)
            report = f"changed the password of {name}"
        elif action == "role":
            if role is None:
                raise UserError("which role?")
            set_role(conn, name, role)
            report = f"{name} is now {role}"
        else:
            raise UserError(f"unknown action {action!r} (add, disable, enable, passwd, role)")
    return f"{report}; password: {password}" if generated else report


# ---------------------------------------------------------------------------------------------------------------------
# Secret key and Flask integration.

SECRET_ENV = "MALLSENSE_COCKPIT_SECRET"
SECRET_FILE_ENV = "MALLSENSE_COCKPIT_SECRET_FILE"
HTTPS_ENV = "MALLSENSE_COCKPIT_HTTPS"
PROXIES_ENV = "MALLSENSE_COCKPIT_TRUSTED_PROXIES"
SESSION_LIFETIME = timedelta(hours=12)
RECHECK_S = 0.0  # check the session table on every request (see _session_user)
_EXT = "mallsense_auth"
_XHR_PATHS = ("_dash-", "_reload-hash")


def load_secret_key() -> bytes:
    """The session signing key: ``$MALLSENSE_COCKPIT_SECRET``, else the file ``$MALLSENSE_COCKPIT_SECRET_FILE``.

    Without either, a random key: sessions then end when the process restarts, and with several gunicorn workers a
    session only works on the worker that made it, so production must set one (e.g. ``openssl rand -hex 32``).
    """
    value = os.environ.get(SECRET_ENV)
    if value:
        key = value.encode()
    elif os.environ.get(SECRET_FILE_ENV):
        key = Path(os.environ[SECRET_FILE_ENV]).read_bytes().strip()
        if not key:
            raise RuntimeError(f"{SECRET_FILE_ENV} names an empty file")
    else:
        log.warning(
            "no %s or %s: using a random session key; sessions will not survive a restart (nor span workers)",
            SECRET_ENV, SECRET_FILE_ENV,
        )
        return secrets.token_bytes(32)
    if len(key) < 32:
        log.warning("the cockpit session key is short (%d bytes); use at least 32 random bytes", len(key))
    return key


ConnSource = str | Callable[[], "ConnectionPool"]
OUTAGE_GRACE_S = 120.0  # while the database is down, a session this worker checked this recently is still believed


@dataclass
class _State:
    """What install() leaves on ``server.extensions``: where accounts live, the throttle and the session cache."""

    source: ConnSource
    prefix: str
    recheck_s: float
    throttle: Throttle
    # session id -> (recheck after, believe during an outage until, user); monotonic seconds
    cache: dict[str, tuple[float, float, User]]
    lock: threading.Lock

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection from the pool getter, or a new autocommit one to the DSN."""
        if isinstance(self.source, str):
            with psycopg.connect(self.source, autocommit=True, connect_timeout=5) as conn:
                yield conn
        else:
            with self.source().connection() as conn:
                yield conn

    def forget(self, sid: str) -> None:
        with self.lock:
            self.cache.pop(sid, None)

    def remember(self, sid: str, user: User, now: float) -> None:
        with self.lock:
            if len(self.cache) > 10_000:  # drop entries past their grace (sessions that stopped calling)
                for key in [k for k, (_, grace, _) in self.cache.items() if grace <= now]:
                    del self.cache[key]
            self.cache[sid] = (now + self.recheck_s, now + OUTAGE_GRACE_S, user)


def _session_user(state: _State) -> User | None:
    """The session's user if its server-side session is live (not logged out, expired, or ended by an account change).

    Checked in the database on every request (``recheck_s=0``, the default) or at most every ``recheck_s`` seconds
    per worker. While the database is not answering, a session this worker confirmed within ``OUTAGE_GRACE_S`` is
    believed (the pages have no fresh data to show anyway); any other is refused.
    """
    token = session.get("sid")
    if not isinstance(token, str):
        return None
    sid = sessions.token_id(token)
    now = time.monotonic()
    with state.lock:
        hit = state.cache.get(sid)
    if hit is not None and hit[0] > now:
        return hit[2]
    try:
        with state.connect() as conn:
            found = sessions.lookup(conn, sid)
    except psycopg.OperationalError as exc:  # includes the pool's timeout
        if hit is not None and hit[1] > now:
            log.warning("cannot check the session of %r (%s): confirmed %.0f s ago, believed", hit[2].username,
                        str(exc).strip(), now - (hit[1] - OUTAGE_GRACE_S))
            return hit[2]
        log.warning("cannot check a session (%s): refused", str(exc).strip())
        return None
    if found is None:
        state.forget(sid)
        session.clear()
        return None
    user = User(*found)
    state.remember(sid, user, now)
    return user


def current_user() -> User | None:
    """The logged-in user of the current request (None outside a request, or without a valid session)."""
    if not has_request_context():
        return None
    if "mallsense_user" not in g:
        state: _State | None = current_app.extensions.get(_EXT)
        g.mallsense_user = _session_user(state) if state is not None else None
    return g.mallsense_user


def can(area: str) -> bool:
    """Whether the current user may see ``area`` (for layouts and navigation; enforce with :func:`require`)."""
    user = current_user()
    return user is not None and user.can(area)


def require(
    area: str, *, refuse: Callable[[str], T] | None = None
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a Dash callback so it runs only for a user allowed to see ``area``.

    Otherwise it raises :class:`Forbidden` (HTTP 403 if nothing catches it) before the callback body runs — or,
    with ``refuse``, returns ``refuse(message)`` for the callback's outputs instead. ``area`` is checked against
    :data:`AREAS` when decorating.
    """
    if area not in AREAS:
        raise ValueError(f"unknown cockpit area {area!r} (known: {', '.join(sorted(AREAS))})")

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            user = current_user()
            if user is None or not user.can(area):
                exc = Forbidden(area, user)
                log.warning("refused %s to %s", func.__qualname__, user or "anonymous")
                if refuse is not None:
                    return refuse(exc.message)
                raise exc
            return func(*args, **kwargs)

        return wrapper

    return decorate


def csrf_token() -> str:
    """The session's CSRF token (made on first use); forms posting to /login and /logout carry it."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _csrf_ok() -> bool:
    sent, expected = request.form.get("csrf_token", ""), session.get("csrf")
    return isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())


def logout_form(label: str = "Log out", class_name: str = "logout") -> Any:
    """A Dash component: a button posting to /logout with the CSRF token (call it while serving a layout)."""
    from dash import dcc
    from dash import html as dhtml

    return dhtml.Form(action=url_for("mallsense_logout"), method="POST", className=class_name, children=[
        dcc.Input(type="hidden", name="csrf_token", value=csrf_token()),
        dhtml.Button(label, type="submit"),
    ])


def _safe_next(target: str | None, default: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mallsense · log in</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0;display:flex;min-height:100vh;
align-items:center;justify-content:center}}
form{{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:18rem}}
h1{{font-size:1.2rem;margin:0 0 1rem}}label{{display:block;margin:.6rem 0 .2rem;font-size:.9rem}}
input[type=text],input[type=password]{{width:100%;box-sizing:border-box;padding:.45rem}}
button{{margin-top:1rem;width:100%;padding:.5rem}}.error{{color:#b91c1c;font-size:.9rem}}
</style></head><body>
<form method="post" action="{action}">
<h1>mallsense cockpit</h1>{error}
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" value="{username}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form></body></html>
"""


def _login_page(
    error: str = "", username: str = "", next_: str = "", status: int = 200, extra: dict[str, str] | None = None
) -> ResponseReturnValue:
    """The login form (self-contained: no scripts, inline style only), with ``error`` above it."""
    body = _PAGE.format(
        action=html.escape(url_for("mallsense_login")),
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        csrf=html.escape(csrf_token()),
        next=html.escape(next_),
        username=html.escape(username),
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
        " frame-ancestors 'none'",
        **(extra or {}),
    }
    return body, status, headers


def install(
    app: Dash,
    secret_key: bytes | None,
    dsn_or_pool_getter: ConnSource,
    *,
    recheck_s: float = RECHECK_S,
    throttle: Throttle = throttling.DEFAULT,
) -> None:
    """Require a login for every page and callback of ``app`` (call once, after building the app).

    ``secret_key`` signs the session cookie (None: :func:`load_secret_key`). ``dsn_or_pool_getter`` is where the
    accounts live: a DSN, or a function returning a psycopg ``ConnectionPool`` (e.g.
    ``lambda: context.current().pool``), called per use. Each request checks its session in ``cockpit_session``
    (``recheck_s`` > 0: at most that often per worker; a logout in the same worker applies at once regardless).
    ``throttle`` slows password guessing (:mod:`dashboards.throttle`). Every response gets the security headers of
    :mod:`dashboards.headers`.

    Cookie: HttpOnly, SameSite=Lax, lifetime :data:`SESSION_LIFETIME`; Secure (and the ``__Host-`` name prefix) when
    ``MALLSENSE_COCKPIT_HTTPS=1``. Behind a reverse proxy, set ``MALLSENSE_COCKPIT_TRUSTED_PROXIES`` to the number of
    proxies so that the throttle sees client addresses, not the proxy's (without it ``X-Forwarded-For`` is ignored).
    """
    server: Flask = app.server
    server.secret_key = secret_key if secret_key is not None else load_secret_key()
    https = os.environ.get(HTTPS_ENV) == "1"
    server.config.update(
        SESSION_COOKIE_NAME="__Host-mallsense" if https else "mallsense_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    proxies = int(os.environ.get(PROXIES_ENV, "0") or 0)
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    prefix = app.config.routes_pathname_prefix
    home = app.config.requests_pathname_prefix
    state = _State(source=dsn_or_pool_getter, prefix=prefix, recheck_s=recheck_s, throttle=throttle, cache={},
                   lock=threading.Lock())
    server.extensions[_EXT] = state
    public_exact = {prefix + "login", prefix + "_favicon.ico", "/favicon.ico"}
    if app.config.health_endpoint:
        public_exact.add(prefix + app.config.health_endpoint.lstrip("/"))
    public_prefixes = (prefix + app.config.assets_url_path.strip("/") + "/", prefix + "_dash-component-suites/")

    def login() -> ResponseReturnValue:
        next_ = _safe_next(request.values.get("next"), home)
        if request.method == "GET":
            if current_user() is not None:
                return redirect(next_)
            return _login_page(next_=next_)
        username = request.form.get("username", "")
        if not _csrf_ok():
            session.pop("csrf", None)
            return _login_page("The form had expired: please log in again.", username, next_, 400)
        ip = request.remote_addr
        try:
            with state.connect() as conn:
                user = verify(conn, username, request.form.get("password", ""), ip, throttle=state.throttle)
                token = sessions.start(conn, user.username, ip, SESSION_LIFETIME) if user else None
        except TooManyAttempts as exc:
            retry = {"Retry-After": str(exc.seconds)}
            return _login_page(f"Too many attempts, try again in {exc.wait_text}.", username, next_, 429, retry)
        except psycopg.OperationalError as exc:
            log.warning("login impossible, the database is not answering: %s", str(exc).strip())
            return _login_page("The user database is not answering; try again shortly.", username, next_, 503)
        if user is None or token is None:
            return _login_page("Unknown user name or wrong password.", username, next_, 401)
        session.clear()  # a new session (new CSRF token) for the logged-in user
        session.permanent = True
        session["sid"] = token
        csrf_token()  # for the logout form
        return redirect(next_)

    def logout() -> ResponseReturnValue:
        if not _csrf_ok():
            return jsonify(error="bad or missing CSRF token"), 400
        token = session.get("sid")
        session.clear()
        if isinstance(token, str):
            sid = sessions.token_id(token)
            state.forget(sid)
            try:
                with state.connect() as conn:
                    sessions.end(conn, sid)
            except psycopg.OperationalError as exc:
                log.error("logout could not end the session on the server (%s): other workers may accept its"
                          " cookie until it expires", str(exc).strip())
        return redirect(url_for("mallsense_login"))

    def gate() -> ResponseReturnValue | None:
        path = request.path
        if path in public_exact or path.startswith(public_prefixes):
            return None
        if current_user() is not None:
            return None
        xhr = path.startswith(tuple(prefix + p for p in _XHR_PATHS))
        if request.method in ("GET", "HEAD") and not xhr:
            return redirect(url_for("mallsense_login", next=request.full_path.rstrip("?")))
        return jsonify(error="login required", login=url_for("mallsense_login")), 401

    server.add_url_rule(prefix + "login", endpoint="mallsense_login", view_func=login, methods=["GET", "POST"])
    server.add_url_rule(prefix + "logout", endpoint="mallsense_logout", view_func=logout, methods=["POST"])
    server.before_request(gate)
    headers.install(app, https=https)
