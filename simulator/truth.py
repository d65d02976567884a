"""The simulator's ground truth, written next to what it publishes so tests can score every metric end to end.

Files in the truth folder:

``members.csv``       the CRM export (import schema of ``ingest/imports.py``): member_id, joined, tier,
                      consent_app, consent_wifi, device_key (the consented app's BLE key, empty without the app)
``transactions.csv``  the POS export (same schema source): txn_id, ts (ISO 8601, local offset), store_id, amount,
                      member_id
``visits.csv``        visit_id, person, member_id, tier, app, phone, randomized_mac, entrance_in, entrance_out,
                      t_in, t_out (ms), campaign, stores (``store:dwell_s;…`` in order)
``crossings.csv``     every true entrance-line crossing: ts_ms, line, dir, person, visit_id, published (0/1)
``summary.json``      published_crossings and true_crossings ({line: {"in": n, "out": n}}), visitors_per_day,
                      campaigns (true and realized uplift), sim_start / sim_end (ms), volumes
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.privacy import DeviceKeyer
from mallsense.site import Site
from simulator.members import Member
from simulator.sensing import CrossingTruth, Sensing
from simulator.world import DayPlan

_HEADERS = {
    "visits": ["visit_id", "person", "member_id", "tier", "app", "phone", "randomized_mac", "entrance_in",
               "entrance_out", "t_in", "t_out", "campaign", "stores"],
    "crossings": ["ts_ms", "line", "dir", "person", "visit_id", "published"],
    "transactions": ["txn_id", "ts", "store_id", "amount", "member_id"],
}


def _crossing_counts() -> defaultdict[str, dict[str, int]]:
    return defaultdict(lambda: {"in": 0, "out": 0})


class TruthWriter:
    """Streams the truth files of one run into ``folder`` (created); :meth:`close` writes the final summary.

    Args:
        folder: where the files go (``<outdir>/truth``).
        site: the simulated mall.
        members: the run's CRM base.
        keyer: the edge device keyer (for the members' consented app keys).
        run: parameters recorded in the summary (seed, scale, …).
    """

    def __init__(self, folder: Path, site: Site, members: list[Member], keyer: DeviceKeyer,
                 run: dict[str, Any] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.site = folder, site
        with open(folder / "members.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["member_id", "joined", "tier", "consent_app", "consent_wifi", "device_key"])
            for m in members:
                key = keyer.stable_key(m.member_id.encode()) if m.app else ""
                w.writerow([m.member_id, m.joined.isoformat(), m.tier, int(m.app), 0, key])
        self._files = {name: open(folder / f"{name}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
                       for name in _HEADERS}
        self._csv = {name: csv.writer(f) for name, f in self._files.items()}
        for name, header in _HEADERS.items():
            self._csv[name].writerow(header)
        self.published = _crossing_counts()
        self.true = _crossing_counts()
        self.visitors: dict[str, int] = {}
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.transactions = 0
        self.members = len(members)
        self.run = dict(run or {})

    def add_crossings(self, rows: Iterable[CrossingTruth]) -> None:
        w = self._csv["crossings"]
        for r in rows:
            w.writerow([r.ts, r.line, r.dir, r.person, r.visit_id, int(r.published)])

    def add_day(self, plan: DayPlan, sensing: Sensing, until_ms: int) -> None:
        """Record a simulated day: its visits and sales up to ``until_ms`` (all of them unless stopped early)."""
        visits = [v for v in plan.visits if v.t_in < until_ms]
        w = self._csv["visits"]
        for v in visits:
            stores = ";".join(f"{s.store}:{(s.t1 - s.t0) // 1000}" for s in v.stores)
            phone = v.phone
            w.writerow([v.visit_id, v.person, v.member_id or "", v.tier or "", int(v.app_id is not None),
                        phone.model if phone else "", int(bool(phone and phone.randomized_mac)), v.entrance_in,
                        v.entrance_out, v.t_in, v.t_out, v.campaign or "", stores])
        tz = self.site.site.tz
        w = self._csv["transactions"]
        for t in plan.transactions:
            if t.ts < until_ms:
                ts = datetime.fromtimestamp(t.ts / 1000, tz).isoformat(timespec="milliseconds")
                w.writerow([t.txn_id, ts, t.store_id, f"{t.amount:.2f}", t.member_id or ""])
                self.transactions += 1
        for source, target in ((sensing.published_crossings, self.published), (sensing.true_crossings, self.true)):
            for line, dirs in source.items():
                for d, n in dirs.items():
                    target[line][d] += n
        self.visitors[plan.day.isoformat()] = len(visits)
        for cid, c in plan.campaigns.items():
            entry = self.campaigns.setdefault(cid, {
                "true_uplift": c.true_uplift, "target_stores": self._targets(cid), "baseline_visits": 0,
                "extra_visits": 0, "target_visits": 0, "days": {}})
            entry["baseline_visits"] += c.baseline_visits
            entry["extra_visits"] += c.extra_visits
            entry["target_visits"] += c.target_visits
            entry["realized_uplift"] = round(entry["target_visits"] / entry["baseline_visits"] - 1, 6) \
                if entry["baseline_visits"] else 0.0
            entry["days"][plan.day.isoformat()] = {
                "baseline_visits": c.baseline_visits, "extra_visits": c.extra_visits,
                "target_visits": c.target_visits}
        for f in self._files.values():
            f.flush()

    def _targets(self, campaign_id: str) -> list[str]:
        return next((c.target_stores for c in self.site.campaigns if c.id == campaign_id), [])

    def summary(self, sim_start: int | None, sim_end: int | None, **volumes: Any) -> dict[str, Any]:
        """The summary so far (also written to ``summary.json``)."""
        summary = {
            "site": self.site.site.id,
            **self.run,
            "sim_start": sim_start,
            "sim_end": sim_end,
            "published_crossings": {k: dict(v) for k, v in sorted(self.published.items())},
            "true_crossings": {k: dict(v) for k, v in sorted(self.true.items())},
            "visitors_per_day": dict(self.visitors),
            "members": self.members,
            "transactions": self.transactions,
            "campaigns": self.campaigns,
            **volumes,
        }
        tmp = self.folder / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, self.folder / "summary.json")
        return summary

    def close(self) -> None:
        for f in self._files.values():
            f.close()
