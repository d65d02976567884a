"""Leasing (leasing teams): hot and cold zones on the plan, store performance, co-visit lift and placement ideas."""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, html

from dashboards import analysis, context, floorplan
from dashboards.analysis import NO_COUNTS, NO_VISITS, Selection, chart, csv_export, no_data, selection
from dashboards.app import forbidden
from dashboards.auth import can, require
from dashboards.figures import GRID, base_layout
from dashboards.guard import guarded
from mallsense.geometry import centroid
from mallsense.site import ZoneKind
from models import adjacency, stores

dash.register_page(__name__, path="/leasing", name="Leasing", title="Leasing", order=3, area="leasing")
AREA = "leasing"
TOP_STORES = 20

HELP = {
    "plan": "Shops coloured by entries per m² against the median shop (red: hot ≥ 1.5×, blue: cold ≤ 0.5×); "
            "corridors and atria by people per m² over opening hours against the median zone. Hover for figures.",
    "stores": "Entries = door-counter entries. Capture rate = entries ÷ people the cameras saw in the corridor in "
              "front. Conversion = transactions ÷ entries. Spend per visitor = sales ÷ entries.",
    "lift": "Co-visit lift(A, B) = P(A and B in one visit) ÷ (P(A)·P(B)) over identified visits; above 1 the two are "
            "visited together more often than chance. Pairs seen together under 5 times are blank.",
    "network": "Each line joins two shops with a co-visit lift of 1.5 or more (thicker: higher lift); the floors are "
               "stacked (lowest at the bottom), shops at their place on the plan. Hover a dot for the shop.",
    "transitions": "P(next shop B | shop A): of the identified visits that went on from shop A to another shop, the "
                   "share that went to B next. The most frequent moves first.",
    "suggestions": "Pairs with lift ≥ 1.5: bring together when more than 25 m apart or on different floors, "
                   "co-promote when already neighbours. Cold zones beside hot ones: extend the hot zone's draw.",
}


def layout(**_query: str) -> Any:
    if not can(AREA):
        return forbidden(AREA)
    return analysis.page(
        "leasing", "Leasing", "Which shops draw, which convert, which go together — and where to put the next one.",
        chart("leasing-plan", "Hot and cold on the plan", HELP["plan"], wide=True, height=420),
        chart("leasing-stores", "Store performance", HELP["stores"], wide=True, height=460),
        chart("leasing-lift", "Co-visit lift between shops", HELP["lift"], height=520),
        chart("leasing-network", "Shops that go together, on the plan", HELP["network"], height=520),
        chart("leasing-transitions", "Where shoppers go next", HELP["transitions"], wide=True, height=360),
        html.Section(id="leasing-suggestions", className="panel", children=[
            html.Div(className="panel-head", children=[html.H2("Placement suggestions")]),
            html.Div(id="leasing-suggestions-body", children="Loading…"),
            html.P(HELP["suggestions"], className="help")]),
    )


