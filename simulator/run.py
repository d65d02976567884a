"""Run the simulated mall through the real edge path (SensorStream → Outbox → EdgeLink → MQTT) and write its truth.

:func:`simulate` walks simulated time day by day and window by window. Each window's observations go into one
:class:`~edge.batching.SensorStream` per (sensor, kind) of the edge node that owns the sensor; every stream is
flushed at the window's end (``sent`` = window end) into the node's :class:`~edge.outbox.Outbox`, which the node's
:class:`~edge.publisher.EdgeLink` publishes, exactly as real collectors do. Ground truth lands in
``<outdir>/truth/`` (see :mod:`simulator.truth`).

Memory stays bounded: one day's plan at a time, one window's observations at a time, and back-pressure on each
outbox (the simulation waits for its link when an outbox holds more than ``MAX_OUTBOX_BATCHES``).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.privacy import DeviceKeyer
from edge.publisher import BrokerConfig, EdgeLink
from edge.wifi.collector import CountPublisher
from edge.wifi.devices import DeviceEstimator, EstimatorConfig
from mallsense.contract import MAX_OBS_PER_BATCH, Kind
from mallsense.site import Site
from simulator.layout import Layout
from simulator.members import member_base
from simulator.sensing import Observation, Sensing
from simulator.truth import TruthWriter
from simulator.world import DayPlan, day_bounds, plan_day

log = logging.getLogger(__name__)

DEMO_SECRET = b"mallsense-simulator-node-secret"  # the simulated nodes' device-key secret (not a real deployment)
MAX_OUTBOX_BATCHES = 5_000  # back-pressure: wait for the link while a node's outbox holds more than this
OFFLINE_KEEP_BATCHES = 1_000  # offline, a node's in-memory outbox keeps only the newest batches
FAST_WINDOW_S = 60.0  # simulated seconds per batch when running as fast as possible
PROGRESS_EVERY_S = 5.0
DRAIN_TIMEOUT_S = 600.0
# observations per batch: a full batch of the longest possible observations of a kind (64-character ids, extreme
# numbers) stays under the contract's MAX_PAYLOAD_BYTES (512 KiB)
MAX_OBS = {Kind.CROSSING: 3_500, Kind.OCCUPANCY: 4_000, Kind.POSITION: 3_000, Kind.WIFI: 2_300, Kind.BLE: 3_500,
           Kind.WIFI_COUNT: 2_000}
# simulated phones keep their sequence counter across address changes and each visitor carries one phone at most:
# one estimated device is one person
SIM_WIFI_ESTIMATE = EstimatorConfig(people_per_device=1.0)
assert max(MAX_OBS.values()) <= MAX_OBS_PER_BATCH
_KIND = itemgetter(1)  # Observation.kind


class _Node:
    """One simulated edge node: its outbox, its MQTT link (None offline) and one stream per (sensor, kind)."""

    def __init__(self, site: Site, node: str, broker: BrokerConfig | None, outbox_dir: Path | None) -> None:
        self.site_id, self.node = site.site.id, node
        path = outbox_dir / f"{node}.db" if outbox_dir is not None else None
        keep = OFFLINE_KEEP_BATCHES if broker is None and path is None else 10_000_000
        self.outbox = Outbox(path, max_batches=keep)
        self.link = EdgeLink(site.site.id, node, broker, self.outbox).start() if broker is not None else None
        self.streams: dict[tuple[str, Kind], SensorStream] = {}
        self.batches = 0

    def stream(self, sensor: str, kind: Kind) -> SensorStream:
        key = (sensor, kind)
        stream = self.streams.get(key)
        if stream is None:
            stream = SensorStream(self.outbox, self.site_id, self.node, kind, sensor, max_obs=MAX_OBS[kind],
                                  on_batch=self._on_batch(sensor, kind))
            self.streams[key] = stream
        return stream

    def _on_batch(self, sensor: str, kind: Kind) -> Callable[[int], None]:
        def on_batch(seq: int) -> None:
            self.batches += 1
            last = self.streams[(sensor, kind)].last_ts
            if self.link is not None and last is not None:
                self.link.sensor_last[sensor] = max(last, self.link.sensor_last.get(sensor, 0))
        return on_batch

    def flush(self, sent_ms: int) -> None:
        for stream in self.streams.values():
            stream.flush(sent_ms)
        if self.link is not None:
            self.link.notify()

    def wait_for_room(self, stop: threading.Event) -> None:
        """Back-pressure: hold the simulation while the link has too much to deliver."""
        while self.link is not None and self.outbox.depth() > MAX_OUTBOX_BATCHES and not stop.is_set():
            if self.link.fatal:
                raise self.link.fatal
            self.link.notify()
            stop.wait(0.05)


class _Windows:
    """Where each batch window ends, and pacing against the wall clock once past the catch-up instant.

    Args:
        batch_s: simulated seconds per window (default: FAST_WINDOW_S when fast, ``speed`` when paced).
        speed: simulated seconds per wall-clock second; None never paces.
        catch_up_until: before this instant run as fast as possible (windows never reach past it).
    """

    def __init__(self, batch_s: float | None, speed: float | None, catch_up_until: datetime | None) -> None:
        self.speed = speed
        self.catch_up_ms = int(catch_up_until.timestamp() * 1000) if catch_up_until else None
        self.fast_ms = int((batch_s or FAST_WINDOW_S) * 1000)
        self.paced_ms = int((batch_s or max(1.0, speed or 1.0)) * 1000)
        self.anchor: tuple[float, int] | None = None  # (wall clock, simulated ms) that coincide

    def paced(self, t_sim: int) -> bool:
        return self.speed is not None and (self.catch_up_ms is None or t_sim >= self.catch_up_ms)

    def end(self, t0: int, t_end: int) -> int:
        """End of the window starting at ``t0`` (within a day ending at ``t_end``)."""
        if self.paced(t0):
            return min(t0 + self.paced_ms, t_end)
        t1 = t0 + self.fast_ms
        if self.catch_up_ms is not None and t0 < self.catch_up_ms:
            t1 = min(t1, self.catch_up_ms)  # never publish ahead of the catch-up instant
        return min(t1, t_end)

    def wait_until(self, t_sim: int, stop: threading.Event) -> None:
        """Sleep until simulated instant ``t_sim`` is due on the wall clock (no-op while catching up)."""
        if not self.paced(t_sim) or self.speed is None:
            return
        if self.anchor is None:  # the catch-up instant (or the first paced window's end) is now
            self.anchor = (time.monotonic(), self.catch_up_ms if self.catch_up_ms is not None else t_sim)
        due = self.anchor[0] + (t_sim - self.anchor[1]) / 1000 / self.speed
        stop.wait(max(0.0, due - time.monotonic()))


@dataclass
class _Progress:
    enabled: bool
    tz: Any
    started: float = field(default_factory=time.monotonic)
    last: float = field(default_factory=time.monotonic)
    observations: Counter = field(default_factory=Counter)

    def add(self, window: list[Observation]) -> None:
        self.observations.update(map(_KIND, window))

    def report(self, t_sim: int, batches: int, depth: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < PROGRESS_EVERY_S):
            return
        self.last = now
        total = sum(self.observations.values())
        print(f"simulated {datetime.fromtimestamp(t_sim / 1000, self.tz):%Y-%m-%d %H:%M} | {batches:,} batches | "
              f"{total:,} observations, {total / max(now - self.started, 1e-9):,.0f}/s | outbox {depth:,}",
              file=sys.stderr, flush=True)


class _Run:
    """One simulation run's moving parts: walks a day plan window by window into the nodes' streams."""

    def __init__(self, site: Site, seed: int, edge: dict[str, _Node], truth: TruthWriter, keyer: DeviceKeyer,
                 stop: threading.Event, windows: _Windows, meter: _Progress) -> None:
        self.site, self.seed, self.edge, self.truth, self.keyer, self.stop = site, seed, edge, truth, keyer, stop
        self.windows, self.meter = windows, meter
        self.layout = Layout(site)
        self.owner = {s.id: s.node for s in site.sensors if s.node in edge}
        self.adders: dict[tuple[str, Kind], Callable[[Any], None]] = {}
        self.counters: list[CountPublisher] = []  # each WiFi sensor's devices/people estimate (wifi_count)
        self.sim_start: int | None = None
        self.sim_end: int | None = None

    def day(self, plan: DayPlan) -> dict[str, Any]:
        """Sense and publish one day (until stopped); record its truth; return the summary so far."""
        sensing = Sensing(self.site, plan, self.keyer, seed=self.seed, sensors=self.owner.keys(), layout=self.layout)
        t0, t_end = day_bounds(self.site, plan.day)
        if self.sim_start is None:
            self.sim_start = t0
        while t0 < t_end and not self.stop.is_set():
            t1 = self.windows.end(t0, t_end)
            self.window(sensing, t0, t1)
            t0 = t1
        self.truth.add_day(plan, sensing, until_ms=t0)
        return self.summary()

    def window(self, sensing: Sensing, t0: int, t1: int) -> None:
        """One window: observations into their streams, every stream flushed (sent = t1), then pace."""
        observations = sensing.window(t0, t1)
        for ob in observations:
            add = self.adders.get((ob.sensor, ob.kind))
            if add is None:
                add = self.adders[(ob.sensor, ob.kind)] = self._adder(ob.sensor, ob.kind)
            add(ob.obs)
        for node in self.edge.values():
            node.flush(t1)
        self.truth.add_crossings(sensing.drain_crossings())
        self.meter.add(observations)
        for node in self.edge.values():
            node.wait_for_room(self.stop)
        self.sim_end = t1
        self.report()
        self.windows.wait_until(t1, self.stop)

    def _adder(self, sensor: str, kind: Kind) -> Callable[[Any], None]:
        node = self.edge[self.owner[sensor]]
        publish = node.stream(sensor, kind).add
        if kind is not Kind.WIFI:
            return publish
        counter = CountPublisher(DeviceEstimator(SIM_WIFI_ESTIMATE), node.stream(sensor, Kind.WIFI_COUNT))
        self.counters.append(counter)

        def add(obs: Any) -> None:
            publish(obs)
            counter.add_obs(obs)
        return add

    def finish_estimates(self) -> None:
        """Publish every WiFi sensor's open estimate interval (the end of the run)."""
        for counter in self.counters:
            counter.finish()
        if self.sim_end is not None:
            for node in self.edge.values():
                node.flush(self.sim_end)

    def batches(self) -> int:
        return sum(node.batches for node in self.edge.values())

    def report(self, *, force: bool = False) -> None:
        if self.sim_end is not None:
            depth = sum(node.outbox.depth() for node in self.edge.values())
            self.meter.report(self.sim_end, self.batches(), depth, force=force)

    def summary(self) -> dict[str, Any]:
        seen = Counter(self.meter.observations)
        seen[Kind.WIFI_COUNT] += sum(c.published for c in self.counters)
        return self.truth.summary(self.sim_start, self.sim_end, observations=sum(seen.values()),
                                  observations_by_kind={k.value: seen[k] for k in Kind}, batches=self.batches())


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
    nodes: Collection[str] | None = None,
    on_links: Callable[[list[EdgeLink]], None] | None = None,
    outbox_dir: Path | str | None = None,
    credentials: dict[str, str] | None = None,
    members_as_of: date | None = None,
) -> dict[str, Any]:
    """Simulate ``days`` local days from ``start_date``, publish them through the edge path, write the truth.

    Args:
        site: the mall (sensors, nodes and ``simulation`` parameters).
        start_date: first local day.
        days: how many consecutive days.
        broker: where the edge links publish; None runs offline (batches are built and kept in memory only).
        outdir: the truth goes to ``<outdir>/truth``.
        scale: visitor volume relative to ``simulation.daily_visitors``.
        seed: run seed; equal arguments give equal truth and equal observations.
        batch_s: simulated seconds per batch window (default: 60 while running as fast as possible; ``speed``
            seconds when paced, so paced batches leave about once per wall-clock second).
        speed: simulated seconds per wall-clock second; None runs as fast as possible.
        catch_up_until: publish everything before this instant as fast as possible, then pace at ``speed`` (the
            live demo starts mid-day with the morning already published).
        stop_event: set it to stop early (the truth covers what was simulated).
        progress: print a progress line to stderr every few seconds.
        nodes: only these edge nodes (an edge node simulates its own sensors); default all of the site's nodes.
        on_links: called once with the nodes' MQTT links after they connected (e.g. to serve their metrics).
        outbox_dir: keep each node's outbox on disk there (``<node>.db``; survives restarts, keeps ``seq``
            numbering across runs); default in memory.
        credentials: node → MQTT password; each node then logs in as itself (the broker's per-node ACL applies).
        members_as_of: the day the CRM member base is drawn for (default ``start_date``); runs that continue one
            another (a backfilled history, then a live day) pass the same day so that they share one member base.

    Returns:
        The truth summary (also in ``<outdir>/truth/summary.json``).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if scale <= 0:
        raise ValueError("scale must be positive")
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    wanted = set(nodes) if nodes is not None else set(site.nodes)
    unknown = wanted - set(site.nodes)
    if unknown:
        raise ValueError(f"unknown edge nodes: {', '.join(sorted(unknown))}")
    stop = stop_event or threading.Event()
    edge: dict[str, _Node] = {}
    truth: TruthWriter | None = None
    try:
        for node in sorted(wanted):
            node_broker = broker
            if broker is not None and credentials is not None:
                node_broker = dataclasses.replace(broker, username=node, password=credentials[node])
            edge[node] = _Node(site, node, node_broker, Path(outbox_dir) if outbox_dir is not None else None)
        links = [node.link for node in edge.values() if node.link is not None]
        for link in links:
            if not link.wait_connected(30):
                raise ConnectionError(f"simulated node {link.node} cannot reach the broker at "
                                      f"{link.broker.host}:{link.broker.port}")
        if on_links is not None:
            on_links(links)
        keyer = DeviceKeyer(DEMO_SECRET, site=site.site.id, tz=site.site.timezone,
                            rotation_days=site.site.rotation_days)
        members = member_base(site, members_as_of or start_date, scale=scale, seed=seed)
        run_info = {"seed": seed, "scale": scale, "start_date": start_date.isoformat(), "days": days}
        if members_as_of is not None:
            run_info["members_as_of"] = members_as_of.isoformat()
        truth = TruthWriter(Path(outdir) / "truth", site, members, keyer, run=run_info)
        windows = _Windows(batch_s, speed, catch_up_until)
        run = _Run(site, seed, edge, truth, keyer, stop, windows, _Progress(progress, site.site.tz))
        summary = run.summary()
        for offset in range(days):
            if stop.is_set():
                break
            day = start_date + timedelta(days=offset)
            summary = run.day(plan_day(site, day, scale=scale, seed=seed, members=members, layout=run.layout))
        run.finish_estimates()
        summary = run.summary()
        if not stop.is_set():
            for link in links:
                if not link.wait_drained(timeout=DRAIN_TIMEOUT_S):
                    log.warning("node %s: %d batches still undelivered after %.0f s", link.node,
                                link.outbox.depth(), DRAIN_TIMEOUT_S)
        run.report(force=True)
        return summary
    finally:
        if truth is not None:
            truth.close()
        for node in edge.values():
            if node.link is not None:
                node.link.stop(drain_timeout_s=0 if stop.is_set() else 5)
            node.outbox.close()
