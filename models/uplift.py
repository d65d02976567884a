"""Campaign uplift: how much did a campaign change footfall, and how sure are we.

The design defines campaign uplift as "difference-in-differences against control zones/stores or a baseline forecast
from comparable days; report the interval, not only the point". Both are here, as pure functions on pandas Series:

- :func:`did_uplift`: daily counts of the campaign's target (treated) and of comparable, untargeted stores/zones
  (control). The effect is the difference-in-differences of log counts, with a Welch t interval.
- :func:`baseline_uplift`: hourly (or daily) counts of one series, no control. The counterfactual of each hour (day)
  of the window is the mean of the same weekday and hour over the ``pre_weeks`` weeks before the window; the interval
  is calibrated on placebo windows (earlier windows with no campaign), or, with too little history for that, a t
  interval from the day-to-day scatter of the comparable days.

Conventions:

- ``start`` and ``end`` are calendar days, **both inclusive**; a timestamp is reduced to its day. With a tz-aware
  index the days are the index's local days (naive ``start``/``end`` are read in that time zone).
- Counts are non-negative; NaN means missing. Missing observations are skipped, never filled, and counted in
  :attr:`Uplift.skipped`.
- Uplifts are relative: ``0.20`` means +20 %, ``-1`` means everything vanished.
- Bad input (empty series, window outside the data, too little history before the window) raises ``ValueError``
  with a message that names the problem.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

Method = Literal["did", "baseline-placebo", "baseline-t"]

MIN_PLACEBO = 8  # fewer placebo windows than this: fall back to the t interval
PLACEBO_MIN_COVERAGE = 0.5  # a placebo window counts if at least this share of its observations could be compared
WEEK = 7


@dataclass(frozen=True)
class Uplift:
    """A campaign uplift estimate with its interval.

    ``point``, ``lo`` and ``hi`` are relative changes (0.20 = +20 %) at confidence ``level``. ``observed`` is the
    observed total over the window and ``expected`` the counterfactual total (what the window would have counted
    without the campaign), both over the observations actually compared. ``n_pre`` and ``n_post`` count the usable
    observations before and in the window, ``skipped`` those left out (zero or missing); the unit is days for
    :func:`did_uplift` and the series' own step (hours for hourly data) for :func:`baseline_uplift`. ``method`` says
    how the interval was made: ``"did"``, ``"baseline-placebo"`` (empirical quantiles over ``n_placebo`` placebo
    windows) or ``"baseline-t"`` (t interval from the comparable days' scatter).
    """

    point: float
    lo: float
    hi: float
    level: float
    method: Method
    observed: float
    expected: float
    n_pre: int
    n_post: int
    skipped: int
    n_placebo: int = 0

    def contains(self, x: float) -> bool:
        """Whether the relative change ``x`` lies in the interval (bounds included)."""
        return self.lo <= x <= self.hi

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-friendly: floats, ints and strings)."""
        return asdict(self)


# --------------------------------------------------------------------------------------------------- input handling


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level!r}")


def _as_counts(values: pd.Series, name: str) -> tuple[pd.Series, Any]:
    """``values`` as float counts on a naive (local wall time), sorted DatetimeIndex, and the original time zone."""
    if not isinstance(values, pd.Series):
        raise ValueError(f"{name} must be a pandas Series indexed by dates or timestamps, got {type(values).__name__}")
    if values.empty:
        raise ValueError(f"{name} is empty: no counts to estimate an uplift from")
    index = values.index
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index, format="mixed"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} needs an index of dates or timestamps: {exc}") from exc
    if index.hasnans:
        raise ValueError(f"{name} has missing (NaT) timestamps in its index")
    if index.has_duplicates:
        raise ValueError(f"{name} has duplicate timestamps in its index (one value per time step expected)")
    try:
        counts = values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numeric counts: {exc}") from exc
    if np.isinf(counts).any():
        raise ValueError(f"{name} holds infinite counts")
    if (counts < 0).any():
        raise ValueError(f"{name} holds negative counts")
    if np.isnan(counts).all():
        raise ValueError(f"{name} is empty: every count is missing")
    tz = index.tz
    if tz is not None:
        index = index.tz_localize(None)  # local wall time: days and hours as people live them
    return pd.Series(counts, index=index, name=values.name).sort_index(), tz


