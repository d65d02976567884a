"""Every metric of a simulated 30-day mall, computed from the database, checked against the simulator's ground truth.

The month is simulated offline through the real edge batching, loaded through ingest's validation and writer
(:mod:`simulator.backfill`), the CRM and POS exports imported; :func:`models.report.compute` then reads it back like
the cockpit does. Two campaigns run in the month: one with a known +25 % effect on its target stores, one with none.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from scipy.stats import spearmanr

from mallsense.site import Site
from models import adjacency, history, materialize, presence
from models.history import Period
from models.report import compute, load, to_text
from tests.month import DAYS, FIRST, LAST, TRUE_UPLIFT, Month

# the first test here may build the suite's month database (about 6 minutes on 2 idle cores)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def month(month_db: Month) -> dict:
    site = month_db.site
    with psycopg.connect(month_db.dsn) as conn:
        data = load(conn, Period(site, FIRST, LAST))
        report = compute(conn, site, FIRST, LAST, loaded=data)
    print(to_text(report))
    return {"site": site, "dsn": month_db.dsn, "truth": month_db.truth, "summary": month_db.summary,
            "report": report, "data": data}


def _truth_visits(folder: Path, tz: ZoneInfo) -> pd.DataFrame:
    visits = pd.read_csv(folder / "visits.csv", dtype={"member_id": str, "stores": str})
    members = pd.read_csv(folder / "members.csv", dtype={"device_key": str})
    visits = visits[visits["app"] == 1].copy()
    visits["dev"] = visits["member_id"].map(dict(zip(members["member_id"], members["device_key"], strict=True)))
    visits["day"] = pd.to_datetime(visits["t_in"], unit="ms", utc=True).dt.tz_convert(tz).dt.date
    return visits


def _truth_stays(visits: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for v in visits.itertuples():
        if isinstance(v.stores, str) and v.stores:
            for k, part in enumerate(v.stores.split(";")):
                store, dwell = part.rsplit(":", 1)
                rows.append((v.dev, v.visit_id, store, k, int(dwell)))
    return pd.DataFrame(rows, columns=["dev", "visit", "store", "order", "dwell_s"])


def test_entrance_and_store_door_counts_are_exact(month: dict) -> None:
    published = month["summary"]["published_crossings"]
    site: Site = month["site"]
    report = month["report"]
    for line in site.entrance_lines:
        assert report["footfall"]["per_entrance"][line] == {"entries": published[line]["in"],
                                                            "exits": published[line]["out"]}, line
    doors = month["data"].doors.groupby("line")[["entries", "exits"]].sum()
    for store in site.store_doors:
        assert (int(doors.loc[store, "entries"]), int(doors.loc[store, "exits"])) == \
            (published[store]["in"], published[store]["out"]), store
    assert report["footfall"]["entries"] == sum(published[e]["in"] for e in site.entrance_lines)
    assert len(report["footfall"]["per_day"]) == DAYS


def test_repeat_visit_rates_within_two_points(month: dict) -> None:
    truth = _truth_visits(month["truth"], month["site"].site.tz)
    for days, key in ((7, "repeat_7d"), (30, "repeat_30d")):
        window = truth[truth["day"] > date.fromordinal(LAST.toordinal() - days)]
        per = window.groupby("dev").size()
        true_rate = float((per >= 2).mean())
        measured = month["report"]["visits"][key]
        print(f"repeat {days} d: measured {measured['rate']:.4f} ({measured['identities']} identities), "
              f"true {true_rate:.4f} ({len(per)} identities)")
        assert measured["identities"] == pytest.approx(len(per), rel=0.02)
        assert abs(measured["rate"] - true_rate) <= 0.02


def test_dwell_medians_within_ten_percent(month: dict) -> None:
    truth = _truth_visits(month["truth"], month["site"].site.tz)
    true_visit = ((truth["t_out"] - truth["t_in"]) / 60_000).median()
    true_stay = _truth_stays(truth)["dwell_s"].median() / 60
    v = month["report"]["visits"]
    print(f"dwell in the mall: measured {v['dwell_median_min']:.1f} min, true {true_visit:.1f}; "
          f"store stay: measured {v['store_dwell_median_min']:.2f} min, true {true_stay:.2f}")
    assert v["dwell_median_min"] == pytest.approx(true_visit, rel=0.10)
    assert v["store_dwell_median_min"] == pytest.approx(true_stay, rel=0.10)


def test_conversion_per_store_within_two_points(month: dict) -> None:
    true_in = month["summary"]["true_crossings"]
    sales = pd.read_csv(month["truth"] / "transactions.csv").groupby("store_id").size()
    worst = 0.0
    checked = 0
    for row in month["report"]["stores"]:
        entries = true_in.get(row["store"], {}).get("in", 0)
        if entries < 100:
            continue
        true_conversion = sales.get(row["store"], 0) / entries
        worst = max(worst, abs(row["conversion"] - true_conversion))
        checked += 1
        assert abs(row["conversion"] - true_conversion) <= 0.02, row["store"]
    print(f"conversion: {checked} stores checked, worst difference {100 * worst:.2f} points")
    assert checked >= 40


def test_covisit_lift_ranks_like_the_truth(month: dict) -> None:
    truth = _truth_stays(_truth_visits(month["truth"], month["site"].site.tz))
    true_lift = adjacency.covisit_lift(truth, min_support=adjacency.MIN_SUPPORT)
    stays = month["data"].stays
    measured = adjacency.covisit_lift(stays[stays["visit"].isin(month["data"].visits["visit"])], min_support=1)
    both = true_lift.merge(measured, on=["a", "b"], how="left", suffixes=("_true", "_measured")).fillna(0.0)
    rho = spearmanr(both["lift_true"], both["lift_measured"]).statistic
    print(f"co-visit lift: {len(both)} store pairs with support >= {adjacency.MIN_SUPPORT}, Spearman {rho:.3f}")
    assert len(both) >= 100
    assert rho >= 0.8
    # the affinity groups of the simulation come out on top: most of the 20 highest-lift pairs share a group
    site: Site = month["site"]
    category = {s.id: s.category for s in site.stores}
    groups = [set(g) for g in site.simulation.affinity]
    top = adjacency.covisit_lift(stays, min_support=adjacency.MIN_SUPPORT).head(20)
    related = sum(any({category[r.a], category[r.b]} <= g for g in groups) or category[r.a] == category[r.b]
                  for r in top.itertuples())
    assert related >= 12, top


def test_floor_to_floor_flows_match_the_truth(month: dict) -> None:
    site: Site = month["site"]
    truth = _truth_stays(_truth_visits(month["truth"], site.site.tz)).rename(columns={"order": "start"})
    true_flows = adjacency.floor_flows(site, truth).set_index(["from", "to"])
    measured = pd.DataFrame(month["report"]["floor_flows"]).set_index(["from", "to"])
    both = true_flows.add_suffix("_true").join(measured.add_suffix("_measured"), how="outer").fillna(0.0)
    print(both)
    assert len(both) == 6  # every ordered pair of the three floors
    assert (both["share_true"] - both["share_measured"]).abs().max() <= 0.03


def test_campaign_uplift_intervals(month: dict) -> None:
    by_id = {c["id"]: c for c in month["report"]["campaigns"]}
    effect, placebo = by_id["winter-beauty-week"], by_id["tech-fair"]
    realized = month["summary"]["campaigns"]["winter-beauty-week"]
    print(f"campaign: {json.dumps(effect['uplift'])}; realized in the simulation {realized.get('realized_uplift')}")
    print(f"no-effect campaign: {json.dumps(placebo['uplift'])}")
    assert effect["uplift"]["lo"] <= TRUE_UPLIFT <= effect["uplift"]["hi"]
    assert placebo["uplift"]["lo"] <= 0.0 <= placebo["uplift"]["hi"]
    # attributed sales are the target stores' sales on the campaign days, from the POS export
    tz = month["site"].site.tz
    with open(month["truth"] / "transactions.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["store_id"] in effect["target_stores"]
                and date(2026, 11, 20) <= datetime.fromisoformat(r["ts"]).astimezone(tz).date() <= LAST]
    assert effect["attributed_transactions"] == len(rows)
    assert effect["attributed_sales"] == pytest.approx(sum(float(r["amount"]) for r in rows), abs=0.01)
    assert effect["attributed_members"] > 0


def test_members_and_report_sections(month: dict) -> None:
    report = month["report"]
    txns = pd.read_csv(month["truth"] / "transactions.csv", dtype={"member_id": str})
    members = report["members"]
    assert members["transactions"] == len(txns)
    assert members["member_share_of_transactions"] == pytest.approx(txns["member_id"].notna().mean())
    assert sum(members["lifecycle"].values()) == len(pd.read_csv(month["truth"] / "members.csv"))
    assert report["hot_cold_zones"] and {z["label"] for z in report["hot_cold_zones"]} <= {"hot", "cold", ""}
    capture = [s["capture_rate"] for s in report["stores"] if s["capture_rate"] is not None]
    assert capture and all(0 < c < 5 for c in capture)
    assert report["adjacency"]["suggestions"], "no placement suggestion from a month of data"
    text = to_text(report)
    for heading in ("Footfall:", "Visits", "Stores", "Hot zones", "Members:", "Campaign winter-beauty-week"):
        assert heading in text


def test_presence_from_database_matches_history_loader(month: dict) -> None:
    """The report's visits are the sessionized sightings of the database, materialized as they are (nothing lost)."""
    site: Site = month["site"]
    with psycopg.connect(month["dsn"]) as conn:
        sightings = history.ble_sightings(conn, Period(site, LAST, LAST))
    visits, stays = presence.presence(sightings, history.store_of_scanner(site))
    truth = _truth_visits(month["truth"], site.site.tz)
    assert len(visits) == pytest.approx(int((truth["day"] == LAST).sum()), rel=0.03)
    # the materialized tables the cockpit reads hold exactly these visits and stays
    with psycopg.connect(month["dsn"]) as conn:
        assert not materialize.missing_days(conn, Period(site, FIRST, LAST))
        m_visits, m_stays = materialize.load(conn, Period(site, LAST, LAST))
    assert sorted(zip(m_visits["dev"], m_visits["start"], m_visits["end"], strict=True)) == \
        sorted(zip(visits["dev"], visits["start"], visits["end"], strict=True))
    assert sorted(zip(m_stays["store"], m_stays["start"], m_stays["end"], strict=True)) == \
        sorted(zip(stays["store"], stays["start"], stays["end"], strict=True))
