"""The simulator's ground truth, written next to what it published so tests can score every metric.

Files in the truth folder: ``members.csv`` (the CRM export) and ``transactions.csv`` (the POS export), both in the
import schemas of ``ingest/imports.py``; ``visits.csv``, ``crossings.csv`` (every true crossing and whether the
camera published it) and ``summary.json`` (``published_crossings``,
``true_crossings``, visitors per day, campaign truth, time range).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from edge.privacy import DeviceKeyer
from mallsense.site import Site
from simulator.sensing import Sensing
from simulator.world import DayPlan, Member


class TruthWriter:
    def __init__(self, folder: Path, site: Site, members: list[Member], keyer: DeviceKeyer | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.site = folder, site
        with open(folder / "members.csv", "w", newline="") as f:
            w = csv.writer(f)
            # the CRM export, in the import schema of ingest/imports.py
            w.writerow(["member_id", "joined", "tier", "consent_app", "consent_wifi", "device_key"])
            for m in members:
                key = keyer.stable_key(m.member_id.encode()) if keyer and m.app else ""
                w.writerow([m.member_id, m.joined.isoformat(), m.tier, int(m.app), 0, key])
        self._files = {name: open(folder / f"{name}.csv", "w", newline="")  # noqa: SIM115 - closed in close()
                       for name in ("visits", "crossings", "transactions")}
        self._csv = {name: csv.writer(f) for name, f in self._files.items()}
        self._csv["visits"].writerow(["visit_id", "person", "member_id", "app", "phone", "randomized_mac",
                                      "entrance_in", "entrance_out", "t_in", "t_out", "campaign", "stores"])
        self._csv["crossings"].writerow(["ts_ms", "line", "dir", "visit_id", "published"])
        # the POS export, in the import schema of ingest/imports.py
        self._csv["transactions"].writerow(["txn_id", "ts", "store_id", "amount", "member_id"])
        self.published: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
        self.true: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})
        self.per_day: dict[str, int] = {}
        self.campaigns: dict[str, dict] = {}
        self.t_min: int | None = None
        self.t_max: int | None = None

    def add_day(self, plan: DayPlan, sensing: Sensing) -> None:
        for v in plan.visits:
            stores = ";".join(f"{sid}:{(t1 - t0) // 1000}" for sid, t0, t1 in v.stores)
            self._csv["visits"].writerow([v.visit_id, v.person, v.member_id or "", int(bool(v.app_id)),
                                          v.phone or "", int(v.randomized_mac), v.entrance_in, v.entrance_out,
                                          v.t_in, v.t_out, v.campaign or "", stores])
        for row in sensing.crossing_log:
            self._csv["crossings"].writerow([row[0], row[1], row[2], row[3], row[4]])
            self.t_min = row[0] if self.t_min is None else min(self.t_min, row[0])
            self.t_max = row[0] if self.t_max is None else max(self.t_max, row[0])
        tz = self.site.site.tz
        for t in plan.transactions:
            ts = datetime.fromtimestamp(t.ts / 1000, tz).isoformat(timespec="milliseconds")
            self._csv["transactions"].writerow([t.txn_id, ts, t.store_id, f"{t.amount:.2f}", t.member_id or ""])
        for source, target in ((sensing.published_crossings, self.published), (sensing.true_crossings, self.true)):
            for line, dirs in source.items():
                for d, n in dirs.items():
                    target[line][d] += n
        self.per_day[plan.day.isoformat()] = len(plan.visits)
        uplift = self.site.simulation.campaign_uplift
        for cid, extra in plan.campaign_extra.items():
            entry = self.campaigns.setdefault(cid, {"true_uplift": uplift.get(cid, 0.0), "extra_visits": 0})
            entry["extra_visits"] += extra

    def close(self, observations: int) -> dict:
        for f in self._files.values():
            f.close()
        summary = {
            "site": self.site.site.id,
            "published_crossings": {k: dict(v) for k, v in sorted(self.published.items())},
            "true_crossings": {k: dict(v) for k, v in sorted(self.true.items())},
            "visitors_per_day": self.per_day,
            "campaigns": self.campaigns,
            "observations": observations,
            "sim_start": self.t_min,
            "sim_end": self.t_max,
        }
        (self.folder / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
