"""Campaigns (event planners, marketing): footfall uplift against control stores with its interval, day by day."""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, html

from dashboards import analysis, context
from dashboards.analysis import Selection, chart, csv_export, no_data, selection
from dashboards.app import forbidden
from dashboards.auth import can, require
from dashboards.figures import GRID, MUTED, PALETTE, base_layout, day_axis
from dashboards.guard import guarded
from models import campaigns, members

dash.register_page(__name__, path="/campaigns", name="Campaigns", title="Campaigns", order=4, area="campaigns")
AREA = "campaigns"

HELP = {
    "uplift": "Uplift = difference-in-differences of the daily entries of the campaign's target stores against its "
              "control stores: exp(mean log-ratio during − mean log-ratio in up to 28 days before) − 1, with the "
              "95 % interval (Welch t). An interval that crosses 0 % means no measurable effect.",
    "daily": "Daily entries of the target and control stores; the campaign's days are shaded.",
    "attributed": "Attributed: transactions and sales in the target stores on the campaign's days, and the app "
                  "members who entered a target store then.",
}
NO_CAMPAIGN = ("No campaign of the site file runs inside this period: widen the period to include a campaign and "
               "some weeks before it (the baseline).")


def layout(**_query: str) -> Any:
    if not can(AREA):
        return forbidden(AREA)
    return analysis.page(
        "campaigns", "Campaigns", "Did the event bring people? Uplift against comparable stores, with its interval.",
        chart("campaigns-uplift", "Uplift with its 95 % interval", HELP["uplift"]),
        chart("campaigns-daily", "Target and control stores, day by day", HELP["daily"], wide=True),
        html.Section(id="campaigns-attributed", className="panel wide", children=[
            html.Div(className="panel-head", children=[html.H2("Attributed to the campaigns")]),
            html.Div(id="campaigns-attributed-body", children="Loading…"),
            html.P(HELP["attributed"], className="help")]),
    )


def results(sel: Selection) -> list[dict[str, Any]]:
    data = analysis.period_data(sel)
    site = context.current().site
    dev_member = members.member_of_device(data.members)
    return [campaigns.evaluate(site, c, data.doors, data.footfall, data.sales, data.stays, dev_member,
                               data.period.days) for c in site.campaigns]


def results_frame(sel: Selection) -> pd.DataFrame:
    rows = []
    for r in results(sel):
        u = r.get("uplift") or {}
        rows.append({"campaign": r["id"], "first_day": r["first_day"], "last_day": r["last_day"],
                     "uplift": u.get("point"), "lo": u.get("lo"), "hi": u.get("hi"), "method": u.get("method"),
                     "attributed_transactions": r.get("attributed_transactions"),
                     "attributed_sales": r.get("attributed_sales"), "attributed_members": r.get("attributed_members"),
                     "problem": r.get("problem", "")})
    return pd.DataFrame(rows)


def daily_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    rows = []
    for c in context.current().site.campaigns:
        for group, ids in (("target", c.target_stores), ("control", c.control_stores)):
            per = data.doors[data.doors["line"].isin(ids)].groupby("day")["entries"].sum()
            rows += [{"campaign": c.id, "group": group, "day": d, "entries": int(n)} for d, n in per.items()]
    return pd.DataFrame(rows, columns=["campaign", "group", "day", "entries"])


@callback(Output("campaigns-uplift-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def uplift(filters: dict[str, Any] | None) -> go.Figure:
    frame = results_frame(selection(filters)).dropna(subset=["uplift"])
    if frame.empty:
        return no_data(NO_CAMPAIGN)
    fig = go.Figure(go.Scatter(
        x=frame["uplift"] * 100, y=frame["campaign"], mode="markers", marker={"size": 14, "color": PALETTE[0]},
        error_x={"type": "data", "symmetric": False, "array": (frame["hi"] - frame["uplift"]) * 100,
                 "arrayminus": (frame["uplift"] - frame["lo"]) * 100, "thickness": 3, "width": 8},
        hovertemplate="%{y}: %{x:.1f} %<extra></extra>"))
    fig.add_vline(x=0, line={"color": MUTED, "dash": "dash"})
    fig.update_layout(**base_layout(340), xaxis={"title": "uplift, % (95 % interval)", "gridcolor": GRID},
                      yaxis={"automargin": True})
    return fig


@callback(Output("campaigns-daily-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def daily(filters: dict[str, Any] | None) -> go.Figure:
    sel = selection(filters)
    frame = daily_frame(sel)
    if frame.empty:
        return no_data(NO_CAMPAIGN)
    site = context.current().site
    fig = go.Figure()
    for k, c in enumerate(site.campaigns):
        for group, dash_ in (("target", "solid"), ("control", "dot")):
            rows = frame[(frame["campaign"] == c.id) & (frame["group"] == group)]
            fig.add_trace(go.Scatter(x=rows["day"], y=rows["entries"], mode="lines+markers", name=f"{c.id}: {group}",
                                     line={"color": PALETTE[k % len(PALETTE)], "dash": dash_}))
        first, last = campaigns.campaign_days(site, c)
        if sel.first <= last and first <= sel.last:
            half = pd.Timedelta(hours=12)
            fig.add_vrect(x0=pd.Timestamp(first) - half, x1=pd.Timestamp(last) + half,
                          fillcolor=PALETTE[k % len(PALETTE)], opacity=0.08, line_width=0)
    fig.update_layout(**base_layout(340), xaxis=day_axis(frame["day"]),
                      yaxis={"title": "store entries per day", "gridcolor": GRID},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


@callback(Output("campaigns-attributed-body", "children"), Input("filters", "data"))
@guarded(lambda m: html.Div(m, className="empty"))
@require(AREA)
def attributed(filters: dict[str, Any] | None) -> Any:
    frame = results_frame(selection(filters))
    if frame.empty:
        return html.Div(NO_CAMPAIGN, className="empty")
    head = html.Tr([html.Th(h) for h in ("campaign", "days", "uplift", "transactions", "sales", "members", "note")])
    rows = []
    for r in frame.itertuples():
        est = "—" if pd.isna(r.uplift) else f"{100 * r.uplift:+.1f} % [{100 * r.lo:+.1f}, {100 * r.hi:+.1f}]"
        def count(x: Any) -> str:
            return "—" if pd.isna(x) else f"{int(x):,}"

        rows.append(html.Tr([html.Td(r.campaign), html.Td(f"{r.first_day} – {r.last_day}"), html.Td(est),
                             html.Td(count(r.attributed_transactions)),
                             html.Td("—" if pd.isna(r.attributed_sales) else f"{r.attributed_sales:,.2f}"),
                             html.Td(count(r.attributed_members)), html.Td(r.problem)]))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="totals-table")


csv_export("campaigns-uplift", results_frame, "campaign-uplift", AREA)
csv_export("campaigns-daily", daily_frame, "campaign-daily", AREA)
analysis.selection_label("campaigns", AREA)
