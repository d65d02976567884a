"""The neutral description of a floor plan, between the files and the site model: floors, units and openings
still in longitude/latitude, and what the plan's own category values say about a unit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mallsense.plan.overrides import Rule
from mallsense.plan.sources import LonLat, LonLatPolygon, RawFeature, is_opaque

#: IMDF unit categories → zone kind (a unit with an occupant is a store whatever its category). Sub-categories
#: (``restroom.female``) fall back to their parent. Categories not listed here are store categories.
IMDF_UNIT_KINDS: dict[str, str] = {
    **dict.fromkeys(("walkway", "walkway.island", "lobby", "footbridge", "ramp", "movingwalkway", "unenclosedarea",
                     "steps", "platform", "lounge", "waitingroom", "terrace", "recreation"), "corridor"),
    "opentobelow": "drop",  # a void over a lower floor: nobody walks there
    "parking": "parking",
    "foodservice": "food_court",
    **dict.fromkeys(("room", "unspecified", "movietheater", "theater", "auditorium", "fitnessroom", "retail"),
                    "store"),
    **dict.fromkeys(("restroom", "elevator", "escalator", "stairs", "storage", "nonpublic", "serverroom", "mailroom",
                     "kitchen", "structure", "column", "brick", "concrete", "drywall", "glass", "wood", "vegetation",
                     "shower", "office", "firstaid", "mothersroom", "phoneroom", "smokingarea", "privatelounge",
                     "road", "library", "classroom", "laboratory", "conferenceroom", "huddleroom", "fieldofplay"),
                    "service"),
}
ENTRANCE_OPENINGS = ("pedestrian", "pedestrian.principal", "pedestrian.transit")


def imdf_kind(category: str) -> str | None:
    """The zone kind of an IMDF unit category, trying parents of dotted sub-categories."""
    key = category.strip().lower()
    while key:
        if key in IMDF_UNIT_KINDS:
            return IMDF_UNIT_KINDS[key]
        key = key.rpartition(".")[0]
    return None


def normal_category(text: str) -> str:
    """A readable category as the site model writes them: lower case, words joined by ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_") or text.strip()


def property_rule(categories: list[str]) -> Rule | None:
    """What readable category values say: the most specific one names a zone kind or a store category."""
    for value in reversed(categories):
        if is_opaque(value):
            continue
        kind = imdf_kind(value)
        if kind == "store":
            return Rule(kind="store")
        if kind is not None:
            return Rule(kind=kind)
        if normal_category(value) != "floor":
            return Rule(kind="store", category=normal_category(value))
    return None


@dataclass(frozen=True, slots=True)
class FloorSource:
    """One plan to import: a plain GeoJSON floor (``floor`` names it, e.g. ``F1``) or an IMDF archive (all levels).

    ``image`` is an optional background (its extent is the floor frame's bounding box: (0, 0) to width × height),
    ``info`` a ``floor_info.json`` (``map_info.width``/``height`` in metres) to check the frame's scale against,
    ``level`` and ``name`` override what the plan says.
    """

    path: Path
    floor: str | None = None
    image: Path | None = None
    info: Path | None = None
    level: int | None = None
    name: str | None = None


@dataclass(slots=True)
class Unit:
    """A polygon feature that becomes a zone (and a store): its name, category values and what they say."""

    raw: RawFeature
    name: str
    categories: list[str]
    from_properties: Rule | None
    display: str = ""
    polygons: list[LonLatPolygon] = field(default_factory=list)


@dataclass(slots=True)
class Opening:
    """An IMDF opening: a line that may become an entrance."""

    raw: RawFeature
    points: list[LonLat]
    category: str


@dataclass(slots=True)
class FloorPlan:
    """One floor as read: everything still in longitude/latitude."""

    key: str  # the floor as the user names it (F1)
    source: str
    name: str
    level: int
    level_why: str
    outline: list[LonLatPolygon]
    outline_how: str
    outline_feature: RawFeature | None
    units: list[Unit]
    openings: list[Opening] = field(default_factory=list)
    image: Path | None = None
    info: Path | None = None
    notes: list[str] = field(default_factory=list)
    crs_links: set[str] = field(default_factory=set)
