"""The WiFi collector of an edge node: frames in, privacy-safe sightings and per-interval estimates out.

For every probe request: the source MAC is looked up in the opt-out list (keyed hashes, never MACs), then turned
into the sensor's rotating device key (:class:`edge.privacy.DeviceKeyer`); the element signature becomes a keyed
fingerprint that rotates with the same key period, so even a unique element (a WPS UUID) links nothing across
periods. Nothing with the raw address is published, stored or logged: it lives only in the local variable of
:meth:`WifiCollector.feed`.

Two streams go to the node's outbox through the contract: ``wifi`` sightings (one per probe; can be switched off,
``publish_sightings=False``, for deployments that want counts only) and ``wifi_count`` estimates per interval
(:mod:`edge.wifi.devices`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edge.batching import SensorStream
from edge.privacy import DeviceKeyer, OptOutList
from edge.wifi.devices import DeviceEstimator, IntervalEstimate, Sighting
from edge.wifi.frames import FrameStats, ProbeRequest, parse_frame
from mallsense.contract import WifiCountObs, WifiObs

log = logging.getLogger(__name__)
FP_HEX = 16


def keyed_sighting(keyer: DeviceKeyer, probe: ProbeRequest) -> Sighting:
    """A probe as the rest of the system sees it: the address and the element signature become keys of the
    current period (the raw address goes no further than this call)."""
    ts_ms = probe.ts_us // 1000
    fp = keyer.key(b"ie|" + probe.signature, ts_ms)[:FP_HEX] if probe.signature else None
    return Sighting(ts_ms, keyer.key(probe.src, ts_ms), probe.randomized, fp, probe.seqno, probe.signal_dbm)


@dataclass
class CountPublisher:
    """Runs the device estimator over a sensor's sightings and publishes each finished interval as ``wifi_count``
    (used by the collector, and by the simulator for its simulated sensors)."""

    estimator: DeviceEstimator
    counts: SensorStream
    published: int = 0

    def add(self, sighting: Sighting) -> None:
        for est in self.estimator.add(sighting):
            self._publish(est)

    def add_obs(self, obs: WifiObs) -> None:
        self.add(Sighting(obs.ts, obs.dev, obs.rand, obs.fp, obs.sn, obs.rssi))

    def finish(self) -> None:
        last = self.estimator.flush()
        if last is not None:
            self._publish(last)

    def _publish(self, est: IntervalEstimate) -> None:
        self.counts.add(WifiCountObs(ts=est.start_ms, interval_s=self.estimator.config.interval_s, probes=est.probes,
                                     keys=est.keys, randomized_keys=est.randomized_keys, devices=float(est.devices),
                                     fixtures=est.fixtures, people=round(est.people, 2)))
        self.published += 1


@dataclass
class WifiCollector:
    """Feeds frames through parsing, opt-out, keying and estimation into the sensor's outbox streams.

    Args:
        keyer: the node's device keyer (site, time zone and rotation from the privacy mode).
        sightings, counts: the sensor's ``wifi`` and ``wifi_count`` streams.
        estimator: devices and people per interval.
        opt_out: devices never to record.
        flush_s: close a batch every this many seconds of capture time (and at ``max_obs``).
        publish_sightings: publish every probe (``wifi``) or only the interval estimates.
    """

    keyer: DeviceKeyer
    sightings: SensorStream
    counts: SensorStream
    estimator: DeviceEstimator = field(default_factory=DeviceEstimator)
    opt_out: OptOutList | None = None
    flush_s: float = 5.0
    publish_sightings: bool = True
    stats: FrameStats = field(default_factory=FrameStats)
    opted_out: int = 0
    _next_flush_ms: int | None = None
    _counter: CountPublisher = field(init=False)

    def __post_init__(self) -> None:
        self._counter = CountPublisher(self.estimator, self.counts)

    def feed(self, ts_us: int, frame: bytes) -> None:
        probe = parse_frame(frame, ts_us, self.stats)
        if probe is None:
            return
        if self.opt_out is not None and self.opt_out.excludes(probe.src):
            self.opted_out += 1
            return
        s = keyed_sighting(self.keyer, probe)
        ts_ms = s.ts_ms
        if self.publish_sightings:
            self.sightings.add(WifiObs(ts=ts_ms, dev=s.dev, rssi=s.rssi, rand=s.rand,
                                       ch=probe.channel if probe.channel and probe.channel <= 233 else None,
                                       sn=s.sn, fp=s.fp))
        self._counter.add(s)
        if self._next_flush_ms is None:
            self._next_flush_ms = ts_ms + int(self.flush_s * 1000)
        elif ts_ms >= self._next_flush_ms:
            self.flush(sent_ms=ts_ms)
            self._next_flush_ms = ts_ms + int(self.flush_s * 1000)

    def flush(self, sent_ms: int | None = None) -> None:
        self.sightings.flush(sent_ms)
        self.counts.flush(sent_ms)

    def finish(self, sent_ms: int | None = None) -> None:
        """End of the capture: publish the open interval's estimate and close every batch."""
        self._counter.finish()
        self.flush(sent_ms)
        log.info("wifi %s: %s, %d opted out", self.sightings.sensor, self.stats.as_dict(), self.opted_out)
