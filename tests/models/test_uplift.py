"""Campaign uplift (models.uplift) on real pedestrian counts and on synthetic series with an exact answer.

The real data are the City of Melbourne's hourly pedestrian counts for April to September 2023
(``footfall/melbourne_hourly_2023.csv`` under ``$MALLSENSE_DATA``, by default the ``shared/data`` folder beside the
repository). A campaign is simulated by multiplying one sensor's counts in a window; the untouched data serve as
"no campaign". Windows that contain a Melbourne public holiday are not "no campaign" windows (a holiday is an effect
of its own) and are left out where the test needs a null window.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.uplift import Uplift, baseline_uplift, did_uplift

DATA = Path(os.environ.get("MALLSENSE_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
CSV = DATA / "footfall" / "melbourne_hourly_2023.csv"
HOLIDAYS = pd.to_datetime(["2023-04-07", "2023-04-10", "2023-04-25", "2023-06-12", "2023-09-29"])  # Victoria, 2023
MELBOURNE_CENTRAL = "Melbourne Central | Swa295_T [3]"
FEW_MISSING = 7  # a "clean" sensor misses at most this many of the file's hours


def has_holiday(start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """Whether a Melbourne public holiday falls in ``start``..``end`` (days, inclusive)."""
    return any(start.normalize() <= holiday <= end.normalize() for holiday in HOLIDAYS)


def load_long(path: Path) -> pd.DataFrame:
    """The wide CSV (one row per sensor, one column per hour) as long rows ``sensor, hour, count``.

    Empty cells (missing counts) are dropped; hours missing as columns are simply absent.
    """
    wide = pd.read_csv(path)
    long = wide.melt(id_vars="New_Sensor_Name", var_name="hour", value_name="count").dropna(subset=["count"])
    long = long.rename(columns={"New_Sensor_Name": "sensor"})
    long["hour"] = pd.to_datetime(long["hour"], format="%Y-%m-%d %H:%M:%S")
    return long.reset_index(drop=True)


@pytest.fixture(scope="module")
def long_counts() -> pd.DataFrame:
    if not CSV.is_file():
        pytest.skip(f"real footfall data absent: {CSV} not found (set MALLSENSE_DATA to the shared data folder)")
    return load_long(CSV)


@pytest.fixture(scope="module")
def hourly(long_counts: pd.DataFrame) -> pd.DataFrame:
    """Hourly counts: one row per hour present in the file (naive local time), one column per sensor, NaN = missing."""
    return long_counts.pivot(index="hour", columns="sensor", values="count").sort_index()


@pytest.fixture(scope="module")
def daily(hourly: pd.DataFrame) -> pd.DataFrame:
    """Daily totals per sensor; a day with fewer than 24 counted hours is missing (NaN), not a low count."""
    day = hourly.index.normalize()
    complete = hourly.notna().groupby(day).sum() >= 24
    return hourly.groupby(day).sum(min_count=1).where(complete)


@pytest.fixture(scope="module")
def busy(hourly: pd.DataFrame) -> list[str]:
    """Sensors with at most FEW_MISSING missing hours, busiest first."""
    clean = hourly.columns[hourly.isna().sum() <= FEW_MISSING]
    return list(hourly[clean].sum().sort_values(ascending=False).index)


def injected(series: pd.Series, start: str | pd.Timestamp, end: str | pd.Timestamp, factor: float) -> pd.Series:
    """``series`` with its values on the days ``start``..``end`` (inclusive) multiplied by ``factor``."""
    out = series.copy()
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    inside = (out.index >= start) & (out.index < end + pd.Timedelta(days=1))
    out[inside] = out[inside] * factor
    return out


def show(label: str, u: Uplift) -> None:
    print(
        f"{label}: {u.point:+.4f} [{u.lo:+.4f}, {u.hi:+.4f}] {u.method} n_placebo={u.n_placebo} "
        f"n_pre={u.n_pre} n_post={u.n_post} skipped={u.skipped}"
    )


# ------------------------------------------------------------------------------------------------------ loader


def test_loader_reads_the_melbourne_file(long_counts: pd.DataFrame, hourly: pd.DataFrame, busy: list[str]) -> None:
    assert long_counts["sensor"].nunique() == 74
    assert hourly.index[0] == pd.Timestamp("2023-04-01 00:00") and hourly.index[-1] == pd.Timestamp("2023-09-19 01:00")
    assert hourly.index.is_unique and (long_counts["count"] >= 0).all()
    assert hourly[MELBOURNE_CENTRAL].notna().all()  # no missing cell; hours missing as columns are absent rows
    assert MELBOURNE_CENTRAL in busy[:3] and len(busy) >= 6


# ---------------------------------------------------------------------------------------------------- baseline

BASELINE_START, BASELINE_END = pd.Timestamp("2023-08-07"), pd.Timestamp("2023-08-13")  # Mon..Sun, 18 weeks in


def test_baseline_detects_an_injected_25_percent_uplift(hourly: pd.DataFrame) -> None:
    series = hourly[MELBOURNE_CENTRAL]
    assert not has_holiday(BASELINE_START, BASELINE_END)
    plain = baseline_uplift(series, BASELINE_START, BASELINE_END)
    boosted = baseline_uplift(injected(series, BASELINE_START, BASELINE_END, 1.25), BASELINE_START, BASELINE_END)
    show("baseline, no campaign", plain)
    show("baseline, +25 %", boosted)

    assert plain.method == boosted.method == "baseline-placebo" and plain.n_placebo >= 8
    assert plain.n_post == 7 * 24 and plain.skipped == 0 and plain.level == 0.95
    assert plain.contains(0.0)
    assert boosted.contains(0.25) and boosted.lo > 0.0
    # the injection multiplies the observed total and nothing else (the baseline lies before the window)
    assert boosted.observed == pytest.approx(1.25 * plain.observed, rel=1e-12)
    assert boosted.expected == pytest.approx(plain.expected, rel=1e-12)
    assert 1.0 + boosted.point == pytest.approx(1.25 * (1.0 + plain.point), rel=1e-12)
    assert plain.point == pytest.approx(plain.observed / plain.expected - 1.0, rel=1e-12)


def test_baseline_t_fallback_on_real_data(hourly: pd.DataFrame) -> None:
    series = hourly[MELBOURNE_CENTRAL]
    plain = baseline_uplift(series, BASELINE_START, BASELINE_END, min_placebo=10**6)
    boosted = baseline_uplift(
        injected(series, BASELINE_START, BASELINE_END, 1.25), BASELINE_START, BASELINE_END, min_placebo=10**6
    )
    show("baseline-t, no campaign", plain)
    show("baseline-t, +25 %", boosted)
    assert plain.method == boosted.method == "baseline-t"
    assert plain.contains(0.0)
    assert boosted.contains(0.25) and boosted.lo > 0.0


def test_baseline_falls_back_to_t_without_enough_history(hourly: pd.DataFrame) -> None:
    """Right after the first 8 weeks there is no earlier placebo window: the t fallback, said so in the result."""
    series = hourly[MELBOURNE_CENTRAL]
    start = hourly.index[0].normalize() + pd.Timedelta(weeks=8)
    u = baseline_uplift(series, start, start + pd.Timedelta(days=6))
    show("baseline right after 8 weeks", u)
    assert u.method == "baseline-t" and u.n_placebo == 0
    assert u.lo < u.point < u.hi


def test_baseline_intervals_are_calibrated_on_real_data(hourly: pd.DataFrame, busy: list[str]) -> None:
    """Every 7-day window with 8 weeks of history, on the six busiest clean sensors, no campaign: 95 % intervals
    should contain 0 most of the time (placebo windows overlap and seasons shift, so not exactly 95 %)."""
    first_start = hourly.index[0].normalize() + pd.Timedelta(weeks=8)
    last_start = hourly.index[-1].normalize() - pd.Timedelta(days=7)  # the last day (2 hours) is not a full day
    starts = [s for s in pd.date_range(first_start, last_start) if not has_holiday(s, s + pd.Timedelta(days=6))]
    covered, total, methods = 0, 0, {"baseline-placebo": 0, "baseline-t": 0}
    for sensor in busy[:6]:
        hits = [baseline_uplift(hourly[sensor], s, s + pd.Timedelta(days=6)) for s in starts]
        share = np.mean([u.contains(0.0) for u in hits])
        print(f"{sensor}: {share:.3f} of {len(hits)} windows contain 0")
        covered += sum(u.contains(0.0) for u in hits)
        total += len(hits)
        for u in hits:
            methods[u.method] += 1
    share = covered / total
    print(f"calibration: {covered}/{total} = {share:.3f} of 95 % intervals contain 0; methods {methods}")
    assert total >= 500 and methods["baseline-placebo"] > methods["baseline-t"]
    assert share >= 0.85


# --------------------------------------------------------------------------------------------------------- did

DID_START, DID_END = pd.Timestamp("2023-08-07"), pd.Timestamp("2023-08-11")  # Mon..Fri


def did_pair(daily: pd.DataFrame, busy: list[str]) -> tuple[pd.Series, pd.Series]:
    """Treated: Melbourne Central's daily totals; control: the sum of the five other busiest clean sensors."""
    others = [s for s in busy[:6] if s != MELBOURNE_CENTRAL]
    assert len(others) == 5
    return daily[MELBOURNE_CENTRAL], daily[others].sum(axis=1, min_count=len(others))


