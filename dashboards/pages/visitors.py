"""Visitors (leasing, marketing): repeat visits, new vs returning, frequency, dwell and penetration."""

from __future__ import annotations

from datetime import date
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, html

from dashboards import analysis, context
from dashboards.analysis import NO_VISITS, Selection, chart, csv_export, no_data, selection, tile, tiles
from dashboards.app import forbidden
from dashboards.auth import can, require
from dashboards.figures import GRID, PALETTE, base_layout, day_axis
from dashboards.guard import guarded
from models import visitors

dash.register_page(__name__, path="/visitors", name="Visitors", title="Visitors", order=2, area="visitors")
AREA = "visitors"

HELP = {
    "kpis": "Visits are those of members who use the app and consented (BLE), sessionized with a 30-minute gap. "
            "Repeat-visit rate (W) = share of them seen in W with two visits or more. Penetration = unique visitors "
            "(footfall ÷ visits per identified visitor) ÷ catchment population. Bounce = a shop stay under 2 min.",
    "returning": "A visit is returning when the same person visited in the 30 days before it, new otherwise.",
    "frequency": "Identified visitors by how many times they came in the period.",
    "dwell": "Time in the mall per visit: first to last sighting (minutes).",
}


def layout(**_query: str) -> Any:
    if not can(AREA):
        return forbidden(AREA)
    return analysis.page(
        "visitors", "Visitors", "Who comes back, how often and for how long.",
        tiles("visitors-kpis", "Key figures", HELP["kpis"]),
        chart("visitors-returning", "New and returning visits per day", HELP["returning"], wide=True),
        chart("visitors-frequency", "Visit frequency", HELP["frequency"]),
        chart("visitors-dwell", "Time in the mall", HELP["dwell"]),
    )


def _visits(sel: Selection) -> pd.DataFrame:
    return analysis.period_data(sel).visits


def returning_frame(sel: Selection) -> pd.DataFrame:
    v = _visits(sel).sort_values(["dev", "start"])
    if v.empty:
        return pd.DataFrame(columns=["day", "new", "returning"])
    day = v["day"].map(date.toordinal)
    gap = day - day.groupby(v["dev"]).shift(1)
    v = v.assign(returning=gap.notna() & (gap <= 30))
    v = v[v["day"] >= sel.first]
    out = v.groupby("day")["returning"].agg(returning="sum", total="size").reset_index()
    out["new"] = out["total"] - out["returning"]
    return out[["day", "new", "returning"]]


def frequency_frame(sel: Selection) -> pd.DataFrame:
    freq = visitors.frequency(_visits(sel), sel.first, sel.last)
    return pd.DataFrame({"visits": freq.index, "visitors": freq.to_numpy()})


def dwell_frame(sel: Selection) -> pd.DataFrame:
    v = _visits(sel)
    v = v[v["day"] >= sel.first]
    return pd.DataFrame({"day": v["day"], "dwell_min": visitors.dwell_minutes(v).round(1)})


def _pct(x: float | None) -> str:
    return "—" if x is None or pd.isna(x) else f"{100 * x:.1f} %"


@callback(Output("visitors-kpis-body", "children"), Input("filters", "data"))
@guarded(lambda m: html.Div(m, className="empty"))
@require(AREA)
def kpis(filters: dict[str, Any] | None) -> Any:
    sel = selection(filters)
    data = analysis.period_data(sel)
    v = data.visits
    in_period = v[v["day"] >= sel.first]
    if in_period.empty:
        return html.Div(NO_VISITS, className="empty")
    stays = data.stays[data.stays["visit"].isin(in_period["visit"])]
    footfall = int(data.footfall["entries"].sum())
    pen = visitors.penetration(footfall, in_period, context.current().site.site.catchment_population)
    nvr = visitors.new_vs_returning(v, sel.first)
    return [
        tile("identified visits", f"{len(in_period):,}", f"{in_period['dev'].nunique():,} people"),
        tile("repeat rate, 7 days", _pct(visitors.rolling_repeat_rate(v, sel.last, 7)["rate"])),
        tile("repeat rate, 30 days", _pct(visitors.rolling_repeat_rate(v, sel.last, 30)["rate"])),
        tile("returning visits", _pct(nvr["returning"] / max(1, nvr["new"] + nvr["returning"]))),
        tile("median time in mall", f"{visitors.dwell_minutes(in_period).median():.0f} min"),
        tile("bounce rate", _pct(visitors.bounce_rate(stays))),
        tile("penetration", _pct(pen["penetration"]), f"≈{pen['unique_visitors']:,.0f} unique visitors"),
    ]


@callback(Output("visitors-returning-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def returning(filters: dict[str, Any] | None) -> go.Figure:
    frame = returning_frame(selection(filters))
    if frame.empty:
        return no_data(NO_VISITS)
    fig = go.Figure([go.Bar(x=frame["day"], y=frame["returning"], name="returning", marker_color=PALETTE[0]),
                     go.Bar(x=frame["day"], y=frame["new"], name="new", marker_color=PALETTE[1])])
    fig.update_layout(**base_layout(340), barmode="stack", xaxis=day_axis(frame["day"]),
                      yaxis={"title": "identified visits", "gridcolor": GRID},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


@callback(Output("visitors-frequency-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def frequency(filters: dict[str, Any] | None) -> go.Figure:
    frame = frequency_frame(selection(filters))
    if frame.empty:
        return no_data(NO_VISITS)
    fig = go.Figure(go.Bar(x=frame["visits"], y=frame["visitors"], marker_color=PALETTE[3]))
    fig.update_layout(**base_layout(340), xaxis={"title": "visits in the period", "dtick": 1},
                      yaxis={"title": "people", "gridcolor": GRID})
    return fig


@callback(Output("visitors-dwell-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def dwell(filters: dict[str, Any] | None) -> go.Figure:
    frame = dwell_frame(selection(filters))
    if frame.empty:
        return no_data(NO_VISITS)
    fig = go.Figure(go.Histogram(x=frame["dwell_min"], xbins={"size": 10}, marker_color=PALETTE[5]))
    fig.update_layout(**base_layout(340), xaxis={"title": "minutes"}, yaxis={"title": "visits", "gridcolor": GRID})
    return fig


csv_export("visitors-returning", returning_frame, "new-returning", AREA)
csv_export("visitors-frequency", frequency_frame, "visit-frequency", AREA)
csv_export("visitors-dwell", dwell_frame, "dwell", AREA)
analysis.selection_label("visitors", AREA)
