"""Floor plans as plotly figures: outline, zones, entrances and a heatmap of positions with zone names on hover."""

from __future__ import annotations

import base64
import logging
import math
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.figures import MUTED, base_layout
from mallsense.geometry import bbox, centroid, contains
from mallsense.site import Site, ZoneKind

ZONE_FILL = {
    ZoneKind.STORE: "rgba(226,232,240,0.55)", ZoneKind.CORRIDOR: "rgba(255,255,255,0)",
    ZoneKind.ATRIUM: "rgba(254,243,199,0.45)", ZoneKind.ENTRANCE: "rgba(209,250,229,0.7)",
    ZoneKind.PARKING: "rgba(224,231,255,0.6)", ZoneKind.FOOD_COURT: "rgba(254,226,226,0.5)",
    ZoneKind.SERVICE: "rgba(241,245,249,0.6)",
}
FLOOR_PLAN_HEIGHT = 380
IMAGE_OPACITY = 0.7  # the floor's background image, under the zones
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}
log = logging.getLogger(__name__)
HEAT_SCALE = [[0.0, "rgba(254,240,138,0.75)"], [0.35, "rgba(251,146,60,0.85)"], [0.7, "rgba(220,38,38,0.9)"],
              [1.0, "rgba(127,29,29,0.95)"]]


@dataclass(frozen=True)
class Grid:
    """The cells covering a floor's outline: cell (ix, iy) spans ``[ix·cell, (ix+1)·cell)`` like the SQL binning."""

    ix0: int
    iy0: int
    nx: int
    ny: int
    cell_m: float
    labels: np.ndarray  # (ny, nx) str: the zone or store under each cell centre, "" outside every zone

    @property
    def xs(self) -> np.ndarray:
        return (np.arange(self.nx) + self.ix0 + 0.5) * self.cell_m

    @property
    def ys(self) -> np.ndarray:
        return (np.arange(self.ny) + self.iy0 + 0.5) * self.cell_m


_grids: dict[tuple[str, str, float], Grid] = {}
_images: dict[tuple[Path, int], str | None] = {}  # (file, mtime) -> data URI


def image_path(site: Site, floor: str) -> Path | None:
    """The floor's background image file: ``Floor.image`` relative to the site file (None without an image).

    A site built in memory (not by ``load_site``) has no file; its relative image paths are taken from the current
    directory.
    """
    image = site.floor_by_id[floor].image
    if not image:
        return None
    path = Path(image).expanduser()
    if not path.is_absolute():
        path = (site.path.parent if site.path is not None else Path.cwd()) / path
    return path


def add_background(fig: go.Figure, site: Site, floor: str, image: str | None = None) -> tuple[float, ...]:
    """Put the floor's image (if the site gives one) under the plan, stretched over the outline's bounding box
    (image row 0 = north = the largest y); returns that box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = bbox(site.floor_by_id[floor].outline)
    image = image if image is not None else floor_image(site, floor)
    if image is not None:
        fig.add_layout_image(source=image, xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                             xanchor="left", yanchor="top", sizing="stretch", layer="below", opacity=IMAGE_OPACITY)
    return x0, y0, x1, y1


def floor_image(site: Site, floor: str) -> str | None:
    """The floor's background image as a data URI, read once per file version; None without one or unreadable."""
    path = image_path(site, floor)
    if path is None:
        return None
    try:
        key = (path.resolve(), path.stat().st_mtime_ns)
    except OSError as exc:
        key = (path, -1)
        if key not in _images:
            log.warning("floor %s: background image %s cannot be read (%s); drawing the plan without it", floor,
                        path, exc.strerror or exc)
            _images[key] = None
        return _images[key]
    if key not in _images:
        mime = IMAGE_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "image/png"
        _images[key] = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return _images[key]


def zone_label(site: Site, zone_id: str) -> str:
    """What the operator calls a zone: the store's name and category, else the zone's name."""
    store = next((s for s in site.stores if s.zone == zone_id), None)
    zone = site.zone_by_id[zone_id]
    return f"{store.name} ({store.category.replace('_', ' ')})" if store else (zone.name or zone.id)


def floor_grid(site: Site, floor: str, cell_m: float) -> Grid:
    """The floor's grid with a label per cell (computed once per site, floor and cell size)."""
    key = (site.site.id, floor, cell_m)
    if key not in _grids:
        x0, y0, x1, y1 = bbox(site.floor_by_id[floor].outline)
        ix0, iy0 = math.floor(x0 / cell_m), math.floor(y0 / cell_m)
        nx, ny = math.ceil(x1 / cell_m) - ix0, math.ceil(y1 / cell_m) - iy0
        labels = np.full((ny, nx), "", dtype=object)
        # stores first, so a store wins over a corridor it overlaps
        zones = sorted((z for z in site.zones if z.floor == floor), key=lambda z: z.kind != ZoneKind.STORE)
        for zone in zones:
            label = zone_label(site, zone.id)
            zx0, zy0, zx1, zy1 = bbox(zone.polygon)
            for iy in range(max(0, math.floor(zy0 / cell_m) - iy0), min(ny, math.ceil(zy1 / cell_m) - iy0)):
                for ix in range(max(0, math.floor(zx0 / cell_m) - ix0), min(nx, math.ceil(zx1 / cell_m) - ix0)):
                    centre = ((ix + ix0 + 0.5) * cell_m, (iy + iy0 + 0.5) * cell_m)
                    if not labels[iy, ix] and contains(zone.polygon, centre):
                        labels[iy, ix] = label
        _grids[key] = Grid(ix0, iy0, nx, ny, cell_m, labels)
    return _grids[key]


