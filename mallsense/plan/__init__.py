"""Importing real floor plans (plain GeoJSON per floor, or IMDF) into the site model.

Modules, in the order an import runs: :mod:`~mallsense.plan.sources` (reading and checking files, CRS, rings),
:mod:`~mallsense.plan.read` (plain GeoJSON) and :mod:`~mallsense.plan.imdf` (IMDF archives) into the neutral
floors, units and openings of :mod:`~mallsense.plan.units`; :mod:`~mallsense.plan.overrides` (the override file's
rules); :mod:`~mallsense.plan.frame` (the metre frame, ring checks and joins); :mod:`~mallsense.plan.zones` (one
floor's zones, stores, entrances) and :mod:`~mallsense.plan.build` (:func:`import_plan`: the validated site);
:mod:`~mallsense.plan.report`; :mod:`~mallsense.plan.cli` (``mallsense import-plan``, atomic writing). The guide
is docs/onboard-your-mall.md.
"""

from mallsense.plan.build import import_plan
from mallsense.plan.cli import cmd_import_plan, register, write_site
from mallsense.plan.overrides import Overrides, load_overrides
from mallsense.plan.report import FloorSummary, ImportReport
from mallsense.plan.sources import PlanError
from mallsense.plan.units import FloorSource

__all__ = ["FloorSource", "FloorSummary", "ImportReport", "Overrides", "PlanError", "cmd_import_plan",
           "import_plan", "load_overrides", "register", "write_site"]
