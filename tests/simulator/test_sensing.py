"""What the sensors report: crossings minus misses, honest head counts, plausible tracks, keyed radios only."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from edge.privacy import is_locally_administered
from mallsense.contract import Kind
from simulator import profiles, radio
from simulator.sensing import OCCUPANCY_EVERY_MS, Sensing
from simulator.world import day_bounds

from .conftest import SATURDAY


def test_observations_fall_in_their_window(sensed):
    assert sensed.outside_window == 0
    assert all(sensed.by_kind[k] for k in sensed.by_kind) and sensed.positions > 0


def test_published_crossings_are_the_true_ones_minus_misses(site, sensed):
    visits = sensed.plan.visits
    entrances = {e.id for e in site.entrances}
    truth = sensed.crossings
    doors = [r for r in truth if r.line not in entrances]
    truth = [r for r in truth if r.line in entrances]
    assert len(truth) == 2 * len(visits)  # everyone in is out again
    assert Counter(r.visit_id for r in truth) == Counter({v.visit_id: 2 for v in visits})
    published = Counter((ob.obs.line, ob.obs.dir) for ob in sensed.by_kind[Kind.CROSSING] if ob.obs.line in entrances)
    assert published == Counter((r.line, r.dir) for r in truth if r.published)
    assert {(line, d): n for line, dirs in sensed.sensing.published_crossings.items() for d, n in dirs.items()
            if n and line in entrances} == dict(published)
    assert sum(sum(d.values()) for d in sensed.sensing.true_crossings.values()) == len(truth) + len(doors)
    miss_rate = 1 - sum(published.values()) / len(truth)
    assert miss_rate == pytest.approx(site.simulation.camera_miss_rate, abs=0.01)
    by_visit = {v.visit_id: v for v in visits}
    for r in truth:
        v = by_visit[r.visit_id]
        assert (r.ts, r.line) == ((v.t_in, v.entrance_in) if r.dir == "in" else (v.t_out, v.entrance_out))


def test_store_door_counters_see_every_store_stay_minus_misses(site, sensed):
    entrances = {e.id for e in site.entrances}
    doors = [r for r in sensed.crossings if r.line not in entrances]
    expected = Counter()
    for v in sensed.plan.visits:
        for stay in v.stores:
            expected[(v.visit_id, stay.store, "in", stay.t0)] += 1
            expected[(v.visit_id, stay.store, "out", stay.t1)] += 1
    assert Counter((r.visit_id, r.line, r.dir, r.ts) for r in doors) == expected
    published = Counter((ob.obs.line, ob.obs.dir) for ob in sensed.by_kind[Kind.CROSSING]
                        if ob.obs.line not in entrances)
    assert published == Counter((r.line, r.dir) for r in doors if r.published)
    miss_rate = 1 - sum(published.values()) / len(doors)
    assert miss_rate == pytest.approx(site.simulation.camera_miss_rate, abs=0.01)


def test_crossings_come_from_the_camera_on_each_line(site, sensed):
    for ob in sensed.by_kind[Kind.CROSSING]:
        assert ob.obs.line in site.sensor_by_id[ob.sensor].lines


def test_occupancy_is_never_negative_and_counts_the_people_inside(site, sensed):
    occupancy = sensed.by_kind[Kind.OCCUPANCY]
    assert min(ob.obs.count for ob in occupancy) == 0 and max(ob.obs.count for ob in occupancy) > 20
    assert all(ob.obs.ts % OCCUPANCY_EVERY_MS == 0 for ob in occupancy)
    assert all(ob.obs.zone in site.sensor_by_id[ob.sensor].zones for ob in occupancy)
    t0, t_end = day_bounds(site, SATURDAY)
    assert len(occupancy) == (t_end - t0) // OCCUPANCY_EVERY_MS * sum(
        len(s.zones) for s in site.sensors if s.kind == "camera")
    reported = {(ob.obs.ts, ob.obs.zone): ob.obs.count for ob in occupancy}
    tz = site.site.tz
    for hh in (11, 13, 17, 19):
        tick = int(datetime.combine(SATURDAY, datetime.min.time().replace(hour=hh), tzinfo=tz).timestamp() * 1000)
        inside: Counter[str] = Counter()
        for v in sensed.plan.visits:
            for seg in v.segments:
                if seg.t0 <= tick < seg.t1:
                    inside[seg.zone] += 1
        for (ts, zone), count in reported.items():
            if ts == tick:
                assert count == inside[zone], (hh, zone)


def test_positions_lie_in_the_reporting_cameras_zones(sensed):
    assert sensed.positions_off_camera == 0
    per_visitor_minute = sensed.positions / sum((v.t_out - v.t_in) / 60_000 for v in sensed.plan.visits)
    assert 0.5 < per_visitor_minute < 12  # a few samples a minute while in view, none inside stores


def test_tracks_are_ephemeral_per_camera_stint(sensed):
    # more tracks than people: a person coming back into a camera's view gets a new track id
    people = len(sensed.plan.visits)
    tracks = sum(len(t) for t in sensed.position_tracks.values())
    assert tracks > people
    assert all(max(t) < 10 * people for t in sensed.position_tracks.values())


def _macs_of_the_day(plan) -> set[str]:
    """Every MAC any phone used during the day, as 12 hex digits."""
    macs = set()
    for v in plan.visits:
        if v.phone is None:
            continue
        first, last = radio.mac_epoch(v.phone, v.t_in), radio.mac_epoch(v.phone, v.t_out)
        for epoch in range(first, last + 1):
            macs.add(radio.mac_address(v.phone, epoch).hex())
    return macs


def test_no_wifi_device_key_is_or_contains_a_mac(sensed):
    wifi = sensed.by_kind[Kind.WIFI]
    devs = {ob.obs.dev for ob in wifi}
    macs = _macs_of_the_day(sensed.plan)
    assert len(macs) > len([v for v in sensed.plan.visits if v.phone])  # randomized MACs rotate
    assert not devs & macs
    windows = {dev[i:i + 12] for dev in devs for i in range(len(dev) - 11)}
    assert not windows & macs  # no MAC hides inside a key either


def test_wifi_sightings_look_like_probe_requests(site, sensed):
    wifi = sensed.by_kind[Kind.WIFI]
    assert all(-120 <= ob.obs.rssi <= 0 and ob.obs.ch in (1, 6, 11) for ob in wifi)
    assert all(site.sensor_by_id[ob.sensor].kind == "wifi" for ob in wifi)
    rand = sum(ob.obs.rand for ob in wifi) / len(wifi)
    assert rand == pytest.approx(site.simulation.randomized_mac_share, abs=0.05)
    fingerprints = {ob.obs.fp for ob in wifi}
    assert 3 <= len(fingerprints) <= len(profiles.PHONE_MODELS)
    # a phone's sequence numbers go up (mod 4096) from one probe to the next, whatever sensor heard it
    sns: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for ob in wifi:
        sns[ob.obs.dev].append((ob.obs.ts, ob.obs.sn))
    rising = total = 0
    for seen in sns.values():
        seen = sorted(set(seen))
        for (_, a), (_, b) in itertools.pairwise(seen):
            total += 1
            rising += 0 < (b - a) % 4096 < 64
    assert rising / total > 0.99


def test_randomized_macs_rotate_and_fixed_ones_do_not():
    from simulator.members import Phone

    fixed, rotating = Phone("pixel-8", False, 12345), Phone("iphone-15", True, 67890)
    t0 = 1_794_600_000_000
    hour = [t0 + m * 60_000 for m in range(60)]
    assert len({radio.mac_address(fixed, radio.mac_epoch(fixed, t)) for t in hour}) == 1
    assert 3 <= len({radio.mac_address(rotating, radio.mac_epoch(rotating, t)) for t in hour}) <= 6
    assert is_locally_administered(radio.mac_address(rotating, 7))
    assert not is_locally_administered(radio.mac_address(fixed, 0))
    assert all(radio.mac_address(p, 3)[0] & 0x01 == 0 for p in (fixed, rotating))  # never multicast


def test_signal_falls_with_distance():
    path = radio.WIFI_PATH
    assert path.rssi(2, 0.0) > path.rssi(10, 0.0) > path.rssi(30, 0.0) > path.sensitivity
    assert path.rssi(10, 0.0) - path.rssi(10, 0.0, behind_wall=True) == pytest.approx(path.wall_loss)
    assert path.rssi(20, 0.0) - path.rssi(10, 0.0) == pytest.approx(-10 * path.exponent * math.log10(2))


def test_ble_comes_only_from_app_members_with_their_consented_key(site, sensed, keyer):
    ble = sensed.by_kind[Kind.BLE]
    app_keys = {keyer.stable_key(v.app_id.encode()) for v in sensed.plan.visits if v.app_id}
    assert {ob.obs.dev for ob in ble} <= app_keys
    assert len({ob.obs.dev for ob in ble}) > 0.8 * len(app_keys)
    assert all(site.sensor_by_id[ob.sensor].kind == "ble" and -127 <= ob.obs.rssi <= 20 for ob in ble)


def test_a_subset_of_sensors_reports_only_itself(site, layout, keyer, tuesday):
    node = "node-f1-e"
    mine = {s.id for s in site.sensors if s.node == node}
    sensing = Sensing(site, tuesday, keyer, seed=1, sensors=mine, layout=layout)
    t0 = day_bounds(site, tuesday.day)[0] + 3 * 3_600_000
    seen = Counter()
    for k in range(30):
        for ob in sensing.window(t0 + k * 60_000, t0 + (k + 1) * 60_000):
            assert ob.sensor in mine
            seen[ob.kind] += 1
    assert seen[Kind.CROSSING] and seen[Kind.POSITION] and seen[Kind.WIFI]
    lines = {line for s in site.sensors if s.id in mine for line in s.lines}
    assert set(sensing.published_crossings) <= lines
    assert set(sensing.true_crossings) - lines, "true crossings are counted on every line"
