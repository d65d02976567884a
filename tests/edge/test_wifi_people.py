"""People from probe requests on a real capture with counted occupancy (probe-request-project, 2024-03-14).

Calibration uses the even local hours only; every figure asserted is on the odd hours, held out. The two naive
baselines of the issue are computed in the same run: all distinct source addresses, and non-randomized ones only.
"""

from __future__ import annotations

import pandas as pd
import pytest

from edge.privacy import DeviceKeyer
from edge.wifi.calibration import evaluate, run_capture
from edge.wifi.devices import EstimatorConfig
from tests.conftest import shared_data

LAB = shared_data() / "wifi" / "probe-request-project"
TZ = "Europe/Prague"  # the lab's clock: the CSV's datetimes are local


def held_out(hour: pd.Timestamp) -> bool:
    return hour.hour % 2 == 1


@pytest.fixture(scope="module")
def lab_run():
    keyer = DeviceKeyer(b"evaluation-secret", site="lab", tz=TZ)
    run = run_capture([LAB / "PCAP_position_1_sc6-61_2024-03-14_anonymized.pcap"], keyer, EstimatorConfig())
    truth = pd.read_csv(LAB / "CSV_position_1_sc6-61_2024-03-14_ver-99.csv", sep=";").sort_values("idx")
    assert len(truth) == len(run.sightings), "the CSV has one row per probe request of the pcap"
    counts = pd.DataFrame({"ts_ms": run.sightings.ts_ms.to_numpy(), "people": truth.occupancy.to_numpy()})
    return run, evaluate(run, counts, held_out, TZ)


def test_the_naive_baselines_are_as_bad_as_the_issue_says(lab_run):
    run, _ = lab_run
    hourly = run.sightings.groupby(pd.to_datetime(run.sightings.ts_ms, unit="ms").dt.floor("h")).dev.nunique()
    assert hourly.max() > 20 * 17, "distinct addresses per hour overstate the 17 people present 20x and more"


def test_estimated_people_track_occupancy_on_held_out_hours(lab_run):
    _, ev = lab_run
    hour, five = ev.per_hour, ev.per_interval
    print(f"\nheld-out hours: estimate MAE {hour['estimate'].mae:.2f} r={hour['estimate'].corr:.3f}; "
          f"all addresses MAE {hour['all_addresses'].mae:.1f}; stable addresses MAE "
          f"{hour['stable_addresses'].mae:.2f}; mean occupancy {ev.mean_occupied:.1f}; "
          f"5-min MAE {five['estimate'].mae:.2f} r={five['estimate'].corr:.3f} (calibration a={ev.a:.3f} b={ev.b:.2f})")
    for scores in (hour, five):
        assert scores["estimate"].mae < scores["stable_addresses"].mae < scores["all_addresses"].mae
    assert hour["estimate"].mae <= 0.2 * ev.mean_occupied
    assert five["estimate"].corr >= 0.9 and hour["estimate"].corr >= 0.9
    assert hour["all_addresses"].mae > 100 and hour["stable_addresses"].mae > 3


def test_devices_that_never_leave_are_not_people(lab_run):
    """After 19:00 the lab is empty; its all-in-one PCs and a Raspberry Pi go on probing."""
    run, ev = lab_run
    empty = ev.table[ev.table.truth == 0]
    assert len(empty) >= 2 and (empty.stable_addresses >= 3).all(), "stationary devices keep probing at night"
    assert (empty.estimate < 1.0).all()
    assert run.intervals.fixtures.max() >= 5, "the PCs that probe all afternoon are recognised as fixtures"


def test_a_night_capture_with_nobody_present_estimates_nobody():
    keyer = DeviceKeyer(b"evaluation-secret", site="lab", tz=TZ)
    run = run_capture([LAB / "PCAP_position_1_sc6-61_2023-04-17_anonymized.pcap"], keyer,
                      EstimatorConfig(people_per_device=0.35, people_offset=0.6))
    assert len(run.sightings) == 511
    assert run.intervals.people.mean() < 0.5
