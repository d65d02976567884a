"""The override file of a plan import: what the plan does not say, or says wrongly, in one reviewed YAML file.

Rules match a plan feature by its id (``features``), its name (``names``, exact, case-insensitive), one of its
source category values (``source_categories``; the most specific value that has a rule wins) or a keyword in its
name (``keywords``, case-insensitive substring; the first listed match wins). Each rule may set the zone ``kind``
(or ``drop`` the feature, or ``vacant``: a store unit without a tenant), the store ``category``, a new ``name``, the
``anchor`` flag, and (per feature id only) the ``id`` used in the site file. A rule written as a plain string is a
category. For every field the first of these that sets it wins:

1. ``drop`` (a list of feature ids or names), ``features`` (by id), ``names`` (by name);
2. ``source_categories``, then what the plan's own properties say (an IMDF unit or occupant category, or a
   readable ``category`` property);
3. ``keywords``;
4. defaults: kind ``store``, category ``unclassified`` (listed in the import report).

See ``config/plan-overrides.example.yaml`` and docs/onboard-your-mall.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mallsense.contract import ID_PATTERN
from mallsense.yamlconf import validate_file

Ident = Annotated[str, Field(pattern=ID_PATTERN)]
Point = tuple[float, float]
RuleKind = Literal["store", "vacant", "corridor", "atrium", "food_court", "parking", "service", "entrance", "drop"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    kind: RuleKind | None = Field(default=None, description="zone kind; drop = leave out; vacant = untenanted unit")
    category: str | None = Field(default=None, min_length=1, description="store category, e.g. cafe, fashion")
    name: str | None = Field(default=None, min_length=1, description="new display name")
    anchor: bool | None = Field(default=None, description="anchor tenant")
    id: Ident | None = Field(default=None, description="id in the site file (rules under features only)")


RuleOrCategory = Rule | str


class FloorOverride(_Model):
    name: str | None = None
    level: int | None = Field(default=None, description="0 = street level, negative below")
    image: str | None = Field(default=None, description="background image, relative to the override file")
    common_area: bool | None = Field(
        default=None, description="derive corridor zones from the outline (default: when the plan has too few)")


class EntranceOverride(_Model):
    floor: str = Field(description="floor id as given on the command line (e.g. F1)")
    name: str = Field(min_length=1)
    line: tuple[Point, Point] = Field(description="counting line, metres in the floor frame")
    inside: Point | None = Field(default=None, description="a point on the mall side (default: 1 m inwards)")
    external: bool = True
    id: Ident | None = None


class SiteOverride(_Model):
    catchment_population: int | None = Field(default=None, gt=0)
    opens: time | None = None
    closes: time | None = None
    occupancy_alert: int | None = Field(default=None, gt=0)


def _string_keys(value: Any) -> Any:
    """YAML reads unquoted numeric ids as numbers; rule keys are always text."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class Overrides(_Model):
    site: SiteOverride = Field(default_factory=SiteOverride)
    floors: dict[str, FloorOverride] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list, description="feature ids or names to leave out")
    features: dict[str, RuleOrCategory] = Field(default_factory=dict, description="rules by feature id")
    names: dict[str, RuleOrCategory] = Field(default_factory=dict, description="rules by feature name")
    source_categories: dict[str, RuleOrCategory] = Field(default_factory=dict,
                                                         description="rules by category value in the plan")
    keywords: dict[str, RuleOrCategory] = Field(default_factory=dict, description="rules by name keyword")
    entrances: list[EntranceOverride] = Field(default_factory=list)
    accept_crs: list[str] = Field(default_factory=list, description="CRS labels whose coordinates are degrees")

    @field_validator("floors", "features", "names", "source_categories", "keywords", mode="before")
    @classmethod
    def _text_keys(cls, value: Any) -> Any:
        return _string_keys(value)

    @field_validator("drop", "accept_crs", mode="before")
    @classmethod
    def _text_items(cls, value: Any) -> Any:
        return [str(x) for x in value] if isinstance(value, list) else value

    def floor(self, floor_id: str) -> FloorOverride:
        """The floor's override, matched case-insensitively (``F1`` or ``f1``)."""
        for key, value in self.floors.items():
            if key.lower() == floor_id.lower():
                return value
        return FloorOverride()


def load_overrides(path: Path | str | None) -> Overrides:
    """Read and validate an override file (errors name file, line and field); None gives no overrides."""
    return Overrides() if path is None else validate_file(Path(path), Overrides)


# ---------------------------------------------------------------------------------------------- resolution
def _rule(value: RuleOrCategory) -> Rule:
    return Rule(category=value) if isinstance(value, str) else value


@dataclass(slots=True)
class Resolved:
    """What the rules decided for one feature, and where each decision came from (for the report)."""

    kind: str | None = None
    category: str | None = None
    name: str | None = None
    anchor: bool | None = None
    id: str | None = None
    why: dict[str, str] = field(default_factory=dict)

    def take(self, rule: Rule, why: str) -> None:
        for key in ("kind", "category", "name", "anchor", "id"):
            value = getattr(rule, key)
            if value is not None and getattr(self, key) is None:
                setattr(self, key, value)
                self.why[key] = why


def resolve(overrides: Overrides, *, fid: str | None, name: str, categories: list[str],
            from_properties: Rule | None) -> Resolved:
    """Apply the rules to one feature (see the module docstring for the order)."""
    out = Resolved()
    lname = name.lower()
    if (fid is not None and fid in overrides.drop) or any(d.lower() == lname for d in overrides.drop if name):
        out.take(Rule(kind="drop"), "drop list")
        return out
    if fid is not None and fid in overrides.features:
        out.take(_rule(overrides.features[fid]), f"features[{fid}]")
    if name:
        for key, value in overrides.names.items():
            if key.lower() == lname:
                out.take(_rule(value), f"names[{key}]")
                break
    for category in reversed(categories):
        if category in overrides.source_categories:
            out.take(_rule(overrides.source_categories[category]), f"source_categories[{category}]")
    if from_properties is not None:
        out.take(from_properties, "plan properties")
    if name:
        for key, value in overrides.keywords.items():
            if key.lower() in lname:
                out.take(_rule(value), f"keywords[{key}]")
                break
    return out
