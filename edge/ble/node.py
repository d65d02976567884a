"""Run one BLE sensor of an edge node: a replay (JSON lines or a capture file) or a live scan → outbox → MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from edge.batching import SensorStream, now_ms
from edge.ble.collector import BleCollector, CollectorStats
from edge.ble.ranging import AppRanging, RangingConfig, to_obs
from edge.ble.scanner import BleScanner, ScanConfig
from edge.outbox import Outbox
from edge.privacy import DeviceKeyer, OptOutList
from edge.publisher import BrokerConfig, sensor_outbox
from mallsense.broker_auth import app_ranging_process
from mallsense.contract import Kind
from mallsense.site import Sensor, Site

log = logging.getLogger(__name__)


def ble_sensor(site: Site, sensor_id: str) -> Sensor:
    sensor = site.sensor_by_id.get(sensor_id)
    if sensor is None or sensor.kind != "ble":
        raise ValueError(f"{sensor_id!r} is not a ble sensor of site {site.site.id}")
    return sensor


def build_collector(site: Site, sensor_id: str, outbox: Outbox, secret: bytes,
                    app_ids: Iterable[str] = (), opt_out_file: Path | None = None) -> BleCollector:
    sensor = ble_sensor(site, sensor_id)
    keyer = DeviceKeyer(secret, site=site.site.id, tz=site.site.timezone, rotation_days=site.site.rotation_days)
    return BleCollector(SensorStream(outbox, site.site.id, sensor.node, Kind.BLE, sensor_id), keyer, app_ids=app_ids,
                        opt_out=OptOutList.load(secret, opt_out_file))


def replay_source(path: Path, speed: float | None):
    """A JSON-lines recording (``.jsonl``) or a pcap/pcapng capture (nRF Sniffer, BLE link layer, HCI H4)."""
    if path.suffix in (".pcap", ".pcapng"):
        from edge.ble.capture import CaptureReader

        if speed:
            raise ValueError("captures replay as fast as possible; --speed applies to JSON-lines recordings")
        return CaptureReader(path)
    from edge.ble.replay import ReplayReader

    return ReplayReader(path, speed=speed)


def run_ble_sensor(site: Site, sensor_id: str, *, secret: bytes, broker: BrokerConfig | None,
                   outbox_path: Path | None, stop: threading.Event, replay: Path | None = None,
                   speed: float | None = None, scan: ScanConfig | None = None, app_ids: Iterable[str] = (),
                   opt_out_file: Path | None = None, drain_timeout_s: float = 30.0) -> CollectorStats:
    """Replay ``replay`` or scan live with ``scan`` until the source ends or ``stop`` is set."""
    node = ble_sensor(site, sensor_id).node
    with sensor_outbox(site.site.id, node, broker, outbox_path, stop, what=f"ble {sensor_id}", process=sensor_id,
                       drain_timeout_s=drain_timeout_s) as out:
        collector = build_collector(site, sensor_id, out.outbox, secret, app_ids, opt_out_file)
        if replay is not None and not speed:
            stats = collector.replay(replay_source(replay, None))
        else:
            stats = asyncio.run(_run_async(collector, replay, speed, scan, stop))
    return stats


def run_app_ranging(site: Site, sensor_id: str, adverts: Iterable, *, device_key: str, broker: BrokerConfig | None,
                     outbox_path: Path | None, stop: threading.Event, config: RangingConfig | None = None,
                     drain_timeout_s: float = 30.0) -> AppRanging:
    """A consented app's view of the mall's beacons (live or replayed) → zone events published as ``zone``
    observations under the app's stable key, through the gateway sensor ``sensor_id`` (a ble sensor of the site)."""
    node = ble_sensor(site, sensor_id).node
    with sensor_outbox(site.site.id, node, broker, outbox_path, stop, what=f"app ranging via {sensor_id}",
                       process=app_ranging_process(sensor_id),
                       drain_timeout_s=drain_timeout_s) as out:
        stream = SensorStream(out.outbox, site.site.id, node, Kind.ZONE, sensor_id)
        ranging = AppRanging(site, device_key, config)
        for adv in adverts:
            for obs in to_obs(ranging.observe(adv)):
                stream.add(obs)
            if stop.is_set():
                break
        for obs in to_obs(ranging.close()):
            stream.add(obs)
        stream.flush()
    return ranging


async def _run_async(collector: BleCollector, replay: Path | None, speed: float | None, scan: ScanConfig | None,
                     stop: threading.Event) -> CollectorStats:
    if replay is not None:
        task = asyncio.ensure_future(collector.run(replay_source(replay, speed)))
    else:
        scanner = BleScanner(scan or ScanConfig())

        async def live() -> CollectorStats:
            async with contextlib.aclosing(scanner.advertisements()) as adverts:
                return await collector.run(adverts, clock=now_ms)

        task = asyncio.ensure_future(live())
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        if stop.is_set():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return collector.stats
    return task.result()
