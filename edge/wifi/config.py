"""An edge node's WiFi sensor settings (YAML, validated; errors name the file, line and field)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.wifi.devices import EstimatorConfig
from mallsense.contract import ID_PATTERN
from mallsense.yamlconf import sensor_entry


class WifiSensorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: str = Field(pattern=ID_PATTERN, description="the wifi sensor's id in the site file")
    interface: str | None = Field(default=None, description="monitor-mode interface for live capture, e.g. wlan1mon")
    channels: list[int] = Field(default=[1, 6, 11], min_length=1, description="channels to hop through")
    hop_interval_s: float = Field(default=0.5, gt=0, le=60, description="seconds on each channel")
    publish_sightings: bool = Field(default=True, description="publish every probe, or only interval estimates")
    opt_out_file: Path | None = Field(default=None, description="opt-out hashes (mallsense wifi-opt-out)")
    interval_s: int = Field(default=300, ge=10, le=3600, description="estimate interval")
    min_rssi_dbm: int | None = Field(default=-75, ge=-120, le=0, description="sensor range: weaker probes ignored")
    chain_gap_s: float = Field(default=60.0, gt=0, description="randomized addresses further apart are not linked")
    max_seq_step: int = Field(default=256, ge=1, le=4095, description="sequence-number step that links addresses")
    fixture_after_h: float = Field(default=3.0, gt=0, description="a stable address present this long is a fixture")
    people_per_device: float = Field(default=0.37, ge=0, description="calibration: people per estimated device")
    people_offset: float = Field(default=0.0, description="calibration: people at zero devices")

    def estimator(self) -> EstimatorConfig:
        return EstimatorConfig(interval_s=self.interval_s, min_rssi_dbm=self.min_rssi_dbm,
                               chain_gap_s=self.chain_gap_s, max_seq_step=self.max_seq_step,
                               fixture_after_s=self.fixture_after_h * 3600, people_per_device=self.people_per_device,
                               people_offset=self.people_offset)


class WifiEdgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wifi: list[WifiSensorConfig] = Field(min_length=1)


def load_wifi_config(path: Path | str | None, sensor: str) -> WifiSensorConfig:
    """The settings of ``sensor`` from an edge config file (defaults when no file is given)."""
    if path is None:
        return WifiSensorConfig(sensor=sensor)
    return sensor_entry(path, WifiEdgeFile, "wifi", sensor)
