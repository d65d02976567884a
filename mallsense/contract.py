"""The wire contract between edge nodes and ingest: topics and versioned batch payloads.

Every publisher (real collectors and the simulator) and the ingest service use only this module to build and read
messages, so there is one definition of each schema. The human-readable version is ``docs/contract.md``.

Topics::

    mallsense/v1/<site>/<node>/<kind>/<sensor>    data batches, QoS 1, not retained          (edge → ingest)
    mallsense/v1/<site>/<node>/state              node state (online/offline + health),      (edge → ingest)
                                                  QoS 1, retained, last will
    mallsense/v1/<site>/<node>/ack                batches committed to the database, QoS 1   (ingest → edge)

A data message is one **batch** of observations from one sensor, with a per-sensor sequence number ``seq`` that
increases by one for every batch the sensor produces. ``(sensor, seq)`` identifies a batch: redelivery is harmless and
gaps are visible. An optional ``epoch`` (created with the edge's outbox) names one run of that sequence, so a node
whose outbox was lost starts over at 0 under a new epoch: the key is then ``(sensor, seq, epoch)``.
Timestamps are integer milliseconds since the Unix epoch (UTC).

Delivery is confirmed end to end: a broker's PUBACK only means the broker has the batch (and a broker crash can
still lose it), so an edge node keeps each batch until ingest reports it committed on the node's ``ack`` topic,
and publishes it again if no such report arrives in time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)

SCHEMA_VERSION = 1
TOPIC_ROOT = "mallsense/v1"
MAX_PAYLOAD_BYTES = 512 * 1024
MAX_OBS_PER_BATCH = 20_000
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)
# 2000-01-01 .. 2100-01-01 in ms: anything outside is not a clock reading.
TS_MIN_MS = 946_684_800_000
TS_MAX_MS = 4_102_444_800_000

Ident = Annotated[str, Field(pattern=ID_PATTERN, description="lower-case id: a-z 0-9 _ . - (max 64)")]
TimestampMs = Annotated[int, Field(ge=TS_MIN_MS, lt=TS_MAX_MS, description="ms since the Unix epoch, UTC")]
DeviceKey = Annotated[
    str, Field(pattern=r"^[0-9a-f]{16,64}$", description="keyed, rotating hash of a device id (hex); never a MAC")
]
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True, slots=True)
class _Column:
    """Keeps a number within what its database column holds: binary COPY would wrap an integer (2**31 into an int4
    is -2**31) or round a float to infinity. It narrows the field's own bounds (a ``Field(ge=0)`` keeps its 0), where
    a second ge/le would replace them; the check stays in pydantic-core (no Python call per observation)."""

    lo: float
    hi: float

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        schema = handler(source)
        if schema.get("type") not in ("int", "float"):
            raise TypeError(f"_Column bounds a number, not {schema.get('type')}")
        schema["ge"] = max(schema.get("ge", self.lo), self.lo)
        schema["le"] = min(schema.get("le", self.hi), self.hi)
        if schema["type"] == "float":
            schema["allow_inf_nan"] = False
        return schema


INT16, INT32, INT64 = (-(2**15), 2**15 - 1), (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
_COLUMN_BOUNDS = {*INT16, *INT32, *INT64, -FLOAT32_MAX, FLOAT32_MAX}
# Every number is typed by the column (or jsonb document) it lands in; floats are finite (no NaN, ±Infinity or 1e309).
Int16 = Annotated[int, _Column(*INT16)]  # smallint
Int32 = Annotated[int, _Column(*INT32)]  # integer
Int64 = Annotated[int, _Column(*INT64)]  # bigint
Float32 = Annotated[float, _Column(-FLOAT32_MAX, FLOAT32_MAX)]  # real
Float64 = Annotated[float, Field(allow_inf_nan=False)]  # double precision, jsonb


class Kind(StrEnum):
    """What a data batch carries; the ``<kind>`` level of a data topic."""

    CROSSING = "crossing"  # camera: a track crossed an entrance/counting line
    OCCUPANCY = "occupancy"  # camera: people counted inside a zone
    POSITION = "position"  # camera: a track's position on the floor plan (heatmaps)
    WIFI = "wifi"  # WiFi probe-request sightings
    WIFI_COUNT = "wifi_count"  # WiFi: estimated devices and people per interval
    BLE = "ble"  # BLE advertisement sightings
    ZONE = "zone"  # a consented app: zone enter/exit events from ranging the mall's beacons


class ContractError(ValueError):
    """A topic or payload does not follow the contract. ``reason`` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------------------------------- topics