def performance_frame(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    site = context.current().site
    perf = stores.store_performance(site, data.doors, data.sales, stores.passers_by_zone(site, data.people))
    return perf[perf["store"].isin(analysis.stores_in(site, sel))].reset_index(drop=True)


def _stays(sel: Selection) -> pd.DataFrame:
    data = analysis.period_data(sel)
    return data.stays


def lift_frame(sel: Selection) -> pd.DataFrame:
    keep = set(analysis.stores_in(context.current().site, sel))
    lift = adjacency.covisit_lift(_stays(sel))
    return lift[lift["a"].isin(keep) & lift["b"].isin(keep)].reset_index(drop=True)


@callback(Output("leasing-plan-graph", "figure"), Input("filters", "data"))
@guarded(lambda m: no_data(m, 420))
@require(AREA)
def plan(filters: dict[str, Any] | None) -> go.Figure:
    sel = selection(filters)
    site = context.current().site
    perf = performance_frame(sel)
    if perf["entries"].sum() == 0:
        return no_data(NO_COUNTS, 420)
    floor = sel.floor or next((f.id for f in site.floors if f.level == 0), site.floors[0].id)
    shops = stores.hot_cold_stores(perf)
    zones = stores.hot_cold_zones(site, analysis.period_data(sel).occupancy)
    traces, annotations = [], []
    store_of_zone = {s.zone: s for s in site.stores}
    for zone in site.zones:
        if zone.floor != floor:
            continue
        store = store_of_zone.get(zone.id)
        if store is not None and store.id in shops.index:
            ratio, text = shops.loc[store.id, "vs_median"], f"{store.name}: {perf.set_index('store').loc[store.id, 'entries']:,} entries, {shops.loc[store.id, 'entries_per_m2']:.1f}/m²"  # noqa: E501
        elif zone.id in zones.index:
            ratio, text = zones.loc[zone.id, "vs_median"], f"{zone.name}: {zones.loc[zone.id, 'people_per_m2']:.3f} people/m²"  # noqa: E501
        elif zone.kind == ZoneKind.STORE or zone.kind == ZoneKind.CORRIDOR:
            ratio, text = None, f"{zone.name}: no data"
        else:
            ratio, text = None, zone.name
        xs = [p[0] for p in zone.polygon] + [zone.polygon[0][0]]
        ys = [p[1] for p in zone.polygon] + [zone.polygon[0][1]]
        traces.append(go.Scatter(x=xs, y=ys, fill="toself", mode="lines", line={"color": "#94a3b8", "width": 1},
                                 fillcolor=_heat(ratio), hoverinfo="text", text=text, showlegend=False))
        cx, cy = centroid(zone.polygon)
        label = store.name if store is not None else zone.name
        annotations.append({"x": cx, "y": cy, "text": label[:16], "showarrow": False,
                            "font": {"size": 10, "color": "#0f172a"}})
    fig = go.Figure(data=traces)  # all at once: adding traces one by one is quadratic (a real mall has 170+ units)
    fig.update_layout(annotations=annotations)
    floorplan.add_background(fig, site, floor)
    fig.update_layout(**base_layout(420), xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
                      title={"text": next(f.name for f in site.floors if f.id == floor), "x": 0.01, "y": 0.98})
    return fig


def _heat(ratio: float | None) -> str:
    if ratio is None or pd.isna(ratio):
        return "rgba(241,245,249,0.6)"
    if ratio >= 1:
        a = min(0.85, 0.15 + 0.35 * (ratio - 1))
        return f"rgba(220,38,38,{a:.2f})"
    a = min(0.75, 0.15 + 0.6 * (1 - ratio))
    return f"rgba(37,99,235,{a:.2f})"


@callback(Output("leasing-stores-graph", "figure"), Input("filters", "data"))
@guarded(lambda m: no_data(m, 460))
@require(AREA)
def store_table(filters: dict[str, Any] | None) -> go.Figure:
    perf = performance_frame(selection(filters)).sort_values("entries", ascending=False)
    if perf.empty or perf["entries"].sum() == 0:
        return no_data(NO_COUNTS, 460)

    def pct(col: pd.Series) -> list[str]:
        return ["—" if pd.isna(x) else f"{100 * x:.1f} %" for x in col]

    fig = go.Figure(go.Table(
        header={"values": ["store", "category", "entries", "capture", "conversion", "spend / visitor", "sales"],
                "fill_color": "#0f172a", "font": {"color": "white", "size": 13}, "align": "left"},
        cells={"values": [perf["name"], perf["category"], [f"{n:,}" for n in perf["entries"]],
                          pct(perf["capture_rate"]), pct(perf["conversion"]),
                          ["—" if pd.isna(x) else f"{x:,.1f}" for x in perf["spend_per_visitor"]],
                          [f"{x:,.0f}" for x in perf["sales"]]], "align": "left", "height": 26}))
    fig.update_layout(**base_layout(460))
    fig.update_layout(margin={"l": 4, "r": 4, "t": 4, "b": 4})
    return fig


@callback(Output("leasing-lift-graph", "figure"), Input("filters", "data"))
@guarded(lambda m: no_data(m, 520))
@require(AREA)
def lift_matrix(filters: dict[str, Any] | None) -> go.Figure:
    sel = selection(filters)
    lift = lift_frame(sel)
    if lift.empty:
        return no_data(NO_VISITS, 520)
    site = context.current().site
    counts = _stays(sel)["store"].value_counts()
    top = [s for s in counts.index if s in set(lift["a"]) | set(lift["b"])][:TOP_STORES]
    matrix = pd.DataFrame(index=top, columns=top, dtype=float)
    for r in lift.itertuples():
        if r.a in matrix.index and r.b in matrix.index:
            matrix.loc[r.a, r.b] = matrix.loc[r.b, r.a] = r.lift
    names = [site.store_by_id[s].name[:18] for s in top]
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=names, y=names, colorscale="RdBu_r", zmin=0.0, zmax=2.0,
                               hovertemplate="%{y} + %{x}: lift %{z:.2f}<extra></extra>", colorbar={"title": "lift"}))
    fig.update_layout(**base_layout(520), xaxis={"tickangle": -45, "gridcolor": GRID}, yaxis={"autorange": "reversed"})
    fig.update_layout(margin={"l": 140, "b": 130})
    return fig


