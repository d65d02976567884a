"""How well estimated people track counted occupancy on the real lab capture, beside the naive baselines.

    .venv/bin/python bench/wifi_people.py

Data: probe-request-project, 2024-03-14 (an ESP32 sniffer in a university lab, 14:00-24:00; the CSV's ``occupancy``
column is the number of people in the room). Calibration (people = a x devices + b) is fitted on the even local
hours only; every figure printed is on the odd hours, held out. Then the same evaluation for a grid of estimator
settings, to show how sensitive the result is to them (the defaults are marked).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from edge.privacy import DeviceKeyer
from edge.wifi.calibration import evaluate, run_capture
from edge.wifi.devices import EstimatorConfig

DATA = Path(os.environ.get("MALLSENSE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LAB = DATA / "wifi" / "probe-request-project"
TZ = "Europe/Prague"


def held_out(hour: pd.Timestamp) -> bool:
    return hour.hour % 2 == 1


def run(config: EstimatorConfig):
    keyer = DeviceKeyer(b"evaluation-secret", site="lab", tz=TZ)
    capture = run_capture([LAB / "PCAP_position_1_sc6-61_2024-03-14_anonymized.pcap"], keyer, config)
    truth = pd.read_csv(LAB / "CSV_position_1_sc6-61_2024-03-14_ver-99.csv", sep=";").sort_values("idx")
    counts = pd.DataFrame({"ts_ms": capture.sightings.ts_ms.to_numpy(), "people": truth.occupancy.to_numpy()})
    return capture, evaluate(capture, counts, held_out, TZ)


def main() -> None:
    start = time.perf_counter()
    capture, ev = run(EstimatorConfig())
    print(f"{capture.stats.probes} probe requests, {capture.sightings.dev.nunique()} distinct keys "
          f"({capture.sightings[capture.sightings.rand].dev.nunique()} randomized); evaluated in "
          f"{time.perf_counter() - start:.1f} s")
    print(f"calibration on even hours: people = {ev.a:.3f} x devices + {ev.b:.2f}")
    print(f"\nheld-out (odd hours); mean occupancy in occupied hours {ev.mean_occupied:.1f}")
    print(f"{'method':<34}{'5-min MAE':>10}{'r':>7}{'hourly MAE':>12}{'r':>7}{'MAE/mean':>10}")
    names = {"estimate": "estimate (mallsense)", "all_addresses": "baseline: all distinct addresses",
             "stable_addresses": "baseline: non-randomized only"}
    for key, label in names.items():
        five, hour = ev.per_interval[key], ev.per_hour[key]
        print(f"{label:<34}{five.mae:>10.2f}{five.corr:>7.3f}{hour.mae:>12.2f}{hour.corr:>7.3f}"
              f"{hour.mae / ev.mean_occupied:>10.1%}")
    print("\nheld-out hours:")
    print(ev.table.round(2).to_string())

    print("\nsensitivity (held-out hourly MAE, people):")
    print(f"{'min_rssi_dbm':>12}{'chain_gap_s':>12}{'max_seq_step':>13}{'hourly MAE':>12}{'5-min r':>9}")
    base = EstimatorConfig()
    for rssi, gap, step in itertools.product([None, -80, -75, -70], [30.0, 60.0, 120.0], [64, 256, 1024]):
        cfg = replace(base, min_rssi_dbm=rssi, chain_gap_s=gap, max_seq_step=step)
        _, e = run(cfg)
        mark = "  <- default" if cfg == base else ""
        print(f"{rssi!s:>12}{gap:>12.0f}{step:>13}{e.per_hour['estimate'].mae:>12.2f}"
              f"{e.per_interval['estimate'].corr:>9.3f}{mark}")


if __name__ == "__main__":
    main()
