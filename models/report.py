"""All the metrics of a period in one call, as JSON-friendly data and as a text report (``mallsense report``).

:func:`compute` loads the period once (rollups for counts, BLE sightings of consented app users for visits and
stays, transactions, members) and derives every metric of :mod:`models.visitors`, :mod:`models.stores`,
:mod:`models.adjacency`, :mod:`models.members` and :mod:`models.campaigns` from it. Visits and stays need history
before the period for the returning/new split and first-month repeat: ``lookback_days`` more days are loaded.
Visits and stays come from the materialized tables (:mod:`models.materialize`) when every day of the period has been
materialized, else they are sessionized from the raw sightings (the same rules, seconds instead of milliseconds).
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from functools import cached_property
from typing import Any

import pandas as pd

from mallsense.site import Site
from models import adjacency, campaigns, history, materialize, members, presence, stores, visitors
from models.history import Period
from models.live import Database, _connection

LOOKBACK_DAYS = 30


class Loaded:
    """The period's data, each part read on first use and kept (``visits`` includes the look-back days).

    A page that needs only the footfall reads only the footfall; :func:`compute` reads everything. ``raw=True``
    reads the raw tables only (no rollups, no materialized visits): the baseline the benchmarks compare with.
    """

    def __init__(self, db: Database, period: Period, lookback_days: int = LOOKBACK_DAYS, *, raw: bool = False) -> None:
        self.db, self.period, self.raw = db, period, raw
        self.wide = Period(period.site, period.first - timedelta(days=lookback_days), period.last)

    @cached_property
    def footfall(self) -> pd.DataFrame:
        return history.line_days(self.db, self.period, self.period.site.entrance_lines, raw=self.raw)

    @cached_property
    def doors(self) -> pd.DataFrame:
        return history.line_days(self.db, self.period, self.period.site.store_doors, raw=self.raw)

    @cached_property
    def hours(self) -> pd.DataFrame:
        return history.line_hours(self.db, self.period, self.period.site.entrance_lines, raw=self.raw)

    @cached_property
    def occupancy(self) -> pd.DataFrame:
        return history.zone_occupancy(self.db, self.period, raw=self.raw)

    @cached_property
    def people(self) -> pd.DataFrame:
        return history.camera_people(self.db, self.period, raw=self.raw)

    @cached_property
    def _materialized(self) -> bool:
        return not self.raw and not materialize.missing_days(self.db, self.wide)

    @cached_property
    def _raw_presence(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        site = self.period.site
        v, s = presence.presence(history.ble_sightings(self.db, self.wide), history.store_of_scanner(site))
        v["day"] = pd.to_datetime(v["start"], unit="ms", utc=True).dt.tz_convert(site.site.tz).dt.date
        return v, s

    @cached_property
    def visits(self) -> pd.DataFrame:
        """Visits of the period and the look-back days before it (repeat visits, new vs returning, lifecycle)."""
        return materialize.load_visits(self.db, self.wide) if self._materialized else self._raw_presence[0]

    @cached_property
    def period_visits(self) -> pd.DataFrame:
        """Visits of the period only."""
        if "visits" in self.__dict__ or not self._materialized:
            return self.visits[self.visits["day"] >= self.period.first].reset_index(drop=True)
        return materialize.load_visits(self.db, self.period)

    @cached_property
    def last_visit(self) -> pd.Series:
        """The last day each app key was seen up to the period's end, over all materialized history (index: key)."""
        if not self._materialized:
            return self.visits.groupby("dev")["day"].max()
        with _connection(self.db) as conn:
            rows = conn.execute("SELECT dev, max(day) FROM app_visit WHERE site = %s AND day <= %s GROUP BY dev",
                                (self.period.site.site.id, self.period.last)).fetchall()
        return pd.Series({dev: day for dev, day in rows}, dtype=object)

    @cached_property
    def stays(self) -> pd.DataFrame:
        """Store stays of the period's visits."""
        if self._materialized:
            return materialize.load_stays(self.db, self.period)
        stays = self._raw_presence[1]
        return stays[stays["visit"].isin(self.period_visits["visit"])].reset_index(drop=True)

    @cached_property
    def sales(self) -> pd.DataFrame:
        return history.raw_sales(self.db, self.period) if self.raw else history.sales(self.db, self.period)

    @cached_property
    def purchases(self) -> pd.DataFrame:
        return history.member_purchases(self.db, self.period)

    @cached_property
    def members(self) -> pd.DataFrame:
        return history.members(self.db, self.period.site)


