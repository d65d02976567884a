"""The cockpit as production runs it: gunicorn workers serving dashboards.wsgi, behind the login."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import psycopg
import pytest

from dashboards import auth
from mallsense.services import free_port

pytestmark = pytest.mark.integration
GUNICORN = Path(sys.executable).with_name("gunicorn")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_two_gunicorn_workers_serve_the_cockpit_behind_its_login(db_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(db_dsn) as conn:
        auth.create_user(conn, "ops", "gunicorn-test-password", "operator")
    port = free_port()
    env = {**os.environ, "MALLSENSE_DSN": db_dsn, "MALLSENSE_COCKPIT_SECRET": "s" * 40}
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(GUNICORN), "--workers", "2", "--bind", f"127.0.0.1:{port}", "dashboards.wsgi:server"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # each worker builds the app on its first request
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=30) as resp:
                    assert resp.status == 200
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.5)
        anonymous = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            anonymous.open(base + "/flows", timeout=60)
        assert redirect.value.code == 302 and "/login" in redirect.value.headers["Location"]
        # log in; the session (signed with the shared secret) is honoured by either worker
        jar = CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = browser.open(base + "/login", timeout=60).read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({"username": "ops", "password": "gunicorn-test-password", "csrf_token": csrf,
                                       "next": "/"}).encode()
        with browser.open(base + "/login", data=data, timeout=60) as resp:
            assert resp.status == 200
            assert resp.headers["Server"] == "gunicorn"  # no version banner
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["Cache-Control"] == "no-store"
        for _ in range(6):
            with browser.open(base + "/_dash-layout", timeout=60) as resp:
                assert resp.status == 200 and b"filter-bar" in resp.read()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
