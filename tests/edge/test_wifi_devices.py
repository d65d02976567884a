"""The device estimator's rules, one at a time, on sightings built by hand."""

from __future__ import annotations

import pytest

from edge.wifi.devices import DeviceEstimator, EstimatorConfig, Sighting, calibrate, count_chains, estimate_interval

T0 = 1_764_547_200_000  # 2025-12-01 00:00 UTC, on a 5-minute boundary


def rand(ts_s: float, dev: str, sn: int, fp: str = "aa", rssi: int = -60) -> Sighting:
    return Sighting(T0 + int(ts_s * 1000), dev, True, fp, sn, rssi)


def stable(ts_s: float, dev: str, rssi: int = -60) -> Sighting:
    return Sighting(T0 + int(ts_s * 1000), dev, False, "bb", 0, rssi)


def test_one_phone_rotating_its_address_every_probe_is_one_device():
    burst = [rand(i * 5, f"k{i}", 100 + 3 * i) for i in range(20)]
    assert count_chains(burst, chain_gap_s=60, max_seq_step=256) == 1


def test_the_sequence_counter_wraps_at_4096():
    assert count_chains([rand(0, "a", 4094), rand(2, "b", 3)], 60, 256) == 1


def test_two_phones_of_one_model_are_two_devices():
    a = [rand(i * 5, f"a{i}", 100 + 2 * i) for i in range(10)]
    b = [rand(i * 5 + 1, f"b{i}", 2000 + 2 * i) for i in range(10)]
    assert count_chains(a + b, 60, 256) == 2


def test_the_same_counter_under_another_fingerprint_is_another_device():
    assert count_chains([rand(0, "a", 10), rand(2, "b", 11, fp="cc")], 60, 256) == 2


def test_a_long_silence_or_a_counter_jump_breaks_the_chain():
    assert count_chains([rand(0, "a", 10), rand(200, "b", 11)], 60, 256) == 2
    assert count_chains([rand(0, "a", 10), rand(2, "b", 900)], 60, 256) == 2


def test_weak_probes_are_outside_the_sensor_and_fixtures_are_not_people():
    cfg = EstimatorConfig(min_rssi_dbm=-75, fixture_after_s=3600, fixture_gap_s=900)
    est = DeviceEstimator(cfg)
    closed = []
    for minute in range(0, 3 * 60 + 1, 2):  # a desktop probing every 2 minutes for 3 hours
        closed += est.add(stable(minute * 60, "desk"))
    closed += est.add(stable(3 * 3600, "visitor"))
    closed += est.add(stable(3 * 3600 + 1, "far-away", rssi=-90))
    last = est.flush()
    assert "desk" in est.fixtures
    assert closed[0].stable_devices == 1 and closed[0].fixtures == 0, "not a fixture before an hour has passed"
    assert last.stable_devices == 1 and last.fixtures == 1 and last.probes == 2


def test_intervals_are_contiguous_with_zeros_and_restart_after_a_jump():
    est = DeviceEstimator(EstimatorConfig(interval_s=300))
    closed = est.add(stable(0, "a"))
    closed += est.add(stable(16 * 60, "a"))  # 3 closed: 0-5, 5-10 (empty), 10-15 (empty)
    assert [c.start_ms - T0 for c in closed] == [0, 300_000, 600_000]
    assert [c.devices for c in closed] == [1, 0, 0]
    closed = est.add(stable(-3600, "b"))  # a capture from earlier: the open interval closes, the grid restarts
    assert [c.start_ms - T0 for c in closed] == [900_000]
    assert est.flush().start_ms == T0 - 3600_000


def test_people_are_the_calibration_applied_to_devices():
    cfg = EstimatorConfig(people_per_device=0.5, people_offset=1.0)
    est = estimate_interval(T0, [stable(0, "a"), stable(1, "b"), rand(2, "c", 5)], cfg)
    assert est.devices == 3 and est.people == pytest.approx(2.5)
    assert estimate_interval(T0, [], cfg).people == 0.0, "nobody heard: nobody estimated, whatever the offset"


def test_calibrate_fits_a_line_and_refuses_what_cannot_be_fitted():
    a, b = calibrate([10, 20, 30], [4, 7, 10])
    assert a == pytest.approx(0.3) and b == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two intervals"):
        calibrate([5, 5], [1, 2])


@pytest.mark.parametrize("bad", [dict(interval_s=5), dict(max_seq_step=0), dict(people_per_device=-1)])
def test_bad_settings_fail_fast(bad):
    with pytest.raises(ValueError):
        EstimatorConfig(**bad)


def test_a_slightly_late_sighting_joins_the_open_interval():
    est = DeviceEstimator(EstimatorConfig(interval_s=300))
    est.add(stable(10, "a"))
    closed = est.add(stable(301, "b"))  # opens 5-10 min
    closed += est.add(stable(299, "c"))  # late by two seconds: counted now, no restart
    assert [c.start_ms - T0 for c in closed] == [0]
    assert est.flush().stable_devices == 2
