"""Cockpit sessions kept on the server (table ``cockpit_session``, migration ``010_cockpit_sessions.sql``).

The signed Flask cookie carries only a random token; the table holds its SHA-256, the user and an expiry. A session
is valid while its row exists, has not expired and its account is enabled, so logging out (:func:`end`), disabling
the account, changing its password or its role (:func:`end_all`, called by :mod:`dashboards.auth` in the same
transaction) make a copied cookie useless at once, in every process that checks the table.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import psycopg


def token_id(token: str) -> str:
    """What the table stores for a cookie's token: its SHA-256 (a leaked table yields no usable cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


def start(conn: psycopg.Connection, username: str, ip: str | None, lifetime: timedelta) -> str:
    """A new session for ``username``; returns the token to put in the cookie. Expired rows are cleared on the way."""
    conn.execute("DELETE FROM cockpit_session WHERE expires < now()")
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO cockpit_session (id, username, ip, expires) VALUES (%s, %s, %s, now() + %s)",
        (token_id(token), username, ip, lifetime),
    )
    return token


def lookup(conn: psycopg.Connection, sid: str) -> tuple[str, str] | None:
    """(user name, role) of the live session ``sid`` (a :func:`token_id`); None if ended, expired or disabled."""
    row = conn.execute(
        "SELECT u.username, u.role FROM cockpit_session s JOIN cockpit_user u ON u.username = s.username"
        " WHERE s.id = %s AND s.expires > now() AND NOT u.disabled",
        (sid,),
    ).fetchone()
    return (row[0], row[1]) if row is not None else None


def end(conn: psycopg.Connection, sid: str) -> bool:
    """End one session (logout); whether it was still open."""
    return conn.execute("DELETE FROM cockpit_session WHERE id = %s", (sid,)).rowcount > 0


def end_all(conn: psycopg.Connection, username: str) -> int:
    """End every session of ``username``; how many were open."""
    return conn.execute("DELETE FROM cockpit_session WHERE username = %s", (username,)).rowcount
