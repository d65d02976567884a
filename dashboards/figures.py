"""Plotly figures shared by cockpit pages: floor plans with heatmaps, entrance flow charts, empty states."""

from __future__ import annotations

from datetime import datetime

import plotly.graph_objects as go

from mallsense.geometry import bbox, centroid
from mallsense.site import Site, ZoneKind

ZONE_FILL = {
    ZoneKind.STORE: "rgba(226,232,240,0.55)", ZoneKind.CORRIDOR: "rgba(255,255,255,0)",
    ZoneKind.ATRIUM: "rgba(254,243,199,0.35)", ZoneKind.ENTRANCE: "rgba(209,250,229,0.6)",
    ZoneKind.PARKING: "rgba(224,231,255,0.6)", ZoneKind.FOOD_COURT: "rgba(254,226,226,0.4)",
    ZoneKind.SERVICE: "rgba(241,245,249,0.6)",
}
PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 16, "color": "#64748b"})
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10}, plot_bgcolor="white", paper_bgcolor="white")
    return fig


def floor_plan(site: Site, floor: str, cells: list[tuple[float, float, int]], cell_m: float,
               title: str = "") -> go.Figure:
    """The floor's zones as shapes, store names on hover, and a density heatmap of positions on top."""
    fl = site.floor_by_id[floor]
    x0, y0, x1, y1 = bbox(fl.outline)
    fig = go.Figure()
    if cells:
        nx = round((x1 - x0) / cell_m)
        ny = round((y1 - y0) / cell_m)
        grid = [[None] * nx for _ in range(ny)]
        for cx, cy, n in cells:
            i, j = int((cy - y0) // cell_m), int((cx - x0) // cell_m)
            if 0 <= i < ny and 0 <= j < nx:
                grid[i][j] = n
        fig.add_trace(go.Heatmap(
            z=grid, x0=x0 + cell_m / 2, dx=cell_m, y0=y0 + cell_m / 2, dy=cell_m, colorscale="YlOrRd",
            zsmooth="best", opacity=0.85, colorbar={"title": "positions", "thickness": 12},
            hovertemplate="x %{x:.0f} m, y %{y:.0f} m: %{z} positions<extra></extra>", name="density",
        ))
    names_x, names_y, names = [], [], []
    store_of_zone = {s.zone: s for s in site.stores}
    for z in site.zones:
        if z.floor != floor:
            continue
        path = "M " + " L ".join(f"{x},{y}" for x, y in z.polygon) + " Z"
        fig.add_shape(type="path", path=path, line={"color": "#94a3b8", "width": 1},
                      fillcolor=ZONE_FILL.get(z.kind, "rgba(0,0,0,0)"), layer="below")
        cx, cy = centroid(z.polygon)
        store = store_of_zone.get(z.id)
        names_x.append(cx)
        names_y.append(cy)
        names.append(f"{store.name} ({store.category})" if store else (z.name or z.id))
    fig.add_trace(go.Scatter(x=names_x, y=names_y, mode="markers", marker={"size": 6, "opacity": 0},
                             hovertext=names, hoverinfo="text", showlegend=False, name="zones"))
    outline = "M " + " L ".join(f"{x},{y}" for x, y in fl.outline) + " Z"
    fig.add_shape(type="path", path=outline, line={"color": "#334155", "width": 2})
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 14}} if title else None,
        xaxis={"range": [x0 - 2, x1 + 2], "showgrid": False, "zeroline": False, "title": "metres"},
        yaxis={"range": [y0 - 2, y1 + 2], "showgrid": False, "zeroline": False, "scaleanchor": "x"},
        height=420, margin={"l": 40, "r": 10, "t": 36 if title else 10, "b": 40},
        plot_bgcolor="white", paper_bgcolor="white",
    )
    return fig


def entrance_chart(site: Site, rows: list[tuple[datetime, str, int, int]]) -> go.Figure:
    """Entries (up) and exits (down) per entrance, 5-minute buckets, in the mall's local time."""
    tz = site.site.tz
    names = {e.id: e.name for e in site.entrances}
    fig = go.Figure()
    by_line: dict[str, list[tuple[datetime, int, int]]] = {}
    for bucket, line, entries, exits in rows:
        by_line.setdefault(line, []).append((bucket.astimezone(tz), entries, exits))
    for k, (line, points) in enumerate(sorted(by_line.items())):
        color = PALETTE[k % len(PALETTE)]
        fig.add_trace(go.Bar(x=[p[0] for p in points], y=[p[1] for p in points], name=names.get(line, line),
                             marker_color=color, legendgroup=line,
                             hovertemplate="%{x|%H:%M} in: %{y}<extra>" + names.get(line, line) + "</extra>"))
        fig.add_trace(go.Bar(x=[p[0] for p in points], y=[-p[2] for p in points], name=names.get(line, line),
                             marker_color=color, opacity=0.45, legendgroup=line, showlegend=False,
                             hovertemplate="%{x|%H:%M} out: %{customdata}<extra>" + names.get(line, line)
                             + "</extra>", customdata=[p[2] for p in points]))
    fig.update_layout(
        barmode="relative", height=340, margin={"l": 50, "r": 10, "t": 10, "b": 40},
        yaxis={"title": "people per 5 min (in ↑, out ↓)"}, xaxis={"title": "mall time"},
        legend={"orientation": "h", "y": -0.25}, plot_bgcolor="white", paper_bgcolor="white", bargap=0.1,
    )
    return fig
