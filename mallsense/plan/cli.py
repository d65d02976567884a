"""``mallsense import-plan``: floor plans in, a validated site file out (written atomically: all or nothing)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mallsense.plan.build import import_plan
from mallsense.plan.report import ImportReport
from mallsense.plan.sources import PlanError
from mallsense.plan.units import FloorSource
from mallsense.yamlconf import ConfigError, load_yaml

CARRIED = ("sensors", "beacons", "campaigns", "simulation")


class _Dumper(yaml.SafeDumper):
    """Block style for sections, flow style for points: ``- [12.5, 3.0]`` like the demo mall."""


def _flow_lists(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(v, dict | list) for v in data) and len(data) <= 4
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _flow_lists)


def dump_site(site: dict[str, Any], out: Path, header: Sequence[str] = ()) -> str:
    """The site as YAML text, image paths made relative to the site file's folder."""
    site = dict(site)
    site["floors"] = [
        f | {"image": os.path.relpath(f["image"], out.resolve().parent)} if f.get("image") else f
        for f in site["floors"]
    ]
    body = yaml.dump(site, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return "".join(f"# {line}\n" if line else "#\n" for line in header) + body


def write_site(site: dict[str, Any], out: Path, header: Sequence[str] = ()) -> None:
    """Write atomically: a temporary file beside ``out`` is read back and validated, then renamed over ``out``.

    The check is :func:`mallsense.site.load_site`'s (the Site model's fields, then its cross references) on the
    file as written, with the C YAML parser. On any error nothing is left behind and an existing ``out`` is
    untouched.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = dump_site(site, out, header)
    mode = out.stat().st_mode & 0o777 if out.exists() else 0o644  # mkstemp's 0600 would hide it from services
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _check_written(Path(tmp))
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _check_written(path: Path) -> None:
    """Validate a written site file as load_site does; errors name the field (load_site would add the line)."""
    from pydantic import ValidationError

    from mallsense.site import Site
    from mallsense.yamlconf import field_name

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=loader)  # a safe loader (C or Python)
    try:
        problems = Site.model_validate(data).reference_problems()
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    if problems:
        raise ConfigError(path, [(None, field_name(loc), msg) for loc, msg in problems])


def carry_over(site: dict[str, Any], previous: Path) -> list[str]:
    """Copy sensors, beacons, campaigns and simulation from an earlier site file (so a re-import keeps them)."""
    data, _ = load_yaml(previous)
    carried = []
    for key in CARRIED:
        if isinstance(data, dict) and data.get(key):
            site[key] = data[key]
            carried.append(key)
    return carried


def _pairs(values: list[str] | None, what: str) -> list[tuple[str, str]]:
    out = []
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise SystemExit(f"mallsense import-plan: {what} must be ID=PATH, got {value!r}")
        out.append((key, rest))
    return out


def sources_from_args(args: argparse.Namespace) -> list[FloorSource]:
    """``--floor F1=plan.json[:image.png]`` (repeatable), ``--floor-info F1=info.json``, ``--imdf archive``."""
    infos = {k.lower(): Path(v) for k, v in _pairs(args.floor_info, "--floor-info")}
    sources = []
    for key, rest in _pairs(args.floor, "--floor"):
        plan, _, image = rest.partition(":")
        sources.append(FloorSource(Path(plan), floor=key, image=Path(image) if image else None,
                                   info=infos.pop(key.lower(), None)))
    for path in args.imdf or []:
        sources.append(FloorSource(Path(path)))
    if infos:
        raise SystemExit(f"mallsense import-plan: --floor-info for unknown floor(s): {', '.join(infos)}")
    if not sources:
        raise SystemExit("mallsense import-plan: give --floor ID=PLAN (one per floor) or --imdf ARCHIVE")
    return sources


def _header(args: argparse.Namespace, sources: list[FloorSource], report: ImportReport) -> list[str]:
    lines = [f"Site file imported by `mallsense import-plan` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from:"]
    lines += [f"  {s.floor or 'IMDF'}: {s.path}" for s in sources]
    if args.overrides:
        lines.append(f"with overrides {args.overrides}. Change the overrides and import again rather than editing "
                     "zones here.")
    lines.append("Coordinates: metres per floor, x east, y north, origin at the SW corner of the floor outline's "
                 "bounding box")
    lines.append("(local equirectangular projection, sphere a = 6378137 m; see docs/onboard-your-mall.md).")
    if report.todo:
        lines.append("NEEDS ATTENTION:")
        lines += [f"  - {t}" for t in report.todo]
    return lines


def _place(site: dict[str, Any], report: ImportReport) -> None:
    """``--place-sensors``: a plausible sensor layout (and simulation section), unless sensors were carried over."""
    from mallsense.plan.sensors import place_sensors

    if site.get("sensors"):
        report.notes.append(f"--place-sensors: kept the {len(site['sensors'])} sensors carried over; none placed")
        return
    placed, notes = place_sensors(site)
    site.update(placed)
    report.notes += notes
    report.todo.append("sensors were placed by --place-sensors: a plausible layout for trying the site on a simulated "
                       "day, not the installed one; replace their positions (and ids) with the real ones")


def cmd_import_plan(args: argparse.Namespace) -> int:
    """Run the import and write the site file; print the report. Exit status 2 on a plan or override error."""
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to replace it (--carry-from {out} keeps its sensors, beacons, "
              "campaigns and simulation)", file=sys.stderr)
        return 2
    try:
        sources = sources_from_args(args)
        site, report = import_plan(sources, site_id=args.site_id, name=args.name, timezone=args.timezone,
                                   overrides=args.overrides, catchment_population=args.catchment_population)
        if args.carry_from:
            carried = carry_over(site, Path(args.carry_from))
            report.notes.append(f"carried over from {args.carry_from}: {', '.join(carried) or 'nothing'}")
        if getattr(args, "place_sensors", False):
            _place(site, report)
        write_site(site, out, _header(args, sources, report))
    except (PlanError, ConfigError) as exc:
        print(f"error: {exc}\nnothing written", file=sys.stderr)
        return 2
    if args.report:
        args.report.write_text(json.dumps(report.as_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    print(report.text())
    print(f"{out}: {len(site['floors'])} floors, {len(site['zones'])} zones, {len(site['stores'])} stores, "
          f"{len(site['entrances'])} entrances, {len(site.get('sensors') or [])} sensors — valid (checked with "
          "load_site)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``import-plan`` subcommand to the ``mallsense`` parser's subparsers."""
    p = sub.add_parser("import-plan", help="import GeoJSON/IMDF floor plans into a site file (see "
                                           "docs/onboard-your-mall.md)")
    p.add_argument("--floor", action="append", metavar="ID=PLAN[:IMAGE]",
                   help="a plain GeoJSON floor plan and optional background image, e.g. F1=f1.json:f1.png "
                        "(repeat per floor)")
    p.add_argument("--imdf", action="append", metavar="ARCHIVE",
                   help="an IMDF archive (folder or zip) or an IMDF FeatureCollection: every level becomes a floor")
    p.add_argument("--floor-info", action="append", metavar="ID=JSON",
                   help="floor_info.json (map_info width/height in metres) to check the floor frame's scale")
    p.add_argument("--site-id", required=True, help="site id (lower case: a-z 0-9 _ . -)")
    p.add_argument("--name", required=True, help="display name of the mall")
    p.add_argument("--timezone", required=True, help="IANA time zone, e.g. Asia/Shanghai")
    p.add_argument("--catchment-population", type=int, default=None,
                   help="people in the catchment area (or site.catchment_population in the overrides)")
    p.add_argument("--overrides", type=Path, default=None, help="override YAML (categories, names, drops, doors)")
    p.add_argument("--out", type=Path, required=True, help="site file to write, e.g. config/my-mall.yaml")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--report", type=Path, default=None,
                   help="also write the full import report as JSON (every feature's zone, every note)")
    p.add_argument("--carry-from", type=Path, default=None,
                   help="keep sensors, beacons, campaigns and simulation from this earlier site file")
    p.add_argument("--place-sensors", action="store_true",
                   help="add a plausible sensor layout (entrance, overhead and door cameras, WiFi, BLE, one edge "
                        "node per floor) and a simulation section, to try the site on a simulated day")
    p.set_defaults(func=cmd_import_plan)
    return p
