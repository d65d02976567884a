"""Which stores go together: co-visit lift, transitions and placement suggestions (pure functions).

- **co-visit lift(A, B)** = P(A and B in one visit) / (P(A) · P(B)), over visits with at least one store stay; above 1
  the pair is visited together more often than chance. Pairs seen together fewer than ``min_support`` times are left
  out (their lift is noise).
- **transition P(B | A)**: of the stays in A followed by another stay in the same visit, the share whose next store
  is B.
- **placement suggestions**: pairs with high lift that sit far apart (candidates to bring together when leases come
  up: the "Starbucks next to Bose" case), and high-lift pairs already side by side (co-promote them).
"""

from __future__ import annotations

import math

import pandas as pd

from mallsense.site import Site

MIN_SUPPORT = 5
HIGH_LIFT = 1.5
NEAR_M = 25.0


def covisit_lift(stays: pd.DataFrame, min_support: int = MIN_SUPPORT) -> pd.DataFrame:
    """Lift of every store pair seen together in at least ``min_support`` visits, highest first.

    Columns: a, b, together (visits with both), p_a, p_b, p_ab, lift.
    """
    columns = ["a", "b", "together", "p_a", "p_b", "p_ab", "lift"]
    baskets = stays[["visit", "store"]].drop_duplicates()
    n = baskets["visit"].nunique()
    if n == 0:
        return pd.DataFrame(columns=columns)
    single = baskets["store"].value_counts() / n
    pairs = baskets.merge(baskets, on="visit", suffixes=("_a", "_b"))
    pairs = pairs[pairs["store_a"] < pairs["store_b"]]
    together = pairs.groupby(["store_a", "store_b"]).size().rename("together").reset_index()
    together = together[together["together"] >= min_support]
    out = pd.DataFrame({"a": together["store_a"], "b": together["store_b"], "together": together["together"]})
    out["p_a"] = out["a"].map(single).to_numpy()
    out["p_b"] = out["b"].map(single).to_numpy()
    out["p_ab"] = out["together"] / n
    out["lift"] = out["p_ab"] / (out["p_a"] * out["p_b"])
    return out[columns].sort_values(["lift", "together"], ascending=False).reset_index(drop=True)


def transitions(stays: pd.DataFrame) -> pd.DataFrame:
    """P(next store B | store A) within visits: columns a, b, moves, p (rows of one ``a`` sum to 1)."""
    ordered = stays.sort_values(["visit", "start"])
    nxt = ordered.groupby("visit")["store"].shift(-1)
    moves = pd.DataFrame({"a": ordered["store"], "b": nxt}).dropna()
    moves = moves[moves["a"] != moves["b"]]
    counts = moves.groupby(["a", "b"]).size().rename("moves").reset_index()
    counts["p"] = counts["moves"] / counts.groupby("a")["moves"].transform("sum")
    return counts.sort_values(["a", "p"], ascending=[True, False]).reset_index(drop=True)


def _centre(site: Site, store_id: str) -> tuple[str, float, float]:
    zone = site.zone_by_id[site.store_by_id[store_id].zone]
    xs = [p[0] for p in zone.polygon]
    ys = [p[1] for p in zone.polygon]
    return zone.floor, sum(xs) / len(xs), sum(ys) / len(ys)


def store_distance(site: Site, a: str, b: str) -> float:
    """Walking-agnostic distance between two shops' centres, metres (infinite on different floors)."""
    fa, xa, ya = _centre(site, a)
    fb, xb, yb = _centre(site, b)
    return math.hypot(xa - xb, ya - yb) if fa == fb else math.inf


def placement_suggestions(site: Site, lift: pd.DataFrame, *, high_lift: float = HIGH_LIFT,
                          near_m: float = NEAR_M, limit: int = 10) -> list[dict[str, object]]:
    """High-lift pairs, each with what to do about it: bring together (far apart) or co-promote (neighbours)."""
    out = []
    for row in lift[lift["lift"] >= high_lift].itertuples():
        distance = store_distance(site, row.a, row.b)
        names = site.store_by_id[row.a].name, site.store_by_id[row.b].name
        action = "co-promote: neighbours already" if distance <= near_m else \
            "bring together: high lift but far apart" if math.isfinite(distance) else \
            "bring together: high lift but on different floors"
        out.append({"a": row.a, "b": row.b, "names": names, "lift": round(float(row.lift), 2),
                    "together": int(row.together),
                    "distance_m": None if math.isinf(distance) else round(distance, 1), "suggestion": action})
    far_first = sorted(out, key=lambda s: (s["suggestion"].startswith("co-promote"), -s["lift"]))
    return far_first[:limit]


def _moves(stays: pd.DataFrame, place_of: dict[str, str]) -> pd.DataFrame:
    """Moves between places (a shop's floor, the zone in front of it…) from one stay of a visit to the next, where the
    place changes. Columns from, to, moves, share (of all moves)."""
    ordered = stays.sort_values(["visit", "start"])
    places = ordered["store"].map(place_of)
    nxt = places.groupby(ordered["visit"]).shift(-1)
    moves = pd.DataFrame({"from": places, "to": nxt}).dropna()
    moves = moves[moves["from"] != moves["to"]]
    out = moves.groupby(["from", "to"]).size().rename("moves").reset_index()
    out["share"] = out["moves"] / out["moves"].sum() if len(out) else out["moves"]
    return out.sort_values("moves", ascending=False).reset_index(drop=True)


def floor_flows(site: Site, stays: pd.DataFrame) -> pd.DataFrame:
    """Moves between floors: consecutive store stays of a visit on different floors. Columns from, to, moves, share
    (of all floor changes)."""
    return _moves(stays, {s.id: site.zone_by_id[s.zone].floor for s in site.stores})


def zone_flows(site: Site, stays: pd.DataFrame) -> pd.DataFrame:
    """Moves between mall zones: from the zone in front of one shop to the zone in front of the next shop of the same
    visit, when they differ. Columns from, to, moves, share."""
    return _moves(stays, {s.id: s.front_zone or s.zone for s in site.stores})
