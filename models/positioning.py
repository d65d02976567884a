"""BLE signal → position: RSSI smoothing, path-loss distance, multilateration, nearest beacon (pure numpy functions).

The pipeline for one phone: its beacon sightings ``(ts_ms, beacon, rssi)`` are grouped into a **window** around each
time a fix is wanted (``window_rssi``: one RSSI per beacon heard in ``[t − half, t + half]``, NaN for beacons not
heard), then one of

- ``nearest_beacon``: the fitted position of the loudest beacon in the window (the baseline);
- ``weighted_centroid``: beacon positions averaged with weights ``10^((rssi − loudest)/10)``;
- ``locate_multilateration``: path-loss inversion to a distance per beacon (the ``K`` loudest only: far beacons give
  distances too uncertain to help), then ``multilaterate``: weighted non-linear least squares;
- fingerprinting (``models.fingerprint``): k nearest reference RSSI vectors recorded on survey walks, or the most
  likely places of a smoothed radio map (the most accurate on the real mall: see ``models.positioning_eval``).

Beacon positions and path-loss parameters come from ``models.beacon_survey``. Arrays of fixes are vectorized: the
``F`` fixes of a window matrix are solved together (batched 2×2 Gauss–Newton), not one at a time.
"""

from __future__ import annotations

import numpy as np

LN10 = np.log(10.0)
DEFAULT_TOP_K = 6
RSSI_NOISE_DB = 6.0  # typical spread of one reading around the path-loss model (shadowing, body, multipath)


# ---------------------------------------------------------------------------------------------------------- smoothing
def ema(ts_ms: np.ndarray, rssi: np.ndarray, tau_s: float) -> np.ndarray:
    """Exponential moving average of one beacon's RSSI sampled at irregular times (time constant ``tau_s``).

    ``alpha = 1 − exp(−Δt/τ)``: a reading after a long silence replaces the state almost entirely, bursts of readings
    close together are averaged. Averages dBm (a geometric mean of power), which is what the path-loss model is linear
    in. The first output is the first reading.
    """
    rssi = np.asarray(rssi, np.float64)
    out = np.empty_like(rssi)
    if len(rssi) == 0:
        return out
    alpha = 1.0 - np.exp(-np.diff(np.asarray(ts_ms, np.float64)) / 1000.0 / tau_s)
    state = out[0] = rssi[0]
    for i in range(1, len(rssi)):  # a recurrence: sequential by nature, kept trivial
        state += alpha[i - 1] * (rssi[i] - state)
        out[i] = state
    return out


