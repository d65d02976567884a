"""Per-sensor batching: observations in, numbered contract batches out to the node's outbox."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.outbox import Outbox
from mallsense.contract import BATCH_MODELS, MAX_OBS_PER_BATCH, Kind, data_topic, encode


def now_ms() -> int:
    return int(time.time() * 1000)


class SensorStream:
    """Collects one sensor's observations of one kind and closes them into batches numbered by the outbox.

    A sensor's streams of different kinds share its ``seq`` counter (kept by the outbox), so ``(sensor, seq)``
    names one batch whatever its kind.

    The caller decides when to close a batch (``flush``): collectors flush about once a second, the simulator once
    per simulated interval. A batch also closes by itself at ``max_obs`` observations.

    >>> box = Outbox(None)
    >>> cam = SensorStream(box, "demo", "node-1", Kind.CROSSING, "cam-1")
    >>> from mallsense.contract import CrossingObs
    >>> cam.add(CrossingObs(ts=1764547200000, line="e-west", dir="in", track=1))
    >>> cam.flush(sent_ms=1764547201000), box.depth()
    (0, 1)
    """

    def __init__(
        self,
        outbox: Outbox,
        site: str,
        node: str,
        kind: Kind,
        sensor: str,
        *,
        max_obs: int = 5000,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if not 1 <= max_obs <= MAX_OBS_PER_BATCH:
            raise ValueError(f"max_obs must be within 1..{MAX_OBS_PER_BATCH}")
        self.outbox, self.site, self.node, self.kind, self.sensor = outbox, site, node, Kind(kind), sensor
        self.topic = str(data_topic(site, node, kind, sensor))
        self.model = BATCH_MODELS[self.kind]
        self.max_obs = max_obs
        self.on_batch = on_batch
        self.last_ts: int | None = None
        self._obs: list = []

    def add(self, obs) -> None:
        self._obs.append(obs)
        self.last_ts = obs.ts
        if len(self._obs) >= self.max_obs:
            self.flush()

    def flush(self, sent_ms: int | None = None) -> int | None:
        """Close the open batch (if any) into the outbox; return its seq."""
        if not self._obs:
            return None
        obs, sent = self._obs, sent_ms if sent_ms is not None else now_ms()

        def build(seq: int) -> bytes:
            return encode(self.model(site=self.site, node=self.node, sensor=self.sensor, seq=seq, sent=sent, obs=obs,
                                     epoch=self.outbox.epoch))

        seq = self.outbox.put_batch(self.topic, self.sensor, build)
        self._obs = []
        if self.on_batch:
            self.on_batch(seq)
        return seq