def test_did_detects_an_injected_30_percent_uplift(daily: pd.DataFrame, busy: list[str]) -> None:
    treated, control = did_pair(daily, busy)
    assert not has_holiday(DID_START, DID_END)
    plain = did_uplift(treated, control, DID_START, DID_END)
    boosted = did_uplift(injected(treated, DID_START, DID_END, 1.3), control, DID_START, DID_END)
    show("did, no campaign", plain)
    show("did, +30 %", boosted)
    assert plain.method == "did" and plain.n_post == 5 and plain.n_pre + plain.skipped == 28
    assert plain.contains(0.0)
    assert boosted.contains(0.30) and boosted.lo > 0.0
    assert 1.0 + boosted.point == pytest.approx(1.3 * (1.0 + plain.point), rel=1e-12)


def test_did_over_many_weeks(daily: pd.DataFrame, busy: list[str]) -> None:
    """Every Monday-to-Friday window from late May to September (holiday week left out): a +30 % campaign is always
    detected, and most intervals cover the truth (0 without campaign, 0.30 with)."""
    treated, control = did_pair(daily, busy)
    plain, boosted = [], []
    for start in pd.date_range("2023-05-29", "2023-09-11", freq="W-MON"):
        end = start + pd.Timedelta(days=4)
        if has_holiday(start, end):
            continue
        plain.append(did_uplift(treated, control, start, end))
        boosted.append(did_uplift(injected(treated, start, end, 1.3), control, start, end))
    share_0 = np.mean([u.contains(0.0) for u in plain])
    share_30 = np.mean([u.contains(0.30) for u in boosted])
    print(f"did: {len(plain)} weeks, {share_0:.3f} contain 0 without campaign, {share_30:.3f} contain 0.30 with")
    assert len(plain) >= 14
    assert all(u.lo > 0.0 for u in boosted)
    assert share_0 >= 0.8 and share_30 >= 0.8


