"""`mallsense demo --history-days 0` (the live day alone): the cockpit comes up and its live panels fill with data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from mallsense.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PANELS = ("live-occupancy", "live-entrances", "live-heatmap")


def _digits(text: str) -> int:
    found = re.findall(r"\d[\d,]*", text)
    return max((int(n.replace(",", "")) for n in found), default=0)


def test_demo_shows_moving_numbers_in_the_browser(tmp_path, browser, artifacts):
    port = free_port()
    log = open(tmp_path / "demo.log", "w+")  # noqa: SIM115 - read back at the end
    proc = subprocess.Popen(
        [sys.executable, "-m", "mallsense.cli", "demo", "--home", str(tmp_path / "home"), "--port", str(port),
         "--speed", "30", "--scale", "0.5", "--history-days", "0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    started = time.monotonic()
    try:
        deadline = started + 120
        while f"127.0.0.1:{port}" not in (tmp_path / "demo.log").read_text():
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "demo printed no cockpit URL within 120 s"
            time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        assert "/login" in page.url  # nobody gets in without logging in
        user, password = (tmp_path / "home" / "cockpit-login.txt").read_text().split()
        assert f"log in as {user} / {password}" in (tmp_path / "demo.log").read_text()
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        for panel in PANELS:
            page.wait_for_selector(f"#{panel}", timeout=30_000)
        # the occupancy number must be positive and must change while we watch (the mall is live)
        first = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            text = page.inner_text("#live-occupancy")
            if _digits(text) > 0:
                if first is None:
                    first = text
                elif text != first:
                    break
            time.sleep(2)
        else:
            pytest.fail(f"occupancy did not show moving numbers: {page.inner_text('#live-occupancy')!r}")
        assert page.locator("#live-entrances .js-plotly-plot").count() >= 1
        assert page.locator("#live-heatmap .js-plotly-plot").count() >= 1
        # the plots hold data: plotly renders one trace group per trace with data
        assert page.locator("#live-entrances .trace").count() >= 1
        assert page.locator("#live-heatmap .hm, #live-heatmap .heatmaplayer image, #live-heatmap .trace").count() >= 1
        page.screenshot(path=str(artifacts / "demo-live.png"), full_page=True)
        print(f"demo cockpit showed moving numbers {time.monotonic() - started:.0f} s after the command started")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    log.seek(0)
    output = log.read()
    assert "mallsense demo stopped" in output, output[-3000:]