def _day(value: Any, tz: Any, what: str) -> pd.Timestamp:
    """``value`` as a naive local calendar day (midnight) in the series' time zone ``tz``."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not a date: {value!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"{what} is missing")
    if ts.tzinfo is not None:
        if tz is None:
            raise ValueError(f"{what} {value!r} has a time zone but the series' index has none")
        ts = ts.tz_convert(tz).tz_localize(None)
    return ts.normalize()


def _window(
    start: Any, end: Any, tz: Any, first: pd.Timestamp, last: pd.Timestamp, name: str
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window's first and last day, checked to lie within the data's days ``first``..``last``."""
    s, e = _day(start, tz, "start"), _day(end, tz, "end")
    if e < s:
        raise ValueError(f"treatment window is empty: end {e.date()} is before start {s.date()}")
    if s < first or e > last:
        raise ValueError(
            f"treatment window {s.date()}..{e.date()} is outside the data: {name} covers {first.date()}..{last.date()}"
        )
    return s, e


def _t_quantile(level: float, df: float) -> float:
    q = (1.0 + level) / 2.0
    return float(stats.norm.ppf(q)) if not math.isfinite(df) else float(stats.t.ppf(q, df))


def _relative(log_ratio: float) -> float:
    """A log ratio as a relative change; -inf (nothing observed) is -100 %."""
    return float(np.expm1(log_ratio))


# --------------------------------------------------------------------------------------------------------- did


def _daily(counts: pd.Series, name: str) -> pd.Series:
    """Counts indexed by day; a second value for the same day is an error."""
    days = counts.index.normalize()
    if days.has_duplicates:
        raise ValueError(f"{name} must hold one value per day; aggregate it to daily counts first")
    return pd.Series(counts.to_numpy(), index=days)


def _welch_interval(pre: np.ndarray, post: np.ndarray, level: float) -> tuple[float, float]:
    """Half-width and degrees of freedom of the Welch t interval for ``mean(post) - mean(pre)``.

    ``pre`` needs at least two values. With a single ``post`` value its variance is taken from ``pre`` (a prediction
    interval, ``len(pre) - 1`` degrees of freedom). Zero scatter on both sides gives a zero half-width.
    """
    n1, n2 = pre.size, post.size
    if n1 < 2 or n2 < 1:
        raise ValueError(f"the Welch interval needs at least 2 pre and 1 post values, got {n1} and {n2}")
    v1 = float(np.var(pre, ddof=1))
    if n2 == 1:
        se, df = math.sqrt(v1 * (1.0 / n1 + 1.0)), float(n1 - 1)
    else:
        a, b = v1 / n1, float(np.var(post, ddof=1)) / n2
        se = math.sqrt(a + b)
        denominator = a * a / (n1 - 1) + b * b / (n2 - 1)
        df = (a + b) ** 2 / denominator if denominator > 0 else math.inf
    if se == 0.0 or not math.isfinite(se):
        return 0.0, df
    return _t_quantile(level, df) * se, df