@dataclass(frozen=True, slots=True)
class DataTopic:
    site: str
    node: str
    kind: Kind
    sensor: str

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.site}/{self.node}/{self.kind.value}/{self.sensor}"


@dataclass(frozen=True, slots=True)
class _NodeTopic:
    site: str
    node: str
    leaf = ""

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.site}/{self.node}/{self.leaf}"


class StateTopic(_NodeTopic):
    leaf = "state"


class AckTopic(_NodeTopic):
    leaf = "ack"


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ContractError("bad_id", f"{what} {value!r} must match {ID_PATTERN}")
    return value


def data_topic(site: str, node: str, kind: Kind | str, sensor: str) -> DataTopic:
    try:
        kind = Kind(kind)
    except ValueError as exc:
        raise ContractError("bad_kind", f"unknown kind {kind!r}") from exc
    return DataTopic(check_id(site, "site"), check_id(node, "node"), kind, check_id(sensor, "sensor"))


def state_topic(site: str, node: str) -> StateTopic:
    return StateTopic(check_id(site, "site"), check_id(node, "node"))


def ack_topic(site: str, node: str) -> AckTopic:
    return AckTopic(check_id(site, "site"), check_id(node, "node"))


def parse_topic(topic: str) -> DataTopic | StateTopic | AckTopic:
    """Parse a concrete topic; raise ContractError for anything that is not ours or is malformed."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise ContractError("bad_topic", f"{topic!r} is not under {TOPIC_ROOT}/")
    rest = parts[2:]
    if len(rest) == 3 and rest[2] == "state":
        return state_topic(rest[0], rest[1])
    if len(rest) == 3 and rest[2] == "ack":
        return ack_topic(rest[0], rest[1])
    if len(rest) == 4:
        return data_topic(*rest)
    raise ContractError("bad_topic", f"{topic!r} has {len(rest)} levels after {TOPIC_ROOT}/, expected 3 or 4")


def subscription(site: str = "+", *, shared_group: str | None = None) -> list[str]:
    """Topic filters an ingest worker subscribes to (optionally as an MQTT shared subscription)."""
    filters = [f"{TOPIC_ROOT}/{site}/+/+/+", f"{TOPIC_ROOT}/{site}/+/state"]
    if shared_group:
        return [f"$share/{shared_group}/{f}" for f in filters]
    return filters


# --------------------------------------------------------------------------------------------------- payloads
class _Strict(BaseModel):
    # strict: no coercion on the wire ("3" or 3.0 is not an integer, 1 is not a boolean)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_WIRE = {"wire": True}
MISSING_VERSION = "the schema version 'v' is missing"


class _Versioned(_Strict):
    """A top-level message: on the wire ``v`` is required (in code it defaults to the current version)."""

    @model_validator(mode="before")
    @classmethod
    def _version_on_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("wire") and isinstance(data, dict) and "v" not in data:
            raise ValueError(MISSING_VERSION)
        return data


class CrossingObs(_Strict):
    """A tracked person crossed a counting line. ``dir`` is ``in`` when moving into the mall/zone."""

    ts: TimestampMs
    line: Ident = Field(description="entrance/counting line id from the site file")
    dir: Literal["in", "out"]
    track: Int64 = Field(ge=0, description="ephemeral tracker id, unique per sensor for a short time only")


class OccupancyObs(_Strict):
    """People counted inside a zone at one instant (a snapshot, not a flow)."""

    ts: TimestampMs
    zone: Ident
    count: Int32 = Field(ge=0, le=100_000)


class PositionObs(_Strict):
    """A track's position in the floor frame (metres, the floor's own origin) for heatmaps and paths."""

    ts: TimestampMs
    track: Int64 = Field(ge=0)
    floor: Ident
    x: Float32 = Field(ge=-10_000, le=10_000)
    y: Float32 = Field(ge=-10_000, le=10_000)


class WifiObs(_Strict):
    """One probe request heard. ``dev`` is the keyed, rotating hash of the source MAC."""

    ts: TimestampMs
    dev: DeviceKey
    rssi: Int16 | None = Field(default=None, ge=-120, le=0,
                             description="dBm from radiotap; absent when the capture gives no plausible value")
    rand: bool = Field(description="source MAC is locally administered (randomized)")
    ch: Int16 | None = Field(default=None, ge=1, le=233, description="channel")
    sn: Int32 | None = Field(default=None, ge=0, le=4095, description="802.11 sequence number")
    fp: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{1,64}$", description="hex hash of the information elements"
    )


class WifiCountObs(_Strict):
    """A WiFi sensor's estimate for one interval starting at ``ts`` (method: docs/wifi.md)."""

    ts: TimestampMs
    interval_s: Int32 = Field(ge=10, le=86_400)
    probes: Int32 = Field(ge=0, description="probe requests heard in range")
    keys: Int32 = Field(ge=0, description="distinct device keys in range: the naive count")
    randomized_keys: Int32 = Field(ge=0)
    devices: Float32 = Field(ge=0, description="estimated distinct devices (randomized addresses linked)")
    fixtures: Int32 = Field(ge=0, description="stationary devices heard but not counted (printers, desktops)")
    people: Float32 = Field(ge=0, description="estimated people: the operator's calibration applied to devices")


