"""BLE fingerprinting: RSSI vectors recorded at known positions, looked up by k-nearest neighbours or by likelihood.

Reference fingerprints come from survey walks: every ``stride_ms`` along each calibration walk, the window RSSI vector
(``models.positioning.window_rssi``, same window as the queries) is stored with the surveyor's interpolated position.
No beacon positions are needed; the price is a survey covering the floor, and the map ages as beacons move or die.

- ``knn_locate``: the query is compared with every reference in signal space. RSSI is put in the *exponential
  representation* ``exp((rssi − MISSING_DBM)/β) − 1`` (Torres-Sospedra et al., 2015: loud readings, which vary least
  with distance noise, count more; a beacon not heard is 0), distances are Euclidean, and the position is the average
  of the ``k`` nearest references' positions weighted ``1/(distance + 1)``.
- ``radio_map_locate`` (probabilistic fingerprinting): the references are first smoothed into a **radio map** on a
  1 m grid of surveyed places (``build_radio_map``: Gaussian-kernel regression, bandwidth ``bandwidth_m``), holding
  per place and beacon the probability that a window hears it and its mean RSSI when heard. A query's log-likelihood
  at each place sums, over beacons, ``log p + log N(rssi; μ, σ)`` when heard and ``log(1 − p)`` when not (beacons
  independent, ``p`` clipped to ``[p_floor, 1 − p_floor]``). The fix is the likelihood-weighted mean of the ``top``
  best places. Smoothing averages the noise of single survey windows, and missed beacons are evidence too.
  Candidate places are restricted to where surveyors walked: the walkable floor as the survey knows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.beacon_survey import Survey, interpolate_track
from models.positioning import window_rssi

MISSING_DBM = -110.0
EXP_BETA_DB = 10.0
DEFAULT_K = 7
STRIDE_MS = 1000
GRID_M = 1.0
BANDWIDTH_M = 4.0
NOISE_DB = 6.0
P_FLOOR = 0.02
TOP_PLACES = 10


@dataclass(frozen=True)
class FingerprintMap:
    """Reference fingerprints: ``rssi`` (M × B, NaN = not heard) at ``xy`` (M × 2); columns follow ``macs``."""

    macs: np.ndarray
    rssi: np.ndarray
    xy: np.ndarray


def survey_windows(survey: Survey, macs: np.ndarray, query: dict[str, np.ndarray],
                   half_window_ms: float, how: str = "mean") -> np.ndarray:
    """Window RSSI matrix (rows = all query times of all walks, in ``query`` order) over the beacons ``macs``.

    ``query`` maps path_id → query times (ms). ``macs`` must be sorted; sightings of other beacons are ignored.
    """
    rows = []
    sightings = survey.sightings
    col_all = np.searchsorted(macs, sightings["beacon_mac"].to_numpy())
    col_all = np.where(macs[np.minimum(col_all, len(macs) - 1)] == sightings["beacon_mac"].to_numpy(), col_all, -1)
    groups = sightings.groupby("path_id", sort=False).indices
    for path_id, times in query.items():
        at = groups.get(path_id, np.array([], dtype=np.int64))
        at = at[col_all[at] >= 0]
        R, _ = window_rssi(times, sightings["ts_ms"].to_numpy()[at], col_all[at], sightings["rssi"].to_numpy()[at],
                           len(macs), half_window_ms, how)
        rows.append(R)
    return np.vstack(rows) if rows else np.empty((0, len(macs)))


def build_map(survey: Survey, half_window_ms: float, stride_ms: int = STRIDE_MS, how: str = "mean") -> FingerprintMap:
    """Fingerprints every ``stride_ms`` along each walk of ``survey`` (between its first and last waypoint)."""
    macs = np.unique(survey.sightings["beacon_mac"].to_numpy())
    span = survey.waypoints.groupby("path_id")["ts_ms"].agg(["min", "max"])
    query = {p: np.arange(lo, hi + 1, stride_ms, dtype=np.float64) for p, (lo, hi) in span.iterrows()}
    R = survey_windows(survey, macs, query, half_window_ms, how)
    ids = np.concatenate([np.full(len(t), p, dtype=object) for p, t in query.items()])
    xy = interpolate_track(survey.waypoints, ids.astype(str), np.concatenate(list(query.values())))
    keep = ~np.isnan(R).all(axis=1) & ~np.isnan(xy).any(axis=1)
    return FingerprintMap(macs, R[keep], xy[keep])


def _exp_repr(R: np.ndarray, missing_dbm: float) -> np.ndarray:
    return np.expm1((np.nan_to_num(R, nan=missing_dbm) - missing_dbm) / EXP_BETA_DB)


def knn_locate(fmap: FingerprintMap, R: np.ndarray, k: int = DEFAULT_K, missing_dbm: float = MISSING_DBM,
               chunk: int = 512) -> np.ndarray:
    """Weighted k-nearest-neighbour positions for query rows ``R`` (columns as ``fmap.macs``); NaN for empty rows.

    Squared Euclidean distances in the exponential representation come from ``|q|² + |r|² − 2 q·r``, in chunks of
    queries to bound memory.
    """
    ref = _exp_repr(fmap.rssi, missing_dbm)
    ref_sq = (ref**2).sum(axis=1)
    out = np.full((len(R), 2), np.nan)
    k = min(k, len(ref))
    for s in range(0, len(R), chunk):
        q = _exp_repr(R[s:s + chunk], missing_dbm)
        d2 = np.maximum((q**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref.T, 0.0)
        nn = np.argpartition(d2, k - 1, axis=1)[:, :k]
        w = 1.0 / (np.sqrt(np.take_along_axis(d2, nn, axis=1)) + 1.0)
        out[s:s + chunk] = np.einsum("fk,fkc->fc", w, fmap.xy[nn]) / w.sum(axis=1, keepdims=True)
    out[np.isnan(R).all(axis=1)] = np.nan
    return out


@dataclass(frozen=True)
class RadioMap:
    """Per place (``xy``, C × 2) and beacon (``macs``): probability a window hears it, mean RSSI when heard (C × B)."""

    macs: np.ndarray
    xy: np.ndarray
    p_heard: np.ndarray
    mean_rssi: np.ndarray


def build_radio_map(fmap: FingerprintMap, grid_m: float = GRID_M, bandwidth_m: float = BANDWIDTH_M) -> RadioMap:
    """Kernel-smoothed radio map on the grid cells that hold at least one reference fingerprint."""
    places = np.unique(np.round(fmap.xy / grid_m), axis=0) * grid_m
    d2 = ((places[:, None, :] - fmap.xy[None, :, :]) ** 2).sum(axis=2)
    K = np.where(d2 <= (3.0 * bandwidth_m) ** 2, np.exp(-0.5 * d2 / bandwidth_m**2), 0.0)
    heard = ~np.isnan(fmap.rssi)
    k_heard = K @ heard
    p = k_heard / K.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (K @ np.nan_to_num(fmap.rssi)) / k_heard
    return RadioMap(fmap.macs, places, p, np.where(k_heard > 1e-9, mean, MISSING_DBM))


def log_likelihood(rmap: RadioMap, R: np.ndarray, noise_db: float = NOISE_DB, p_floor: float = P_FLOOR) -> np.ndarray:
    """``F × C`` log-likelihood of each query row at each place (up to a per-row constant), as matrix products:
    ``Σ_b log(1−p) + Σ_heard [log p − log(1−p) − (r − μ)²/(2σ²)]``."""
    p = np.clip(rmap.p_heard, p_floor, 1.0 - p_floor)
    log_miss = np.log1p(-p)
    heard = ~np.isnan(R)
    r = np.nan_to_num(R)
    mu = rmap.mean_rssi
    per_heard = np.log(p) - log_miss - 0.5 * mu**2 / noise_db**2  # C × B: terms of a heard beacon not involving r
    return log_miss.sum(axis=1)[None, :] + heard @ per_heard.T + (r / noise_db**2) @ mu.T


def radio_map_locate(rmap: RadioMap, R: np.ndarray, noise_db: float = NOISE_DB, p_floor: float = P_FLOOR,
                     top: int = TOP_PLACES, chunk: int = 256) -> np.ndarray:
    """Likelihood-weighted mean of the ``top`` most likely places per query row; NaN for rows with nothing heard."""
    out = np.full((len(R), 2), np.nan)
    top = min(top, len(rmap.xy))
    for s in range(0, len(R), chunk):
        ll = log_likelihood(rmap, R[s:s + chunk], noise_db, p_floor)
        best = np.argpartition(-ll, top - 1, axis=1)[:, :top]
        lb = np.take_along_axis(ll, best, axis=1)
        w = np.exp(lb - lb.max(axis=1, keepdims=True))
        out[s:s + chunk] = np.einsum("fk,fkc->fc", w, rmap.xy[best]) / w.sum(axis=1, keepdims=True)
    out[np.isnan(R).all(axis=1)] = np.nan
    return out