# ----------------------------------------------------------------------------------------- synthetic, exact answer

WEEKDAY = np.array([1.0, 1.1, 1.05, 1.2, 1.5, 1.8, 0.9])  # Monday..Sunday


def hour_profile() -> np.ndarray:
    hours = np.arange(24)
    return 20.0 + 300.0 * np.exp(-0.5 * ((hours - 13.0) / 3.5) ** 2)


def synthetic_hourly(days: int, first: str = "2024-01-01") -> pd.Series:
    """Noise-free hourly counts that depend only on weekday and hour (the baseline's exact model)."""
    index = pd.date_range(first, periods=24 * days, freq="h")
    return pd.Series(WEEKDAY[index.day_of_week] * hour_profile()[index.hour], index=index)


def synthetic_daily(days: int, first: str = "2024-01-01") -> pd.Series:
    index = pd.date_range(first, periods=days, freq="D")
    return pd.Series(1000.0 * WEEKDAY[index.day_of_week], index=index)


def test_baseline_exact_on_noise_free_hourly_data() -> None:
    start, end = pd.Timestamp("2024-03-25"), pd.Timestamp("2024-03-31")  # 12 weeks in: placebo windows exist
    series = injected(synthetic_hourly(7 * 16), start, end, 1.2)
    u = baseline_uplift(series, start, end)
    assert u.method == "baseline-placebo" and u.n_placebo >= 8
    assert u.point == pytest.approx(0.2, abs=1e-9)
    assert u.lo == pytest.approx(0.2, abs=1e-9) and u.hi == pytest.approx(0.2, abs=1e-9)
    assert u.observed == pytest.approx(1.2 * u.expected, rel=1e-9)
    assert (u.n_pre, u.n_post, u.skipped) == (8 * 7 * 24, 7 * 24, 0)


