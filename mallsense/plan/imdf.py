"""IMDF (Indoor Mapping Data Format, OGC 20-094) archives → floor plans.

``level`` features become floors (levels sharing an ``ordinal`` are parts of one floor), ``unit`` features units
(their ``category`` says corridor, store, restroom …; see :data:`~mallsense.plan.units.IMDF_UNIT_KINDS`),
``opening`` features entrance candidates, and ``occupant`` → ``anchor`` → ``unit`` gives a unit its tenant's name
and category. Other feature types (venue, building, footprint, amenity, fixture, section, …) are counted in the
report, not imported.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from mallsense.plan.overrides import Overrides, Rule
from mallsense.plan.sources import (
    IMDF_TYPES,
    LonLatPolygon,
    PlanError,
    RawFeature,
    categories_of,
    label_text,
    line,
    point,
    polygons,
)
from mallsense.plan.units import FloorPlan, FloorSource, Opening, Unit, imdf_kind, normal_category


def imdf_floors(src: FloorSource, features: list[RawFeature], overrides: Overrides) -> list[FloorPlan]:
    """The floors of an IMDF feature set, one per level ordinal, with their units and openings (see module doc)."""
    accepted = overrides.accept_crs
    by_type: dict[str, list[RawFeature]] = defaultdict(list)
    for f in features:
        by_type[f.feature_type or "(none)"].append(f)
    if not by_type.get("level"):
        raise PlanError(src.path, "IMDF data without level features: nothing says where the floors are")
    levels: dict[int, list[RawFeature]] = defaultdict(list)
    level_of: dict[str, int] = {}
    for f in by_type["level"]:
        ordinal = f.props.get("ordinal")
        if not isinstance(ordinal, int) or isinstance(ordinal, bool):
            raise f.error(f"IMDF level without an integer ordinal (got {ordinal!r})")
        levels[ordinal].append(f)
        if f.fid:
            level_of[f.fid] = ordinal
    # occupant → anchor → unit
    anchor_unit = {}
    for a in by_type.get("anchor", []):
        point(a, accepted)
        unit_id = a.props.get("unit_id")
        if not unit_id:
            raise a.error("IMDF anchor without unit_id")
        anchor_unit[a.fid] = str(unit_id)
    occupant_of: dict[str, RawFeature] = {}
    for o in by_type.get("occupant", []):
        unit_id = anchor_unit.get(str(o.props.get("anchor_id")))
        if unit_id is None:
            raise o.error(f"IMDF occupant's anchor_id {o.props.get('anchor_id')!r} names no anchor")
        occupant_of.setdefault(unit_id, o)
    plans: dict[int, FloorPlan] = {}
    for ordinal, feats in sorted(levels.items()):
        first = feats[0]
        key = label_text(first.props.get("short_name")) or f"L{ordinal}"
        outline: list[LonLatPolygon] = []
        links: set[str] = set()
        for f in feats:
            polys, link = polygons(f, accepted)
            outline += polys
            links |= {link} if link else set()
        over = overrides.floor(key)
        level = over.level if over.level is not None else ordinal
        name = over.name or label_text(first.props.get("name")) or key
        plans[ordinal] = FloorPlan(key, first.source, name, level, "IMDF ordinal" if over.level is None else
                                   "override file", outline, f"the IMDF level{'s' if len(feats) > 1 else ''} "
                                   f"({len(outline)} part{'s' if len(outline) != 1 else ''})", first, [],
                                   crs_links=links)
    for u in by_type.get("unit", []):
        ordinal = level_of.get(str(u.props.get("level_id")))
        if ordinal is None:
            raise u.error(f"IMDF unit's level_id {u.props.get('level_id')!r} names no level")
        occupant = occupant_of.get(u.fid or "")
        cats = categories_of(u.props.get("category"))
        name = u.name
        rule = Rule(kind=imdf_kind(cats[-1]) or "store") if cats else None
        if occupant is not None:
            name = occupant.name or name
            occ_cats = categories_of(occupant.props.get("category"))
            cats += occ_cats
            rule = Rule(kind="store", category=normal_category(occ_cats[-1]) if occ_cats else None)
        plans[ordinal].units.append(Unit(u, name, cats, rule))
    for o in by_type.get("opening", []):
        ordinal = level_of.get(str(o.props.get("level_id")))
        if ordinal is None:
            raise o.error(f"IMDF opening's level_id {o.props.get('level_id')!r} names no level")
        category = str(o.props.get("category") or "pedestrian")
        plans[ordinal].openings.append(Opening(o, line(o, accepted), category))
    ignored = Counter(t for t in by_type if t not in IMDF_TYPES)
    out = list(plans.values())
    if ignored:
        out[0].notes.append("IMDF feature types not imported: " + ", ".join(
            f"{t} ({len(by_type[t])})" for t in sorted(ignored)))
    if len(out) == 1:
        out[0].image, out[0].info = src.image, src.info
    elif src.image or src.info:
        out[0].notes.append("an image or floor_info given for a multi-level IMDF archive is ignored: set each "
                            "floor's image in the override file")
    return out
