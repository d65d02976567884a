"""BLE positioning: the pure functions on inputs whose answers are known, then held-out accuracy on the real mall.

The real survey (Indoor Location Competition 2.0, site1 F1/F2) is read from ``$MALLSENSE_DATA/ble/mall-traces``.
Split: walks sorted by path_id, every 4th held out; fixes from sightings within ±3 s of each held-out waypoint.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import fingerprint, positioning, positioning_eval, trajectory
from models.beacon_survey import fit_beacons, interpolate_track, load_survey, split_walks
from models.zone_snap import ZoneSnapper, segment_distances, snap
from tests.conftest import shared_data

TRACES = shared_data() / "ble" / "mall-traces"
TARGET_MEDIAN_M = 4.0  # the target; not reached on this data (see test_target_median_of_4_m)
REACHED_MEDIAN_M = 6.5  # what the radio map reaches on both floors (5.9 m, 5.4 m), with a margin against regressions
BEST = "fingerprint radio map"
SMOOTHED = "trajectory HMM"  # offline, whole-walk smoother: 6.1 m / 6.0 m held out, not better than BEST here
BASELINE = "nearest beacon"


# ------------------------------------------------------------------------------------------------ path loss, smoothing
@pytest.mark.parametrize("height", [0.0, 2.0])
def test_path_loss_inversion_round_trips(height: float) -> None:
    d = np.array([0.2 if height == 0 else 0.0, 0.5, 1.0, 3.0, 10.0, 40.0])
    a = np.array([-59.0, -59.0, -65.0, -52.0, -59.0, -70.0])
    n = np.array([2.0, 2.0, 2.5, 1.8, 3.0, 2.2])
    rssi = positioning.rssi_at(d, a, n, height)
    assert np.allclose(positioning.distance_from_rssi(rssi, a, n, height), d, atol=1e-6)
    # at 1 m slant range the reading is A; 10× farther is 10·n dB quieter
    assert positioning.rssi_at(np.array([1.0]), -59.0, 2.0)[0] == pytest.approx(-59.0)
    assert positioning.rssi_at(np.array([10.0]), -59.0, 2.0)[0] == pytest.approx(-79.0)


def test_a_reading_louder_than_the_beacon_overhead_is_distance_zero() -> None:
    assert positioning.distance_from_rssi(np.array([-40.0]), -59.0, 2.0, height=2.0)[0] == 0.0


def test_distance_sigma_grows_with_distance_and_noise() -> None:
    s = positioning.distance_sigma(np.array([0.5, 10.0, 30.0]), np.array([2.0, 2.0, 2.0]), noise_db=6.0)
    assert s[0] == 1.0 and s[1] < s[2]  # floored at 1 m near the beacon
    assert s[2] == pytest.approx(30.0 * 6.0 * np.log(10) / 20.0)


def test_ema_follows_time_not_sample_count() -> None:
    ts = np.array([0, 1000, 2000, 62_000])
    out = positioning.ema(ts, np.array([-70.0, -70.0, -80.0, -60.0]), tau_s=2.0)
    assert out[1] == -70.0  # a constant stays constant
    assert out[2] == pytest.approx(-70.0 - 10.0 * (1 - np.exp(-0.5)))  # α = 1 − exp(−Δt/τ)
    assert out[3] == pytest.approx(-60.0, abs=1e-6)  # after a minute of silence the new reading wins
    assert len(positioning.ema(np.array([]), np.array([]), 1.0)) == 0


def test_window_rssi_aggregates_per_fix_and_beacon() -> None:
    ts = np.array([0, 500, 900, 1500, 4000])
    beacon = np.array([0, 1, 0, 0, 1])
    rssi = np.array([-70.0, -80.0, -60.0, -65.0, -90.0])
    R, counts = positioning.window_rssi(np.array([1000.0, 4000.0, 9000.0]), ts, beacon, rssi, 3, 1000, "mean")
    assert counts.tolist() == [[3, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert R[0, 0] == pytest.approx(-65.0) and R[0, 1] == -80.0 and np.isnan(R[0, 2])
    assert np.isnan(R[1, 0]) and R[1, 1] == -90.0 and np.isnan(R[2]).all()
    top, _ = positioning.window_rssi(np.array([1000.0]), ts, beacon, rssi, 3, 1000, "max")
    median, _ = positioning.window_rssi(np.array([1000.0]), ts, beacon, rssi, 3, 1000, "median")
    assert top[0, 0] == -60.0 and median[0, 0] == -65.0 and median[0, 1] == -80.0
    with pytest.raises(ValueError, match="unknown aggregation"):
        positioning.window_rssi(np.array([0.0]), ts, beacon, rssi, 3, 1000, "mode")


@pytest.mark.parametrize("how", ["mean", "max", "median"])
def test_window_rssi_with_no_sighting_in_any_window_is_all_missing(how) -> None:
    """A walk whose windows hold no sighting at all (the median once indexed an empty array)."""
    R, counts = positioning.window_rssi(np.array([50_000.0, 60_000.0]), np.array([0, 500]), np.array([0, 1]),
                                        np.array([-70.0, -80.0]), 2, 1000, how)
    assert counts.sum() == 0 and R.shape == (2, 2) and np.isnan(R).all()


# --------------------------------------------------------------------------------------------------------- estimators
ANCHORS = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 15.0], [25.0, 18.0]])


def test_multilateration_recovers_known_points_from_exact_distances() -> None:
    truth = np.array([[5.0, 5.0], [18.0, 3.0], [12.0, 14.0], [-4.0, 9.0], [30.0, 20.0]])
    d = np.linalg.norm(truth[:, None, :] - ANCHORS[None], axis=2)
    anchors = np.broadcast_to(ANCHORS, (len(truth), *ANCHORS.shape))
    est = positioning.multilaterate(anchors, d, np.ones_like(d), prior_weight=0.0)
    assert np.allclose(est, truth, atol=1e-4)
    three = positioning.multilaterate(anchors[:, :3], d[:, :3], np.ones((len(truth), 3)), prior_weight=0.0)
    assert np.allclose(three, truth, atol=1e-3)


def test_multilateration_weights_down_a_bad_range_and_stays_finite_when_underdetermined() -> None:
    truth = np.array([8.0, 6.0])
    d = np.linalg.norm(truth - ANCHORS, axis=1)
    d_bad = d + np.array([0.0, 0.0, 0.0, 12.0])
    heavy = positioning.multilaterate(ANCHORS[None], d_bad[None], np.array([[1.0, 1.0, 1.0, 1e-4]]))[0]
    assert np.linalg.norm(heavy - truth) < 0.1
    one = positioning.multilaterate(ANCHORS[None, :1], np.array([[5.0]]), np.array([[1.0]]))[0]
    assert one.tolist() == [0.0, 0.0]  # one range from its own anchor: no direction to move, the start stands
    toward = positioning.multilaterate(ANCHORS[None, :1], np.array([[5.0]]), np.array([[1.0]]), start=[[0.0, 1.0]])[0]
    assert toward == pytest.approx([0.0, 5.0], abs=0.05)  # onto the circle, in the direction of the start
    two = positioning.multilaterate(ANCHORS[None, :2], np.array([[12.0, 12.0]]), np.ones((1, 2)))[0]
    assert np.isfinite(two).all() and two[0] == pytest.approx(10.0, abs=0.1)  # collinear: stays on the axis


def test_nearest_beacon_and_weighted_centroid() -> None:
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    R = np.array([[-60.0, -80.0, np.nan], [np.nan, np.nan, np.nan], [-70.0, -70.0, np.nan]])
    near = positioning.nearest_beacon(R, xy)
    assert near[0].tolist() == [0.0, 0.0] and np.isnan(near[1]).all()
    centre = positioning.weighted_centroid(R, xy)
    assert centre[2].tolist() == [5.0, 0.0] and centre[0, 0] == pytest.approx(10.0 * 0.01 / 1.01)


def test_multilateration_from_rssi_with_fitted_style_parameters() -> None:
    truth = np.array([[6.0, 4.0], [15.0, 12.0]])
    a, n = np.full(4, -59.0), np.full(4, 2.0)
    R = positioning.rssi_at(np.linalg.norm(truth[:, None, :] - ANCHORS[None], axis=2), a, n, height=2.0)
    est = positioning.locate_multilateration(R, ANCHORS, a, n, height=2.0, k=4)
    assert np.allclose(est, truth, atol=0.05)


# ----------------------------------------------------------------------------------------------- survey, calibration
def _walks() -> pd.DataFrame:
    return pd.DataFrame({"path_id": ["a", "a", "a", "b", "b"], "ts_ms": [0, 10_000, 20_000, 5_000, 15_000],
                         "x_m": [0.0, 10.0, 10.0, 50.0, 50.0], "y_m": [0.0, 0.0, 10.0, 0.0, 20.0]})


def test_surveyor_position_is_interpolated_within_each_walk_only() -> None:
    xy = interpolate_track(_walks(), np.array(["a", "a", "b", "a", "b", "zz"]),
                           np.array([5_000, 15_000, 10_000, 25_000, 4_000, 1]))
    assert xy[:3].tolist() == [[5.0, 0.0], [10.0, 5.0], [50.0, 10.0]]
    assert np.isnan(xy[3:]).all()  # after the last / before the first waypoint, unknown walk


def test_split_is_deterministic_every_fourth_walk_held_out() -> None:
    ids = [f"w{i:02d}" for i in range(10)]
    cal, held = split_walks(list(reversed(ids)))
    assert held == ["w03", "w07"] and len(cal) == 8 and not set(cal) & set(held)


def test_beacon_fit_recovers_a_beacon_from_two_crossing_walks() -> None:
    rng = np.random.default_rng(7)
    t = np.linspace(0, 1, 120)
    path = np.vstack([np.column_stack([-20 + 40 * t, np.full_like(t, 3.0)]),
                      np.column_stack([np.full_like(t, -4.0), -20 + 40 * t])])
    beacon, a, n = np.array([2.0, -1.0]), -58.0, 2.3
    rssi = positioning.rssi_at(np.linalg.norm(path - beacon, axis=1), a, n, 2.0) + rng.normal(0, 1.0, len(path))
    sightings = pd.DataFrame({"beacon_mac": "b1", "x_m": path[:, 0], "y_m": path[:, 1], "rssi": rssi,
                              "tx_power": -59})
    fitted = fit_beacons(sightings).table.loc["b1"]
    assert np.hypot(fitted.x - 2.0, fitted.y + 1.0) < 0.5
    assert abs(fitted.A - a) < 1.5 and abs(fitted.n - n) < 0.2
    assert fit_beacons(sightings.head(3)).table.empty  # too few sightings: not fitted


def test_fingerprint_lookups_return_the_matching_reference_place() -> None:
    xy = np.array([[float(x), 0.0] for x in range(0, 40, 2)])
    macs = np.array(["a", "b", "c"])
    beacons = np.array([[0.0, 0.0], [20.0, 0.0], [40.0, 0.0]])
    rssi = positioning.rssi_at(np.linalg.norm(xy[:, None, :] - beacons[None], axis=2), -59.0, 2.0)
    rssi[rssi < -85] = np.nan
    fmap = fingerprint.FingerprintMap(macs, rssi, xy)
    query = rssi[[3, 12]]
    assert np.allclose(fingerprint.knn_locate(fmap, query, k=1), xy[[3, 12]])
    rmap = fingerprint.build_radio_map(fmap, grid_m=2.0, bandwidth_m=1.0)
    assert np.abs(fingerprint.radio_map_locate(rmap, query, top=1) - xy[[3, 12]]).max() <= 2.0
    assert np.isnan(fingerprint.knn_locate(fmap, np.full((1, 3), np.nan))).all()


def test_trajectory_smoother_outvotes_a_single_misleading_window() -> None:
    xy = np.array([[float(x), 0.0] for x in range(0, 40)])
    T = trajectory.transition_matrix(xy, sigma_m=1.5)
    assert np.allclose(np.asarray(T.sum(axis=1)).ravel(), 1.0) and T[0, 10] == 0.0  # stochastic, truncated at 3.5σ
    truth = np.arange(5, 25)  # one place a step, walking +1 m/s
    loglik = -0.5 * ((np.arange(40)[None, :] - truth[:, None]) / 3.0) ** 2
    loglik[10] = -0.5 * ((np.arange(40) - 35.0) / 3.0) ** 2  # step 10: a window as sure, but pointing 20 m away
    post = trajectory.forward_backward(loglik, T)
    assert np.allclose(post.sum(axis=1), 1.0)
    mean = post @ xy[:, 0]
    assert abs(mean[10] - truth[10]) < 6.0  # pulled ~5 m, not 20: the walk's other windows outvote it
    assert np.abs(np.delete(mean - truth, 10)).max() < 3.0


# ----------------------------------------------------------------------------------------------------------- snapping
SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
INNER = [(2.0, 2.0), (4.0, 2.0), (4.0, 4.0), (2.0, 4.0)]
SHOP = [(20.0, 0.0), (30.0, 0.0), (30.0, 10.0), (20.0, 10.0)]


def test_snapping_prefers_the_smallest_containing_zone_then_the_nearest_within_reach() -> None:
    zones = {"wing": SQUARE, "kiosk": INNER, "shop": SHOP}
    snapper = ZoneSnapper(zones, max_distance_m=3.0)
    points = np.array([[3.0, 3.0], [8.0, 8.0], [18.0, 5.0], [15.0, 5.0], [25.0, -2.5], [np.nan, np.nan]])
    assert snapper.snap_many(points) == ["kiosk", "wing", "shop", None, "shop", None]
    assert snap((12.0, 5.0), zones) == "wing" and snap((12.0, 5.0), zones, max_distance_m=1.0) is None
    assert ZoneSnapper({}).snap_many(points[:1]) == [None]


def test_segment_distances() -> None:
    d = segment_distances(np.array([[0.0, 1.0], [5.0, 0.0], [-3.0, 4.0]]), np.array([[0.0, 0.0]]),
                          np.array([[4.0, 0.0]]))
    assert d[:, 0].tolist() == pytest.approx([1.0, 1.0, 5.0])


# ------------------------------------------------------------------------------------------ held out, the real mall
@pytest.fixture(scope="module")
def held_out() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    assert (TRACES / "site1_F1_waypoints.tsv").is_file(), f"expected the survey under {TRACES} (set MALLSENSE_DATA)"
    out = {}
    for floor in ("F1", "F2"):
        frame, _ = positioning_eval.errors(load_survey(TRACES, f"site1_{floor}"))
        table = positioning_eval.summary(frame, positioning_eval.store_polygons(TRACES, floor))
        out[floor] = (frame, table.set_index("method"))
    return out


@pytest.mark.parametrize("floor", ["F1", "F2"])
def test_held_out_walks_beat_the_nearest_beacon_baseline(held_out: dict, floor: str) -> None:
    frame, table = held_out[floor]
    assert len(frame) >= 0.75 * frame.attrs["waypoints"]  # most held-out waypoints have a beacon in the window
    base = table.loc[BASELINE]
    for method in positioning_eval.METHODS[1:]:
        assert table.loc[method, "median_m"] < base["median_m"], method
    best = table.loc[BEST]
    assert best["median_m"] <= REACHED_MEDIAN_M and best["median_m"] < 0.7 * base["median_m"]
    assert best["p90_m"] < base["p90_m"]
    assert best["in_store_share"] > base["in_store_share"]
    smoothed = table.loc[SMOOTHED]
    assert smoothed["median_m"] <= REACHED_MEDIAN_M and smoothed["p90_m"] < base["p90_m"]
    assert smoothed["scope"] == "whole walk (offline)" and best["scope"] == "±3 s window"


@pytest.mark.parametrize("floor", ["F1", "F2"])
def test_held_out_fixes_come_from_held_out_walks_only(held_out: dict, floor: str) -> None:
    frame, _ = held_out[floor]
    survey = load_survey(TRACES, f"site1_{floor}")
    cal, held = split_walks(survey.walks())
    assert set(frame["path_id"]) <= set(held) and not set(frame["path_id"]) & set(cal)


@pytest.mark.xfail(strict=True, reason="BLE-only fixes on this survey reach ~5.4–5.9 m median held out, not 4 m "
                   "(a whole-walk HMM smoother does no better: 6.1 / 6.0 m): RSSI shadowing ~5–6 dB per reading, "
                   "errors correlated along a walk, most beacons inside shops away from the surveyed corridors")
@pytest.mark.parametrize("floor", ["F1", "F2"])
def test_target_median_of_4_m(held_out: dict, floor: str) -> None:
    assert held_out[floor][1].loc[BEST, "median_m"] <= TARGET_MEDIAN_M
