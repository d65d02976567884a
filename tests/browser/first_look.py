"""A new user's first look at ``mallsense demo``: start it, log in with the printed account, open every page.

Shared by the browser test (``test_demo_first_run.py``) and the benchmark (``bench/demo_start.py``). Every check
waits for the page's charts to hold data (not a "Loading…" or empty-state placeholder) and raises
:class:`FirstLookFailed` naming the page and chart that stayed empty.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from mallsense.services import DB_NAME, DB_USER

LIVE_PANELS = ("live-occupancy", "live-entrances", "live-heatmap")
PAGES = {  # path → graphs that must hold data
    "/flows": ["flows-daily", "flows-hourly", "flows-floors", "flows-paths"],
    "/visitors": ["visitors-returning", "visitors-frequency", "visitors-dwell"],
    "/leasing": ["leasing-plan", "leasing-stores", "leasing-lift", "leasing-network", "leasing-transitions"],
    "/campaigns": ["campaigns-uplift", "campaigns-daily"],
    "/members": ["members-lifecycle", "members-spend", "members-tags"],
}
FAILED = ("could not be updated", "Traceback", "not answering")
INTERVAL = re.compile(r"[+-]?\d+(?:\.\d+)? % \[[+-]?\d+(?:\.\d+)?, [+-]?\d+(?:\.\d+)?\]")
REPEAT_30 = re.compile(r"([\d.]+) %\s*repeat rate, 30 days")
URL_TIMEOUT_S = 600.0


class FirstLookFailed(AssertionError):
    """A page or chart did not show what a first look must show."""


@dataclass
class Demo:
    """A running ``mallsense demo`` process and its log."""

    proc: subprocess.Popen
    log: Path
    home: Path
    port: int
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def dsn(self) -> str:
        """The demo database (its port as printed at start)."""
        found = re.search(r"database ready on port (\d+)", self.output())
        if found is None:
            raise FirstLookFailed("the demo printed no database port")
        return f"host=127.0.0.1 port={found.group(1)} user={DB_USER} dbname={DB_NAME} connect_timeout=5"

    def wait_for_url(self, timeout_s: float = URL_TIMEOUT_S) -> float:
        """Seconds from the start until the cockpit URL was printed."""
        deadline = self.started + timeout_s
        while f"127.0.0.1:{self.port}" not in self.output():
            if self.proc.poll() is not None:
                raise FirstLookFailed(f"mallsense demo exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise FirstLookFailed(f"no cockpit URL within {timeout_s:.0f} s:\n{self.output()[-3000:]}")
            time.sleep(0.5)
        return time.monotonic() - self.started

    def stop(self) -> str:
        """Ctrl-C, as a user stops it; returns everything it printed."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.output()