class BleObs(_Strict):
    """One BLE advertisement heard. ``dev`` is the keyed hash of the advertiser's identity (e.g. app beacon id)."""

    ts: TimestampMs
    dev: DeviceKey
    rssi: Int16 = Field(ge=-127, le=20)
    tx: Int16 | None = Field(default=None, ge=-127, le=20, description="calibrated power at 1 m, dBm")
    frame: Literal["ibeacon", "eddystone", "altbeacon", "other"] = "ibeacon"


class ZoneEventObs(_Strict):
    """A consented member app entered or left a zone (positioned from the mall's fixed beacons)."""

    ts: TimestampMs
    dev: DeviceKey = Field(description="the app's consented stable key (the CRM record's device_key)")
    zone: Ident
    event: Literal["enter", "exit"]
    dwell_s: Float32 | None = Field(default=None, ge=0, le=7 * 86_400, description="on exit: time in the zone")


OBS_MODELS: dict[Kind, type[_Strict]] = {
    Kind.CROSSING: CrossingObs,
    Kind.OCCUPANCY: OccupancyObs,
    Kind.POSITION: PositionObs,
    Kind.WIFI: WifiObs,
    Kind.WIFI_COUNT: WifiCountObs,
    Kind.BLE: BleObs,
    Kind.ZONE: ZoneEventObs,
}


class _BatchBase(_Versioned):
    v: Literal[1] = SCHEMA_VERSION
    site: Ident
    node: Ident
    sensor: Ident
    seq: Int64 = Field(ge=0, description="per-sensor batch number, +1 per batch")
    sent: TimestampMs = Field(description="when the batch was closed at the edge")
    epoch: Ident | None = Field(default=None, description="names this run of the sensor's sequence (a new outbox "
                                "starts a new epoch and seq 0); optional: without it a restarted seq collides")


class CrossingBatch(_BatchBase):
    kind: Literal[Kind.CROSSING] = Kind.CROSSING
    obs: list[CrossingObs] = Field(max_length=MAX_OBS_PER_BATCH)


class OccupancyBatch(_BatchBase):
    kind: Literal[Kind.OCCUPANCY] = Kind.OCCUPANCY
    obs: list[OccupancyObs] = Field(max_length=MAX_OBS_PER_BATCH)


