"""How fast one may guess cockpit passwords: per (address, account) back-off and a per-address limit.

Every login attempt is journaled in ``login_attempt`` (by :func:`dashboards.auth.verify`). From that journal:

* **Per (address, account)**: the first ``free_failures`` wrong passwords since that pair's last success cost
  nothing; then each further attempt must wait ``base_delay × 2^(failures − free_failures)`` after the previous
  failure, at most ``max_delay``. Failures older than ``memory`` are forgotten.
* **Per address**: ``max_failures_ip`` failures within ``window``, whatever the accounts, refuse that address until
  the oldest of them leaves the window (an office NAT shares one address, hence the higher number).

Nothing is counted per account alone, so a stranger hammering an account slows only their own address: the owner
logs in from anywhere else. An admin logging in from a loopback address (the mall's own console) is not held back by
the per-address limit either (only by their own back-off), and ``mallsense user passwd`` never goes through here.
Attempts refused by the throttle are journaled with ``ok = NULL`` and count as nothing. The address is the TCP peer
unless ``MALLSENSE_COCKPIT_TRUSTED_PROXIES`` says how many proxies' ``X-Forwarded-For`` entries to believe.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

import psycopg


@dataclass(frozen=True)
class Throttle:
    """The throttle's settings (the defaults are the cockpit's)."""

    free_failures: int = 3
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    memory: timedelta = timedelta(days=1)
    window: timedelta = timedelta(minutes=15)
    max_failures_ip: int = 20


DEFAULT = Throttle()


def is_loopback(ip: str | None) -> bool:
    """Whether ``ip`` is a loopback address (127.0.0.0/8, ::1); anything unreadable is not."""
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def backoff(failures: int, throttle: Throttle = DEFAULT) -> timedelta:
    """The wait after the ``failures``-th consecutive failure of one (address, account) pair."""
    if failures < throttle.free_failures:
        return timedelta(0)
    steps = min(failures - throttle.free_failures, 40)  # 2^40 s is far beyond any max_delay
    return min(throttle.base_delay * 2**steps, throttle.max_delay)


def _pair_wait(conn: psycopg.Connection, username: str, ip: str | None, throttle: Throttle) -> timedelta | None:
    where_ip = "ip = %(ip)s" if ip else "ip IS NULL"
    failures, last, now = conn.execute(
        f"SELECT count(*), max(ts), now() FROM login_attempt"
        f" WHERE username = %(user)s AND {where_ip} AND ok = false AND ts > now() - %(memory)s"
        f" AND ts > coalesce((SELECT max(ts) FROM login_attempt"
        f"                    WHERE username = %(user)s AND {where_ip} AND ok), '-infinity')",
        {"user": username, "ip": ip, "memory": throttle.memory},
    ).fetchone()
    wait = backoff(failures, throttle)
    if not wait or last is None:
        return None
    left = last + wait - now
    return left if left > timedelta(0) else None


def _address_wait(conn: psycopg.Connection, ip: str, throttle: Throttle) -> timedelta | None:
    rows = conn.execute(
        "SELECT ts + %(window)s - now() FROM login_attempt"
        " WHERE ip = %(ip)s AND ok = false AND ts > now() - %(window)s ORDER BY ts DESC LIMIT %(limit)s",
        {"ip": ip, "window": throttle.window, "limit": throttle.max_failures_ip},
    ).fetchall()
    if len(rows) < throttle.max_failures_ip:
        return None
    return max(rows[-1][0], timedelta(seconds=1))  # when the limit-th newest failure leaves the window


def retry_after(
    conn: psycopg.Connection, username: str, ip: str | None, role: str | None, throttle: Throttle = DEFAULT
) -> timedelta | None:
    """How long ``ip`` must wait before trying ``username`` (whose role is ``role``, None if unknown); None: now."""
    waits = [_pair_wait(conn, username, ip, throttle)]
    if ip and not (role == "admin" and is_loopback(ip)):
        waits.append(_address_wait(conn, ip, throttle))
    return max((w for w in waits if w is not None), default=None)
