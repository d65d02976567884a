"""Members: share of traffic and sales, tiers, lifecycle, VIP arrivals and behaviour tags (pure functions).

Member visits are known only for members who consented to presence through the app (their app's BLE key is the
``device_key`` of the CRM record); payments with a member card tie transactions to members.

- **member share of sales**: transactions carrying a member id / all transactions.
- **identified member visits**: app members' visits / footfall (a lower bound of the member share of traffic: members
  without the app are not seen).
- **lifecycle** by last activity (a visit or a purchase) at the period's end: *new* (joined in the last 30 days),
  *active* (activity in the last 30 days), *at risk* (31–90 days), *lapsed* (longer, or never seen).
- **VIP arrival**: the first sighting of a visit of a member of the ``vip`` tier.
- **tags from behaviour**: ``<category> lover`` for members with at least ``min_visits`` visits that include a stay in a
  shop of that category and a median stay there of at least ``min_dwell_min`` minutes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from mallsense.site import Site

ACTIVE_DAYS = 30
AT_RISK_DAYS = 90
TAG_MIN_VISITS = 2
TAG_MIN_DWELL_MIN = 10.0


def member_of_device(members: pd.DataFrame) -> dict[str, str]:
    """Consented app keys → member id."""
    linked = members[members["consent_app"] & members["device_key"].notna() & (members["device_key"] != "")]
    return dict(zip(linked["device_key"], linked["member_id"], strict=True))


def shares(members: pd.DataFrame, visits: pd.DataFrame, txns: pd.DataFrame, footfall: int) -> dict[str, float | int]:
    """Member share of transactions and sales, and identified member visits against footfall."""
    by_member = txns["member_id"].notna() & (txns["member_id"] != "")
    known = visits["dev"].isin(set(member_of_device(members)))
    return {
        "transactions": len(txns),
        "member_transactions": int(by_member.sum()),
        "member_share_of_transactions": float(by_member.mean()) if len(txns) else float("nan"),
        "member_share_of_sales": float(txns.loc[by_member, "amount"].sum() / txns["amount"].sum())
        if len(txns) and txns["amount"].sum() else float("nan"),
        "identified_member_visits": int(known.sum()),
        "identified_member_share_of_footfall": float(known.sum() / footfall) if footfall else float("nan"),
    }


def lifecycle(members: pd.DataFrame, visits: pd.DataFrame, txns: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Each member's tier, last activity and lifecycle stage as of the end of ``as_of``."""
    dev_member = member_of_device(members)
    last_visit = visits.assign(member=visits["dev"].map(dev_member)).dropna(subset=["member"]) \
        .groupby("member")["day"].max()
    last_buy = txns.dropna(subset=["member_id"]).groupby("member_id")["day"].max()
    out = members[["member_id", "tier", "joined"]].copy()
    last = pd.concat([last_visit, last_buy], axis=1).max(axis=1)
    out["last_activity"] = out["member_id"].map(last)

    def stage(row: pd.Series) -> str:
        if (as_of - row["joined"]).days < ACTIVE_DAYS:
            return "new"
        if pd.isna(row["last_activity"]):
            return "lapsed"
        idle = (as_of - row["last_activity"]).days
        return "active" if idle < ACTIVE_DAYS else "at risk" if idle < AT_RISK_DAYS else "lapsed"

    out["stage"] = out.apply(stage, axis=1) if len(out) else pd.Series(dtype=object)
    return out


def tier_table(life: pd.DataFrame) -> pd.DataFrame:
    """Members per tier and lifecycle stage."""
    return life.groupby(["tier", "stage"]).size().unstack(fill_value=0)


def spend_per_tier(members: pd.DataFrame, txns: pd.DataFrame) -> pd.DataFrame:
    """Purchases, sales and spend per purchase of each tier's members in the period."""
    tiers = members.set_index("member_id")["tier"]
    paid = txns.dropna(subset=["member_id"]).assign(tier=lambda t: t["member_id"].map(tiers))
    out = paid.groupby("tier")["amount"].agg(purchases="size", sales="sum", spend_per_purchase="mean")
    return out.round(2)


def vip_arrivals(members: pd.DataFrame, visits: pd.DataFrame, site: Site) -> pd.DataFrame:
    """VIP members' arrivals (first sighting of each visit): member_id, arrived (local time)."""
    vip = members[members["tier"] == "vip"]
    dev_member = {d: m for d, m in member_of_device(members).items() if m in set(vip["member_id"])}
    arrivals = visits[visits["dev"].isin(dev_member)]
    tz = ZoneInfo(site.site.timezone)
    return pd.DataFrame({
        "member_id": arrivals["dev"].map(dev_member).to_numpy(),
        "arrived": [datetime.fromtimestamp(ms / 1000, tz) for ms in arrivals["start"]],
    }).sort_values("arrived").reset_index(drop=True)


def behaviour_tags(site: Site, members: pd.DataFrame, stays: pd.DataFrame, *, min_visits: int = TAG_MIN_VISITS,
                   min_dwell_min: float = TAG_MIN_DWELL_MIN) -> pd.DataFrame:
    """Tags per member from their store stays: member_id, tag, visits, median_dwell_min."""
    dev_member = member_of_device(members)
    category = {s.id: s.category for s in site.stores}
    known = stays[stays["dev"].isin(dev_member)].assign(
        member=lambda s: s["dev"].map(dev_member), category=lambda s: s["store"].map(category),
        dwell_min=lambda s: (s["end"] - s["start"]) / 60_000)
    per = known.groupby(["member", "category"]).agg(visits=("visit", "nunique"), median_dwell_min=("dwell_min",
                                                                                                   "median"))
    tagged = per[(per["visits"] >= min_visits) & (per["median_dwell_min"] >= min_dwell_min)].reset_index()
    tagged["tag"] = tagged["category"].str.replace("_", " ") + " lover"
    return tagged.rename(columns={"member": "member_id"})[["member_id", "tag", "visits", "median_dwell_min"]]


def within(days: pd.Series, first: date, last: date) -> pd.Series:
    return (days >= first) & (days <= last)


def days_between(a: date, b: date) -> list[date]:
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]
