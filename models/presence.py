"""Visits and store stays of identified devices, from their sightings (pure functions over DataFrames).

- **visit**: one identity's presence in the mall, sessionized with a gap timeout: sightings of a device closer than
  ``gap`` to the previous one belong to the same visit.
- **store stay**: a run of a visit's sightings placed in the same store. Each advertisement is placed where it was
  heard loudest: in a store when that is the scanner inside the store (the shop walls attenuate it elsewhere), in the
  mall's common areas otherwise. A stay needs ``min_sightings`` sightings (a phone walking past a shop front is heard
  once or not at all); a gap longer than ``stay_gap`` or a sighting placed elsewhere ends it.
- **dwell**: time between the first and last sighting of a stay (or of a visit, for the time in the mall).

Sightings are a DataFrame with columns ``ts`` (int64 ms), ``dev``, ``sensor`` and ``rssi``; one advertisement heard by
several scanners shows up once per scanner with the same ``ts``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VISIT_GAP_S = 30 * 60
STAY_GAP_S = 60
MIN_STAY_SIGHTINGS = 3
REJOIN_S = 5 * 60  # a stay interrupted for less than this, with no other shop in between, continues
SMOOTH_HALF_WIDTH = 2  # placements are smoothed by the most common place among 2·2+1 consecutive advertisements

VISIT_COLUMNS = ["dev", "visit", "start", "end", "sightings"]
STAY_COLUMNS = ["dev", "visit", "store", "start", "end", "sightings"]


def placed(sightings: pd.DataFrame, store_of_sensor: dict[str, str]) -> pd.DataFrame:
    """One row per advertisement (dev, ts): the loudest scanner's store (``""`` for the common areas)."""
    if sightings.empty:
        return pd.DataFrame({"dev": pd.Series(dtype=object), "ts": pd.Series(dtype="int64"),
                             "store": pd.Series(dtype=object)})
    # ties in RSSI (whole dBm) go to the first sensor id, so the result never depends on the rows' order
    loudest = sightings.sort_values(["dev", "ts", "rssi", "sensor"], ascending=[True, True, False, True],
                                    kind="stable")
    loudest = loudest.drop_duplicates(["dev", "ts"], keep="first")
    store = loudest["sensor"].map(store_of_sensor).fillna("")
    return pd.DataFrame({"dev": loudest["dev"].to_numpy(), "ts": loudest["ts"].to_numpy(dtype="int64"),
                         "store": store.to_numpy()})


def smoothed(points: pd.DataFrame, half_width: int = SMOOTH_HALF_WIDTH) -> pd.DataFrame:
    """Placements (sorted by dev, ts) replaced by the most common place of each one's neighbourhood of the same device.

    Signal noise makes the loudest scanner flicker between a shop and the corridor (or the next shop) for single
    advertisements; a centred moving mode over ``2 * half_width + 1`` advertisements removes those flickers while a
    real move, which lasts, survives. Ties keep the advertisement's own place.
    """
    if points.empty or half_width <= 0:
        return points
    codes, labels = pd.factorize(points["store"])
    dev_codes = pd.factorize(points["dev"])[0]
    n = len(codes)
    window = []
    for k in range(-half_width, half_width + 1):
        shifted = np.full(n, -1, dtype=np.int64)
        same_dev = np.full(n, False)
        if k < 0:
            shifted[-k:], same_dev[-k:] = codes[:k], dev_codes[-k:] == dev_codes[:k]
        elif k > 0:
            shifted[:-k], same_dev[:-k] = codes[k:], dev_codes[:-k] == dev_codes[k:]
        else:
            shifted, same_dev = codes.astype(np.int64), np.full(n, True)
        window.append(np.where(same_dev, shifted, -1))
    stack = np.vstack(window)  # (2h+1, n)
    votes = np.vstack([(stack == stack[j]).sum(axis=0) for j in range(len(window))])
    votes[stack < 0] = -1
    own = votes[half_width]
    best = votes.argmax(axis=0)
    choice = np.where(votes[best, np.arange(n)] > own, stack[best, np.arange(n)], codes)
    out = points.copy()
    out["store"] = np.asarray(labels, dtype=object)[choice]
    return out


def _runs(keys: list[np.ndarray], ts: np.ndarray, gap_ms: int) -> np.ndarray:
    """Run number of each row (sorted by keys then ts): a new run where a key changes or ts jumps more than gap."""
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.zeros(len(ts), dtype=bool)
    new[0] = True
    for k in keys:
        new[1:] |= k[1:] != k[:-1]
    new[1:] |= np.diff(ts) > gap_ms
    return np.cumsum(new) - 1


