"""BLE advertisements and the beacon frames in them: iBeacon, AltBeacon and Eddystone (UID, URL, TLM, eTLM, EID).

An :class:`Advertisement` is what every source yields (the bleak scanner, JSON-lines replay, sniffer captures): bleak's
``manufacturer_data`` (company id → bytes) and ``service_data`` (UUID string → bytes), plus the raw advertising data
(AD structures: length, type, data) when the source has them. :func:`beacons` decodes the frames it carries.

Decoding is strict about the frame itself and tolerant around it. A beacon is decoded only from a complete AD
structure whose own length holds the whole frame; a truncated or inconsistent frame is "no beacon", never an
exception. Structures after the last complete one (a trailing RSSI byte in a test fixture, a corrupted tail) do not
void the complete ones before them: :func:`parse_ad` reports them through ``well_formed=False`` instead, which is what
capture readers count as malformed. Bytes outside a structure are never read as part of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

APPLE = 0x004C
EDDYSTONE = 0xFEAA
BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"
AD_TX_POWER, AD_SERVICE_DATA_16, AD_SERVICE_DATA_32, AD_SERVICE_DATA_128, AD_MANUFACTURER = 0x0A, 0x16, 0x20, 0x21, 0xFF
EDDYSTONE_1M_LOSS_DB = 41  # Eddystone ranges at 0 m; its spec puts the 1 m value 41 dB lower
_URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_URL_EXPANSIONS = (".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
                   ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov")


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def _plausible_1m(dbm: int) -> int | None:
    """A received power at 1 m that can be real: negative (0 means "not calibrated"), not below -127 dBm."""
    return dbm if -127 <= dbm < 0 else None


@dataclass(frozen=True, slots=True)
class IBeacon:
    """Apple iBeacon (company 0x004C, type 0x02, length 0x15). ``extra``: bytes a vendor appends (a battery level)."""

    uuid: UUID
    major: int
    minor: int
    tx_power: int  # measured power: RSSI at 1 m, dBm, as advertised
    extra: bytes = b""
    frame: ClassVar[str] = "ibeacon"

    @property
    def identity(self) -> bytes:
        return self.uuid.bytes + self.major.to_bytes(2, "big") + self.minor.to_bytes(2, "big")

    @property
    def rssi_at_1m(self) -> int | None:
        return _plausible_1m(self.tx_power)


@dataclass(frozen=True, slots=True)
class AltBeacon:
    """AltBeacon (beacon code 0xBEAC under any company id): a 20-byte id, by convention UUID + major + minor."""

    company_id: int
    beacon_id: bytes
    tx_power: int  # reference RSSI at 1 m, dBm
    reserved: int
    frame: ClassVar[str] = "altbeacon"

    @property
    def uuid(self) -> UUID:
        return UUID(bytes=self.beacon_id[:16])

    @property
    def major(self) -> int:
        return int.from_bytes(self.beacon_id[16:18], "big")

    @property
    def minor(self) -> int:
        return int.from_bytes(self.beacon_id[18:20], "big")

    @property
    def identity(self) -> bytes:  # the same bytes as an iBeacon with these ids: one device advertising both is one
        return self.beacon_id

    @property
    def rssi_at_1m(self) -> int | None:
        return _plausible_1m(self.tx_power)


@dataclass(frozen=True, slots=True)
class _Eddystone:
    frame: ClassVar[str] = "eddystone"

    @property
    def identity(self) -> bytes | None:  # only UID frames name a device (see EddystoneUid)
        return None

    @property
    def rssi_at_1m(self) -> int | None:
        return None


@dataclass(frozen=True, slots=True)
class _EddystoneRanged(_Eddystone):
    tx_power: int  # ranging data: RSSI at 0 m, dBm

    @property
    def rssi_at_1m(self) -> int | None:
        return _plausible_1m(self.tx_power - EDDYSTONE_1M_LOSS_DB)


@dataclass(frozen=True, slots=True)
class EddystoneUid(_EddystoneRanged):
    namespace: bytes  # 10 bytes
    instance: bytes  # 6 bytes

    @property
    def identity(self) -> bytes | None:
        return self.namespace + self.instance


def beacon_identity(text: str) -> bytes:
    """A beacon's identity as a person reads it off their tag or app → the ``identity`` bytes of its frame.

    ``UUID:major:minor`` (iBeacon, AltBeacon by convention) or ``namespace:instance`` (Eddystone-UID, 10 and 6 bytes
    in hex). Raises ValueError naming the expected forms."""
    parts = [p.strip() for p in text.strip().split(":")]
    try:
        if len(parts) == 3:
            major, minor = int(parts[1], 0), int(parts[2], 0)
            if 0 <= major < 65536 and 0 <= minor < 65536:
                return IBeacon(UUID(hex=parts[0]), major, minor, tx_power=0).identity
        elif len(parts) == 2:
            namespace, instance = bytes.fromhex(parts[0]), bytes.fromhex(parts[1])
            if len(namespace) == 10 and len(instance) == 6:
                return EddystoneUid(tx_power=0, namespace=namespace, instance=instance).identity
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a beacon identity: give UUID:major:minor (iBeacon, AltBeacon; major and minor "
                     "0-65535) or NAMESPACE:INSTANCE (Eddystone-UID, 20 and 12 hex digits)")


@dataclass(frozen=True, slots=True)
class EddystoneUrl(_EddystoneRanged):
    url: str  # a web page, usually shared by many beacons: not a device identity


@dataclass(frozen=True, slots=True)
class EddystoneEid(_EddystoneRanged):
    eid: bytes  # 8 bytes, rotating; only the beacon owner's resolver links it to a device


@dataclass(frozen=True, slots=True)
class EddystoneTlm(_Eddystone):
    """Unencrypted telemetry (version 0). ``None`` where the beacon reports "not supported"."""

    battery_mv: int | None
    temperature_c: float | None  # 8.8 fixed point
    adv_count: int  # advertisements sent since power-up
    uptime_ds: int  # tenths of a second since power-up (the spec's SEC_CNT)

    @property
    def uptime_s(self) -> float:
        return self.uptime_ds / 10


@dataclass(frozen=True, slots=True)
class EddystoneEncryptedTlm(_Eddystone):
    """Encrypted telemetry (version 1), kept as sent: only the beacon owner holds the key."""

    etlm: bytes  # 12 bytes
    salt: bytes  # 2 bytes
    mic: bytes  # 2 bytes, message integrity check


Beacon = IBeacon | AltBeacon | EddystoneUid | EddystoneUrl | EddystoneTlm | EddystoneEncryptedTlm | EddystoneEid


@dataclass(frozen=True, slots=True)
class AdStructure:
    type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One advertisement as heard. ``address`` is the raw advertiser address: no observation or log line carries it
    (only a recording made with ``keep_address=True`` stores it, on the node's disk)."""

    ts_ms: int
    address: str | None = None
    rssi: int | None = None
    tx_power: int | None = None  # the advertised TX Power Level (AD type 0x0A), dBm
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    raw: bytes | None = None  # the AD structures as received, when the source has them (keeps repeated records)

    def structures(self) -> list[AdStructure]:
        """The AD structures of ``raw`` (when present), then those the two dictionaries hold.

        Both count: ``raw`` keeps repeated records, while a platform's dictionaries may add what ``raw`` lacks (a scan
        response merged in). Where they overlap, :func:`beacons` reports each frame once.
        """
        built = parse_ad(self.raw)[0] if self.raw is not None else []
        built += [AdStructure(AD_MANUFACTURER, cid.to_bytes(2, "little") + value)
                  for cid, value in self.manufacturer_data.items() if 0 <= cid <= 0xFFFF]
        for key, value in self.service_data.items():
            short = uuid16(key)
            if short is not None:
                built.append(AdStructure(AD_SERVICE_DATA_16, short.to_bytes(2, "little") + value))
        return built


