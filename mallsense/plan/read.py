"""From plan files to one neutral description per floor: its outline, its units (polygons that become zones and
stores) and its openings (lines that become entrances), still in longitude/latitude.

Plain GeoJSON: one file per floor. The outline is the feature whose ``type``/``category``/``kind`` property is
``floor`` (several are joined as parts); without one, the largest polygon that holds the other features' centres,
else their convex hull (both noted in the report). Every other feature is a unit.

IMDF: a folder or zip of ``*.geojson`` files, or one FeatureCollection whose features carry ``feature_type``
(see :mod:`mallsense.plan.imdf`).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from mallsense.geometry import contains, polygon_area
from mallsense.plan.frame import convex_hull
from mallsense.plan.imdf import imdf_floors
from mallsense.plan.overrides import Overrides, resolve
from mallsense.plan.sources import (
    LonLat,
    LonLatPolygon,
    PlanError,
    RawFeature,
    categories_of,
    collection,
    is_imdf_collection,
    is_imdf_path,
    label_text,
    polygons,
    read_imdf_archive,
    read_json,
)
from mallsense.plan.units import FloorPlan, FloorSource, Unit, property_rule


def _is_outline(f: RawFeature) -> bool:
    return any(str(f.props.get(k, "")).lower() == "floor" for k in ("type", "category", "kind"))


def _level_from_key(key: str) -> int | None:
    """Floor names: F1/L1/1F/1 → 0 (the first floor is street level, as in China and the US); B1/B1F/-1 → −1."""
    k = key.strip().upper()
    if k in ("G", "GF", "GL"):
        return 0
    m = re.fullmatch(r"[FL]?(\d+)F?", k)
    if m:
        return max(int(m.group(1)) - 1, 0)
    m = re.fullmatch(r"(?:B(\d+)F?|-(\d+))", k)
    if m:
        return -int(m.group(1) or m.group(2))
    return None


def _centre(polys: list[LonLatPolygon]) -> LonLat:
    pts = polys[0][0]
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


def read_floor_info(path: Path) -> tuple[float, float]:
    """Width and height in metres from an Indoor Location Competition ``floor_info.json``."""
    data = read_json(path)
    try:
        info = data["map_info"]
        return float(info["width"]), float(info["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(path, f"not a floor_info file: expected map_info.width and map_info.height ({exc})") from exc


# ---------------------------------------------------------------------------------------------- plain GeoJSON
def _plain_floor(src: FloorSource, features: list[RawFeature], overrides: Overrides, index: int) -> FloorPlan:
    key = src.floor or src.path.stem
    accepted = overrides.accept_crs
    outline_feats = [f for f in features if _is_outline(f)]
    others = [f for f in features if not _is_outline(f)]
    links: set[str] = set()
    outline: list[LonLatPolygon] = []
    for f in outline_feats:
        polys, link = polygons(f, accepted)
        outline += polys
        links |= {link} if link else set()
    how = f"the plan's floor feature ({len(outline)} part{'s' if len(outline) != 1 else ''})" if outline else ""
    outline_feature = outline_feats[0] if outline_feats else None
    units = [Unit(f, f.name, categories_of(f.props.get("category")), property_rule(categories_of(f.props.get(
        "category"))), label_text(f.props.get("display"))) for f in others]
    props = outline_feature.props if outline_feature else {}
    floor_num = props.get("floor_num")
    if isinstance(floor_num, int) and not isinstance(floor_num, bool):
        floor_num = floor_num - 1 if floor_num > 0 else floor_num
    else:
        floor_num = None
    level, why = index, "from the order of the floors"
    for candidate, reason in ((src.level, "given"), (overrides.floor(key).level, "override file"),
                              (_level_from_key(key), f"from the floor name {key!r}"),
                              (_level_from_key(label_text(props.get("name"))), "from the floor feature's name"),
                              (floor_num, "from the floor feature's floor_num")):
        if candidate is not None:
            level, why = candidate, reason
            break
    name = src.name or overrides.floor(key).name or label_text(props.get("name")) or key
    return FloorPlan(key, str(src.path), name, level, why, outline, how, outline_feature, units,
                     image=src.image, info=src.info, crs_links=links)


def _fallback_outline(plan: FloorPlan, overrides: Overrides) -> None:
    """A floor without an outline feature: the largest polygon holding the others' centres, else their hull."""
    kept = [u for u in plan.units if resolve(overrides, fid=u.raw.fid, name=u.name, categories=u.categories,
                                             from_properties=u.from_properties).kind != "drop"]
    for unit in kept:
        unit.polygons, link = polygons(unit.raw, overrides.accept_crs)
        plan.crs_links |= {link} if link else set()
    if not kept:
        raise PlanError(plan.source, "no polygon features: nothing to import")
    big = max(kept, key=lambda u: polygon_area(u.polygons[0][0]))
    rest = [u for u in kept if u is not big]
    inside = sum(contains(big.polygons[0][0], _centre(u.polygons)) for u in rest)
    if rest and inside >= 0.95 * len(rest):
        plan.outline, plan.outline_feature = big.polygons, big.raw
        plan.outline_how = f"the largest polygon ({big.raw.label}), holding {inside}/{len(rest)} features' centres"
        plan.units = [u for u in plan.units if u is not big]
    else:
        plan.outline = [[convex_hull([p for u in kept for poly in u.polygons for p in poly[0]])]]
        plan.outline_how = "the convex hull of all features (the plan has no floor outline)"
    plan.notes.append(f"no floor feature: the outline is {plan.outline_how}")


# ---------------------------------------------------------------------------------------------- entry point
def read_plans(sources: list[FloorSource], overrides: Overrides) -> list[FloorPlan]:
    """Every floor of every source, in order; outlines found (or derived), units and openings listed."""
    plans: list[FloorPlan] = []
    for src in sources:
        path = Path(src.path)
        if is_imdf_path(path):
            plans += imdf_floors(src, read_imdf_archive(path, overrides.accept_crs), overrides)
            continue
        features = collection(read_json(path), str(path), overrides.accept_crs)
        if is_imdf_collection(features):
            plans += imdf_floors(src, features, overrides)
            continue
        plan = _plain_floor(src, features, overrides, len(plans))
        if not plan.outline:
            _fallback_outline(plan, overrides)
        plans.append(plan)
    keys = Counter(p.key.lower() for p in plans)
    for key, n in keys.items():
        if n > 1:
            raise PlanError(", ".join(str(s.path) for s in sources), f"floor {key!r} is given {n} times")
    return plans