def visits(points: pd.DataFrame, gap_s: float = VISIT_GAP_S) -> tuple[pd.DataFrame, np.ndarray]:
    """Sessionize placed sightings (sorted by dev, ts) into visits; also returns each row's visit number."""
    if points.empty:
        return pd.DataFrame(columns=VISIT_COLUMNS), np.zeros(0, dtype=np.int64)
    dev = points["dev"].to_numpy()
    ts = points["ts"].to_numpy(dtype="int64")
    run = _runs([dev], ts, int(gap_s * 1000))
    frame = pd.DataFrame({"dev": dev, "visit": run, "ts": ts})
    out = frame.groupby("visit", sort=True).agg(dev=("dev", "first"), start=("ts", "min"), end=("ts", "max"),
                                                 sightings=("ts", "size")).reset_index()
    return out[VISIT_COLUMNS], run


def stays(points: pd.DataFrame, visit_of_row: np.ndarray, *, gap_s: float = STAY_GAP_S,
          min_sightings: int = MIN_STAY_SIGHTINGS) -> pd.DataFrame:
    """Store stays of placed sightings (sorted by dev, ts), with the visit each belongs to."""
    if points.empty:
        return pd.DataFrame(columns=STAY_COLUMNS)
    store = points["store"].to_numpy()
    ts = points["ts"].to_numpy(dtype="int64")
    run = _runs([visit_of_row, store], ts, int(gap_s * 1000))
    frame = pd.DataFrame({"dev": points["dev"].to_numpy(), "visit": visit_of_row, "store": store, "run": run, "ts": ts})
    frame = frame[frame["store"] != ""]
    out = frame.groupby("run", sort=True).agg(dev=("dev", "first"), visit=("visit", "first"), store=("store", "first"),
                                               start=("ts", "min"), end=("ts", "max"),
                                               sightings=("ts", "size")).reset_index(drop=True)
    out = out[out["sightings"] >= min_sightings][STAY_COLUMNS].reset_index(drop=True)
    return rejoined(out)


def rejoined(stays_: pd.DataFrame, rejoin_s: float = REJOIN_S) -> pd.DataFrame:
    """Stays of one visit in the same shop less than ``rejoin_s`` apart merged into one; stays in other shops that
    then lie wholly inside a merged stay dropped.

    A big shop's far corner can be out of its scanner's reach for a minute, and a phone by the shop's side wall can
    be heard loudest by the next shop's scanner for a few advertisements: neither is a new visit to a shop.
    """
    if len(stays_) < 2:
        return stays_
    ordered = stays_.sort_values(["visit", "store", "start"], kind="stable")
    visit = ordered["visit"].to_numpy()
    store = ordered["store"].to_numpy()
    start = ordered["start"].to_numpy(dtype="int64")
    end = ordered["end"].to_numpy(dtype="int64")
    cont = np.zeros(len(ordered), dtype=bool)
    cont[1:] = (visit[1:] == visit[:-1]) & (store[1:] == store[:-1]) & (start[1:] - end[:-1] <= rejoin_s * 1000)
    merged = ordered.assign(group=np.cumsum(~cont)).groupby("group", sort=False).agg(
        dev=("dev", "first"), visit=("visit", "first"), store=("store", "first"), start=("start", "min"),
        end=("end", "max"), sightings=("sightings", "sum"))
    merged = merged.sort_values(["visit", "start", "end"], ascending=[True, True, False], kind="stable")
    # a stay inside an earlier-starting stay of the same visit (its end before that stay's end) is dropped
    reach = merged.groupby("visit", sort=False)["end"].transform(lambda e: e.cummax().shift(1))
    inside = reach.notna() & (merged["end"] <= reach)
    return merged[~inside].reset_index(drop=True)[STAY_COLUMNS]


def presence(sightings: pd.DataFrame, store_of_sensor: dict[str, str], *, visit_gap_s: float = VISIT_GAP_S,
             stay_gap_s: float = STAY_GAP_S, min_sightings: int = MIN_STAY_SIGHTINGS,
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Visits and store stays of the devices in ``sightings`` (see the module's definitions)."""
    points = smoothed(placed(sightings, store_of_sensor))
    v, visit_of_row = visits(points, visit_gap_s)
    s = stays(points, visit_of_row, gap_s=stay_gap_s, min_sightings=min_sightings)
    return v, s