def parse_ad(raw: bytes) -> tuple[list[AdStructure], bool]:
    """Split advertising data into structures; ``well_formed`` is False when a structure overruns the data.

    A zero length ends the significant part (the rest is padding, as in HCI commands and legacy PDUs).
    """
    out: list[AdStructure] = []
    pos = 0
    while pos < len(raw):
        length = raw[pos]
        if length == 0:
            return out, True
        if pos + 1 + length > len(raw):
            return out, False
        out.append(AdStructure(raw[pos + 1], bytes(raw[pos + 2:pos + 1 + length])))
        pos += 1 + length
    return out, True


def advertisement_from_ad(
    raw: bytes, ts_ms: int, *, address: str | None = None, rssi: int | None = None
) -> Advertisement:
    """An :class:`Advertisement` from raw AD bytes, with the dictionaries bleak would give (last record wins)."""
    manufacturer: dict[int, bytes] = {}
    services: dict[str, bytes] = {}
    tx_power = None
    for ad in parse_ad(raw)[0]:
        if ad.type == AD_MANUFACTURER and len(ad.data) >= 2:
            manufacturer[int.from_bytes(ad.data[:2], "little")] = ad.data[2:]
        elif ad.type == AD_SERVICE_DATA_16 and len(ad.data) >= 2:
            services[f"0000{int.from_bytes(ad.data[:2], 'little'):04x}{BASE_UUID_TAIL}"] = ad.data[2:]
        elif ad.type == AD_SERVICE_DATA_32 and len(ad.data) >= 4:
            services[f"{int.from_bytes(ad.data[:4], 'little'):08x}{BASE_UUID_TAIL}"] = ad.data[4:]
        elif ad.type == AD_SERVICE_DATA_128 and len(ad.data) >= 16:
            services[str(UUID(bytes=ad.data[15::-1]))] = ad.data[16:]
        elif ad.type == AD_TX_POWER and len(ad.data) == 1:
            tx_power = _signed(ad.data[0])
    return Advertisement(ts_ms, address, rssi, tx_power, manufacturer, services, bytes(raw))