def window_rssi(query_ts: np.ndarray, ts_ms: np.ndarray, beacon: np.ndarray, rssi: np.ndarray, n_beacons: int,
                half_window_ms: float, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """RSSI per (fix, beacon) from the sightings in ``[t − half, t + half]`` of each query time ``t``.

    ``ts_ms`` must be sorted; ``beacon`` holds integer indices ``0 … n_beacons − 1``. ``how`` is ``mean`` (of dBm),
    ``max`` or ``median``. Returns ``(R, counts)``: ``R`` is ``F × n_beacons`` with NaN where a beacon was not heard,
    ``counts`` the number of readings behind each cell. Vectorized: the (fix, sighting) pairs are enumerated at once.
    """
    query_ts = np.asarray(query_ts, np.float64)
    lo = np.searchsorted(ts_ms, query_ts - half_window_ms, side="left")
    hi = np.searchsorted(ts_ms, query_ts + half_window_ms, side="right")
    per = hi - lo
    fix = np.repeat(np.arange(len(query_ts)), per)
    idx = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per) + np.repeat(lo, per)
    cell = fix * n_beacons + np.asarray(beacon)[idx]
    values = np.asarray(rssi, np.float64)[idx]
    size = len(query_ts) * n_beacons
    counts = np.bincount(cell, minlength=size).reshape(len(query_ts), n_beacons)
    with np.errstate(invalid="ignore"):
        if how == "mean":
            out = np.bincount(cell, weights=values, minlength=size).reshape(counts.shape) / counts
        elif how == "max":
            out = np.full(size, -np.inf)
            np.maximum.at(out, cell, values)
            out = out.reshape(counts.shape)
        elif how == "median":
            out = np.full(size, np.nan)
            order = np.lexsort((values, cell))
            c, v = cell[order], values[order]
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.empty(0, np.int64)
            n = np.diff(np.r_[starts, len(c)])
            out[c[starts]] = (v[starts + (n - 1) // 2] + v[starts + n // 2]) / 2.0
            out = out.reshape(counts.shape)
        else:
            raise ValueError(f"unknown aggregation {how!r}")
    out[counts == 0] = np.nan
    return out, counts


# ---------------------------------------------------------------------------------------------------------- path loss
def rssi_at(distance: np.ndarray, a_dbm: np.ndarray, n: np.ndarray, height: float = 0.0) -> np.ndarray:
    """Log-distance path loss: RSSI at horizontal ``distance`` (m) from a beacon ``height`` m above/below the phone."""
    d = np.sqrt(np.asarray(distance, np.float64) ** 2 + height**2)
    return a_dbm - 10.0 * n * np.log10(np.maximum(d, 1e-3))


def distance_from_rssi(rssi: np.ndarray, a_dbm: np.ndarray, n: np.ndarray, height: float = 0.0) -> np.ndarray:
    """Inverse of ``rssi_at``: horizontal distance (m); 0 when the reading is louder than the beacon at ``height``."""
    slant = 10.0 ** ((a_dbm - np.asarray(rssi, np.float64)) / (10.0 * n))
    return np.sqrt(np.maximum(slant**2 - height**2, 0.0))


def distance_sigma(distance: np.ndarray, n: np.ndarray, noise_db: float = RSSI_NOISE_DB,
                   height: float = 0.0) -> np.ndarray:
    """Standard deviation (m) of a path-loss distance when the RSSI has ``noise_db`` of log-normal shadowing.

    ``d = 10^((A − rssi)/(10n))`` so ``σ_ln d = noise·ln10/(10n)``; to first order ``σ_d = d·σ_ln d`` (slant range),
    floored at 1 m so that a loud reading does not get unbounded weight.
    """
    slant = np.sqrt(np.asarray(distance, np.float64) ** 2 + height**2)
    return np.maximum(slant * noise_db * LN10 / (10.0 * n), 1.0)


# --------------------------------------------------------------------------------------------------------- estimators
def nearest_beacon(R: np.ndarray, beacon_xy: np.ndarray) -> np.ndarray:
    """Position of the loudest beacon of each row of ``R`` (NaN rows stay NaN): the baseline."""
    heard = ~np.isnan(R).all(axis=1)
    best = np.nanargmax(np.where(heard[:, None], R, 0.0), axis=1)
    out = beacon_xy[best].astype(np.float64)
    out[~heard] = np.nan
    return out


def weighted_centroid(R: np.ndarray, beacon_xy: np.ndarray, sharpness_db: float = 10.0) -> np.ndarray:
    """Beacon positions averaged with weights ``10^((rssi − max)/sharpness)`` (loud beacons dominate)."""
    top = np.nanmax(np.where(np.isnan(R), -np.inf, R), axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.nan_to_num(10.0 ** ((R - top) / sharpness_db))
        return (w @ beacon_xy) / w.sum(axis=1, keepdims=True)


def top_k(R: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` loudest beacons per row and a mask of which of them were heard at all."""
    filled = np.where(np.isnan(R), -np.inf, R)
    k = min(k, R.shape[1])
    idx = np.argsort(-filled, axis=1, kind="stable")[:, :k]
    return idx, np.isfinite(np.take_along_axis(filled, idx, axis=1))


def multilaterate(anchors: np.ndarray, distances: np.ndarray, weights: np.ndarray, start: np.ndarray | None = None,
                  prior_weight: float = 1e-3, iterations: int = 30) -> np.ndarray:
    """Weighted non-linear least squares position from anchors and ranges, many fixes at once.

    ``anchors`` is ``F × K × 2``, ``distances`` and ``weights`` are ``F × K`` (weight 0 = no range; use ``1/σ²``).
    Minimizes ``Σ w_k (|x − a_k| − d_k)² + λ·|x − x0|²`` by damped Gauss–Newton with the 2×2 normal equations solved in
    closed form per fix. ``x0`` (``start``, default the weight-averaged anchors) doubles as a weak prior (``λ`` =
    ``prior_weight`` × total weight) so that one or two ranges, or collinear anchors, still give a finite answer near
    the start. With three non-collinear exact ranges the minimum is the true point.
    """
    anchors = np.asarray(anchors, np.float64)
    distances = np.asarray(distances, np.float64)
    w = np.where(np.isfinite(distances), np.asarray(weights, np.float64), 0.0)
    distances = np.nan_to_num(distances)
    total = w.sum(axis=1)
    if start is None:
        start = np.einsum("fk,fkc->fc", w, anchors) / np.maximum(total, 1e-12)[:, None]
    x0 = np.asarray(start, np.float64)
    lam = prior_weight * total
    x = x0.copy()

    def cost(p: np.ndarray) -> np.ndarray:
        r = np.linalg.norm(p[:, None, :] - anchors, axis=2) - distances
        return (w * r**2).sum(axis=1) + lam * ((p - x0) ** 2).sum(axis=1)

    damping = np.full(len(x), 1e-3)
    current = cost(x)
    for _ in range(iterations):
        diff = x[:, None, :] - anchors
        rng = np.maximum(np.linalg.norm(diff, axis=2), 1e-9)
        J = diff / rng[..., None]  # ∂|x − a|/∂x: F × K × 2
        r = rng - distances
        ridge = lam + damping * np.maximum(total, 1e-12)  # prior + Levenberg–Marquardt damping
        H = np.einsum("fk,fki,fkj->fij", w, J, J) + ridge[:, None, None] * np.eye(2)
        g = np.einsum("fk,fki,fk->fi", w, J, r) + lam[:, None] * (x - x0)
        det = H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] * H[:, 1, 0]
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        step = np.column_stack([H[:, 1, 1] * g[:, 0] - H[:, 0, 1] * g[:, 1],
                                H[:, 0, 0] * g[:, 1] - H[:, 1, 0] * g[:, 0]]) / det[:, None]  # H⁻¹g, Cramer
        trial = x - step
        new = cost(trial)
        better = new <= current
        x = np.where(better[:, None], trial, x)
        current = np.where(better, new, current)
        damping = np.where(better, damping / 3.0, damping * 4.0)
        if np.all(np.linalg.norm(step, axis=1) < 1e-6):
            break
    return x


def locate_multilateration(R: np.ndarray, beacon_xy: np.ndarray, a_dbm: np.ndarray, n: np.ndarray,
                           height: float = 0.0, k: int = DEFAULT_TOP_K,
                           noise_db: float = RSSI_NOISE_DB) -> np.ndarray:
    """Positions from window RSSI: path-loss distances to the ``k`` loudest beacons, weighted ``1/σ_d²``, solved by
    ``multilaterate`` from the RSSI-weighted centroid. Rows with no beacon heard are NaN."""
    idx, heard = top_k(R, k)
    rssi = np.take_along_axis(R, idx, axis=1)
    d = distance_from_rssi(rssi, a_dbm[idx], n[idx], height)
    w = np.where(heard, 1.0 / distance_sigma(d, n[idx], noise_db, height) ** 2, 0.0)
    start = weighted_centroid(R, beacon_xy)
    out = multilaterate(beacon_xy[idx], d, w, start=np.nan_to_num(start))
    out[~heard.any(axis=1)] = np.nan
    return out
