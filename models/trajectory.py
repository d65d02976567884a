"""Offline trajectory smoothing of BLE fixes over a whole walk: a hidden Markov model on the radio map's places.

A fix for one instant (``models.fingerprint.radio_map_locate``) uses only the sightings of a few seconds. A person
walks, though: where they are now is within a few metres of where they were a second ago. This module treats a walk as
a hidden Markov model and returns, for any time in the walk, the posterior mean position given **every** sighting of
the walk, before and after that time (forward–backward smoothing). It is therefore **offline**: it needs the walk's
future sightings, and suits replaying a recorded walk (survey check, dwell analysis of yesterday), not live display.

Model, stated once:

- **States**: the radio map's places (``RadioMap.xy``: 1 m cells where calibration walks went — the walkable floor as
  the survey knows it; stores the surveyors did not enter are not states).
- **Steps**: every ``step_ms`` (1 s) from ``margin`` before the first to ``margin`` after the last query time.
- **Emission** at a step: the radio map's log-likelihood (``fingerprint.log_likelihood``: per beacon, heard with mean
  RSSI ``μ`` and spread ``noise_db``, or missed with probability ``1 − p``) of the window RSSI around the step, the same
  ``±half_window_ms`` window the radio map was built with. Consecutive windows overlap, so each sighting sits in
  ``2·half_window/step`` windows; the log-likelihood is multiplied by ``temper`` (default ``step/(2·half_window)``)
  so that a sighting counts about once. Steps where nothing is heard carry the "nothing heard" likelihood.
- **Transition** between steps: an isotropic Gaussian random walk, ``σ = speed_sigma · step`` (m), truncated at
  ``3.5σ`` and renormalised over the places. ``speed_sigma`` is larger than a walking speed (~1 m/s) on purpose: a
  random walk's displacement spreads in all directions, and a loose prior lets the emissions steer.
- **Start**: uniform over places. **Estimate** at a query time: the posterior mean at the steps around it,
  interpolated linearly in time.

Parameters (``speed_sigma``, ``temper``) were chosen by 4-fold cross-validation inside the calibration walks (see
``models.positioning_eval``). Cost per walk: ``steps × nnz(T)`` with a sparse transition matrix.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from models.beacon_survey import Survey
from models.fingerprint import NOISE_DB, P_FLOOR, RadioMap, log_likelihood, survey_windows

STEP_MS = 1000
SPEED_SIGMA_MPS = 3.0
MARGIN_MS = 3000
CUTOFF_SIGMAS = 3.5


def transition_matrix(xy: np.ndarray, sigma_m: float) -> sparse.csr_matrix:
    """Row-stochastic ``C × C`` matrix: ``T[i, j] ∝ exp(−|x_i − x_j|²/(2σ²))`` for ``|x_i − x_j| ≤ 3.5σ``, else 0."""
    xy = np.asarray(xy, np.float64)
    reach = CUTOFF_SIGMAS * sigma_m
    rows, cols, vals = [], [], []
    for s in range(0, len(xy), 512):  # in blocks of rows: memory stays O(512 × C)
        d2 = ((xy[s:s + 512, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
        i, j = np.nonzero(d2 <= reach**2)
        rows.append(i + s)
        cols.append(j)
        vals.append(np.exp(-0.5 * d2[i, j] / sigma_m**2))
    T = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(len(xy), len(xy)))
    return sparse.diags(1.0 / np.asarray(T.sum(axis=1)).ravel()) @ T


def forward_backward(loglik: np.ndarray, T: sparse.csr_matrix) -> np.ndarray:
    """Posterior ``P(state at step s | all emissions)``, ``S × C``, from per-step log-likelihoods (``S × C``).

    Scaled forward–backward (each message normalised to sum 1), uniform start. ``T[i, j]`` = P(j next | i now).
    """
    S, C = loglik.shape
    e = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    alpha = np.empty((S, C))
    beta = np.ones((S, C))
    message = np.full(C, 1.0 / C)
    for s in range(S):
        a = (T.T @ message if s else message) * e[s]
        message = alpha[s] = a / a.sum()
    for s in range(S - 2, -1, -1):
        b = T @ (beta[s + 1] * e[s + 1])
        beta[s] = b / b.sum()
    post = alpha * beta
    return post / post.sum(axis=1, keepdims=True)


def smooth_walk(rmap: RadioMap, R: np.ndarray, T: sparse.csr_matrix, temper: float,
                noise_db: float = NOISE_DB, p_floor: float = P_FLOOR) -> np.ndarray:
    """Posterior mean position (``S × 2``) at each step of one walk from its window RSSI rows ``R`` (``S × B``)."""
    post = forward_backward(log_likelihood(rmap, R, noise_db, p_floor) * temper, T)
    return post @ rmap.xy


def locate_walks(rmap: RadioMap, survey: Survey, query: dict[str, np.ndarray], half_window_ms: float,
                 speed_sigma: float = SPEED_SIGMA_MPS, temper: float | None = None,
                 step_ms: int = STEP_MS) -> np.ndarray:
    """Smoothed positions at the query times of each walk (rows in ``query`` order: path_id → times in ms).

    ``survey`` supplies the walks' sightings (its waypoints are not read); ``half_window_ms`` must be the window the
    radio map was built with. ``temper`` defaults to ``step_ms / (2·half_window_ms)``.
    """
    temper = step_ms / (2.0 * half_window_ms) if temper is None else temper
    T = transition_matrix(rmap.xy, speed_sigma * step_ms / 1000.0)
    out = []
    for path_id, times in query.items():
        times = np.asarray(times, np.float64)
        if len(times) == 0:
            continue
        steps = np.arange(times.min() - MARGIN_MS, times.max() + MARGIN_MS + 1, step_ms, dtype=np.float64)
        R = survey_windows(survey, rmap.macs, {path_id: steps}, half_window_ms)
        xy = smooth_walk(rmap, R, T, temper)
        out.append(np.column_stack([np.interp(times, steps, xy[:, 0]), np.interp(times, steps, xy[:, 1])]))
    return np.vstack(out) if out else np.empty((0, 2))