class PositionBatch(_BatchBase):
    kind: Literal[Kind.POSITION] = Kind.POSITION
    obs: list[PositionObs] = Field(max_length=MAX_OBS_PER_BATCH)


class WifiBatch(_BatchBase):
    kind: Literal[Kind.WIFI] = Kind.WIFI
    obs: list[WifiObs] = Field(max_length=MAX_OBS_PER_BATCH)


class WifiCountBatch(_BatchBase):
    kind: Literal[Kind.WIFI_COUNT] = Kind.WIFI_COUNT
    obs: list[WifiCountObs] = Field(max_length=MAX_OBS_PER_BATCH)


class BleBatch(_BatchBase):
    kind: Literal[Kind.BLE] = Kind.BLE
    obs: list[BleObs] = Field(max_length=MAX_OBS_PER_BATCH)


class ZoneEventBatch(_BatchBase):
    kind: Literal[Kind.ZONE] = Kind.ZONE
    obs: list[ZoneEventObs] = Field(max_length=MAX_OBS_PER_BATCH)


Batch = Annotated[
    CrossingBatch | OccupancyBatch | PositionBatch | WifiBatch | WifiCountBatch | BleBatch | ZoneEventBatch,
    Field(discriminator="kind"),
]
BATCH_MODELS: dict[Kind, type[_BatchBase]] = {
    Kind.CROSSING: CrossingBatch,
    Kind.OCCUPANCY: OccupancyBatch,
    Kind.POSITION: PositionBatch,
    Kind.WIFI: WifiBatch,
    Kind.WIFI_COUNT: WifiCountBatch,
    Kind.BLE: BleBatch,
    Kind.ZONE: ZoneEventBatch,
}
_BATCH = TypeAdapter(Batch)

_Pct = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]


class CameraAudit(_Strict):
    """A camera's last commissioning audit (``mallsense camera-audit report``): a person marked every crossing of a
    recorded stretch; the count error the camera made there, per 100 true crossings, with its 95 % interval."""

    at: TimestampMs = Field(description="when the audit was reported")
    crossings: int = Field(ge=1, le=10_000_000, description="true crossings the error was measured on")
    count_error_pct: _Pct = Field(description="(|counted in - true in| + |counted out - true out|) / crossings")
    ci_low_pct: _Pct = Field(description="lower end of the 95 % interval of the count error rate")
    ci_high_pct: _Pct = Field(description="upper end of the 95 % interval of the count error rate")

    @model_validator(mode="after")
    def _ordered(self) -> CameraAudit:
        if not self.ci_low_pct <= self.count_error_pct <= self.ci_high_pct:
            raise ValueError("the interval must hold the measured error: ci_low_pct <= count_error_pct <= ci_high_pct")
        return self


class CameraHealth(_Strict):
    """Whether a camera's pipeline keeps up with its source. Counters since the collector started; a consumer
    derives the share of frames the detector was meant to see and did: ``detect_steps * detect_every /
    frames_read`` (1 keeps up; a live source hands the pipeline only its newest frame, so a slow node detects less
    often instead of falling behind)."""

    frames_read: Int64 = Field(ge=0, description="frames the source delivered")
    frames_dropped: Int64 = Field(ge=0, description="frames replaced by a newer one before the pipeline took them")
    detect_every: Int64 = Field(ge=1, description="the detector is meant to run on every n-th frame")
    detect_steps: Int64 = Field(ge=0, description="frames the detector ran on")
    reconnects: Int64 = Field(default=0, ge=0, description="times a stream was lost and opened again")
    audit: CameraAudit | None = Field(default=None, description="the camera's last commissioning audit, if any")

    @property
    def keeping_up(self) -> float | None:
        """The share of the frames meant for the detector that it ran on (1: keeps up); None before any frame."""
        if self.frames_read == 0:
            return None
        return min(1.0, self.detect_steps * self.detect_every / self.frames_read)


