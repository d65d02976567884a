"""Prometheus endpoints for ingest and edge processes: values are read from the services' own counters at scrape
time (nothing is added to the hot path)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class _FunctionCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def ingest_metrics(ingest) -> Iterable[Metric]:
    s = ingest.stats
    yield CounterMetricFamily("mallsense_ingest_messages", "MQTT messages processed", value=s.messages)
    batches = CounterMetricFamily("mallsense_ingest_batches", "batches by outcome", labels=["outcome"])
    batches.add_metric(["new"], s.new_batches)
    batches.add_metric(["duplicate"], s.duplicate_batches)
    batches.add_metric(["seq_conflict"], sum(s.seq_conflicts.values()))
    yield batches
    conflicts = CounterMetricFamily("mallsense_ingest_seq_conflicts", "batches refused because their sensor's seq "
                                    "(and epoch) is stored with other content: a restarted sequence",
                                    labels=["site", "sensor"])
    for (site, sensor), n in sorted(s.seq_conflicts.items()):
        conflicts.add_metric([site, sensor], n)
    yield conflicts
    rows = CounterMetricFamily("mallsense_ingest_rows", "observation rows written", labels=["table"])
    for table, n in sorted(s.rows_by_table.items()):
        rows.add_metric([table], n)
    yield rows
    dead = CounterMetricFamily("mallsense_ingest_dead_letters", "messages refused, by reason", labels=["reason"])
    for reason, n in sorted(s.dead_by_reason.items()):
        dead.add_metric([reason], n)
    yield dead
    yield CounterMetricFamily("mallsense_ingest_db_errors", "failed database flushes (retried)", value=s.db_errors)
    yield GaugeMetricFamily("mallsense_ingest_lag_seconds", "now minus the newest batch's edge time at the last flush",
                            value=s.lag_s)
    yield GaugeMetricFamily("mallsense_ingest_queued_messages", "received, not yet written", value=ingest.queued())
    yield GaugeMetricFamily("mallsense_ingest_broker_connected", "1 if connected", value=float(ingest.connected))


def edge_metrics(links: Iterable) -> Iterable[Metric]:
    depth = GaugeMetricFamily("mallsense_edge_outbox_depth", "batches waiting for a commit report", labels=["node"])
    published = CounterMetricFamily("mallsense_edge_published", "batches accepted by the broker", labels=["node"])
    confirmed = CounterMetricFamily("mallsense_edge_confirmed", "batches confirmed stored by ingest", labels=["node"])
    dropped = CounterMetricFamily("mallsense_edge_outbox_dropped", "batches dropped, outbox full", labels=["node"])
    connected = GaugeMetricFamily("mallsense_edge_broker_connected", "1 if connected", labels=["node"])
    camera = ["node", "sensor"]
    read = CounterMetricFamily("mallsense_edge_camera_frames_read", "frames the camera's source delivered",
                               labels=camera)
    skipped = CounterMetricFamily("mallsense_edge_camera_frames_dropped", "frames replaced by a newer one before "
                                  "the pipeline took them", labels=camera)
    steps = CounterMetricFamily("mallsense_edge_camera_detect_steps", "frames the detector ran on", labels=camera)
    keeping_up = GaugeMetricFamily("mallsense_edge_camera_keeping_up", "share of the frames meant for the detector "
                                   "that it ran on (1 keeps up)", labels=camera)
    reconnects = CounterMetricFamily("mallsense_edge_camera_reconnects", "stream lost and opened again",
                                     labels=camera)
    for link in links:
        depth.add_metric([link.node], link.outbox.depth())
        published.add_metric([link.node], link.published)
        confirmed.add_metric([link.node], link.confirmed)
        dropped.add_metric([link.node], link.outbox.dropped)
        connected.add_metric([link.node], float(link.connected))
        for sensor, report in list(link.cameras.items()):
            h, labels = report(), [link.node, sensor]
            read.add_metric(labels, h.frames_read)
            skipped.add_metric(labels, h.frames_dropped)
            steps.add_metric(labels, h.detect_steps)
            reconnects.add_metric(labels, h.reconnects)
            if h.keeping_up is not None:
                keeping_up.add_metric(labels, h.keeping_up)
    yield from (depth, published, confirmed, dropped, connected, read, skipped, steps, keeping_up, reconnects)


def serve(collect: Callable[[], Iterable[Metric]], port: int, host: str = "127.0.0.1"):
    """Serve ``/metrics`` on host:port in a daemon thread; returns the server (call ``shutdown()`` to stop)."""
    registry = CollectorRegistry()
    registry.register(_FunctionCollector(collect))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
