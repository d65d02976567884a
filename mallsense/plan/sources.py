"""Reading floor plans: plain GeoJSON files and IMDF archives (folder, zip, or one FeatureCollection).

Everything read here is checked before anything is built: JSON syntax, the FeatureCollection shape, the coordinate
reference system (RFC 7946 WGS84 longitude/latitude, or a label known to carry it), and each polygon's rings
(closed, at least three distinct points, valid degrees). A problem raises :class:`PlanError` naming the file, the
feature (its index, id and name) and what is wrong.
"""

from __future__ import annotations

import html
import json
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LonLat = tuple[float, float]
LonLatRing = list[LonLat]
LonLatPolygon = list[LonLatRing]  # [outer, hole, …], rings not closed

#: CRS labels that mean WGS84 longitude/latitude in degrees (lower case)
GEOGRAPHIC_CRS = frozenset({
    "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84", "crs84", "ogc:crs84",
    "epsg:4326", "urn:ogc:def:crs:epsg::4326", "urn:ogc:def:crs:epsg:6.9:4326",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84", "http://www.opengis.net/def/crs/epsg/0/4326",
})
#: CRS labels some exporters attach to coordinates that are nevertheless WGS84 degrees: accepted only when every
#: coordinate is a valid longitude/latitude, and noted in the report. The Indoor Location Competition 2.0 plans
#: label their degree coordinates with this sr-org link.
DEGREE_CRS_LINKS = frozenset({"http://spatialreference.org/ref/sr-org/6928/ogcwkt/"})

