"""Import a mall's GeoJSON / IMDF floor plans into the site model: the entry points of :mod:`mallsense.plan`.

``import_plan(floors, site_id=…, name=…, timezone=…, overrides=…)`` returns a validated site dict and an
:class:`ImportReport`; ``register(sub)`` adds ``mallsense import-plan`` to the CLI (``cmd_import_plan`` runs it).
Coordinates become metres per floor: x east, y north, origin at the south-west corner of the floor outline's
bounding box, by a local equirectangular projection on the sphere of radius 6 378 137 m (the frame of the Indoor
Location Competition's floor_info and survey waypoints). See docs/onboard-your-mall.md.
"""

from mallsense.plan import (
    FloorSource,
    FloorSummary,
    ImportReport,
    Overrides,
    PlanError,
    cmd_import_plan,
    import_plan,
    load_overrides,
    register,
    write_site,
)

__all__ = ["FloorSource", "FloorSummary", "ImportReport", "Overrides", "PlanError", "cmd_import_plan",
           "import_plan", "load_overrides", "register", "write_site"]
