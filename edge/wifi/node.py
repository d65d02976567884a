"""Run one WiFi sensor of an edge node: a capture source → collector → disk outbox → MQTT link."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from edge.batching import SensorStream
from edge.outbox import Outbox
from edge.privacy import DeviceKeyer, OptOutList
from edge.publisher import BrokerConfig, sensor_outbox
from edge.wifi.collector import WifiCollector
from edge.wifi.config import WifiSensorConfig
from edge.wifi.devices import DeviceEstimator
from mallsense.contract import Kind
from mallsense.site import Site

log = logging.getLogger(__name__)


def build_collector(site: Site, node: str, cfg: WifiSensorConfig, outbox: Outbox, secret: bytes) -> WifiCollector:
    sensor = site.sensor_by_id.get(cfg.sensor)
    if sensor is None or sensor.kind != "wifi":
        raise ValueError(f"{cfg.sensor!r} is not a wifi sensor of site {site.site.id}")
    if sensor.node != node:
        raise ValueError(f"sensor {cfg.sensor!r} belongs to node {sensor.node!r}, not {node!r}")
    keyer = DeviceKeyer(secret, site=site.site.id, tz=site.site.timezone, rotation_days=site.site.rotation_days)
    streams = [SensorStream(outbox, site.site.id, node, kind, cfg.sensor) for kind in (Kind.WIFI, Kind.WIFI_COUNT)]
    return WifiCollector(keyer, *streams, estimator=DeviceEstimator(cfg.estimator()),
                         opt_out=OptOutList.load(secret, cfg.opt_out_file), publish_sightings=cfg.publish_sightings)


def run_wifi_sensor(site: Site, node: str, cfg: WifiSensorConfig, frames: Iterator[tuple[int, bytes]], *,
                    secret: bytes, broker: BrokerConfig | None, outbox_path: Path | None,
                    stop: threading.Event, drain_timeout_s: float = 30.0) -> WifiCollector:
    """Feed ``frames`` (a replay or a live capture) until they end or ``stop`` is set; returns the collector
    (its ``stats`` say what was seen). With a broker the batches are published and, at the end, drained."""
    with sensor_outbox(site.site.id, node, broker, outbox_path, stop, what=f"wifi {cfg.sensor}", process=cfg.sensor,
                       drain_timeout_s=drain_timeout_s) as out:
        collector = build_collector(site, node, cfg, out.outbox, secret)
        for ts_us, frame in frames:
            collector.feed(ts_us, frame)
            if stop.is_set():
                break
        collector.finish()
    return collector
