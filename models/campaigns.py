"""Campaign evaluation: footfall uplift with its interval, and the members and sales attributed to the window.

The uplift is a difference-in-differences of the daily entries of the campaign's target stores against its control
stores (:func:`models.uplift.did_uplift`), with the days before the campaign as the pre-period. A campaign without
control stores is measured against a baseline from comparable days of the mall's footfall
(:func:`models.uplift.baseline_uplift`). Attributed: transactions in the target stores during the campaign's days,
and the app members who entered a target store then.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from mallsense.site import Campaign, Site
from models.uplift import baseline_uplift, did_uplift

MAX_PRE_DAYS = 28


def campaign_days(site: Site, campaign: Campaign) -> tuple[date, date]:
    """The local days a campaign runs (first, last)."""
    tz = site.site.tz
    start = campaign.start if campaign.start.tzinfo else campaign.start.replace(tzinfo=tz)
    end = campaign.end if campaign.end.tzinfo else campaign.end.replace(tzinfo=tz)
    return start.astimezone(tz).date(), end.astimezone(tz).date()


def _daily(doors: pd.DataFrame, stores: list[str], days: list[date]) -> pd.Series:
    sub = doors[doors["line"].isin(stores)].groupby("day")["entries"].sum()
    return pd.Series([int(sub.get(d, 0)) for d in days], index=pd.to_datetime(days), dtype="float64")


def evaluate(site: Site, campaign: Campaign, doors: pd.DataFrame, footfall: pd.DataFrame, sales: pd.DataFrame,
             stays: pd.DataFrame, dev_member: dict[str, str], days: list[date], *,
             level: float = 0.95) -> dict[str, Any]:
    """One campaign over the loaded ``days``: uplift with interval, attributed transactions and members."""
    first, last = campaign_days(site, campaign)
    pre = [d for d in days if d < first]
    out: dict[str, Any] = {"id": campaign.id, "name": campaign.name, "first_day": first.isoformat(),
                           "last_day": last.isoformat(), "target_stores": list(campaign.target_stores),
                           "control_stores": list(campaign.control_stores)}
    if first < days[0] or last > days[-1]:
        out["problem"] = f"the campaign's days {first}..{last} are not all inside the period {days[0]}..{days[-1]}"
        return out
    pre_days = min(MAX_PRE_DAYS, len(pre))
    try:
        if campaign.control_stores:
            result = did_uplift(_daily(doors, campaign.target_stores, days),
                                _daily(doors, campaign.control_stores, days), first, last, pre_days=pre_days,
                                level=level)
        else:
            totals = footfall.groupby("day")["entries"].sum()
            series = pd.Series([float(totals.get(d, 0)) for d in days], index=pd.to_datetime(days))
            result = baseline_uplift(series, first, last, pre_weeks=max(1, pre_days // 7), level=level)
    except ValueError as exc:
        out["problem"] = str(exc)
        return out
    out["uplift"] = result.as_dict()
    in_window = sales[(sales["day"] >= first) & (sales["day"] <= last)]
    targeted = in_window[in_window["store_id"].isin(campaign.target_stores)]
    out["attributed_transactions"] = int(targeted["transactions"].sum())
    out["attributed_sales"] = round(float(targeted["sales"].sum()), 2)
    out["attributed_member_transactions"] = int(targeted["member_transactions"].sum())
    tz = site.site.tz
    lo = pd.Timestamp(first, tz=tz).value // 10**6
    hi = pd.Timestamp(last + timedelta(days=1), tz=tz).value // 10**6
    seen = stays[(stays["start"] >= lo) & (stays["start"] < hi) & stays["store"].isin(campaign.target_stores)]
    out["attributed_members"] = int(seen["dev"].map(dev_member).dropna().nunique())
    return out
