"""Who comes back: repeat-visit rates, new vs returning, visit frequency, dwell and penetration (pure functions).

Visits are those of identities that may be followed across days (consented app users, see DESIGN.md's privacy
model): a DataFrame with columns ``dev``, ``start`` and ``end`` (ms) and ``day`` (local date of the start).

- **repeat-visit rate (window W)**: share of the identities seen in W with at least two visits in W.
- **first-month repeat**: share of identities whose first visit falls in the period (nothing in the look-back before
  it) who come again within 30 days of that first visit; only first visits with 30 days of data after them count.
- **new vs returning**: a visit is returning when its identity had a visit in the look-back days before it.
- **visit frequency**: visits per identity in the period.
- **dwell**: time between the first and last sighting of the visit; **bounce**: a store stay under two minutes.
- **penetration**: unique visitors / catchment population. Footfall counts visits, not people, so the unique
  visitors of the period are estimated as footfall / visits per identified visitor (the app users are the panel).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

BOUNCE_S = 120


def repeat_rate(visits: pd.DataFrame, first: date, last: date) -> dict[str, float | int]:
    """Repeat-visit rate over the days ``first``..``last``: identities, repeaters, rate."""
    window = visits[(visits["day"] >= first) & (visits["day"] <= last)]
    per = window.groupby("dev").size()
    n = len(per)
    repeaters = int((per >= 2).sum())
    return {"identities": n, "repeaters": repeaters, "rate": repeaters / n if n else float("nan")}


def rolling_repeat_rate(visits: pd.DataFrame, last: date, days: int) -> dict[str, float | int]:
    """Repeat-visit rate over the ``days`` days ending on ``last``."""
    return {**repeat_rate(visits, last - timedelta(days=days - 1), last), "window_days": days}


def first_month_repeat(visits: pd.DataFrame, first: date, last: date, lookback_days: int = 30,
                       horizon_days: int = 30) -> dict[str, float | int]:
    """Share of identities new in the period (none of their visits in the look-back) who return within the horizon."""
    firsts = visits.groupby("dev")["day"].min()
    eligible = firsts[(firsts >= first + timedelta(days=lookback_days))
                      & (firsts <= last - timedelta(days=horizon_days))]
    if eligible.empty:
        return {"new": 0, "returned": 0, "rate": float("nan")}
    later = visits[visits["dev"].isin(eligible.index)].merge(eligible.rename("first_day"), left_on="dev",
                                                             right_index=True)
    back = later[(later["day"] > later["first_day"])
                 & (later["day"] <= later["first_day"] + timedelta(days=horizon_days))]["dev"].nunique()
    return {"new": len(eligible), "returned": int(back), "rate": back / len(eligible)}


def new_vs_returning(visits: pd.DataFrame, first: date, lookback_days: int = 30) -> dict[str, int]:
    """Visits from ``first`` on that are new or returning (a visit of the identity in the look-back days before)."""
    ordered = visits.sort_values(["dev", "start"])
    day = ordered["day"].map(date.toordinal)
    gap = day - day.groupby(ordered["dev"]).shift(1)
    returning = gap.notna() & (gap <= lookback_days)
    in_period = ordered["day"] >= first
    return {"new": int((in_period & ~returning).sum()), "returning": int((in_period & returning).sum())}


def frequency(visits: pd.DataFrame, first: date, last: date) -> pd.Series:
    """How many identities made 1, 2, 3, … visits in the period (index: visits, value: identities)."""
    window = visits[(visits["day"] >= first) & (visits["day"] <= last)]
    return window.groupby("dev").size().value_counts().sort_index()


def dwell_minutes(visits: pd.DataFrame) -> pd.Series:
    """Time in the mall per visit, minutes."""
    return (visits["end"] - visits["start"]) / 60_000


def bounce_rate(stays: pd.DataFrame) -> float:
    """Share of store stays shorter than two minutes."""
    if stays.empty:
        return float("nan")
    return float(((stays["end"] - stays["start"]) < BOUNCE_S * 1000).mean())


def penetration(footfall: int, visits: pd.DataFrame, catchment: int | None) -> dict[str, float | None]:
    """Unique visitors (footfall / visits per identified visitor) and their share of the catchment population."""
    per = visits.groupby("dev").size()
    mean_visits = float(per.mean()) if len(per) else float("nan")
    unique = footfall / mean_visits if len(per) else float("nan")
    share = unique / catchment if catchment and not np.isnan(unique) else None
    return {"visits_per_visitor": mean_visits, "unique_visitors": unique, "penetration": share}
