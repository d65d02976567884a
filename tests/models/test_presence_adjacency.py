"""Visits, store stays and co-visit statistics on small hand-made inputs whose answers are known exactly."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mallsense.site import load_site
from models import adjacency, presence, visitors

SHOP = {"ble-a": "A", "ble-b": "B"}  # scanners inside shops A and B; "ble-hall" is in the corridor


def adverts(dev: str, t0_s: int, n: int, loud: str, *, every_s: int = 15, quiet: str = "ble-hall") -> list[tuple]:
    """``n`` advertisements every ``every_s`` s, heard loudest by ``loud`` and more faintly by ``quiet``."""
    out = []
    for k in range(n):
        ts = (t0_s + k * every_s) * 1000
        out += [(ts, dev, loud, -70), (ts, dev, quiet if quiet != loud else "ble-b", -85)]
    return out


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "dev", "sensor", "rssi"]).sort_values(["dev", "ts"], kind="stable")


def test_a_visit_with_two_shops_flickers_and_a_far_corner_gap() -> None:
    rows = adverts("d1", 0, 4, "ble-hall")  # corridor for 45 s
    rows += adverts("d1", 60, 20, "ble-a")  # shop A from 60 s to 345 s ...
    rows[-4] = (rows[-4][0], "d1", "ble-b", -60)  # ... one advert heard loudest next door (a flicker)
    rows += adverts("d1", 450, 10, "ble-a")  # ... 105 s unheard in a far corner, then A again until 585 s
    rows += adverts("d1", 600, 3, "ble-hall")
    rows += adverts("d1", 660, 8, "ble-b")  # shop B from 660 s to 765 s
    visits, stays = presence.presence(frame(rows), SHOP)
    assert len(visits) == 1
    assert (visits.loc[0, "start"], visits.loc[0, "end"]) == (0, 765_000)
    assert list(stays["store"]) == ["A", "B"]
    assert (stays.loc[0, "start"], stays.loc[0, "end"]) == (60_000, 585_000)
    assert (stays.loc[1, "start"], stays.loc[1, "end"]) == (660_000, 765_000)


def test_placement_does_not_depend_on_the_order_of_the_rows() -> None:
    rows = adverts("d3", 0, 8, "ble-a", quiet="ble-b")
    tied = [(ts, dev, sensor, -70) for ts, dev, sensor, _ in rows]  # both scanners equally loud
    forward, _ = presence.presence(frame(tied), SHOP)
    backward_visits, backward_stays = presence.presence(frame(tied[::-1]), SHOP)
    _, forward_stays = presence.presence(frame(tied), SHOP)
    assert forward.equals(backward_visits) and forward_stays.equals(backward_stays)
    assert list(forward_stays["store"]) == ["A"]  # the tie goes to the first sensor id, ble-a


def test_visits_split_at_the_gap_timeout_and_short_passes_are_no_stay() -> None:
    gap = presence.VISIT_GAP_S
    rows = adverts("d2", 0, 6, "ble-hall") + adverts("d2", 90, 2, "ble-a")  # 2 adverts in A: passing by
    rows += adverts("d2", 105 + gap + 1, 6, "ble-a")  # back after the timeout: a new visit, in A
    visits, stays = presence.presence(frame(rows), SHOP)
    assert len(visits) == 2
    assert list(stays["store"]) == ["A"] and stays.loc[0, "visit"] == visits.loc[1, "visit"]


def test_lift_transitions_and_repeat_rate_by_hand() -> None:
    baskets = [["A", "B"], ["A", "B"], ["A"], ["C"], ["B", "C"]]
    stays = pd.DataFrame([(v, s, v * 100 + k) for v, b in enumerate(baskets) for k, s in enumerate(b)],
                         columns=["visit", "store", "start"])
    lift = adjacency.covisit_lift(stays, min_support=1).set_index(["a", "b"])
    # P(A) = 3/5, P(B) = 3/5, P(A and B) = 2/5: lift = 0.4 / 0.36
    assert lift.loc[("A", "B"), "lift"] == pytest.approx(0.4 / 0.36)
    assert lift.loc[("B", "C"), "lift"] == pytest.approx(0.2 / (0.6 * 0.4))
    assert ("A", "C") not in lift.index
    moves = adjacency.transitions(stays).set_index(["a", "b"])
    assert moves.loc[("A", "B"), "p"] == 1.0 and moves.loc[("B", "C"), "p"] == 1.0
    visits = pd.DataFrame({"dev": ["x", "x", "y", "z", "z"], "day": pd.to_datetime(
        ["2026-11-01", "2026-11-05", "2026-11-05", "2026-10-01", "2026-11-06"]).date})
    rate = visitors.repeat_rate(visits, pd.Timestamp("2026-11-01").date(), pd.Timestamp("2026-11-07").date())
    assert rate == {"identities": 3, "repeaters": 1, "rate": 1 / 3}


def test_floor_flows_count_moves_between_floors() -> None:
    site = load_site()
    stays = pd.DataFrame([(1, "f1-01", 0), (1, "f1-02", 1), (1, "f2-01", 2), (1, "b1-01", 3), (2, "f2-01", 0),
                          (2, "f1-01", 1)], columns=["visit", "store", "start"])
    flows = adjacency.floor_flows(site, stays).set_index(["from", "to"])
    assert flows["moves"].to_dict() == {("f1", "f2"): 1, ("f2", "b1"): 1, ("f2", "f1"): 1}
    assert flows["share"].sum() == pytest.approx(1.0)


def test_zone_flows_follow_the_zones_in_front_of_the_shops() -> None:
    site = load_site()
    front = {s.id: s.front_zone for s in site.stores}
    west = [s for s in ("f1-01", "f1-02") if front[s] == "f1-mall-west"]
    east = next(s.id for s in site.stores if s.front_zone == "f1-mall-east")
    stays = pd.DataFrame([(1, west[0], 0), (1, west[1], 1), (1, east, 2)], columns=["visit", "store", "start"])
    flows = adjacency.zone_flows(site, stays)
    assert flows[["from", "to", "moves"]].values.tolist() == [["f1-mall-west", "f1-mall-east", 1]]


def test_placement_suggestions_tell_near_from_far() -> None:
    site = load_site()
    a, b, c = "f1-01", "f1-02", "f2-01"  # two neighbours on the ground floor, one upstairs
    lift = pd.DataFrame([(a, b, 9, 2.5), (a, c, 7, 3.0)], columns=["a", "b", "together", "lift"])
    out = {(s["a"], s["b"]): s for s in adjacency.placement_suggestions(site, lift)}
    assert out[(a, b)]["suggestion"].startswith("co-promote")
    assert out[(a, c)]["suggestion"].endswith("different floors") and out[(a, c)]["distance_m"] is None
    assert math.isinf(adjacency.store_distance(site, a, c))
