"""The site model: one mall described in a YAML file (floors, zones, stores, entrances, sensors, beacons, campaigns).

Coordinates are metres in each floor's own frame (x to the right, y up on the plan). Load a file with
:func:`load_site`; every problem is reported with file, line and field (see :mod:`mallsense.yamlconf`).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, time
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from mallsense.contract import ID_PATTERN
from mallsense.geometry import polygon_area
from mallsense.yamlconf import Loc, validate_file

Ident = Annotated[str, Field(pattern=ID_PATTERN, description="lower-case id: a-z 0-9 _ . - (max 64)")]
Point = tuple[float, float]
Polygon = Annotated[list[Point], Field(min_length=3, description="closed ring of [x, y] metres; last≠first")]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SITE = "demo-mall.yaml"


def config_dir() -> Path:
    return Path(os.environ.get("MALLSENSE_CONFIG", REPO_ROOT / "config"))


def default_site_path() -> Path:
    return config_dir() / DEFAULT_SITE


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneKind(StrEnum):
    ENTRANCE = "entrance"
    CORRIDOR = "corridor"
    STORE = "store"
    ATRIUM = "atrium"
    FOOD_COURT = "food_court"
    PARKING = "parking"
    SERVICE = "service"


class SiteInfo(_Model):
    id: Ident
    name: str = Field(min_length=1, description="display name of the mall")
    timezone: str = Field(description="IANA zone, e.g. Asia/Shanghai")
    catchment_population: int = Field(gt=0, description="people living in the catchment area (for penetration)")
    privacy_mode: Literal["strict", "pseudonymous"] = Field(
        default="strict", description="strict: device keys rotate daily; pseudonymous: every rotation_days"
    )
    rotation_days: int = Field(default=1, ge=1, le=90, description="device key rotation window in days")
    opens: time = Field(default=time(10, 0), description="opening time, local")
    closes: time = Field(default=time(22, 0), description="closing time, local")
    occupancy_alert: int | None = Field(
        default=None, gt=0, description="alert operators when this many people are inside (fire code, comfort)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _hours_and_rotation(self) -> SiteInfo:
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        if self.privacy_mode == "strict" and self.rotation_days != 1:
            raise ValueError("privacy_mode strict rotates device keys daily: rotation_days must be 1")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Floor(_Model):
    id: Ident
    name: str
    level: int = Field(description="0 = street level, negative below")
    outline: Polygon
    image: str | None = Field(default=None, description="optional background image, relative to the site file")


class Zone(_Model):
    id: Ident
    floor: Ident
    kind: ZoneKind
    name: str = ""
    polygon: Polygon

    @property
    def area_m2(self) -> float:
        return polygon_area(self.polygon)


class Store(_Model):
    id: Ident
    name: str = Field(min_length=1)
    category: str = Field(min_length=1, description="e.g. fashion, beauty, cafe, electronics, supermarket")
    anchor: bool = Field(default=False, description="anchor tenant (department store, cinema, supermarket)")
    area_m2: float = Field(gt=0)
    zone: Ident = Field(description="zone of kind store holding the shop floor")
    front_zone: Ident | None = Field(default=None, description="corridor zone in front of it (capture rate)")


class Entrance(_Model):
    id: Ident
    name: str
    floor: Ident
    zone: Ident = Field(description="zone of kind entrance (or parking) just inside the door")
    line: tuple[Point, Point] = Field(description="counting line on the floor plan")
    inside: Point = Field(description="a point on the mall side of the line: crossing towards it counts as 'in'")
    external: bool = Field(default=True, description="a door to the street; false for car-park lifts etc.")


class Homography(_Model):
    image: list[Point] = Field(min_length=4, description="pixel points in the camera image")
    floor: list[Point] = Field(min_length=4, description="the same points on the floor plan, metres")

    @model_validator(mode="after")
    def _same_length(self) -> Homography:
        if len(self.image) != len(self.floor):
            raise ValueError("image and floor need the same number of points")
        return self


class Sensor(_Model):
    id: Ident
    kind: Literal["camera", "wifi", "ble"]
    node: Ident = Field(description="edge node that runs this sensor's collector")
    floor: Ident
    position: Point
    lines: list[Ident] = Field(
        default_factory=list,
        description="camera: the lines it counts: entrance ids (mall footfall) or store ids (that store's door)",
    )
    zones: list[Ident] = Field(default_factory=list, description="zones it covers (occupancy, sightings)")
    range_m: float = Field(default=25.0, gt=0, le=200, description="wifi/ble: usable radius")
    homography: Homography | None = None


class Beacon(_Model):
    id: Ident
    uuid: str = Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    major: int = Field(ge=0, le=65535)
    minor: int = Field(ge=0, le=65535)
    floor: Ident
    position: Point
    tx_power: int = Field(default=-59, ge=-100, le=0, description="calibrated RSSI at 1 m, dBm")


class Campaign(_Model):
    id: Ident
    name: str
    start: datetime = Field(description="local time")
    end: datetime = Field(description="local time")
    target_stores: list[Ident] = Field(min_length=1)
    control_stores: list[Ident] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> Campaign:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Simulation(_Model):
    """Parameters of the simulated mall (the embedded default); the simulator writes its ground truth."""

    daily_visitors: int = Field(default=18_000, gt=0, description="visitors on an average weekday")
    weekday_factors: list[float] = Field(
        default=[0.85, 0.8, 0.85, 0.95, 1.15, 1.6, 1.45], min_length=7, max_length=7, description="Mon..Sun"
    )
    stores_per_visit: float = Field(default=3.2, gt=0, description="mean stores entered per visit")
    member_share: float = Field(default=0.22, ge=0, le=1, description="visitors who are CRM members")
    app_share: float = Field(default=0.35, ge=0, le=1, description="members carrying the app (BLE)")
    wifi_share: float = Field(default=0.85, ge=0, le=1, description="visitors whose phone probes WiFi")
    randomized_mac_share: float = Field(default=0.9, ge=0, le=1)
    camera_miss_rate: float = Field(default=0.03, ge=0, lt=1, description="crossings the camera misses")
    purchase_probability: float = Field(default=0.3, ge=0, le=1, description="per store entered")
    members: int = Field(default=40_000, ge=0, description="size of the CRM member base")
    affinity: list[list[str]] = Field(
        default_factory=list, description="groups of store categories often visited together"
    )
    campaign_uplift: dict[str, float] = Field(
        default_factory=dict, description="campaign id -> true relative uplift of its target stores"
    )


class Site(_Model):
    site: SiteInfo
    floors: list[Floor] = Field(min_length=1)
    zones: list[Zone] = Field(min_length=1)
    stores: list[Store] = Field(default_factory=list)
    entrances: list[Entrance] = Field(min_length=1)
    sensors: list[Sensor] = Field(default_factory=list)
    beacons: list[Beacon] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)
    simulation: Simulation = Field(default_factory=Simulation)
    _path: Path | None = PrivateAttr(default=None)  # set by load_site

    @property
    def path(self) -> Path | None:
        """The file this site was loaded from (None if built in memory); floor images are relative to its folder."""
        return self._path

    # ------------------------------------------------------------------ lookups
    @cached_property
    def floor_by_id(self) -> dict[str, Floor]:
        return {f.id: f for f in self.floors}

    @cached_property
    def zone_by_id(self) -> dict[str, Zone]:
        return {z.id: z for z in self.zones}

    @cached_property
    def store_by_id(self) -> dict[str, Store]:
        return {s.id: s for s in self.stores}

    @cached_property
    def entrance_by_id(self) -> dict[str, Entrance]:
        return {e.id: e for e in self.entrances}

    @cached_property
    def sensor_by_id(self) -> dict[str, Sensor]:
        return {s.id: s for s in self.sensors}

    @property
    def nodes(self) -> list[str]:
        return sorted({s.node for s in self.sensors})

    def camera_for_line(self, line: str) -> Sensor | None:
        """The camera counting an entrance line or a store door (the line id is the entrance or store id)."""
        return next((s for s in self.sensors if s.kind == "camera" and line in s.lines), None)

    @cached_property
    def entrance_lines(self) -> list[str]:
        """Entrance ids whose door a camera counts: their crossings are the mall's footfall."""
        counted = {line for s in self.sensors if s.kind == "camera" for line in s.lines}
        return [e.id for e in self.entrances if e.id in counted]

    @cached_property
    def store_doors(self) -> list[str]:
        """Store ids whose door a camera counts: their crossings are store entries and exits."""
        counted = {line for s in self.sensors if s.kind == "camera" for line in s.lines}
        return [s.id for s in self.stores if s.id in counted]

    # ------------------------------------------------------------------ cross-field rules
    def reference_problems(self) -> list[tuple[Loc, str]]:
        """References between sections that a field validator cannot see, each with its location."""
        problems: list[tuple[Loc, str]] = []
        for section in ("floors", "zones", "stores", "entrances", "sensors", "beacons", "campaigns"):
            seen = Counter(item.id for item in getattr(self, section))
            for i, item in enumerate(getattr(self, section)):
                if seen[item.id] > 1:
                    problems.append(((section, i, "id"), f"duplicate id {item.id!r} in {section}"))

        def ref(loc: Loc, value: str | None, table: dict, what: str) -> None:
            if value is not None and value not in table:
                problems.append((loc, f"unknown {what} {value!r}"))

        floors, zones = self.floor_by_id, self.zone_by_id
        for i, z in enumerate(self.zones):
            ref(("zones", i, "floor"), z.floor, floors, "floor")
        for i, s in enumerate(self.stores):
            ref(("stores", i, "zone"), s.zone, zones, "zone")
            ref(("stores", i, "front_zone"), s.front_zone, zones, "zone")
            if s.zone in zones and zones[s.zone].kind != ZoneKind.STORE:
                problems.append((("stores", i, "zone"), f"zone {s.zone!r} is a {zones[s.zone].kind}, not a store"))
        for i, e in enumerate(self.entrances):
            ref(("entrances", i, "floor"), e.floor, floors, "floor")
            ref(("entrances", i, "zone"), e.zone, zones, "zone")
            (ax, ay), (bx, by) = e.line
            if abs((bx - ax) * (e.inside[1] - ay) - (by - ay) * (e.inside[0] - ax)) < 1e-9:
                problems.append((("entrances", i, "inside"), "the inside point lies on the line"))
        for i, s in enumerate(self.sensors):
            ref(("sensors", i, "floor"), s.floor, floors, "floor")
            for j, line in enumerate(s.lines):
                ref(("sensors", i, "lines", j), line, self.entrance_by_id | self.store_by_id, "entrance or store")
            for j, zone in enumerate(s.zones):
                ref(("sensors", i, "zones", j), zone, zones, "zone")
            if s.lines and s.kind != "camera":
                problems.append((("sensors", i, "lines"), "only cameras count lines"))
        for i, b in enumerate(self.beacons):
            ref(("beacons", i, "floor"), b.floor, floors, "floor")
        for i, c in enumerate(self.campaigns):
            for key in ("target_stores", "control_stores"):
                for j, store in enumerate(getattr(c, key)):
                    ref(("campaigns", i, key, j), store, self.store_by_id, "store")
        campaign_ids = {c.id for c in self.campaigns}
        for key in self.simulation.campaign_uplift:
            if key not in campaign_ids:
                problems.append((("simulation", "campaign_uplift", key), f"unknown campaign {key!r}"))
        return problems


def load_site(path: Path | str | None = None) -> Site:
    """Load and validate a site file (default: the demo mall). Raises ConfigError naming file, line and field."""
    path = Path(path) if path else default_site_path()
    site = validate_file(path, Site)
    site._path = path.resolve()
    return site