def load(db: Database, period: Period, lookback_days: int = LOOKBACK_DAYS, *, raw: bool = False) -> Loaded:
    """Everything of the period, read now (see :class:`Loaded` for reading on demand)."""
    data = Loaded(db, period, lookback_days, raw=raw)
    for part in ("footfall", "doors", "hours", "occupancy", "people", "visits", "period_visits", "last_visit", "stays",
                 "sales", "purchases", "members"):
        getattr(data, part)
    return data


def _clean(value: Any) -> Any:
    """JSON-friendly: NaN → None, numpy scalars → Python, dates → ISO strings."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return _clean(frame.to_dict(orient="records"))


def compute(db: Database, site: Site, first: date, last: date, *, loaded: Loaded | None = None) -> dict[str, Any]:
    """Every metric of the local days ``first``..``last`` (see each module for the definitions)."""
    period = Period(site, first, last)
    data = loaded or load(db, period)
    visits_p = data.period_visits
    stays_p = data.stays
    footfall_total = int(data.footfall["entries"].sum())
    per_day = data.footfall.groupby("day")[["entries", "exits"]].sum()
    per_entrance = data.footfall.groupby("line")[["entries", "exits"]].sum()
    perf = stores.store_performance(site, data.doors, data.sales, stores.passers_by_zone(site, data.people))
    zones = stores.hot_cold_zones(site, data.occupancy)
    lift = adjacency.covisit_lift(stays_p)
    life = members.lifecycle(data.members, data.last_visit, data.purchases, last)
    dev_member = members.member_of_device(data.members)
    dwell = visitors.dwell_minutes(visits_p)
    stay_min = (stays_p["end"] - stays_p["start"]) / 60_000
    report = {
        "site": site.site.id, "first_day": first.isoformat(), "last_day": last.isoformat(), "days": len(period.days),
        "footfall": {
            "entries": footfall_total, "exits": int(data.footfall["exits"].sum()),
            "per_day_mean": footfall_total / len(period.days),
            "per_day": {d.isoformat(): int(r.entries) for d, r in per_day.iterrows()},
            "per_entrance": {k: {"entries": int(r.entries), "exits": int(r.exits)} for k, r in per_entrance.iterrows()},
            "per_hour": {int(r.hour): int(r.entries) for r in data.hours.itertuples()},
        },
        "visits": {
            "identified_visits": len(visits_p), "identities": int(visits_p["dev"].nunique()),
            "dwell_median_min": float(dwell.median()) if len(dwell) else None,
            "store_dwell_median_min": float(stay_min.median()) if len(stay_min) else None,
            "bounce_rate": visitors.bounce_rate(stays_p),
            "repeat_7d": visitors.rolling_repeat_rate(data.visits, last, 7),
            "repeat_30d": visitors.rolling_repeat_rate(data.visits, last, 30),
            "first_month_repeat": visitors.first_month_repeat(data.visits, first - timedelta(days=LOOKBACK_DAYS),
                                                              last),
            "new_vs_returning": visitors.new_vs_returning(data.visits, first),
            "frequency": {int(k): int(v) for k, v in visitors.frequency(data.visits, first, last).items()},
            "penetration": visitors.penetration(footfall_total, visits_p, site.site.catchment_population),
        },
        "stores": _records(perf),
        "hot_cold_zones": _records(zones.reset_index(names="zone")),
        "hot_cold_stores": _records(stores.hot_cold_stores(perf).reset_index(names="store")),
        "cold_next_to_hot": stores.cold_next_to_hot(site, zones),
        "adjacency": {
            "lift": _records(lift.head(50)),
            "transitions": _records(adjacency.transitions(stays_p).sort_values("moves", ascending=False).head(50)),
            "suggestions": _clean(adjacency.placement_suggestions(site, lift)),
        },
        "floor_flows": _records(adjacency.floor_flows(site, stays_p)),
        "members": {
            **members.shares(data.members, visits_p, data.sales, footfall_total),
            "lifecycle": _clean(life.groupby("stage").size().to_dict()),
            "tiers": _clean(members.tier_table(life).to_dict(orient="index")),
            "spend_per_tier": _clean(members.spend_per_tier(data.members, data.purchases).to_dict(orient="index")),
            "vip_arrivals": len(members.vip_arrivals(data.members, visits_p, site)),
            "tags": _clean(members.behaviour_tags(site, data.members, data.stays)["tag"].value_counts().to_dict()),
        },
        "campaigns": [campaigns.evaluate(site, c, data.doors, data.footfall, data.sales, data.stays, dev_member,
                                         period.days) for c in site.campaigns],
    }
    return _clean(report)


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def to_text(report: dict[str, Any]) -> str:
    """A plain-text summary of :func:`compute`'s report, for a terminal or an e-mail."""
    f, v, m = report["footfall"], report["visits"], report["members"]
    lines = [f"mallsense report — {report['site']}, {report['first_day']} .. {report['last_day']} "
             f"({report['days']} days)", "",
             f"Footfall: {f['entries']:,} entries ({f['per_day_mean']:,.0f} a day), {f['exits']:,} exits"]
    for line, n in sorted(f["per_entrance"].items()):
        lines.append(f"  {line:<16} in {n['entries']:>9,}  out {n['exits']:>9,}")
    pen = v["penetration"]
    lines += ["", f"Visits (app users, consented): {v['identified_visits']:,} by {v['identities']:,} people; "
              f"dwell median {v['dwell_median_min'] or 0:.0f} min, store stay median "
              f"{v['store_dwell_median_min'] or 0:.1f} min, bounce {_pct(v['bounce_rate'])}",
              f"  repeat-visit rate 7 d {_pct(v['repeat_7d']['rate'])}, 30 d {_pct(v['repeat_30d']['rate'])}; "
              f"first-month repeat {_pct(v['first_month_repeat']['rate'])}; new {v['new_vs_returning']['new']:,} / "
              f"returning {v['new_vs_returning']['returning']:,}",
              f"  penetration {_pct(pen['penetration'])} of the catchment "
              f"(≈{(pen['unique_visitors'] or 0):,.0f} unique visitors)", "",
              "Stores (top 10 by entries): entries, conversion, spend per visitor, capture rate"]
    for s in sorted(report["stores"], key=lambda s: -s["entries"])[:10]:
        lines.append(f"  {s['store']:<7} {s['name'][:26]:<26} {s['entries']:>8,}  {_pct(s['conversion']):>8}  "
                     f"{(s['spend_per_visitor'] or 0):>8.1f}  {_pct(s['capture_rate']):>8}")
    flows = ", ".join(f"{r['from']}→{r['to']} {_pct(r['share'])}" for r in report["floor_flows"][:6])
    lines += ["", f"Floor-to-floor moves between shops (identified visits): {flows or '—'}"]
    hot = [z["zone"] for z in report["hot_cold_zones"] if z["label"] == "hot"]
    cold = [z["zone"] for z in report["hot_cold_zones"] if z["label"] == "cold"]
    lines += ["", f"Hot zones: {', '.join(hot) or '—'}; cold zones: {', '.join(cold) or '—'}", "",
              "Store pairs visited together (lift), with suggestions:"]
    for s in report["adjacency"]["suggestions"][:8]:
        lines.append(f"  {s['names'][0]} + {s['names'][1]}: lift {s['lift']} ({s['together']} visits) — "
                     f"{s['suggestion']}")
    lines += ["", f"Members: {_pct(m['member_share_of_transactions'])} of transactions, "
              f"{_pct(m['member_share_of_sales'])} of sales; lifecycle {m['lifecycle']}; "
              f"VIP arrivals {m['vip_arrivals']}; tags {m['tags']}", ""]
    for c in report["campaigns"]:
        if "uplift" not in c:
            lines.append(f"Campaign {c['id']}: {c.get('problem', 'no estimate')}")
            continue
        u = c["uplift"]
        lines.append(f"Campaign {c['id']} ({c['first_day']} .. {c['last_day']}): uplift {_pct(u['point'])} "
                     f"[{_pct(u['lo'])}, {_pct(u['hi'])}] at {u['level']:.0%} ({u['method']}); "
                     f"{c['attributed_transactions']:,} transactions, {c['attributed_sales']:,.2f} sales and "
                     f"{c['attributed_members']} members attributed")
    return "\n".join(lines) + "\n"
