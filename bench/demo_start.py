"""How long a new user waits for `mallsense demo`: first start (history built), second start (history reused).

    .venv/bin/python bench/demo_start.py [--history-days 21] [--scale 0.02] [--no-baseline]

On a fresh home it runs ``mallsense demo`` as the README does, logs in headless Chromium with the printed account
and prints the seconds from the command to (1) the cockpit URL, (2) the first page (Live) with every panel filled and
(3) all six pages checked filled (``tests/browser/first_look.py``); then Ctrl-C and a second start on the same home.
The baseline, measured in the same run on another fresh home, is the demo without history (``--history-days 0``):
what the history costs. Targets on 2 cores: first page under 120 s, second start under 30 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mallsense.services import free_port  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.browser.first_look import check_every_page, log_in, start_demo, wait_live  # noqa: E402


def one_start(browser, home: Path, log: Path, args: list[str], *, every_page: bool = True) -> dict[str, float]:
    demo = start_demo(home, free_port(), log, *args)
    try:
        times = {"url": demo.wait_for_url()}
        page = log_in(browser, demo)
        wait_live(page, demo, 120_000)
        times["first page"] = time.monotonic() - demo.started
        if every_page:
            check_every_page(page, demo)
            times["every page"] = time.monotonic() - demo.started
        page.close()
    finally:
        demo.stop()
    return times


def _line(name: str, times: dict[str, float]) -> str:
    return f"{name:<34} " + " · ".join(f"{k} {v:6.1f} s" for k, v in times.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history-days", type=int, default=None, help="passed to mallsense demo (default: its own)")
    parser.add_argument("--scale", type=float, default=None, help="passed to mallsense demo (default: its own)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the start without history")
    args = parser.parse_args()
    extra = [*(["--history-days", str(args.history_days)] if args.history_days is not None else []),
             *(["--scale", str(args.scale)] if args.scale is not None else [])]
    path = chromium_path()
    if path is None:
        print("Chromium is not installed (scripts/bootstrap.sh --browser installs it)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mallsense-demo-bench-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        root = Path(tmp)
        first = one_start(browser, root / "home", root / "first.log", extra)
        print(_line("first start (history built):", first), flush=True)
        second = one_start(browser, root / "home", root / "second.log", extra)
        print(_line("second start (history reused):", second), flush=True)
        if not args.no_baseline:
            base = one_start(browser, root / "bare", root / "bare.log", [*extra, "--history-days", "0"],
                             every_page=False)
            print(_line("baseline: no history:", base), flush=True)
            print(f"history costs the first start {first['first page'] / base['first page']:.1f}x the baseline's "
                  f"first page, a second start {second['first page'] / base['first page']:.1f}x")
        print(f"first page filled: first start {first['first page']:.0f} s (target < 120 s), second start "
              f"{second['first page']:.0f} s (target < 30 s)")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
