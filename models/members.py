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

from datetime import date

import numpy as np
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


def shares(members: pd.DataFrame, visits: pd.DataFrame, sales: pd.DataFrame, footfall: int
           ) -> dict[str, float | int]:
    """Member share of transactions and sales (``sales``: :func:`models.history.sales`), and identified member
    visits against footfall."""
    n, amount = int(sales["transactions"].sum()), float(sales["sales"].sum())
    n_member, member_amount = int(sales["member_transactions"].sum()), float(sales["member_sales"].sum())
    known = visits["dev"].isin(set(member_of_device(members)))
    return {
        "transactions": n,
        "member_transactions": n_member,
        "member_share_of_transactions": n_member / n if n else float("nan"),
        "member_share_of_sales": member_amount / amount if amount else float("nan"),
        "identified_member_visits": int(known.sum()),
        "identified_member_share_of_footfall": float(known.sum() / footfall) if footfall else float("nan"),
    }


def lifecycle(members: pd.DataFrame, last_visit: pd.Series, purchases: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Each member's tier, last activity and lifecycle stage as of the end of ``as_of``.

    ``last_visit``: the last day each app key was seen (index: device key); ``purchases``:
    :func:`models.history.member_purchases`."""
    dev_member = member_of_device(members)
    last_visit = last_visit.rename(index=dev_member)
    last_visit = last_visit[last_visit.index.isin(set(dev_member.values()))]
    last_buy = purchases.set_index("member_id")["last_day"]
    out = members[["member_id", "tier", "joined"]].copy()
    last = pd.concat([last_visit, last_buy], axis=1).max(axis=1)
    out["last_activity"] = out["member_id"].map(last)
    as_of_ord = as_of.toordinal()
    joined_days = as_of_ord - out["joined"].map(date.toordinal)
    idle = as_of_ord - out["last_activity"].map(lambda d: d.toordinal() if isinstance(d, date) else np.nan)
    out["stage"] = np.select(
        [joined_days < ACTIVE_DAYS, idle.isna(), idle < ACTIVE_DAYS, idle < AT_RISK_DAYS],
        ["new", "lapsed", "active", "at risk"], default="lapsed")
    return out


def tier_table(life: pd.DataFrame) -> pd.DataFrame:
    """Members per tier and lifecycle stage."""
    return life.groupby(["tier", "stage"]).size().unstack(fill_value=0)


def spend_per_tier(members: pd.DataFrame, purchases: pd.DataFrame) -> pd.DataFrame:
    """Purchases, sales and spend per purchase of each tier's members in the period."""
    tiers = members.set_index("member_id")["tier"]
    per = purchases.assign(tier=purchases["member_id"].map(tiers)).groupby("tier")[["purchases", "sales"]].sum()
    per["spend_per_purchase"] = per["sales"] / per["purchases"]
    return per.round(2)


def vip_arrivals(members: pd.DataFrame, visits: pd.DataFrame, site: Site) -> pd.DataFrame:
    """VIP members' arrivals (first sighting of each visit): member_id, arrived (local time)."""
    vip = members[members["tier"] == "vip"]
    dev_member = {d: m for d, m in member_of_device(members).items() if m in set(vip["member_id"])}
    arrivals = visits[visits["dev"].isin(dev_member)]
    arrived = pd.to_datetime(arrivals["start"].astype("int64"), unit="ms", utc=True).dt.tz_convert(site.site.timezone)
    return pd.DataFrame({"member_id": arrivals["dev"].map(dev_member).reset_index(drop=True),
                         "arrived": arrived.reset_index(drop=True)}).sort_values("arrived").reset_index(drop=True)


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
