"""Device keys: keyed, rotating per privacy mode, never the MAC."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.privacy import DeviceKeyer, is_locally_administered, mac_bytes

MAC = mac_bytes("3c:22:fb:01:02:03")


def ms(text: str, tz: str = "Asia/Shanghai") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def test_strict_keys_rotate_at_local_midnight():
    keyer = DeviceKeyer(b"secret-one", site="demo", tz="Asia/Shanghai")
    assert keyer.key(MAC, ms("2026-12-01T00:01")) == keyer.key(MAC, ms("2026-12-01T23:59"))
    assert keyer.key(MAC, ms("2026-12-01T23:59")) != keyer.key(MAC, ms("2026-12-02T00:01"))


def test_pseudonymous_window_keeps_keys_for_its_length():
    keyer = DeviceKeyer(b"secret-one", site="demo", tz="UTC", rotation_days=30)
    first = keyer.period(ms("2026-01-01T12:00", "UTC"))
    keys = {keyer.key(MAC, ms(f"2026-01-{d:02d}T12:00", "UTC"))
            for d in range(1, 31) if keyer.period(ms(f"2026-01-{d:02d}T12:00", "UTC")) == first}
    assert len(keys) == 1


def test_keys_depend_on_the_secret_and_hide_the_mac():
    a = DeviceKeyer(b"secret-one", site="demo", tz="UTC").key(MAC, 1_764_547_200_000)
    b = DeviceKeyer(b"secret-two", site="demo", tz="UTC").key(MAC, 1_764_547_200_000)
    assert a != b
    assert MAC.hex() not in a and len(a) == 32


def test_bad_inputs():
    with pytest.raises(ValueError):
        DeviceKeyer(b"short", site="demo", tz="UTC")
    with pytest.raises(ValueError):
        mac_bytes("00:11:22")
    assert is_locally_administered(mac_bytes("da:a1:19:00:00:01"))
    assert not is_locally_administered(MAC)


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_the_remembered_period_bounds_agree_with_the_calendar(tz):
    """Keys computed in time order (the collector's cached path) equal keys computed one at a time, across
    midnights and daylight-saving changes."""
    keyer = DeviceKeyer(b"secret-one", site="demo", tz=tz, rotation_days=1)
    start = ms("2026-03-27T20:00:00", tz)
    for step in range(0, 4 * 24 * 60, 7):  # every 7 minutes over four days around the spring change
        ts = start + step * 60_000
        fresh = DeviceKeyer(b"secret-one", site="demo", tz=tz, rotation_days=1)
        assert keyer.key(MAC, ts) == fresh.key(MAC, ts)
