"""Survey walks → calibrated beacons: load surveyed BLE traces, place the surveyor at each sighting, fit each beacon.

The input is a site survey: a person walks known paths holding a phone that scans iBeacons, and marks waypoints
(ground-truth x, y in metres on the floor plan) as they go. Two tables per floor:

- waypoints: ``path_id``, ``ts_ms``, ``x_m``, ``y_m``;
- sightings: ``path_id``, ``ts_ms``, ``beacon_mac`` (the fixed beacon's own address, which identifies it: many
  beacons of a site share one uuid/major/minor), ``rssi`` (dBm), ``tx_power`` (the advertised power at 1 m).

Assumptions, stated once:

- **Surveyor position at a sighting** = linear interpolation in time between the two waypoints around it (the surveyor
  walks straight between marks at constant speed). Sightings before the first or after the last waypoint of their walk
  are dropped: there is no ground truth for them.
- **Beacon model** (log-distance path loss): ``rssi = A − 10·n·log10(√(r² + h²))`` with ``r`` the horizontal
  distance to the beacon, ``h`` a fixed height difference between beacon and phone (ceiling-mounted beacon, phone
  held in front of the chest: ``BEACON_HEIGHT_M``), ``A`` the RSSI at 1 m as this phone sees this beacon and ``n``
  the path-loss exponent.
- **Fit**: per beacon, ``(x, y, A, n)`` by robust non-linear least squares (soft-L1 loss, scale ``ROBUST_SCALE_DB``)
  on the calibration walks' sightings, with weak Gaussian priors on ``A`` and ``n`` (pseudo-observations) because a
  beacon heard only from a corridor on one side of it cannot separate a far loud beacon from a near quiet one. The
  start is the RSSI-weighted centroid of where it was heard. Beacons heard fewer than ``MIN_SIGHTINGS`` times are not
  fitted. Non-detections are not used (censoring: the weakest readings are missing, which biases ``n`` low).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from models.positioning import RSSI_NOISE_DB, rssi_at

BEACON_HEIGHT_M = 2.0
ROBUST_SCALE_DB = 4.0
MIN_SIGHTINGS = 8
PRIOR_N = (2.2, 0.6)  # path-loss exponent: mean, standard deviation
PRIOR_A_SPREAD_DB = 8.0  # A ~ N(advertised tx_power, 8 dB)
HOLDOUT_EVERY = 4  # walks sorted by path_id; every 4th (index 3, 7, 11, …) is held out from calibration


@dataclass(frozen=True)
class Survey:
    """One floor's survey: waypoints and sightings (with the surveyor's interpolated position ``x_m``, ``y_m``)."""

    waypoints: pd.DataFrame
    sightings: pd.DataFrame

    def walks(self) -> list[str]:
        return sorted(self.waypoints["path_id"].unique())

    def subset(self, path_ids: list[str]) -> Survey:
        keep = set(path_ids)
        return Survey(
            self.waypoints[self.waypoints["path_id"].isin(keep)].reset_index(drop=True),
            self.sightings[self.sightings["path_id"].isin(keep)].reset_index(drop=True),
        )


def load_survey(folder: Path, prefix: str) -> Survey:
    """Read ``<prefix>_waypoints.tsv`` and ``<prefix>_ibeacon.tsv`` and place the surveyor at every sighting."""
    waypoints = pd.read_csv(folder / f"{prefix}_waypoints.tsv", sep="\t", dtype={"path_id": str})
    sightings = pd.read_csv(
        folder / f"{prefix}_ibeacon.tsv", sep="\t", usecols=["path_id", "ts_ms", "tx_power", "rssi", "beacon_mac"],
        dtype={"path_id": str, "beacon_mac": str},
    )
    waypoints = waypoints.sort_values(["path_id", "ts_ms"], kind="stable").reset_index(drop=True)
    sightings = sightings.sort_values(["path_id", "ts_ms"], kind="stable").reset_index(drop=True)
    xy = interpolate_track(waypoints, sightings["path_id"].to_numpy(), sightings["ts_ms"].to_numpy())
    sightings["x_m"], sightings["y_m"] = xy[:, 0], xy[:, 1]
    return Survey(waypoints, sightings)


def interpolate_track(waypoints: pd.DataFrame, path_ids: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
    """Surveyor position at (path_id, ts) pairs, linear in time between waypoints; NaN outside each walk's span.

    Vectorized over all walks at once: each walk's times are shifted into a disjoint band before one ``np.interp``.
    """
    walks, wp_code = np.unique(waypoints["path_id"].to_numpy(), return_inverse=True)
    code = np.searchsorted(walks, path_ids)
    known = (code < len(walks)) & (walks[np.minimum(code, len(walks) - 1)] == path_ids)
    wp_ts = waypoints["ts_ms"].to_numpy(np.float64)
    t0 = wp_ts.min()
    band = (wp_ts.max() - t0) * 2.0 + 1.0
    key_wp = wp_code * band + (wp_ts - t0)
    order = np.argsort(key_wp, kind="stable")
    key_wp = key_wp[order]
    key = np.where(known, code, 0) * band + (np.asarray(ts_ms, np.float64) - t0)
    out = np.column_stack([
        np.interp(key, key_wp, waypoints["x_m"].to_numpy()[order]),
        np.interp(key, key_wp, waypoints["y_m"].to_numpy()[order]),
    ])
    span = waypoints.groupby(wp_code)["ts_ms"].agg(["min", "max"]).to_numpy()
    safe = np.where(known, code, 0)
    inside = known & (ts_ms >= span[safe, 0]) & (ts_ms <= span[safe, 1])
    out[~inside] = np.nan
    return out


def split_walks(path_ids: list[str], every: int = HOLDOUT_EVERY) -> tuple[list[str], list[str]]:
    """Deterministic split by walk: sorted path ids, index ``i % every == every − 1`` held out.

    Returns (calibration ids, held-out ids)."""
    ordered = sorted(path_ids)
    held = [p for i, p in enumerate(ordered) if i % every == every - 1]
    return [p for i, p in enumerate(ordered) if i % every != every - 1], held


@dataclass(frozen=True)
class Beacons:
    """Fitted beacons, a row each: ``mac`` (index), ``x``, ``y``, ``A`` (dBm at 1 m), ``n``, ``sightings``, ``rmse``."""

    table: pd.DataFrame
    height: float = BEACON_HEIGHT_M

    @property
    def macs(self) -> np.ndarray:
        return self.table.index.to_numpy()

    @property
    def xy(self) -> np.ndarray:
        return self.table[["x", "y"]].to_numpy()


def _fit_one(xy: np.ndarray, rssi: np.ndarray, tx_power: float, height: float) -> tuple[np.ndarray, float]:
    w = 10.0 ** ((rssi - rssi.max()) / 10.0)
    start = np.array([*(w @ xy / w.sum()), tx_power, PRIOR_N[0]])

    def residuals(p: np.ndarray) -> np.ndarray:
        model = rssi_at(np.hypot(xy[:, 0] - p[0], xy[:, 1] - p[1]), p[2], p[3], height)
        # Gaussian priors as pseudo-observations, in dB of a reading with RSSI_NOISE_DB shadowing
        prior = [(p[2] - tx_power) / PRIOR_A_SPREAD_DB * RSSI_NOISE_DB,
                 (p[3] - PRIOR_N[0]) / PRIOR_N[1] * RSSI_NOISE_DB]
        return np.concatenate([rssi - model, prior])

    lo = [xy[:, 0].min() - 30, xy[:, 1].min() - 30, -100.0, 0.8]
    hi = [xy[:, 0].max() + 30, xy[:, 1].max() + 30, -20.0, 6.0]
    start = np.clip(start, np.add(lo, 1e-6), np.subtract(hi, 1e-6))
    fit = least_squares(residuals, start, bounds=(lo, hi), loss="soft_l1", f_scale=ROBUST_SCALE_DB)
    rmse = float(np.sqrt(np.mean(fit.fun[: len(rssi)] ** 2)))
    return fit.x, rmse


def fit_beacons(sightings: pd.DataFrame, *, min_sightings: int = MIN_SIGHTINGS,
                height: float = BEACON_HEIGHT_M) -> Beacons:
    """Position and path-loss parameters of every beacon heard at least ``min_sightings`` times at known positions."""
    known = sightings.dropna(subset=["x_m", "y_m"])
    rows = {}
    for mac, group in known.groupby("beacon_mac", sort=True):
        if len(group) < min_sightings:
            continue
        params, rmse = _fit_one(
            group[["x_m", "y_m"]].to_numpy(), group["rssi"].to_numpy(np.float64),
            float(group["tx_power"].median()), height,
        )
        rows[mac] = (*params, len(group), rmse)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["x", "y", "A", "n", "sightings", "rmse"])
    table.index.name = "mac"
    return Beacons(table, height)
