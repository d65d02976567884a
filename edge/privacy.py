"""Device identity at the edge: raw MAC / advertiser ids become keyed, rotating hashes at once.

A node holds a long-term secret (from its config or environment, never published). For each rotation period
(a local calendar day in ``strict`` mode, ``rotation_days`` days in ``pseudonymous`` mode) it derives a period key
``HMAC(secret, site | period)`` and hashes identifiers with it. Without the secret the hashes cannot be reversed or
linked across periods; after a period ends even the node cannot recompute the old key unless it keeps the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mallsense.yamlconf import ConfigError

EPOCH = date(2000, 1, 1)
KEY_HEX_CHARS = 32  # 128-bit device keys


class DeviceKeyer:
    """Turns identifiers into period-scoped device keys (hex). Thread-safe; caches the current period key.

    >>> keyer = DeviceKeyer(b"node-secret", site="demo-mall", tz="UTC", rotation_days=1)
    >>> a = keyer.key(b"phone-1", 1764547200000)
    >>> a == keyer.key(b"phone-1", 1764547200000 + 3_600_000), a == keyer.key(b"phone-1", 1764547200000 + 86_400_000)
    (True, False)
    """

    def __init__(self, secret: bytes, *, site: str, tz: str, rotation_days: int = 1) -> None:
        if len(secret) < 8:
            raise ValueError("the device-key secret must be at least 8 bytes")
        if rotation_days < 1:
            raise ValueError("rotation_days must be at least 1")
        self._secret = secret
        self.site = site
        self.tz = ZoneInfo(tz)
        self.rotation_days = rotation_days
        self._cache: tuple[int, bytes] | None = None
        self._span: tuple[int, int, int] | None = None  # (first ms, end ms, period) of the last period used

    def period(self, ts_ms: int) -> int:
        local_day = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(self.tz).date()
        return (local_day - EPOCH).days // self.rotation_days

    def _period_key(self, period: int) -> bytes:
        cached = self._cache
        if cached is not None and cached[0] == period:
            return cached[1]
        key = hmac.new(self._secret, f"{self.site}|{period}".encode(), hashlib.sha256).digest()
        self._cache = (period, key)
        return key

    def _period_at(self, ts_ms: int) -> int:
        """:meth:`period`, remembering the current period's bounds (a collector asks thousands of times a second)."""
        span = self._span
        if span is not None and span[0] <= ts_ms < span[1]:
            return span[2]
        period = self.period(ts_ms)
        first = EPOCH + timedelta(days=period * self.rotation_days)
        start = datetime(first.year, first.month, first.day, tzinfo=self.tz)
        nxt = first + timedelta(days=self.rotation_days)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz)
        self._span = (int(start.timestamp() * 1000), int(end.timestamp() * 1000), period)
        return period

    def key(self, identifier: bytes, ts_ms: int) -> str:
        """The device key of ``identifier`` (a MAC's 6 bytes, an advertiser id) in the period holding ``ts_ms``."""
        digest = hmac.new(self._period_key(self._period_at(ts_ms)), identifier, hashlib.sha256).hexdigest()
        return digest[:KEY_HEX_CHARS]

    def stable_key(self, identifier: bytes) -> str:
        """A key that does not rotate: only for consented identities (member app ids), see DESIGN.md."""
        return hmac.new(self._secret, b"consented|" + identifier, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def mac_bytes(mac: str) -> bytes:
    """'AA:BB:..' or 'aa-bb-..' → 6 bytes (raises ValueError otherwise)."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError("a MAC address has 6 bytes")
    return raw


def is_locally_administered(mac: bytes) -> bool:
    """Randomized MACs set the locally-administered bit (0x02 of the first octet)."""
    return bool(mac[0] & 0x02)


def opt_out_hash(secret: bytes, mac: str | bytes) -> str:
    """The entry of an opt-out list for a device: a WiFi MAC (text or 6 bytes) or a beacon identity (bytes, see
    ``edge.ble.frames``), keyed with the node secret, so the list itself reveals no address or identity."""
    raw = mac if isinstance(mac, bytes) else mac_bytes(mac)
    return hmac.new(secret, b"opt-out|" + raw, hashlib.sha256).hexdigest()


class OptOutList:
    """Devices whose owners opted out: their probes (WiFi) or advertisements (BLE) are dropped at the edge, before
    any key is computed.

    The file holds one :func:`opt_out_hash` per line (``mallsense wifi-opt-out`` and ``ble-opt-out`` append them);
    blank lines and ``#`` comments are allowed. A line that is not such a hash is an error naming the file and line.
    """

    def __init__(self, secret: bytes, hashes: Iterable[str] = ()) -> None:
        self._secret = secret
        self._hashes = set(hashes)
        self._seen: dict[bytes, bool] = {}

    @classmethod
    def load(cls, secret: bytes, path: Path | None) -> OptOutList:
        hashes = []
        if path is not None and path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                entry = line.split("#", 1)[0].strip().lower()
                if not entry:
                    continue
                if len(entry) != 64 or any(c not in "0123456789abcdef" for c in entry):
                    raise ConfigError(path, [(number, "opt-out hash", "not an opt-out hash (64 hex characters)")])
                hashes.append(entry)
        return cls(secret, hashes)

    def __len__(self) -> int:
        return len(self._hashes)

    def excludes(self, mac: bytes) -> bool:
        if not self._hashes:
            return False
        hit = self._seen.get(mac)
        if hit is None:
            if len(self._seen) > 100_000:
                self._seen.clear()
            hit = self._seen[mac] = opt_out_hash(self._secret, mac) in self._hashes
        return hit