def did_uplift(
    treated: pd.Series, control: pd.Series, start: Any, end: Any, *, pre_days: int = 28, level: float = 0.95
) -> Uplift:
    """Relative uplift of ``treated`` over ``control`` in the window ``start``..``end`` (days, inclusive).

    ``treated`` and ``control`` are daily counts (index: dates or timestamps, one value per day): the campaign's
    target stores/zone and comparable stores/zones that the campaign did not target. With ``d = log(treated) -
    log(control)`` per day, the effect is ``mean(d in the window) - mean(d over the pre_days days before start)`` and
    the uplift is ``exp(effect) - 1``. The interval is the Welch t interval of that difference of means, mapped by
    ``exp(.) - 1`` (so it is not symmetric around the point). Days with a zero or missing count on either side,
    or missing from an index, are skipped and counted in ``skipped``.

    ``observed`` is the treated total over the window's usable days and ``expected`` its counterfactual, the
    control's counts times the pre-period ratio ``exp(mean(d before))``; ``observed / expected - 1`` is the uplift
    of totals and can differ slightly from ``point``, which is a geometric mean over days.

    Raises ``ValueError`` for empty series, a window outside the days both series cover, fewer than ``pre_days`` days
    of data before ``start``, fewer than two usable pre-period days, or no usable day in the window.
    """
    _check_level(level)
    if pre_days < 2:
        raise ValueError(f"pre_days must be at least 2, got {pre_days}")
    t_counts, tz = _as_counts(treated, "treated")
    c_counts, _ = _as_counts(control, "control")
    t_daily, c_daily = _daily(t_counts, "treated"), _daily(c_counts, "control")
    first = max(t_daily.index.min(), c_daily.index.min())
    last = min(t_daily.index.max(), c_daily.index.max())
    if first > last:
        raise ValueError("treated and control do not overlap in time")
    s, e = _window(start, end, tz, first, last, "treated and control together")
    pre_start = s - pd.Timedelta(days=pre_days)
    if pre_start < first:
        raise ValueError(
            f"too few pre-period days: {pre_days} days are needed before start {s.date()} (from {pre_start.date()}), "
            f"but treated and control together only start on {first.date()}"
        )

    days = pd.date_range(pre_start, e, freq="D")
    t_values = t_daily.reindex(days).to_numpy(float)
    c_values = c_daily.reindex(days).to_numpy(float)
    usable = (t_values > 0) & (c_values > 0)  # NaN compares False: missing days are not usable
    in_window = np.asarray(days >= s)
    d = np.full(days.size, np.nan)
    d[usable] = np.log(t_values[usable]) - np.log(c_values[usable])
    pre, post = d[usable & ~in_window], d[usable & in_window]
    if pre.size < 2:
        raise ValueError(
            f"too few pre-period days: {pre.size} usable day(s) in the {pre_days} days before {s.date()} "
            "(days with a zero or missing count on either side are skipped), at least 2 are needed"
        )
    if post.size < 1:
        raise ValueError(f"no usable day in the treatment window {s.date()}..{e.date()} (all zero or missing)")

    pre_mean = float(pre.mean())
    effect = float(post.mean()) - pre_mean
    half, _ = _welch_interval(pre, post, level)
    post_mask = usable & in_window
    return Uplift(
        point=_relative(effect),
        lo=_relative(effect - half),
        hi=_relative(effect + half),
        level=level,
        method="did",
        observed=float(t_values[post_mask].sum()),
        expected=float((c_values[post_mask] * math.exp(pre_mean)).sum()),
        n_pre=int(pre.size),
        n_post=int(post.size),
        skipped=int((~usable).sum()),
    )


# ---------------------------------------------------------------------------------------------------- baseline


def _day_grid(counts: pd.Series) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Counts as a (calendar day x time of day) array over every day from the first to the last, NaN where missing.

    For daily data there is one time-of-day column. Two values at the same wall time (the repeated hour when
    daylight saving ends) are added up.
    """
    day = counts.index.normalize()
    frame = pd.DataFrame({"day": day, "offset": counts.index - day, "count": counts.to_numpy()})
    wide = frame.groupby(["day", "offset"])["count"].sum(min_count=1).unstack("offset")
    days = pd.date_range(day.min(), day.max(), freq="D")
    return days, wide.reindex(days).to_numpy(float)


def _weekday_means(pre: np.ndarray, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (weekday phase, time of day): sum and count of the finite values over ``weeks`` weeks, and their mean.

    ``pre`` holds ``7 * weeks`` consecutive days; phase ``p`` is the day ``p`` days after the first one (mod 7).
    """
    cube = pre.reshape(weeks, WEEK, -1)
    finite = np.isfinite(cube)
    total = np.where(finite, cube, 0.0).sum(axis=0)
    count = finite.sum(axis=0)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return total, count, mean


@dataclass(frozen=True)
class _WindowFit:
    observed: float
    expected: float
    used: int  # observations compared
    cells: int  # observations the window could have (days x times of day)
    days_used: int  # days with at least one compared observation