def test_baseline_exact_on_noise_free_daily_data_with_gaps() -> None:
    start, end = pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-10")
    series = injected(synthetic_daily(7 * 20), start, end, 1.35)
    series = series.drop(pd.Timestamp("2024-04-03"))  # a day missing in the window
    series[pd.Timestamp("2024-03-12")] = np.nan  # a missing count in the baseline: the other Tuesdays remain
    u = baseline_uplift(series, start, end)
    assert u.method == "baseline-placebo"
    assert u.point == pytest.approx(0.35, abs=1e-9) and u.hi - u.lo < 1e-9
    assert (u.n_post, u.skipped) == (9, 1)


def test_baseline_t_fallback_exact_on_noise_free_data() -> None:
    start = pd.Timestamp("2024-02-26")  # exactly 8 weeks after the first day: no placebo window fits
    series = injected(synthetic_hourly(7 * 10), start, start + pd.Timedelta(days=4), 0.9)
    u = baseline_uplift(series, start, start + pd.Timedelta(days=4))
    assert u.method == "baseline-t" and u.n_placebo == 0
    assert u.point == pytest.approx(-0.1, abs=1e-9) and u.hi - u.lo < 1e-9


def test_baseline_with_a_time_zone_matches_wall_time() -> None:
    start, end = "2024-03-25", "2024-03-31"
    naive = injected(synthetic_hourly(7 * 16), pd.Timestamp(start), pd.Timestamp(end), 1.1)
    aware = naive.tz_localize("UTC")
    a, b = baseline_uplift(naive, start, end), baseline_uplift(aware, start, end)
    assert a.as_dict() == b.as_dict()


def test_did_exact_on_noise_free_data() -> None:
    control = synthetic_daily(70) * np.linspace(1.0, 1.5, 70)  # weekly pattern and a trend common to both
    treated = 0.4 * control
    start, end = pd.Timestamp("2024-02-19"), pd.Timestamp("2024-02-25")
    treated = injected(treated, start, end, 1.3)
    treated[pd.Timestamp("2024-02-01")] = 0.0  # skipped: zero on the treated side
    control[pd.Timestamp("2024-02-21")] = np.nan  # skipped: missing on the control side
    u = did_uplift(treated, control, start, end, pre_days=21)
    assert u.method == "did"
    assert u.point == pytest.approx(0.3, abs=1e-9)
    assert u.hi - u.lo < 1e-9 and u.contains(u.point)
    assert u.observed == pytest.approx(1.3 * u.expected, rel=1e-9)
    assert (u.n_pre, u.n_post, u.skipped) == (20, 6, 2)