def start_demo(home: Path, port: int, log: Path, *args: str) -> Demo:
    """``mallsense demo --home HOME --port PORT ARGS`` (the README's command with a private home and port)."""
    out = open(log, "w")  # noqa: SIM115 - the child writes it; read back by path
    proc = subprocess.Popen(
        [sys.executable, "-m", "mallsense.cli", "demo", "--home", str(home), "--port", str(port), *args],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out.close()
    return Demo(proc, log, home, port)


def log_in(browser, demo: Demo, account: tuple[str, str] | None = None):
    """A page logged in with ``account`` (default: the one the demo printed and wrote to ``cockpit-login.txt``)."""
    if account is None:
        user, password = (demo.home / "cockpit-login.txt").read_text().split()
        if f"log in as {user} / {password}" not in demo.output():
            raise FirstLookFailed("the demo did not print the account it wrote to cockpit-login.txt")
    else:
        user, password = account
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(demo.url + "/", wait_until="networkidle")
    if "/login" not in page.url:
        raise FirstLookFailed("the cockpit opened without a login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def traces(page, block: str) -> int:
    """Traces of a block's graph that carry data (plotly may ship arrays as typed ``{bdata}`` objects)."""
    return page.evaluate(f"""() => {{
        const g = document.querySelector('#{block}-graph .js-plotly-plot');
        const has = v => !!v && ((v.length || 0) > 0 || (!!v.bdata && v.bdata.length > 0));
        return g && g.data ? g.data.filter(t => has(t.x) || has(t.y) || has(t.z)
            || (t.cells && t.cells.values && has(t.cells.values[0])) || (t.link && has(t.link.value))).length : -1;
    }}""")


def _wait_filled(page, path: str, blocks: list[str], timeout_ms: int) -> None:
    page.wait_for_load_state("networkidle")
    for block in blocks:
        try:
            page.wait_for_function(f"""() => {{
                const g = document.querySelector('#{block}-graph .js-plotly-plot');
                return g && g.data && !(g.layout.annotations || []).some(a => a.text === 'Loading…');
            }}""", timeout=timeout_ms)
        except PlaywrightTimeout as exc:
            raise FirstLookFailed(f"{path}: {block} still loading after {timeout_ms / 1000:.0f} s") from exc
        if traces(page, block) < 1:
            raise FirstLookFailed(f"{path}: {block} holds no data: {page.inner_text(f'#{block}')[:300]!r}")


def wait_live(page, demo: Demo, timeout_ms: int) -> None:
    page.goto(demo.url + "/", wait_until="networkidle")
    deadline = time.monotonic() + timeout_ms / 1000
    for panel in LIVE_PANELS:
        page.wait_for_selector(f"#{panel}", timeout=timeout_ms)
    while True:
        occupancy = page.inner_text("#live-occupancy")
        filled = (re.search(r"[1-9]", occupancy) is not None
                  and page.locator("#live-entrances .trace").count() >= 1
                  and page.locator("#live-heatmap .hm, #live-heatmap .heatmaplayer image, "
                                   "#live-heatmap .trace").count() >= 1)
        if filled:
            return
        if time.monotonic() > deadline:
            raise FirstLookFailed(f"/: the live panels stayed empty: {occupancy[:300]!r}")
        time.sleep(1)


def pages_for(role: str) -> list[str]:
    """The analysis pages ``role`` may open (every role may open Live)."""
    from dashboards.auth import allowed

    return [path for path in PAGES if allowed(role, path.strip("/"))]


def check_every_page(page, demo: Demo, shots: Path | None = None, *, timeout_ms: int = 60_000,
                     paths: list[str] | None = None) -> dict[str, str]:
    """Open Live and the analysis pages (``paths``, default all five); raise unless each page's charts hold data, the
    Leasing page's co-visit matrix and suggestions are filled, the 30-day repeat rate is above 0 and every campaign
    has an interval. Returns each page's text; screenshots go to ``shots`` (``demo-<page>.png``)."""
    texts = {}
    wait_live(page, demo, timeout_ms)
    texts["/"] = page.inner_text("main")
    if shots is not None:
        page.screenshot(path=str(shots / "demo-live.png"), full_page=True)
    for path in PAGES if paths is None else paths:
        blocks = PAGES[path]
        page.goto(demo.url + path, wait_until="networkidle")
        _wait_filled(page, path, blocks, timeout_ms)
        body = page.inner_text("main")
        for word in FAILED:
            if word in body:
                raise FirstLookFailed(f"{path}: {word!r} on the page: {body[:500]!r}")
        if path == "/leasing":
            page.wait_for_selector("#leasing-suggestions-body li", timeout=timeout_ms)
        if path == "/visitors":
            page.wait_for_selector("#visitors-kpis-body .tile", timeout=timeout_ms)
            body = page.inner_text("main")
            rate = REPEAT_30.search(body)
            if rate is None or float(rate.group(1)) <= 0:
                raise FirstLookFailed(f"/visitors: no 30-day repeat rate above 0: {body[:600]!r}")
        if path == "/campaigns":
            page.wait_for_selector("#campaigns-attributed-body table", timeout=timeout_ms)
            rows = page.locator("#campaigns-attributed-body tbody tr").all_inner_texts()
            if not rows or any(INTERVAL.search(row) is None for row in rows):
                raise FirstLookFailed(f"/campaigns: a campaign without an uplift interval: {rows!r}")
            body = page.inner_text("main")
        texts[path] = body
        if shots is not None:
            page.screenshot(path=str(shots / f"demo-{path.strip('/')}.png"), full_page=True)
    return texts