def _fit_window(grid: np.ndarray, i: int, length: int, weeks: int) -> _WindowFit:
    """Observed and expected totals of the window of ``length`` days starting at grid row ``i``.

    The expectation of each day and time is the mean of the same weekday and time over the ``weeks`` weeks right
    before row ``i`` (which must be at least ``7 * weeks``).
    """
    _, _, mean = _weekday_means(grid[i - WEEK * weeks : i], weeks)
    window = grid[i : i + length]
    expected = mean[np.arange(length) % WEEK]  # the pre-period starts a whole number of weeks before row i
    ok = np.isfinite(window) & np.isfinite(expected)
    return _WindowFit(
        observed=float(window[ok].sum()),
        expected=float(expected[ok].sum()),
        used=int(ok.sum()),
        cells=int(ok.size),
        days_used=int(ok.any(axis=1).sum()),
    )


def _log_ratio(observed: float, expected: float) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log(observed) - np.log(expected))


def _placebo_errors(grid: np.ndarray, i: int, length: int, weeks: int) -> np.ndarray:
    """Log(observed / expected) of every earlier window of ``length`` days ending before row ``i`` whose own baseline
    of ``weeks`` weeks lies inside the data (no campaign there, so each is a pure estimation error)."""
    errors = []
    for j in range(WEEK * weeks, i - length + 1):
        fit = _fit_window(grid, j, length, weeks)
        if fit.observed > 0 and fit.expected > 0 and fit.used >= PLACEBO_MIN_COVERAGE * fit.cells:
            errors.append(_log_ratio(fit.observed, fit.expected))
    return np.asarray(errors, dtype=float)


def _conformal_quantiles(errors: np.ndarray, level: float) -> tuple[float, float]:
    """Lower and upper empirical quantiles of ``errors`` for a two-sided interval at ``level``.

    Split-conformal ranks: the ``floor((n + 1) * (1 - level) / 2)``-th and ``ceil((n + 1) * (1 + level) / 2)``-th
    smallest of the ``n`` errors (capped at the smallest and largest), which covers a new exchangeable error with
    probability at least ``level``; plain ``np.quantile`` interpolates inside the sample and covers less when ``n`` is
    a few dozen.
    """
    ordered = np.sort(errors)
    n = ordered.size
    k_lo = min(max(math.floor((n + 1) * (1.0 - level) / 2.0), 1), n)
    k_hi = max(min(math.ceil((n + 1) * (1.0 + level) / 2.0), n), 1)
    return float(ordered[k_lo - 1]), float(ordered[k_hi - 1])


def _day_residuals(pre: np.ndarray, weeks: int) -> np.ndarray:
    """Leave-one-out log(observed / expected) of each comparable day's total in the pre-period.

    Each day's expectation is the mean of the same weekday and time over the *other* weeks of the pre-period.
    """
    total, count, _ = _weekday_means(pre, weeks)
    cube = pre.reshape(weeks, WEEK, -1)
    finite = np.isfinite(cube)
    others = count[None] - finite  # how many other weeks have a value at each weekday and time
    loo = np.where(others > 0, (total[None] - np.where(finite, cube, 0.0)) / np.maximum(others, 1), np.nan)
    ok = finite & np.isfinite(loo)
    observed = np.where(ok, cube, 0.0).sum(axis=2).ravel()
    expected = np.where(ok, loo, 0.0).sum(axis=2).ravel()
    keep = (observed > 0) & (expected > 0)
    return np.log(observed[keep]) - np.log(expected[keep])


