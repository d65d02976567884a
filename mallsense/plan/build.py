"""Building the site model from read floor plans: frames, zones, stores, entrances, validation.

See :func:`import_plan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mallsense.plan.overrides import Overrides, load_overrides
from mallsense.plan.read import read_plans
from mallsense.plan.report import ImportReport
from mallsense.plan.sources import PlanError
from mallsense.plan.units import FloorSource
from mallsense.plan.zones import FloorBuild, Ids, round_ring, slug
from mallsense.site import Site, SiteInfo
from mallsense.yamlconf import field_name

PLACEHOLDER_CATCHMENT = 1_000_000
M = TypeVar("M", bound=BaseModel)


def _site_info(site_id: str, name: str, timezone: str, overrides: Overrides, report: ImportReport,
               catchment_population: int | None) -> dict[str, Any]:
    info: dict[str, Any] = {"id": site_id, "name": name, "timezone": timezone}
    catchment = catchment_population or overrides.site.catchment_population
    if catchment is None:
        catchment = PLACEHOLDER_CATCHMENT
        report.todo.append(f"site.catchment_population is a placeholder ({PLACEHOLDER_CATCHMENT:,}): set the people "
                           "living in the mall's catchment (penetration = unique visitors / it)")
    info["catchment_population"] = catchment
    for key in ("opens", "closes", "occupancy_alert"):
        value = getattr(overrides.site, key)
        if value is not None:
            info[key] = value.strftime("%H:%M") if key != "occupancy_alert" else value
    return info


def import_plan(floors: list[FloorSource], *, site_id: str, name: str, timezone: str,
                overrides: Overrides | Path | str | None = None,
                catchment_population: int | None = None) -> tuple[dict[str, Any], ImportReport]:
    """Import floor plans (plain GeoJSON per floor, or IMDF) into a site model; returns (site dict, report).

    Coordinates (WGS84 longitude/latitude) become metres in each floor's own frame: x east, y north, origin at
    the south-west corner of the floor outline's bounding box, by a local equirectangular projection on the sphere
    of radius 6 378 137 m with the east–west scale of the bounding box's centre latitude (see
    :mod:`mallsense.plan.frame`). This is the frame of the Indoor Location Competition's ``floor_info.json`` and
    surveyed waypoints; give ``FloorSource.info`` to have the scale checked against it.

    Floor outlines become ``floors[].outline`` (several parts or holes joined by zero-width bridges into one ring
    of the same area); store units become zones of kind ``store`` plus ``stores`` entries (category from the
    plan's properties, else the override file's rules, else ``unclassified``, listed in the report); corridors
    come from the plan, and where they cover under a quarter of the floor each outline part also becomes a
    corridor zone (the common area). IMDF openings on the outline become entrances; a plan without any gets one
    placeholder entrance (the site model needs one), flagged in ``report.todo``.

    The returned dict is validated against :class:`~mallsense.site.Site` (fields and references); image paths in
    it are absolute (:func:`mallsense.plan.cli.write_site` makes them relative to the site file). Raises
    :class:`PlanError` naming the file, the feature and the problem; ConfigError for a bad override file.
    """
    override_dir = Path(overrides).resolve().parent if isinstance(overrides, str | Path) else None
    over = overrides if isinstance(overrides, Overrides) else load_overrides(overrides)
    if not floors:
        raise PlanError("(no plans)", "give at least one floor plan")
    report = ImportReport()
    info = _site_info(site_id, name, timezone, over, report, catchment_population)
    _check(SiteInfo, info, "site settings (--site-id, --name, --timezone, the override file's site:)", ("site",))
    plans = read_plans(floors, over)
    ids = Ids()
    builds: list[FloorBuild] = []
    for plan in plans:
        fid = ids.new(slug(plan.key) or f"floor-{len(builds)}")
        build = FloorBuild(plan, fid, ids, over, report, override_dir)
        build.add_units()
        build.add_common_area()
        build.set_front_zones()
        build.add_openings()
        builds.append(build)
        report.floors.append(build.summary)
    by_key = {b.plan.key.lower(): b for b in builds} | {b.id: b for b in builds}
    for i, e in enumerate(over.entrances):
        build = by_key.get(e.floor.lower())
        if build is None:
            raise PlanError(str(overrides), f"entrances[{i}]: unknown floor {e.floor!r} (floors: "
                            f"{', '.join(b.plan.key for b in builds)})")
        build.entrance(e.name, e.line[0], e.line[1], e.inside, e.external, e.id)
    if not any(b.entrances for b in builds):
        min(builds, key=lambda b: (abs(b.plan.level), b.plan.level)).placeholder_entrance()
    site = {
        "site": info,
        "floors": [{"id": b.id, "name": b.plan.name, "level": b.plan.level, "outline": round_ring(b.outline)}
                   | ({"image": b.image} if b.image else {}) for b in builds],
        "zones": [z for b in builds for z in b.zones],
        "stores": [s for b in builds for s in b.stores],
        "entrances": [e for b in builds for e in b.entrances],
    }
    model = _check(Site, site, ", ".join(str(f.path) for f in floors))
    problems = model.reference_problems()
    if problems:
        raise PlanError(", ".join(str(f.path) for f in floors), "the imported site is not valid: " + "; ".join(
            f"{field_name(loc)}: {msg}" for loc, msg in problems))
    return site, report


def _check(model: type[M], data: dict[str, Any], source: str, prefix: tuple[str, ...] = ()) -> M:
    """Validate with the site model; its errors name the field (a bug in the importer, or a bad argument)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{field_name(prefix + tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise PlanError(source, f"not a valid site: {problems}") from exc
