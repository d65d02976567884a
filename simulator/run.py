"""Run the simulated mall through the real edge path (SensorStream → Outbox → EdgeLink → MQTT) and write its truth.

``simulate`` walks simulated time in windows, turns each window's observations into per-sensor batches of the
contract, and publishes them with one EdgeLink per edge node of the site, exactly as real collectors do. Ground
truth lands in ``<outdir>/truth/`` (see :mod:`simulator.truth`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.privacy import DeviceKeyer
from edge.publisher import BrokerConfig, EdgeLink
from mallsense.contract import Kind
from mallsense.site import Site
from simulator.sensing import Sensing
from simulator.truth import TruthWriter
from simulator.world import day_bounds, member_base, plan_day

log = logging.getLogger(__name__)
DEMO_SECRET = b"mallsense-simulator-node-secret"  # the simulated nodes' device-key secret (not a real deployment)
MAX_OUTBOX = 5_000  # back-pressure: wait for the links when an outbox holds more batches than this


class _Node:
    def __init__(self, site: Site, node: str, broker: BrokerConfig | None) -> None:
        # offline runs keep only the newest batches (the truth files are the product)
        self.outbox = Outbox(None, max_batches=10_000_000 if broker else 1000)
        self.link = EdgeLink(site.site.id, node, broker, self.outbox).start() if broker else None
        self.streams: dict[tuple[str, Kind], SensorStream] = {}
        self.site, self.node = site, node

    def stream(self, sensor: str, kind: Kind) -> SensorStream:
        key = (sensor, kind)
        if key not in self.streams:
            on_batch: Callable[[int], None] | None = None
            if self.link is not None:
                link = self.link

                def on_batch(seq: int, sensor=sensor, key=key) -> None:
                    last = self.streams[key].last_ts
                    if last is not None:
                        link.sensor_last[sensor] = max(last, link.sensor_last.get(sensor, 0))

            self.streams[key] = SensorStream(self.outbox, self.site.site.id, self.node, kind, sensor,
                                             max_obs=5000, on_batch=on_batch)
        return self.streams[key]

    def flush(self, sent_ms: int) -> None:
        for stream in self.streams.values():
            stream.flush(sent_ms)
        if self.link is not None:
            self.link.notify()


def _pace(t_sim: int, anchor: tuple[float, int] | None, speed: float | None, catch_up_ms: int | None,
          stop: threading.Event) -> tuple[float, int] | None:
    """Sleep so that simulated time advances ``speed`` times faster than wall time once past ``catch_up_ms``."""
    if speed is None or (catch_up_ms is not None and t_sim < catch_up_ms):
        return anchor
    if anchor is None:  # simulated time catch_up_ms (or the first paced window) happens now
        anchor = (time.monotonic(), catch_up_ms if catch_up_ms is not None else t_sim)
    due = anchor[0] + (t_sim - anchor[1]) / 1000 / speed
    stop.wait(max(0.0, due - time.monotonic()))
    return anchor


def simulate(
    site: Site,
    start_date: date,
    days: int = 1,
    *,
    broker: BrokerConfig | None,
    outdir: Path | str,
    scale: float = 1.0,
    seed: int = 0,
    batch_s: float | None = None,
    speed: float | None = None,
    catch_up_until: datetime | None = None,
    stop_event: threading.Event | None = None,
    progress: bool = True,
    nodes: set[str] | None = None,
    on_links: Callable[[list[EdgeLink]], None] | None = None,
) -> dict:
    """Simulate ``days`` local days from ``start_date`` and publish them; returns the truth summary.

    Args:
        broker: where to publish; None runs offline (truth only, batches stay in memory outboxes).
        scale: visitor volume relative to the site's ``simulation.daily_visitors``.
        batch_s: simulated seconds per batch window (default: 60 as fast as possible, ``speed`` s when paced, so
            paced batches leave about once per wall-clock second).
        speed: simulated seconds per wall-clock second; None = as fast as possible.
        catch_up_until: publish everything before this instant as fast as possible, then pace at ``speed``.
        nodes: only these edge nodes' sensors (a single edge node runs the simulator for its own sensors).
        on_links: called once with the nodes' MQTT links when connected (e.g. to serve their metrics).
    """
    stop = stop_event or threading.Event()
    outdir = Path(outdir)
    keyer = DeviceKeyer(DEMO_SECRET, site=site.site.id, tz=site.site.timezone, rotation_days=site.site.rotation_days)
    wanted = nodes or set(site.nodes)
    owner = {s.id: s.node for s in site.sensors if s.node in wanted}
    node_links = {n: _Node(site, n, broker) for n in sorted(wanted)}
    try:
        for node in node_links.values():
            if node.link is not None and not node.link.wait_connected(30):
                raise ConnectionError(f"simulated node {node.node} cannot reach the broker at "
                                      f"{broker.host}:{broker.port}")
        if on_links is not None:
            on_links([n.link for n in node_links.values() if n.link is not None])
        members = member_base(site, scale, seed)
        truth = TruthWriter(outdir / "truth", site, members, keyer)
        window_ms = int((batch_s or (max(1.0, speed) if speed else 60.0)) * 1000)
        catch_up_ms = int(catch_up_until.timestamp() * 1000) if catch_up_until else None
        anchor = None
        reported = time.monotonic()
        started = time.monotonic()
        n_obs = 0
        for offset in range(days):
            day = start_date + timedelta(days=offset)
            plan = plan_day(site, day, scale=scale, seed=seed, members=members)
            sensing = Sensing(site, plan, keyer, seed)
            t0, t_end = day_bounds(site, day)
            while t0 < t_end and not stop.is_set():
                t1 = min(t0 + window_ms, t_end)
                for ob in sensing.window(t0, t1):
                    if ob.sensor in owner:
                        node_links[owner[ob.sensor]].stream(ob.sensor, ob.kind).add(ob.obs)
                        n_obs += 1
                for node in node_links.values():
                    node.flush(t1)
                _back_pressure(node_links.values(), stop)
                anchor = _pace(t1, anchor, speed, catch_up_ms, stop)
                if progress and time.monotonic() - reported > 5:
                    reported = time.monotonic()
                    print(f"simulated {datetime.fromtimestamp(t1 / 1000, site.site.tz):%Y-%m-%d %H:%M} — "
                          f"{n_obs:,} observations, {n_obs / (reported - started):,.0f}/s", file=sys.stderr)
                t0 = t1
            truth.add_day(plan, sensing)
            if stop.is_set():
                break
        for node in node_links.values():
            if node.link is not None and not stop.is_set():
                node.link.wait_drained(timeout=600)
        return truth.close(n_obs)
    finally:
        for node in node_links.values():
            if node.link is not None:
                node.link.stop(drain_timeout_s=0 if stop.is_set() else 5)


def _back_pressure(nodes, stop: threading.Event) -> None:
    for node in nodes:
        while node.link is not None and node.outbox.unsent() > MAX_OUTBOX and not stop.is_set():
            node.link.notify()
            stop.wait(0.05)
