"""What ingest accepts: the contract, plus checks that need context (known sensors, plausible clocks).

Every refusal is a :class:`Rejected` with a short reason code; the consumer writes it to ``dead_letter``.
Reason codes: ``bad_topic``, ``bad_id``, ``bad_kind``, ``invalid_json``, ``bad_version``, ``schema``,
``nul_char`` (U+0000 in a string or object key), ``non_finite`` (NaN, ±Infinity, 1e309), ``out_of_range`` (a number
its column's type cannot hold), ``topic_mismatch``, ``oversized``, ``unknown_site``, ``unknown_sensor``,
``wrong_node``, ``wrong_kind``, ``future_ts``, ``internal``. The consumer adds ``write_failed`` (the database
refused a message that passed all of these; :data:`ingest.writer.WRITE_FAILED`).
"""

from __future__ import annotations

import logging
import time

from mallsense.contract import (
    ContractError,
    DataTopic,
    Kind,
    NodeState,
    StateTopic,
    decode_batch,
    decode_state,
    parse_topic,
)
from mallsense.site import Site

log = logging.getLogger(__name__)

KINDS_OF_SENSOR = {
    "camera": {Kind.CROSSING, Kind.OCCUPANCY, Kind.POSITION},
    "wifi": {Kind.WIFI, Kind.WIFI_COUNT},
    "ble": {Kind.BLE, Kind.ZONE},
}


class Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Validator:
    """Decodes a message or rejects it.

    Args:
        sites: known sites by id; when given, sensors must be declared in their site file with the node and kind
            they publish as. Without it any well-formed sensor is accepted.
        max_future_s: observations stamped further ahead of this clock are refused (a node with a broken clock).
    """

    def __init__(self, sites: dict[str, Site] | None = None, *, max_future_s: float = 24 * 3600) -> None:
        self.sites = sites
        self.max_future_s = max_future_s

    def decode(self, topic: str, payload: bytes):
        try:
            parsed = parse_topic(topic)
            if isinstance(parsed, DataTopic):
                batch = decode_batch(parsed, payload)
                self._check_sensor(batch)
                self._check_clock(batch)
                return batch
            if isinstance(parsed, StateTopic):
                return decode_state(parsed, payload)
            raise Rejected("bad_topic", f"ingest does not accept messages on {topic!r}")
        except ContractError as exc:
            raise Rejected(exc.reason, exc.detail) from exc
        except Rejected:
            raise
        except Exception as exc:
            log.exception("unexpected error validating a message on %s", topic)
            raise Rejected("internal", f"{type(exc).__name__}: {exc}") from exc

    def _check_sensor(self, batch) -> None:
        if self.sites is None:
            return
        site = self.sites.get(batch.site)
        if site is None:
            raise Rejected("unknown_site", f"site {batch.site!r} is not configured")
        sensor = site.sensor_by_id.get(batch.sensor)
        if sensor is None:
            raise Rejected("unknown_sensor", f"sensor {batch.sensor!r} is not in site {batch.site!r}")
        if sensor.node != batch.node:
            raise Rejected("wrong_node", f"sensor {batch.sensor!r} belongs to node {sensor.node!r}")
        if batch.kind not in KINDS_OF_SENSOR[sensor.kind]:
            raise Rejected("wrong_kind", f"a {sensor.kind} sensor does not publish {batch.kind.value}")

    def _check_clock(self, batch) -> None:
        limit = (time.time() + self.max_future_s) * 1000
        if batch.sent > limit or any(o.ts > limit for o in batch.obs):
            raise Rejected("future_ts", f"timestamps more than {self.max_future_s:.0f} s ahead of ingest's clock")


__all__ = ["NodeState", "Rejected", "Validator"]
