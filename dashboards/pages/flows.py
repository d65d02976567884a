"""Flows (operators, leasing): footfall per day and entrance, the hourly profile, floor-to-floor moves and paths."""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback

from dashboards import analysis, context
from dashboards.analysis import NO_COUNTS, NO_VISITS, Selection, chart, csv_export, no_data, selection
from dashboards.app import forbidden
from dashboards.auth import can, require
from dashboards.figures import GRID, PALETTE, base_layout, day_axis, entrance_colors
from dashboards.guard import guarded
from models import adjacency

dash.register_page(__name__, path="/flows", name="Flows", title="Flows", order=1, area="flows")
AREA = "flows"

HELP = {
    "daily": "Footfall = entries through the entrance lines per local day, stacked by entrance (door counters).",
    "hourly": "Entries per local clock hour, summed over the period: when people come.",
    "floors": "Moves between floors: consecutive shop stays of one visit on different floors (app users who "
              "consented; shares of all floor changes).",
    "paths": "Paths between zones: each band is a move from the corridor or atrium in front of one shop to the one "
             "in front of the next shop of the same visit (identified visits; moves within a zone left out).",
}


def layout(**_query: str) -> Any:
    if not can(AREA):
        return forbidden(AREA)
    return analysis.page(
        "flows", "Flows", "Where people come in, when, and how they move between floors.",
        chart("flows-daily", "Footfall per day and entrance", HELP["daily"], wide=True),
        chart("flows-hourly", "When people arrive", HELP["hourly"]),
        chart("flows-floors", "Floor to floor", HELP["floors"]),
        chart("flows-paths", "Paths between zones", HELP["paths"], wide=True, height=420),
    )


def _entrances(sel: Selection) -> list[str]:
    site = context.current().site
    return [e.id for e in site.entrances if e.id in site.entrance_lines and (not sel.floor or e.floor == sel.floor)]


def daily_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    keep = _entrances(sel)
    return data.footfall[data.footfall["line"].isin(keep)].rename(columns={"line": "entrance"})


def floors_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    stays = data.stays
    return adjacency.floor_flows(context.current().site, stays)


@callback(Output("flows-daily-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def daily(filters: dict[str, Any] | None) -> go.Figure:
    sel = selection(filters)
    frame = daily_frame(sel)
    if frame.empty:
        return no_data(NO_COUNTS)
    site = context.current().site
    colors = entrance_colors(site)
    fig = go.Figure()
    for e in site.entrances:
        rows = frame[frame["entrance"] == e.id]
        if not rows.empty:
            fig.add_trace(go.Bar(x=rows["day"], y=rows["entries"], name=e.name, marker_color=colors[e.id]))
    fig.update_layout(**base_layout(340), barmode="stack", xaxis=day_axis(frame["day"]),
                      yaxis={"title": "entries", "gridcolor": GRID},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


@callback(Output("flows-hourly-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def hourly(filters: dict[str, Any] | None) -> go.Figure:
    sel = selection(filters)
    frame = daily_frame(sel)
    hours = analysis.period_data(sel).hours
    if frame.empty or hours.empty:
        return no_data(NO_COUNTS)
    fig = go.Figure(go.Bar(x=hours["hour"], y=hours["entries"], marker_color=PALETTE[0]))
    fig.update_layout(**base_layout(340), xaxis={"title": "local hour", "dtick": 2},
                      yaxis={"title": "entries", "gridcolor": GRID})
    return fig


@callback(Output("flows-floors-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def floors(filters: dict[str, Any] | None) -> go.Figure:
    frame = floors_frame(selection(filters))
    if frame.empty:
        return no_data(NO_VISITS)
    names = {f.id: f.name for f in context.current().site.floors}
    pivot = frame.pivot_table(index="from", columns="to", values="share", fill_value=0.0)
    fig = go.Figure(go.Heatmap(z=pivot.to_numpy() * 100, x=[names.get(c, c) for c in pivot.columns],
                               y=[names.get(i, i) for i in pivot.index], colorscale="Blues", texttemplate="%{z:.1f} %",
                               hovertemplate="%{y} → %{x}: %{z:.1f} %<extra></extra>", colorbar={"title": "%"}))
    fig.update_layout(**base_layout(340), xaxis={"title": "to"}, yaxis={"title": "from"})
    return fig


def paths_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    stays = data.stays
    return adjacency.zone_flows(context.current().site, stays)


@callback(Output("flows-paths-graph", "figure"), Input("filters", "data"))
@guarded(lambda m: no_data(m, 420))
@require(AREA)
def paths(filters: dict[str, Any] | None) -> go.Figure:
    sel = selection(filters)
    frame = paths_frame(sel)
    if sel.floor:
        zone_floor = {z.id: z.floor for z in context.current().site.zones}
        frame = frame[(frame["from"].map(zone_floor) == sel.floor) | (frame["to"].map(zone_floor) == sel.floor)]
    if frame.empty:
        return no_data(NO_VISITS, 420)
    site = context.current().site
    zones = sorted(set(frame["from"]) | set(frame["to"]),
                   key=lambda z: (-site.floor_by_id[site.zone_by_id[z].floor].level, z))
    index = {z: k for k, z in enumerate(zones)}
    label = {z: f"{site.zone_by_id[z].name} ({site.floor_by_id[site.zone_by_id[z].floor].name.split(' (')[0]})"
             for z in zones}
    fig = go.Figure(go.Sankey(
        node={"label": [label[z] for z in zones] * 2, "pad": 12,
              "color": [PALETTE[k % len(PALETTE)] for k in range(len(zones))] * 2},
        link={"source": [index[f] for f in frame["from"]], "target": [len(zones) + index[t] for t in frame["to"]],
              "value": frame["moves"].tolist()}))
    fig.update_layout(**base_layout(420))
    return fig


csv_export("flows-daily", daily_frame, "footfall-per-day", AREA)
csv_export("flows-hourly", lambda sel: analysis.period_data(sel).hours, "footfall-per-hour", AREA)
csv_export("flows-floors", floors_frame, "floor-to-floor", AREA)
csv_export("flows-paths", paths_frame, "zone-paths", AREA)
analysis.selection_label("flows", AREA)
