"""Calibrating and checking the people estimate against counted occupancy (manual counts, a door counter, a study).

The operator gives a capture and counts ``(time, people present)``; this module runs the same parsing, keying and
estimation as the collector, fits ``people = a * devices + b`` on the intervals it is told to calibrate on, and
reports on the others, beside two naive baselines: every distinct source address, and distinct non-randomized
addresses only. The hourly figures compare the mean of the interval estimates in an hour with the mean count in it;
the baselines count distinct addresses over the whole hour, as a naive system would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from edge.privacy import DeviceKeyer
from edge.wifi.capture import read_capture
from edge.wifi.collector import keyed_sighting
from edge.wifi.devices import DeviceEstimator, EstimatorConfig, calibrate
from edge.wifi.frames import FrameStats, parse_frame


@dataclass(frozen=True)
class CaptureRun:
    sightings: pd.DataFrame  # ts_ms, dev, rand, rssi: one row per probe (keys only)
    intervals: pd.DataFrame  # start_ms, devices, keys, fixtures, people (uncalibrated config)
    stats: FrameStats


def run_capture(paths: Iterable[Path], keyer: DeviceKeyer, config: EstimatorConfig) -> CaptureRun:
    """Parse, key and estimate like the collector does, keeping what the evaluation needs."""
    stats = FrameStats()
    estimator = DeviceEstimator(config)
    rows, closed = [], []
    for path in paths:
        for ts_us, frame in read_capture(path):
            probe = parse_frame(frame, ts_us, stats)
            if probe is None:
                continue
            sighting = keyed_sighting(keyer, probe)
            rows.append((sighting.ts_ms, sighting.dev, sighting.rand, sighting.rssi))
            closed += estimator.add(sighting)
    last = estimator.flush()
    if last is not None:
        closed.append(last)
    sightings = pd.DataFrame(rows, columns=["ts_ms", "dev", "rand", "rssi"])
    intervals = pd.DataFrame([(e.start_ms, e.devices, e.keys, e.fixtures, e.people) for e in closed],
                             columns=["start_ms", "devices", "keys", "fixtures", "people"])
    return CaptureRun(sightings, intervals, stats)


@dataclass(frozen=True)
class Scores:
    mae: float
    corr: float
    n: int


@dataclass(frozen=True)
class Evaluation:
    a: float
    b: float
    per_interval: dict[str, Scores]  # method -> scores on held-out intervals
    per_hour: dict[str, Scores]  # method -> scores on held-out hours
    mean_occupied: float  # mean count over held-out hours with anyone present
    table: pd.DataFrame  # per held-out hour: truth, estimate, baselines


def _scores(pred: pd.Series, truth: pd.Series) -> Scores:
    err = (pred - truth).abs()
    corr = float(np.corrcoef(pred, truth)[0, 1]) if len(pred) > 2 and pred.std() > 0 and truth.std() > 0 else 0.0
    return Scores(float(err.mean()), corr, len(pred))


def evaluate(run: CaptureRun, counts: pd.DataFrame, held_out: Callable[[pd.Timestamp], bool],
             tz: str) -> Evaluation:
    """Calibrate on intervals whose local hour is not ``held_out``; score every method on those that are.

    ``counts`` has ``ts_ms`` and ``people`` (a count at that time, e.g. per frame or per manual tally).
    """
    step = int(run.intervals.start_ms.iloc[1] - run.intervals.start_ms.iloc[0]) if len(run.intervals) > 1 else 300_000
    truth = counts.groupby(counts.ts_ms // step * step).people.mean()
    iv = run.intervals.assign(truth=truth.reindex(run.intervals.start_ms).ffill().bfill().to_numpy())
    iv["local"] = pd.to_datetime(iv.start_ms, unit="ms", utc=True).dt.tz_convert(tz)
    iv["hour"] = iv.local.dt.floor("h")
    iv["held_out"] = iv.hour.map(held_out).astype(bool)
    cal = iv[~iv.held_out]
    a, b = calibrate(cal.devices.to_numpy(), cal.truth.to_numpy())
    iv["estimate"] = np.where(iv.devices > 0, np.clip(a * iv.devices + b, 0, None), 0.0)
    test = iv[iv.held_out]

    s = run.sightings.assign(hour=pd.to_datetime(run.sightings.ts_ms, unit="ms", utc=True).dt.tz_convert(tz)
                             .dt.floor("h"))
    c = counts.assign(hour=pd.to_datetime(counts.ts_ms, unit="ms", utc=True).dt.tz_convert(tz).dt.floor("h"))
    hours = pd.DataFrame({"truth": c.groupby("hour").people.mean(),
                          "estimate": iv.groupby("hour").estimate.mean(),
                          "all_addresses": s.groupby("hour").dev.nunique(),
                          "stable_addresses": s[~s.rand].groupby("hour").dev.nunique()}).fillna(0.0)
    hours = hours[hours.index.map(held_out).astype(bool)]
    naive_iv = s.assign(start_ms=s.ts_ms // step * step)
    per_interval = {
        "estimate": _scores(test.estimate, test.truth),
        "all_addresses": _scores(naive_iv.groupby("start_ms").dev.nunique().reindex(test.start_ms, fill_value=0)
                                 .set_axis(test.index), test.truth),
        "stable_addresses": _scores(naive_iv[~naive_iv.rand].groupby("start_ms").dev.nunique()
                                    .reindex(test.start_ms, fill_value=0).set_axis(test.index), test.truth),
    }
    per_hour = {m: _scores(hours[m], hours.truth) for m in ("estimate", "all_addresses", "stable_addresses")}
    occupied = hours.truth[hours.truth > 0]
    return Evaluation(a, b, per_interval, per_hour, float(occupied.mean()) if len(occupied) else 0.0, hours)


def calibrated(config: EstimatorConfig, ev: Evaluation) -> EstimatorConfig:
    """The estimator configuration with the fitted calibration (for the sensor's config file)."""
    return replace(config, people_per_device=round(ev.a, 4), people_offset=round(ev.b, 3))