def test_did_with_a_single_post_day_uses_the_pre_scatter() -> None:
    rng = np.random.default_rng(7)
    control = synthetic_daily(60)
    treated = control * np.exp(rng.normal(0.0, 0.05, control.size))
    day = pd.Timestamp("2024-02-20")
    u = did_uplift(treated, control, day, day)
    assert u.n_post == 1 and u.lo < u.point < u.hi
    assert u.hi - u.lo > 2 * 1.96 * 0.04  # roughly a prediction interval of one day with sd 0.05


def test_uplift_result_helpers() -> None:
    u = Uplift(0.1, -0.05, 0.3, 0.95, "did", 110.0, 100.0, 28, 5, 0)
    assert u.contains(0.0) and u.contains(0.3) and not u.contains(0.31)
    d = u.as_dict()
    assert d["method"] == "did" and d["point"] == 0.1 and d["n_placebo"] == 0
    with pytest.raises(AttributeError):
        u.point = 0.2  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------------- bad input


def test_empty_series_is_refused() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
    daily = synthetic_daily(60)
    with pytest.raises(ValueError, match="series is empty"):
        baseline_uplift(empty, "2024-02-01", "2024-02-07")
    with pytest.raises(ValueError, match="treated is empty"):
        did_uplift(empty, daily, "2024-02-01", "2024-02-07")
    with pytest.raises(ValueError, match="control is empty"):
        did_uplift(daily, pd.Series([np.nan] * 60, index=daily.index), "2024-02-01", "2024-02-07")


@pytest.mark.parametrize(
    ("start", "end"),
    [("2024-04-20", "2024-05-02"), ("2023-12-25", "2024-01-03"), ("2025-01-01", "2025-01-07")],
    ids=["ends-after-data", "starts-before-data", "entirely-after"],
)
def test_window_outside_the_data_is_refused(start: str, end: str) -> None:
    hourly, daily = synthetic_hourly(120), synthetic_daily(120)  # 2024-01-01 .. 2024-04-29
    with pytest.raises(ValueError, match="outside the data"):
        baseline_uplift(hourly, start, end)
    with pytest.raises(ValueError, match="outside the data"):
        did_uplift(daily, daily, start, end)


def test_too_few_pre_period_days_are_refused() -> None:
    hourly, daily = synthetic_hourly(120), synthetic_daily(120)
    with pytest.raises(ValueError, match="too few pre-period days"):
        baseline_uplift(hourly, "2024-02-19", "2024-02-25")  # 7 weeks of history, 8 needed
    with pytest.raises(ValueError, match="too few pre-period days"):
        did_uplift(daily, daily, "2024-01-20", "2024-01-25")  # 19 days of history, 28 needed
    sparse = daily.copy()
    sparse[(sparse.index >= "2024-01-05") & (sparse.index < "2024-02-01")] = 0.0  # zero days are skipped
    with pytest.raises(ValueError, match="too few pre-period days: 1 usable"):
        did_uplift(sparse, daily, "2024-02-01", "2024-02-05")


def test_other_bad_input_is_refused() -> None:
    hourly, daily = synthetic_hourly(120), synthetic_daily(120)
    with pytest.raises(ValueError, match="before start"):
        baseline_uplift(hourly, "2024-03-10", "2024-03-05")
    with pytest.raises(ValueError, match="level"):
        did_uplift(daily, daily, "2024-03-01", "2024-03-05", level=95)
    with pytest.raises(ValueError, match="negative"):
        baseline_uplift(-hourly, "2024-03-04", "2024-03-10")
    with pytest.raises(ValueError, match="one value per day"):
        did_uplift(hourly, daily, "2024-03-04", "2024-03-10")
    with pytest.raises(ValueError, match="dates or timestamps"):
        baseline_uplift(pd.Series([1.0, 2.0], index=["a", "b"]), "2024-03-04", "2024-03-10")
    with pytest.raises(ValueError, match="no usable day"):
        did_uplift(injected(daily, "2024-03-04", "2024-03-08", 0.0), daily, "2024-03-04", "2024-03-08")