def uuid16(key: str) -> int | None:
    """The 16-bit form of a Bluetooth-base UUID string ('0000feaa-0000-1000-8000-00805f9b34fb' or 'feaa')."""
    key = key.strip().lower()
    if len(key) == 4:
        head = key
    elif len(key) == 36 and key.startswith("0000") and key.endswith(BASE_UUID_TAIL):
        head = key[4:8]
    else:
        return None
    try:
        return int(head, 16)
    except ValueError:
        return None


def decode_manufacturer(company_id: int, value: bytes) -> IBeacon | AltBeacon | None:
    """A beacon in one manufacturer record (``value`` without the company id, as bleak gives it)."""
    if company_id == APPLE and len(value) >= 23 and value[0] == 0x02 and value[1] == 0x15:
        return IBeacon(UUID(bytes=bytes(value[2:18])), int.from_bytes(value[18:20], "big"),
                       int.from_bytes(value[20:22], "big"), _signed(value[22]), bytes(value[23:]))
    if len(value) >= 24 and value[0] == 0xBE and value[1] == 0xAC:
        return AltBeacon(company_id, bytes(value[2:22]), _signed(value[22]), value[23])
    return None


def decode_eddystone(value: bytes) -> Beacon | None:
    """An Eddystone frame from the 0xFEAA service data (without the UUID); None when it is not a complete frame."""
    if len(value) < 2:
        return None
    kind, tx = value[0], _signed(value[1])
    if kind == 0x00 and len(value) >= 18:  # UID; the two RFU bytes are often left out
        return EddystoneUid(tx, bytes(value[2:12]), bytes(value[12:18]))
    if kind == 0x10 and len(value) >= 3:
        url = _expand_url(value[2:])
        return EddystoneUrl(tx, url) if url is not None else None
    if kind == 0x30 and len(value) >= 10:
        return EddystoneEid(tx, bytes(value[2:10]))
    if kind == 0x20 and value[1] == 0x00 and len(value) >= 14:
        volts, temp = int.from_bytes(value[2:4], "big"), int.from_bytes(value[4:6], "big", signed=True)
        return EddystoneTlm(volts or None, None if temp == -0x8000 else temp / 256,
                            int.from_bytes(value[6:10], "big"), int.from_bytes(value[10:14], "big"))
    if kind == 0x20 and value[1] == 0x01 and len(value) >= 18:
        return EddystoneEncryptedTlm(bytes(value[2:14]), bytes(value[14:16]), bytes(value[16:18]))
    return None


def _expand_url(encoded: bytes) -> str | None:
    if len(encoded) < 2 or encoded[0] >= len(_URL_SCHEMES):  # a scheme alone names no page
        return None
    parts = [_URL_SCHEMES[encoded[0]]]
    for byte in encoded[1:]:
        if byte < len(_URL_EXPANSIONS):
            parts.append(_URL_EXPANSIONS[byte])
        elif 0x21 <= byte <= 0x7E:
            parts.append(chr(byte))
        else:  # reserved codes and non-printable bytes: not a URL frame
            return None
    return "".join(parts)


def beacons(adv: Advertisement) -> list[Beacon]:
    """Every beacon frame in the advertisement, in AD order, each once."""
    found: list[Beacon] = []
    for ad in adv.structures():
        frame: Beacon | None = None
        if ad.type == AD_MANUFACTURER and len(ad.data) >= 2:
            frame = decode_manufacturer(int.from_bytes(ad.data[:2], "little"), ad.data[2:])
        elif ad.type == AD_SERVICE_DATA_16 and len(ad.data) >= 2 and int.from_bytes(ad.data[:2], "little") == EDDYSTONE:
            frame = decode_eddystone(ad.data[2:])
        if frame is not None and frame not in found:
            found.append(frame)
    return found