IMDF_TYPES = ("level", "unit", "opening", "anchor", "occupant")
_OPAQUE = re.compile(r"^(?:[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.I)
MAX_SPAN_M = 5_000.0  # a floor plan wider than this is not a floor plan in degrees


class PlanError(ValueError):
    """A floor plan cannot be imported; the message names the file, the feature and the problem."""

    def __init__(self, source: str | Path, problem: str, feature: RawFeature | None = None) -> None:
        self.source = str(source)
        self.problem = problem
        self.feature = feature
        where = f"{self.source}: {feature.label}" if feature is not None else self.source
        super().__init__(f"{where}: {problem}")


@dataclass(slots=True)
class RawFeature:
    """One GeoJSON feature as read, with where it came from."""

    source: str
    index: int
    data: dict[str, Any]
    props: dict[str, Any] = field(default_factory=dict)
    collection_crs: str | None = None  # a degree-carrying CRS link declared by the whole collection

    @property
    def fid(self) -> str | None:
        value = self.data.get("id", self.props.get("id"))
        return None if value is None else str(value)

    @property
    def feature_type(self) -> str | None:
        value = self.data.get("feature_type")
        return str(value) if value is not None else None

    @property
    def geometry(self) -> dict[str, Any] | None:
        geom = self.data.get("geometry")
        return geom if isinstance(geom, dict) else None

    @property
    def name(self) -> str:
        """The display name: ``name`` (an IMDF label's English or first text), else ``display`` / ``title``."""
        for key in ("name", "display", "title", "label", "NAME"):
            text = label_text(self.props.get(key))
            if text:
                return text
        return ""

    @property
    def label(self) -> str:
        bits = [f"id {self.fid}"] if self.fid else []
        if self.name:
            bits.append(f"name {self.name!r}")
        kind = f"{self.feature_type} " if self.feature_type else ""
        return f"{kind}feature #{self.index}" + (f" ({', '.join(bits)})" if bits else "")

    def error(self, problem: str) -> PlanError:
        return PlanError(self.source, problem, self)


def label_text(value: Any) -> str:
    """Plain text of a name: strings are unescaped (``&amp;`` → ``&``); IMDF labels ``{"en": …}`` give English."""
    if isinstance(value, dict):
        value = value.get("en") or next((v for v in value.values() if isinstance(v, str) and v), "")
    if not isinstance(value, str):
        return ""
    return " ".join(html.unescape(value).split())


def categories_of(value: Any) -> list[str]:
    """A feature's category values, least to most specific (a string, or a list as some exporters write)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int) and str(v).strip()]
    return []


def is_opaque(category: str) -> bool:
    """Whether a category value is an opaque key (a hex id or UUID) rather than a word."""
    return bool(_OPAQUE.match(category.strip()))


# ---------------------------------------------------------------------------------------------- files
def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(source, f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(path, f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise PlanError(path, f"cannot read: {exc.strerror or exc}") from exc
    return parse_json(text, str(path))


def collection(data: Any, source: str, accepted_crs: Iterable[str] = ()) -> list[RawFeature]:
    """The features of a GeoJSON FeatureCollection (or a single Feature), shape-checked."""
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data], "crs": data.get("crs")}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise PlanError(source, f"not a GeoJSON FeatureCollection (type {got!r})")
    features = data.get("features")
    if not isinstance(features, list):
        raise PlanError(source, "the FeatureCollection has no 'features' list")
    link = check_crs(data.get("crs"), source, None, accepted_crs)
    out = []
    for i, item in enumerate(features):
        if not isinstance(item, dict) or item.get("type") != "Feature":
            raise PlanError(source, f"feature #{i}: not a GeoJSON Feature object")
        props = item.get("properties")
        if props is not None and not isinstance(props, dict):
            raise PlanError(source, f"feature #{i}: 'properties' is not an object")
        out.append(RawFeature(source, i, item, props or {}, link))
    return out


def is_imdf_path(path: Path) -> bool:
    """An IMDF archive: a folder or a zip file (a FeatureCollection carrying ``feature_type`` is detected later)."""
    return path.is_dir() or (path.suffix.lower() == ".zip" and zipfile.is_zipfile(path))


def is_imdf_collection(features: Sequence[RawFeature]) -> bool:
    return any(f.feature_type for f in features)


def read_imdf_archive(path: Path, accepted_crs: Iterable[str] = ()) -> list[RawFeature]:
    """Every feature of an IMDF archive: ``*.geojson`` files in a folder or a zip (manifest.json is not needed)."""
    features: list[RawFeature] = []
    if path.is_dir():
        files = sorted(path.glob("*.geojson"))
        if not files:
            raise PlanError(path, "no *.geojson files: not an IMDF archive")
        for file in files:
            features += collection(read_json(file), str(file), accepted_crs)
        return features
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.lower().endswith(".geojson"))
            if not names:
                raise PlanError(path, "no *.geojson files: not an IMDF archive")
            for name in names:
                source = f"{path}!{name}"
                raw = archive.read(name)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise PlanError(source, f"not UTF-8 text: {exc.reason}") from exc
                features += collection(parse_json(text, source), source, accepted_crs)
    except zipfile.BadZipFile as exc:
        raise PlanError(path, f"not a readable zip archive: {exc}") from exc
    return features


# ---------------------------------------------------------------------------------------------- CRS and geometry
def crs_label(crs: Any) -> str | None:
    """The CRS named by a GeoJSON (2008) ``crs`` member: its name, link or EPSG code; None when absent."""
    if crs is None:
        return None
    if not isinstance(crs, dict):
        return repr(crs)
    props = crs.get("properties") or {}
    if crs.get("type") == "name":
        return str(props.get("name"))
    if crs.get("type") == "link":
        return str(props.get("href"))
    if crs.get("type") == "EPSG" and "code" in props:
        return f"EPSG:{props['code']}"
    return json.dumps(crs, sort_keys=True)


def check_crs(crs: Any, source: str, feature: RawFeature | None, accepted: Iterable[str] = ()) -> str | None:
    """None for WGS84 (or no CRS); the label for a link known (or declared by the user) to carry degrees.

    Any other CRS is an error: this importer reads longitude/latitude only (RFC 7946).
    """
    label = crs_label(crs)
    if label is None or label.lower() in GEOGRAPHIC_CRS:
        return None
    if label in DEGREE_CRS_LINKS or label in set(accepted):
        return label
    problem = (f"unknown CRS {label!r}: coordinates must be WGS84 longitude/latitude (RFC 7946); if this file's "
               "coordinates are degrees nevertheless, list the label under accept_crs in the override file")
    raise PlanError(source, problem, feature)


def _position(value: Any, feature: RawFeature) -> LonLat:
    if (not isinstance(value, list | tuple) or len(value) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2])):
        raise feature.error(f"bad coordinate {value!r}: expected [longitude, latitude]")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise feature.error(f"coordinate [{lon}, {lat}] is not WGS84 longitude/latitude in degrees "
                            "(a projected CRS is not supported)")
    return lon, lat


def _ring(value: Any, feature: RawFeature, which: str) -> LonLatRing:
    if not isinstance(value, list) or len(value) < 1:
        raise feature.error(f"{which} is not a list of positions")
    points = [_position(p, feature) for p in value]
    if len(points) < 4:
        raise feature.error(f"{which} has {len(points)} positions; a closed ring needs at least 4")
    if points[0] != points[-1]:
        raise feature.error(f"{which} is not closed: its first position {list(points[0])} differs from its last "
                            f"{list(points[-1])}")
    ring: LonLatRing = []
    for p in points[:-1]:
        if not ring or p != ring[-1]:  # repeated consecutive positions carry no shape
            ring.append(p)
    while len(ring) > 1 and ring[-1] == ring[0]:
        ring.pop()
    if len(set(ring)) < 3:
        raise feature.error(f"{which} has fewer than 3 distinct points (no area)")
    return ring


def polygons(feature: RawFeature, accepted_crs: Iterable[str] = ()) -> tuple[list[LonLatPolygon], str | None]:
    """The feature's polygons as lon/lat rings (outer first, then holes) and the CRS link it declared, if any.

    Raises PlanError when the feature has no geometry or one that is not a Polygon/MultiPolygon.
    """
    geom = feature.data.get("geometry")
    if geom is None:
        raise feature.error("has no geometry (a store or floor needs a Polygon or MultiPolygon)")
    if not isinstance(geom, dict) or "type" not in geom:
        raise feature.error("'geometry' is not a GeoJSON geometry object")
    link = check_crs(geom.get("crs"), feature.source, feature, accepted_crs) or feature.collection_crs
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind == "Polygon":
        raw = [coords]
    elif kind == "MultiPolygon":
        raw = coords if isinstance(coords, list) else None
    else:
        raise feature.error(f"geometry {kind} is not a polygon: a store, unit or floor needs a Polygon or "
                            "MultiPolygon (drop the feature in the override file if it is not one)")
    if not raw or not all(isinstance(p, list) and p for p in raw):
        raise feature.error(f"{kind} has no coordinates")
    out = []
    for k, poly in enumerate(raw):
        part = f"polygon {k} " if kind == "MultiPolygon" else ""
        out.append([_ring(r, feature, f"{part}{'outer ring' if j == 0 else f'hole {j}'}")
                    for j, r in enumerate(poly)])
    return out, link


def line(feature: RawFeature, accepted_crs: Iterable[str] = ()) -> list[LonLat]:
    """The positions of a LineString (IMDF openings)."""
    geom = feature.geometry
    if geom is None:
        raise feature.error("has no geometry (an opening needs a LineString)")
    check_crs(geom.get("crs"), feature.source, feature, accepted_crs)
    if geom.get("type") != "LineString":
        raise feature.error(f"geometry {geom.get('type')} is not a LineString (an opening is a line)")
    coords = geom.get("coordinates")
    points = [_position(p, feature) for p in coords] if isinstance(coords, list) else []
    if len(points) < 2 or points[0] == points[-1]:
        raise feature.error("an opening needs a LineString with two distinct end points")
    return points


def point(feature: RawFeature, accepted_crs: Iterable[str] = ()) -> LonLat:
    """The position of a Point (IMDF anchors)."""
    geom = feature.geometry
    if geom is None or geom.get("type") != "Point":
        raise feature.error("an anchor needs a Point geometry")
    check_crs(geom.get("crs"), feature.source, feature, accepted_crs)
    return _position(geom.get("coordinates"), feature)
