"""Stores and zones: traffic, capture, conversion, spend, hot and cold (pure functions over counts).

- **store visitors**: entries through the store's door counter.
- **capture rate**: store entries / passers-by in the corridor zone in front of it (people the corridor's cameras
  saw), per day and summed over the period.
- **conversion**: transactions / store visitors; **spend per visitor**: sales / store visitors.
- **hot and cold zones**: a zone's density (mean people per m² over opening hours) against the median of the mall's
  zones: hot at 1.5× the median or more, cold at 0.5× or less. Shops are ranked the same way on entries per m².
"""

from __future__ import annotations

import pandas as pd

from mallsense.site import Site

HOT = 1.5
COLD = 0.5


def store_performance(site: Site, doors: pd.DataFrame, sales: pd.DataFrame,
                      passers: pd.Series | None = None) -> pd.DataFrame:
    """Per store over the period: entries, transactions, sales, conversion, spend per visitor, capture rate.

    Args:
        doors: :func:`models.history.line_days` of the store doors.
        sales: :func:`models.history.sales` (transactions and sales per day and store).
        passers: people seen per corridor zone over the period (index: zone id), for the capture rate.
    """
    entries = doors.groupby("line")["entries"].sum()
    per_store = sales.groupby("store_id")[["transactions", "sales"]].sum()
    rows = []
    for store in site.stores:
        n_in = int(entries.get(store.id, 0))
        n_tx = int(per_store["transactions"].get(store.id, 0))
        amount = float(per_store["sales"].get(store.id, 0.0))
        front = passers.get(store.front_zone) if passers is not None and store.front_zone else None
        rows.append({
            "store": store.id, "name": store.name, "category": store.category, "floor":
                site.zone_by_id[store.zone].floor, "area_m2": store.area_m2, "entries": n_in,
            "transactions": n_tx, "sales": round(amount, 2),
            "conversion": n_tx / n_in if n_in else float("nan"),
            "spend_per_visitor": amount / n_in if n_in else float("nan"),
            "capture_rate": n_in / front if front else float("nan"),
            "entries_per_m2": n_in / store.area_m2,
        })
    return pd.DataFrame(rows)


def passers_by_zone(site: Site, people: pd.DataFrame) -> pd.Series:
    """People seen per zone over the period, from :func:`models.history.camera_people` (a camera's zones share it)."""
    per_sensor = people.groupby("sensor")["people"].sum()
    out: dict[str, int] = {}
    for sensor in site.sensors:
        if sensor.kind == "camera" and sensor.id in per_sensor.index:
            for zone in sensor.zones:
                out[zone] = out.get(zone, 0) + int(per_sensor[sensor.id])
    return pd.Series(out, dtype="int64")


def _rank(values: pd.Series) -> pd.DataFrame:
    median = float(values.median()) if len(values) else float("nan")
    ratio = values / median if median else values * float("nan")
    label = ratio.map(lambda r: "hot" if r >= HOT else "cold" if r <= COLD else "")
    return pd.DataFrame({"value": values, "vs_median": ratio, "label": label})


def hot_cold_zones(site: Site, occupancy: pd.DataFrame) -> pd.DataFrame:
    """Zones with occupancy sensing: mean people per m² over opening hours against the median zone."""
    areas = {z.id: z.area_m2 for z in site.zones}
    occ = occupancy[occupancy["zone"].isin(areas)].set_index("zone")
    density = occ["mean_count"].astype(float) / occ.index.map(areas)
    out = _rank(density.rename("density"))
    out.insert(0, "floor", [site.zone_by_id[z].floor for z in out.index])
    out.insert(1, "name", [site.zone_by_id[z].name for z in out.index])
    return out.rename(columns={"value": "people_per_m2"}).sort_values("vs_median", ascending=False)


def hot_cold_stores(performance: pd.DataFrame) -> pd.DataFrame:
    """Shops ranked by entries per m² against the median shop."""
    ranked = _rank(performance.set_index("store")["entries_per_m2"])
    ranked.insert(0, "name", performance.set_index("store")["name"])
    return ranked.rename(columns={"value": "entries_per_m2"}).sort_values("vs_median", ascending=False)


def cold_next_to_hot(site: Site, zones: pd.DataFrame) -> list[dict[str, str]]:
    """Cold zones that share a floor with a hot zone: where to extend the hot zone's draw (events, wayfinding)."""
    hot = zones[zones["label"] == "hot"]
    cold = zones[zones["label"] == "cold"]
    return [{"cold": c, "hot": h, "floor": str(cold.loc[c, "floor"])}
            for c in cold.index for h in hot.index if cold.loc[c, "floor"] == hot.loc[h, "floor"]]