def baseline_uplift(
    series: pd.Series,
    start: Any,
    end: Any,
    *,
    pre_weeks: int = 8,
    level: float = 0.95,
    min_placebo: int = MIN_PLACEBO,
) -> Uplift:
    """Relative uplift of one series in the window ``start``..``end`` (days, inclusive) against comparable days.

    ``series`` holds hourly (or daily, or any regular within-day step) counts of one store/zone, no control. The
    expected count of each hour of each day in the window is the mean of the same weekday and hour over the
    ``pre_weeks`` weeks before ``start`` (missing values skipped); the uplift is ``observed total / expected total
    - 1`` over the hours where both exist (the others are counted in ``skipped``).

    The interval is calibrated on placebo windows: the same estimator applied to every earlier window of the same
    length (one per start day, ending before ``start``) whose own ``pre_weeks`` baseline lies inside the data and
    which can compare at least half its hours. Their ``log(observed / expected)`` are pure estimation errors; the
    point's log ratio shifted by their ``(1 - level) / 2`` and ``(1 + level) / 2`` empirical quantiles (conformal
    ranks, see :func:`_conformal_quantiles`) gives the interval (``method="baseline-placebo"``, ``n_placebo``
    windows). Placebo windows overlap, so their errors are correlated, and footfall shifts with seasons (school and
    university terms, public holidays): the interval is honest about estimation noise and past surprises of the
    same size, not about a regime change that starts with the campaign.

    With fewer than ``min_placebo`` placebo windows it falls back to a t interval (``method="baseline-t"``): the
    scatter ``s`` of the comparable days' leave-one-out daily log ratios, ``se = s * sqrt(1 / window days + 1 /
    (pre_weeks * min(window days, 7)))``, ``n - 7`` degrees of freedom. That fallback assumes independent days and is
    optimistic when days are correlated (weather, events, terms); prefer more
    history.

    Raises ``ValueError`` for an empty series, a window outside the data, fewer than ``7 * pre_weeks`` days of data
    before ``start``, nothing comparable in the window, or (t fallback) fewer than 2 pre-period weeks.
    """
    _check_level(level)
    if pre_weeks < 1:
        raise ValueError(f"pre_weeks must be at least 1, got {pre_weeks}")
    if min_placebo < 2:
        raise ValueError(f"min_placebo must be at least 2 (quantiles need several windows), got {min_placebo}")
    counts, tz = _as_counts(series, "series")
    days, grid = _day_grid(counts)
    s, e = _window(start, end, tz, days[0], days[-1], "the series")
    pre_start = s - pd.Timedelta(days=WEEK * pre_weeks)
    if pre_start < days[0]:
        raise ValueError(
            f"too few pre-period days: the baseline needs {WEEK * pre_weeks} days ({pre_weeks} weeks) before start "
            f"{s.date()} (from {pre_start.date()}), but the series starts on {days[0].date()}"
        )
    i = int(days.get_loc(s))
    length = (e - s).days + 1
    fit = _fit_window(grid, i, length, pre_weeks)
    if fit.used == 0 or fit.expected <= 0:
        raise ValueError(
            f"nothing to compare in {s.date()}..{e.date()}: no observation there has a non-zero baseline "
            f"from the same weekday and hour in the {pre_weeks} weeks before"
        )
    n_pre = int(np.isfinite(grid[i - WEEK * pre_weeks : i]).sum())
    log_ratio = _log_ratio(fit.observed, fit.expected)

    errors = _placebo_errors(grid, i, length, pre_weeks)
    if errors.size >= min_placebo:
        q_lo, q_hi = _conformal_quantiles(errors, level)
        lo, hi, method = log_ratio - q_hi, log_ratio - q_lo, "baseline-placebo"
    else:
        if pre_weeks < 2:
            raise ValueError(
                f"too few pre-period weeks for an interval: only {errors.size} placebo window(s) (fewer than "
                f"{min_placebo}) and the t fallback needs pre_weeks >= 2, got {pre_weeks}"
            )
        residuals = _day_residuals(grid[i - WEEK * pre_weeks : i], pre_weeks)
        if residuals.size < WEEK + 2:
            raise ValueError(
                f"too few pre-period days: {residuals.size} comparable day(s) in the {pre_weeks} weeks before "
                f"{s.date()}, at least {WEEK + 2} are needed for an interval"
            )
        sigma = math.sqrt(float(np.var(residuals, ddof=1)) * (pre_weeks - 1) / pre_weeks)
        se = sigma * math.sqrt(1.0 / fit.days_used + 1.0 / (pre_weeks * min(fit.days_used, WEEK)))
        half = _t_quantile(level, residuals.size - WEEK) * se
        lo, hi, method = log_ratio - half, log_ratio + half, "baseline-t"
    return Uplift(
        point=_relative(log_ratio),
        lo=_relative(lo),
        hi=_relative(hi),
        level=level,
        method=method,
        observed=fit.observed,
        expected=fit.expected,
        n_pre=n_pre,
        n_post=fit.used,
        skipped=fit.cells - fit.used,
        n_placebo=int(errors.size),
    )
