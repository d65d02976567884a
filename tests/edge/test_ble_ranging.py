"""The member app positions itself from the mall's beacons and reports zone enter/exit events."""

from __future__ import annotations

import pytest

from edge.ble.frames import Advertisement
from edge.ble.ranging import AppRanging, to_obs
from mallsense.site import load_site
from tests.edge.ranging_walk import APPLE, heard, ibeacon, true_zones

SITE = load_site()
KEY = "ab" * 16


def run(adverts: list[Advertisement]) -> tuple[AppRanging, list]:
    ranging = AppRanging(SITE, KEY)
    events = []
    for adv in adverts:
        events += ranging.observe(adv)
    return ranging, events + ranging.close()


def test_the_walk_gives_the_true_zones_in_order_with_their_times():
    ranging, events = run(heard(SITE))
    truth = true_zones(SITE)
    assert [z for z, *_ in truth] == ["f1-mall-west", "f1-atrium", "f1-mall-east"]
    enters = [(e.zone, e.ts) for e in events if e.kind == "enter"]
    assert [z for z, _ in enters] == [z for z, *_ in truth]
    for (zone, ts), (_, first, _) in zip(enters, truth, strict=True):
        assert abs(ts - first) <= 15_000, f"{zone}: entered {ts - first:+} ms from the truth"
    exits = [e for e in events if e.kind == "exit"]
    assert len(exits) == 3 and all(e.dwell_s > 20 for e in exits)
    assert all(f[1] == "f1" for f in ranging.fixes), "the floor heard best is the floor the shopper is on"
    obs = to_obs(events)
    assert [o.event for o in obs] == ["enter", "exit"] * 3 and {o.dev for o in obs} == {KEY}


def test_unknown_and_implausible_beacons_are_ignored():
    foreign = Advertisement(0, rssi=-60, manufacturer_data={APPLE: ibeacon("12345678-1234-1234-1234-123456789abc",
                                                                             1, 2, -59)})
    beacon = SITE.beacons[0]
    silent = Advertisement(1, rssi=0, manufacturer_data={APPLE: ibeacon(beacon.uuid, beacon.major, beacon.minor,
                                                                         -59)})
    ranging, events = run([foreign, silent])
    assert events == [] and ranging.unknown_beacons == 1 and ranging.fixes == []


def test_a_site_without_beacons_is_refused():
    with pytest.raises(ValueError, match="no beacons"):
        AppRanging(SITE.model_copy(update={"beacons": []}), KEY)