class NodeHealth(_Strict):
    uptime_s: Float64 = Field(ge=0)
    published: Int64 = Field(ge=0, description="batches acknowledged by the broker since start")
    outbox_depth: Int32 = Field(ge=0, description="batches waiting on disk for the broker")
    outbox_dropped: Int32 = Field(default=0, ge=0, description="batches dropped because the outbox was full")
    sensors: dict[Ident, TimestampMs] = Field(default_factory=dict, description="sensor id -> last observation")
    cameras: dict[Ident, CameraHealth] = Field(default_factory=dict, description="camera sensor id -> its load")


class NodeState(_Versioned):
    v: Literal[1] = SCHEMA_VERSION
    site: Ident
    node: Ident
    status: Literal["online", "offline"]
    ts: TimestampMs
    health: NodeHealth | None = None


_STATE = TypeAdapter(NodeState)


class CommitAck(_Versioned):
    """Ingest → edge: these batches of the node's sensors are committed to the database (new or duplicate)."""

    v: Literal[1] = SCHEMA_VERSION
    site: Ident
    node: Ident
    batches: dict[Ident, list[Annotated[Int64, Field(ge=0)]]] = Field(description="sensor id -> committed seq numbers")
    epoch: Ident | None = Field(default=None, description="the batches' epoch (None: batches sent without one)")


_ACK = TypeAdapter(CommitAck)


def decode_ack(payload: bytes) -> CommitAck:
    try:
        return _ACK.validate_json(payload, context=_WIRE)
    except ValidationError as exc:
        raise ContractError(_reason(exc), _summary(exc)) from exc


def encode(message: _BatchBase | NodeState | CommitAck) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def decode_batch(topic: DataTopic, payload: bytes) -> _BatchBase:
    """Validate a data payload against the contract and against the topic it arrived on."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        batch = _BATCH.validate_json(payload, context=_WIRE)
    except ValidationError as exc:
        raise ContractError(_reason(exc), _summary(exc)) from exc
    mismatch = [
        f"{name}={getattr(batch, name)!r} but topic says {getattr(topic, name)!r}"
        for name in ("site", "node", "sensor", "kind")
        if getattr(batch, name) != getattr(topic, name)
    ]
    if mismatch:
        raise ContractError("topic_mismatch", "; ".join(mismatch))
    return batch


def decode_state(topic: StateTopic, payload: bytes) -> NodeState | None:
    """Validate a state payload; an empty payload (a cleared retained message) gives None."""
    if not payload:
        return None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        state = _STATE.validate_json(payload, context=_WIRE)
    except ValidationError as exc:
        raise ContractError(_reason(exc), _summary(exc)) from exc
    if (state.site, state.node) != (topic.site, topic.node):
        raise ContractError("topic_mismatch", f"state names {state.site}/{state.node}, topic {topic}")
    return state


def _reason(exc: ValidationError) -> str:
    errors: list[Any] = exc.errors()
    if errors[0]["type"] == "json_invalid":
        return "invalid_json"
    if any(e["loc"][-1:] == ("v",) and len(e["loc"]) <= 2 for e in errors) or any(
        MISSING_VERSION in e["msg"] for e in errors
    ):
        return "bad_version"
    if errors[0]["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "bad_kind"
    if any(_holds_nul(e) for e in errors):
        return "nul_char"  # PostgreSQL text and jsonb cannot hold U+0000, in a value or an object key
    if any(e["type"] == "finite_number" for e in errors):
        return "non_finite"  # NaN, ±Infinity, or a literal beyond a double such as 1e309
    if any(_beyond_column(e) for e in errors):
        return "out_of_range"  # a number its column's type cannot hold
    return "schema"


def _beyond_column(error: Any) -> bool:
    ctx = error.get("ctx") or {}
    return error["type"] in ("greater_than_equal", "less_than_equal") and (
        ctx.get("ge") in _COLUMN_BOUNDS or ctx.get("le") in _COLUMN_BOUNDS)


def _holds_nul(error: Any) -> bool:
    strings = [p for p in error["loc"] if isinstance(p, str)] + [error["input"]]
    return any(isinstance(s, str) and "\x00" in s for s in strings)


def _summary(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]).replace("\x00", "\\x00")
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