@callback(Output("leasing-suggestions-body", "children"), Input("filters", "data"))
@guarded(lambda m: html.Div(m, className="empty"))
@require(AREA)
def suggestions(filters: dict[str, Any] | None) -> Any:
    sel = selection(filters)
    site = context.current().site
    ideas = adjacency.placement_suggestions(site, lift_frame(sel), limit=8)
    zones = stores.hot_cold_zones(site, analysis.period_data(sel).occupancy)
    spread = stores.cold_next_to_hot(site, zones)
    if not ideas and not spread:
        return html.Div(NO_VISITS, className="empty")
    items = [html.Li([html.B(f"{a} + {b}"), f": lift {s['lift']} over {s['together']} visits — {s['suggestion']}"])
             for s in ideas for a, b in [s["names"]]]
    items += [html.Li(f"Cold {site.zone_by_id[x['cold']].name} beside hot {site.zone_by_id[x['hot']].name}: extend "
                      "the draw (events, wayfinding)") for x in spread[:4]]
    return html.Ul(items, className="suggestions")


def transitions_frame(sel: Selection) -> pd.DataFrame:
    keep = set(analysis.stores_in(context.current().site, sel))
    moves = adjacency.transitions(_stays(sel))
    return moves[moves["a"].isin(keep)].sort_values("moves", ascending=False).reset_index(drop=True)


@callback(Output("leasing-network-graph", "figure"), Input("filters", "data"))
@guarded(lambda m: no_data(m, 520))
@require(AREA)
def network(filters: dict[str, Any] | None) -> go.Figure:
    lift = lift_frame(selection(filters))
    strong = lift[lift["lift"] >= adjacency.HIGH_LIFT]
    if strong.empty:
        return no_data(NO_VISITS, 520)
    site = context.current().site
    floors = sorted(site.floors, key=lambda f: f.level)
    shift = {f.id: k * 100.0 for k, f in enumerate(floors)}  # floors stacked, the lowest at the bottom

    def place(store_id: str) -> tuple[float, float]:
        zone = site.zone_by_id[site.store_by_id[store_id].zone]
        x, y = centroid(zone.polygon)
        return x, y + shift[zone.floor]

    fig = go.Figure()
    top = strong["lift"].max()
    for r in strong.itertuples():
        (xa, ya), (xb, yb) = place(r.a), place(r.b)
        fig.add_trace(go.Scatter(x=[xa, xb], y=[ya, yb], mode="lines", hoverinfo="skip", showlegend=False,
                                 line={"width": 1 + 5 * r.lift / top, "color": "rgba(220,38,38,0.45)"}))
    shops = sorted(set(strong["a"]) | set(strong["b"]))
    xy = [place(s) for s in shops]
    fig.add_trace(go.Scatter(x=[p[0] for p in xy], y=[p[1] for p in xy], mode="markers", showlegend=False,
                             text=[site.store_by_id[s].name for s in shops], marker={"size": 11, "color": "#1d4ed8"},
                             hoverinfo="text"))
    for f in floors:
        outline = f.outline
        xs = [p[0] for p in outline] + [outline[0][0]]
        ys = [p[1] + shift[f.id] for p in outline] + [outline[0][1] + shift[f.id]]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#cbd5e1", "width": 1}, hoverinfo="skip",
                                 showlegend=False))
        fig.add_annotation(x=min(xs), y=max(ys), text=f.name, showarrow=False, xanchor="left", yanchor="bottom",
                           font={"size": 12})
    fig.update_layout(**base_layout(520), xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"})
    return fig


@callback(Output("leasing-transitions-graph", "figure"), Input("filters", "data"))
@guarded(lambda m: no_data(m, 360))
@require(AREA)
def transitions(filters: dict[str, Any] | None) -> go.Figure:
    moves = transitions_frame(selection(filters)).head(15)
    if moves.empty:
        return no_data(NO_VISITS, 360)
    names = context.current().site.store_by_id
    labels = [f"{names[a].name} → {names[b].name}" for a, b in zip(moves["a"], moves["b"], strict=True)]
    fig = go.Figure(go.Bar(x=moves["p"] * 100, y=labels, orientation="h", marker_color="#7c3aed",
                           customdata=moves["moves"], hovertemplate="%{y}: %{x:.1f} % (%{customdata} moves)"
                                                                    "<extra></extra>"))
    fig.update_layout(**base_layout(360), xaxis={"title": "P(next shop | this shop), %", "gridcolor": GRID},
                      yaxis={"autorange": "reversed", "automargin": True, "tickmode": "array", "tickvals": labels})
    return fig


csv_export("leasing-network", lift_frame, "covisit-network", AREA)
csv_export("leasing-transitions", transitions_frame, "transitions", AREA)
csv_export("leasing-plan", performance_frame, "store-density", AREA)
csv_export("leasing-stores", performance_frame, "store-performance", AREA)
csv_export("leasing-lift", lift_frame, "covisit-lift", AREA)
analysis.selection_label("leasing", AREA)
