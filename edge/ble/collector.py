"""BLE advertisements in, contract ``BleObs`` out: numbered batches through the node's outbox.

Each advertisement gives one observation per beacon frame that names a device:

- ``dev``: the :class:`~edge.privacy.DeviceKeyer` hash of the beacon identity: uuid + major + minor for iBeacon and
  AltBeacon (the same 20 bytes, so a beacon sending both formats is one device), namespace + instance for
  Eddystone-UID. Keys rotate with the keyer's privacy mode, except for the consented member app's beacons (the
  proximity UUIDs or Eddystone namespaces in ``app_ids``), which get the keyer's stable key: that is the
  ``device_key`` the CRM export must carry for a member (see docs/ble.md).
- ``rssi``: as heard; an implausible value (none, 0 dBm or above, below -127 dBm: stacks use 0 and 127 for
  "unknown") drops the observation, counted in :class:`CollectorStats`.
- ``tx``: the frame's calibrated power at 1 m (iBeacon/AltBeacon measured power; Eddystone's 0 m ranging value
  less 41 dB), or none when the frame's value cannot be real (0 means "not calibrated").

Not published, only counted: Eddystone-URL (a web address that many beacons share), TLM/eTLM (telemetry, no id) and
EID (an ephemeral id that only its owner's resolver can link to a beacon: publishing it would invent a new "device"
every few minutes). The advertiser's address is never read here, so it cannot reach an observation or a log line.

Batches close by the advertisements' own clock every ``batch_ms`` (a replay gives the same batches every time) and,
in :meth:`BleCollector.run`, also on a timer so that a quiet scanner does not hold observations back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import asdict, dataclass

from edge.batching import SensorStream
from edge.ble.frames import Advertisement, EddystoneUid, beacons
from edge.privacy import DeviceKeyer, OptOutList
from mallsense.contract import TS_MAX_MS, TS_MIN_MS, BleObs, Kind

log = logging.getLogger(__name__)


@dataclass
class CollectorStats:
    advertisements: int = 0
    beacons: int = 0  # beacon frames decoded
    published: int = 0  # observations handed to the stream
    without_identity: int = 0  # Eddystone URL, TLM, eTLM and EID frames
    no_beacon: int = 0  # advertisements without any beacon frame
    bad_rssi: int = 0  # beacon frames dropped for an implausible RSSI
    bad_ts: int = 0  # advertisements with a timestamp outside the contract's range
    opted_out: int = 0  # beacon frames of identities on the opt-out list (dropped before any key is computed)


def _app_id(text: str) -> str:
    hex_id = text.replace("-", "").strip().lower()
    if len(hex_id) not in (32, 20) or any(c not in "0123456789abcdef" for c in hex_id):
        raise ValueError(f"app id {text!r} is neither a proximity UUID (32 hex) nor an Eddystone namespace (20 hex)")
    return hex_id


class BleCollector:
    """Publishes the beacons in advertisements as ``BleObs`` through a BLE :class:`SensorStream`.

    >>> from edge.outbox import Outbox
    >>> stream = SensorStream(Outbox(None), "demo", "node-1", Kind.BLE, "ble-1")
    >>> collector = BleCollector(stream, DeviceKeyer(b"node-secret", site="demo", tz="UTC"))
    >>> value = bytes.fromhex("0215" + "e2c56db5dffb48d2b060d0f5a71096e0" + "0064000ac5")
    >>> collector.replay([Advertisement(1764547200000, rssi=-70, manufacturer_data={0x004C: value})]).published
    1
    """

    def __init__(self, stream: SensorStream, keyer: DeviceKeyer, *, app_ids: Iterable[str] = (),
                 batch_ms: int = 1000, opt_out: OptOutList | None = None) -> None:
        if stream.kind is not Kind.BLE:
            raise ValueError(f"a BLE collector needs a BLE stream, not {stream.kind}")
        if batch_ms < 1:
            raise ValueError("batch_ms must be positive")
        self.stream, self.keyer, self.batch_ms = stream, keyer, batch_ms
        self.app_ids = frozenset(_app_id(a) for a in app_ids)
        self.opt_out = opt_out
        self.stats = CollectorStats()
        self._opened_ms: int | None = None  # data time of the open batch's first observation
        self._data_ms = 0  # the latest advertisement time seen

    def observations(self, adv: Advertisement) -> list[BleObs]:
        """The observations one advertisement gives (counted in ``stats``; nothing is published)."""
        self.stats.advertisements += 1
        if not TS_MIN_MS <= adv.ts_ms < TS_MAX_MS:
            self.stats.bad_ts += 1
            return []
        frames = beacons(adv)
        self.stats.beacons += len(frames)
        if not frames:
            self.stats.no_beacon += 1
        out = []
        for frame in frames:
            identity = frame.identity
            if identity is None:
                self.stats.without_identity += 1
                continue
            if self.opt_out is not None and self.opt_out.excludes(identity):
                self.stats.opted_out += 1
                continue
            if adv.rssi is None or not -127 <= adv.rssi < 0:
                self.stats.bad_rssi += 1
                continue
            prefix = identity[:10] if isinstance(frame, EddystoneUid) else identity[:16]
            dev = (self.keyer.stable_key(identity) if prefix.hex() in self.app_ids
                   else self.keyer.key(identity, adv.ts_ms))
            out.append(BleObs(ts=adv.ts_ms, dev=dev, rssi=adv.rssi, tx=frame.rssi_at_1m, frame=frame.frame))
        return out

    def observe(self, adv: Advertisement) -> int:
        """Publish the advertisement's observations (closing the open batch first when it is due); returns how many."""
        if self._opened_ms is not None and adv.ts_ms - self._opened_ms >= self.batch_ms:
            self.flush()
        self._data_ms = max(self._data_ms, adv.ts_ms)
        observations = self.observations(adv)
        for obs in observations:
            if self._opened_ms is None:
                self._opened_ms = obs.ts
            self.stream.add(obs)
        self.stats.published += len(observations)
        return len(observations)

    def flush(self, sent_ms: int | None = None) -> int | None:
        """Close the open batch; ``sent`` is the latest advertisement time unless given. Returns its seq."""
        self._opened_ms = None
        return self.stream.flush(sent_ms if sent_ms is not None else self._data_ms or None)

    def replay(self, adverts: Iterable[Advertisement]) -> CollectorStats:
        """Publish everything in ``adverts`` (a :class:`~edge.ble.replay.ReplayReader`, a capture), then flush."""
        try:
            for adv in adverts:
                self.observe(adv)
        finally:
            self.flush()
        log.info("BLE collector: %s", asdict(self.stats))
        return self.stats

    async def run(self, adverts: AsyncIterable[Advertisement], *,
                  clock: Callable[[], int] | None = None) -> CollectorStats:
        """Publish a live (or paced) stream until it ends or the task is cancelled; a timer closes quiet batches.

        ``clock`` (ms) stamps the batches the timer closes; live scans pass the wall clock, paced replays leave it
        out so that batches carry the recording's time.
        """

        async def close_quiet_batches() -> None:
            while True:
                await asyncio.sleep(self.batch_ms / 1000)
                if self._opened_ms is not None:
                    self.flush(clock() if clock is not None else None)

        timer = asyncio.create_task(close_quiet_batches())
        try:
            async for adv in adverts:
                self.observe(adv)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            self.flush(clock() if clock is not None else None)
            log.info("BLE collector: %s", asdict(self.stats))
        return self.stats