def density(grid: Grid, cells: pd.DataFrame) -> np.ndarray:
    """A (ny, nx) float array of positions per cell, NaN where there are none (drawn transparent)."""
    z = np.full((grid.ny, grid.nx), np.nan)
    col = cells["ix"].to_numpy() - grid.ix0
    row = cells["iy"].to_numpy() - grid.iy0
    inside = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    z[row[inside], col[inside]] = cells["positions"].to_numpy()[inside]
    return z


def _path(ring: list[tuple[float, float]]) -> str:
    return "M " + " L ".join(f"{x},{y}" for x, y in ring) + " Z"


def floor_plan(site: Site, floor: str, cells: pd.DataFrame | None, cell_m: float,
               note: str | None = None) -> go.Figure:
    """The floor drawn from the site model with a heatmap of ``cells`` (columns of ``models.live.heatmap``) on top.

    Hovering anywhere on the floor names the store or zone there and its count. ``cells`` may be None (nothing to
    show); ``note`` is written across the plan (used to say why there is no heat). The floor's background image, if
    the site gives one, lies under the zones, stretched over the bounding box of the floor outline (for an imported
    plan: the floor frame, x 0…width, y 0…height; the image's top row is the north edge, y = height).
    """
    grid = floor_grid(site, floor, cell_m)
    z = density(grid, cells) if cells is not None else np.full((grid.ny, grid.nx), np.nan)
    has_heat = bool(np.isfinite(z).any())
    numbers = np.nan_to_num(z).astype(int).astype(str).astype(object)
    counts = np.where(np.isnan(z), "no positions", numbers + " positions")
    hover = np.where(grid.labels == "", counts, grid.labels + "<br>" + counts)
    fig = go.Figure(go.Heatmap(
        z=z, x=grid.xs, y=grid.ys, text=hover, hovertemplate="%{text}<extra></extra>", hoverongaps=True,
        colorscale=HEAT_SCALE, zmin=1, zmax=max(2.0, float(np.nanmax(z))) if has_heat else 2.0,
        colorbar={"title": {"text": "positions", "side": "right"}, "thickness": 12, "len": 0.8},
        showscale=has_heat, name="positions",
    ))
    # shapes and annotations go in at once: add_shape re-validates every shape so far (quadratic in the zones,
    # seconds for an imported floor of a few hundred)
    shapes: list[dict] = [
        {"type": "path", "path": _path(zone.polygon), "layer": "below", "line": {"color": "#94a3b8", "width": 1},
         "fillcolor": ZONE_FILL.get(zone.kind, "rgba(0,0,0,0)")}
        for zone in site.zones if zone.floor == floor
    ]
    image = floor_image(site, floor)
    annotations: list[dict] = []
    for store in (s for s in site.stores if s.anchor and site.zone_by_id[s.zone].floor == floor):
        cx, cy = centroid(site.zone_by_id[store.zone].polygon)
        annotations.append({"x": cx, "y": cy, "text": store.name, "showarrow": False,
                            "font": {"size": 12, "color": MUTED}}
                           | ({"bgcolor": "rgba(255,255,255,0.8)"} if image else {}))  # legible over the image
    for entrance in (e for e in site.entrances if e.floor == floor):
        (ax, ay), (bx, by) = entrance.line
        shapes.append({"type": "line", "x0": ax, "y0": ay, "x1": bx, "y1": by,
                       "line": {"color": "#16a34a", "width": 6}})
    shapes.append({"type": "path", "path": _path(site.floor_by_id[floor].outline),
                   "line": {"color": "#334155", "width": 2}})
    if note:
        annotations.append({"text": note, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper", "showarrow": False,
                            "bgcolor": "rgba(255,255,255,0.85)", "borderpad": 8, "font": {"size": 16, "color": MUTED}})
    fig.update_layout(shapes=shapes, annotations=annotations)
    x0, y0, x1, y1 = add_background(fig, site, floor, image)
    fig.update_layout(
        **base_layout(FLOOR_PLAN_HEIGHT), uirevision=f"floor-{floor}",
        xaxis={"range": [x0 - 3, x1 + 3], "showgrid": False, "zeroline": False, "visible": False},
        yaxis={"range": [y0 - 3, y1 + 3], "showgrid": False, "zeroline": False, "visible": False,
               "scaleanchor": "x", "scaleratio": 1},
    )
    fig.update_layout(margin={"l": 8, "r": 8, "t": 8, "b": 8})
    return fig
