"""Members (marketing, admin): tiers and lifecycle, spend, behaviour tags, VIP arrivals; contact details for admins.

Member-level data is personal: the page needs the ``members`` right, and the contact list (names, phones) the
``members_pii`` right, both checked in the callbacks on the server, whatever the browser asks for.
"""

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
from dashboards.figures import GRID, PALETTE, base_layout
from dashboards.guard import guarded
from models import members
from models.live import _connection

dash.register_page(__name__, path="/members", name="Members", title="Members", order=5, area="members")
AREA = "members"
STAGES = ["new", "active", "at risk", "lapsed"]
TIERS = ["standard", "silver", "gold", "vip"]

HELP = {
    "lifecycle": "Members by tier and lifecycle at the period's end, by last activity (visit or purchase): new = "
                 "joined under 30 days ago; active = under 30 days; at risk = 30–89 days; lapsed = 90 days or more.",
    "spend": "Member-card purchases in the period: sales and spend per purchase by tier.",
    "tags": "Tags from behaviour: '<category> lover' = two visits or more with a stay in that category's shops and a "
            "median stay there of 10 minutes or more (app members).",
    "vip": "VIP arrivals: the first sighting of each visit of a VIP member (app members who consented).",
    "contacts": "Contact details of the VIP members seen in the period (admins only).",
}
NO_MEMBERS = "No members imported: import the CRM export (mallsense import members FILE)."


def layout(**_query: str) -> Any:
    if not can(AREA):
        return forbidden(AREA)
    return analysis.page(
        "members", "Members", "Who the members are, how they spend and behave — for people allowed to see it.",
        chart("members-lifecycle", "Tiers and lifecycle", HELP["lifecycle"]),
        chart("members-spend", "Spend by tier", HELP["spend"]),
        chart("members-tags", "Behaviour tags", HELP["tags"]),
        html.Section(id="members-vip", className="panel", children=[
            html.Div(className="panel-head", children=[html.H2("VIP arrivals")]),
            html.Div(id="members-vip-body", children="Loading…"), html.P(HELP["vip"], className="help")]),
        html.Section(id="members-contacts", className="panel wide", children=[
            html.Div(className="panel-head", children=[html.H2("VIP contacts")]),
            html.Div(id="members-contacts-body", children="Loading…"), html.P(HELP["contacts"], className="help")]),
    )


def lifecycle_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    life = members.lifecycle(data.members, data.last_visit, data.purchases, sel.last)
    return life.groupby(["tier", "stage"]).size().rename("members").reset_index()


def spend_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    return members.spend_per_tier(data.members, data.purchases).reset_index()


def tags_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    stays = data.stays
    tags = members.behaviour_tags(context.current().site, data.members, stays)
    return tags["tag"].value_counts().rename_axis("tag").rename("members").reset_index()


def vip_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    v = data.period_visits
    out = members.vip_arrivals(data.members, v, context.current().site)
    return out.assign(arrived=out["arrived"].dt.strftime("%Y-%m-%d %H:%M"))


@callback(Output("members-lifecycle-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def lifecycle(filters: dict[str, Any] | None) -> go.Figure:
    frame = lifecycle_frame(selection(filters))
    if frame.empty:
        return no_data(NO_MEMBERS)
    fig = go.Figure()
    for k, stage in enumerate(STAGES):
        counts = frame[frame["stage"] == stage].set_index("tier")["members"].reindex(TIERS, fill_value=0)
        fig.add_trace(go.Bar(x=TIERS, y=counts.to_numpy(), name=stage, marker_color=PALETTE[k]))
    fig.update_layout(**base_layout(340), barmode="stack", yaxis={"title": "members", "gridcolor": GRID},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


@callback(Output("members-spend-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def spend(filters: dict[str, Any] | None) -> go.Figure:
    frame = spend_frame(selection(filters))
    if frame.empty:
        return no_data("No member-card purchases in this period (import the POS export or connect the POS).")
    frame = frame.set_index("tier").reindex([t for t in TIERS if t in set(frame["tier"])]).reset_index()
    fig = go.Figure([go.Bar(x=frame["tier"], y=frame["sales"], name="sales", marker_color=PALETTE[0]),
                     go.Scatter(x=frame["tier"], y=frame["spend_per_purchase"], name="per purchase", yaxis="y2",
                                mode="lines+markers", marker_color=PALETTE[2])])
    fig.update_layout(**base_layout(340), yaxis={"title": "sales", "gridcolor": GRID},
                      yaxis2={"title": "spend per purchase", "overlaying": "y", "side": "right"},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


@callback(Output("members-tags-graph", "figure"), Input("filters", "data"))
@guarded(no_data)
@require(AREA)
def tags(filters: dict[str, Any] | None) -> go.Figure:
    frame = tags_frame(selection(filters))
    if frame.empty:
        return no_data("No tags: too few identified visits of app members in this period.")
    frame = frame.sort_values("members")
    fig = go.Figure(go.Bar(x=frame["members"], y=frame["tag"], orientation="h", marker_color=PALETTE[4]))
    fig.update_layout(**base_layout(max(340, 22 * len(frame) + 90)), xaxis={"title": "members", "gridcolor": GRID},
                      yaxis={"automargin": True, "tickmode": "array", "tickvals": frame["tag"].tolist()})
    return fig


@callback(Output("members-vip-body", "children"), Input("filters", "data"))
@guarded(lambda m: html.Div(m, className="empty"))
@require(AREA)
def vip(filters: dict[str, Any] | None) -> Any:
    frame = vip_frame(selection(filters))
    if frame.empty:
        return html.Div("No VIP member arrived in this period (or none uses the app).", className="empty")
    recent = frame.tail(12).iloc[::-1]
    return html.Table([html.Thead(html.Tr([html.Th("member"), html.Th("arrived (mall time)")])),
                       html.Tbody([html.Tr([html.Td(r.member_id), html.Td(r.arrived)]) for r in recent.itertuples()])],
                      className="totals-table")


@callback(Output("members-contacts-body", "children"), Input("filters", "data"))
@guarded(lambda m: html.Div(m, className="empty"))
@require("members_pii")
def contacts(filters: dict[str, Any] | None) -> Any:
    sel = selection(filters)
    seen = set(vip_frame(sel)["member_id"])
    cockpit = context.current()
    with _connection(cockpit.pool) as conn:
        rows = conn.execute("SELECT member_id, name, phone, tier FROM member WHERE site = %s AND tier = 'vip' "
                            "ORDER BY member_id", (cockpit.site.site.id,)).fetchall()
    rows = [r for r in rows if r[0] in seen]
    if not rows:
        return html.Div("No VIP member seen in this period.", className="empty")
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in ("member", "name", "phone", "tier")])),
                       html.Tbody([html.Tr([html.Td(x or "—") for x in r]) for r in rows[:50]])],
                      className="totals-table")


csv_export("members-lifecycle", lifecycle_frame, "member-lifecycle", AREA)
csv_export("members-spend", spend_frame, "member-spend", AREA)
csv_export("members-tags", tags_frame, "member-tags", AREA)
analysis.selection_label("members", AREA)
