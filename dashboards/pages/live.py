"""Live: occupancy now, per-entrance in/out over the last hours, a floor heatmap and sensor health (operators)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import dash
import psycopg
from dash import Input, Output, callback, dcc, html

from dashboards import context
from dashboards.figures import empty_figure, entrance_chart, floor_plan
from models import live

log = logging.getLogger(__name__)
dash.register_page(__name__, path="/", name="Live", order=0)
REFRESH_MS = 5_000
FLOW_HOURS = 3
HEATMAP_MINUTES = 15
CELL_M = 2.0
HELP = [
    ("Occupancy", "entries − exits through every entrance line since the mall's local midnight (never below 0)."),
    ("Footfall", "entries through entrance lines per interval; exits are drawn downwards."),
    ("In view", "people the overhead cameras count in the mall's common areas at their latest snapshot."),
    ("Heatmap", f"track positions from the overhead cameras over the last {HEATMAP_MINUTES} minutes, "
                f"{CELL_M:g} m cells."),
    ("Mall time", "the time of the newest crossing received, in the mall's time zone (the demo replays a day)."),
]


def layout(**_query) -> html.Div:
    site = context.current().site
    floors = sorted(site.floors, key=lambda f: f.level)
    default_floor = next((f.id for f in floors if f.level == 0), floors[0].id)
    return html.Div(className="page live", children=[
        dcc.Interval(id="live-interval", interval=REFRESH_MS, n_intervals=0),
        html.Div(id="live-clock", className="clock"),
        html.Div(className="row", children=[
            html.Section(id="live-occupancy", className="panel occupancy", children="Loading…"),
            html.Section(className="panel grow", children=[
                html.H3("Entrances: in and out, last 3 hours"),
                html.Div(id="live-entrances", children=dcc.Graph(id="live-entrances-graph",
                                                                 config={"displaylogo": False})),
                html.Div(id="live-entrance-totals", className="totals"),
            ]),
        ]),
        html.Div(className="row", children=[
            html.Section(className="panel grow", children=[
                html.Div(className="panel-head", children=[
                    html.H3(f"Where people are: last {HEATMAP_MINUTES} minutes"),
                    dcc.RadioItems(id="live-floor", value=default_floor, inline=True, className="floor-picker",
                                   options=[{"label": f.name, "value": f.id} for f in reversed(floors)]),
                ]),
                html.Div(id="live-heatmap", children=dcc.Graph(id="live-heatmap-graph",
                                                               config={"displaylogo": False})),
            ]),
            html.Section(className="panel side", children=[
                html.H3("Sensor health"),
                html.Div(id="live-health"),
                html.Details(className="help", children=[html.Summary("What these numbers mean"), html.Dl([
                    item for term, text in HELP for item in (html.Dt(term), html.Dd(text))
                ])]),
            ]),
        ]),
    ])


def _now(conn: psycopg.Connection, site_id: str) -> datetime | None:
    clock = live.data_clock(conn, site_id)
    return min(clock, datetime.now(UTC)) if clock else None


@callback(
    Output("live-clock", "children"),
    Output("live-occupancy", "children"),
    Output("live-entrances-graph", "figure"),
    Output("live-entrance-totals", "children"),
    Output("live-health", "children"),
    Input("live-interval", "n_intervals"),
)
def refresh_live(_n: int):
    ctx = context.current()
    site = ctx.site
    try:
        with ctx.pool.connection() as conn:
            now = _now(conn, site.site.id)
            health = live.node_health(conn, site.site.id)
            if now is None:
                msg = "No crossings received yet — is ingest running and are the entrance cameras publishing?"
                return ("waiting for data", html.Div(msg, className="empty"), empty_figure(msg), "",
                        _health(health))
            occ = live.occupancy_now(conn, site, now)
            flows = live.entrance_flows(conn, site.site.id, now - timedelta(hours=FLOW_HOURS), now)
            totals = live.entrance_totals(conn, site.site.id, live.local_day_start(site, now), now)
    except psycopg.Error:
        log.exception("live page query failed")
        msg = "The database is not answering; retrying every few seconds."
        return "database unavailable", html.Div(msg, className="empty"), empty_figure(msg), "", ""
    local = now.astimezone(site.site.tz)
    clock = f"as of {local:%H:%M:%S} on {local:%a %d %b %Y} (mall time)"
    floors = {f.id: f.name for f in site.floors}
    occupancy = [
        html.Div("People in the mall now", className="label"),
        html.Div(f"{occ.people:,}", className="big-number"),
        html.Div(f"today: {occ.entries_today:,} in · {occ.exits_today:,} out", className="sub"),
        html.Div(className="floors", children=[
            html.Div([html.Span(floors[f], className="floor-name"), html.Span(f"{n:,} in view", className="n")])
            for f, n in sorted(occ.in_view_by_floor.items(), key=lambda kv: -site.floor_by_id[kv[0]].level)
        ]),
    ]
    figure = entrance_chart(site, flows) if flows else empty_figure("No crossings in the last 3 hours")
    names = {e.id: e.name for e in site.entrances}
    table = html.Table(className="totals-table", children=[
        html.Thead(html.Tr([html.Th("Entrance today"), html.Th("in"), html.Th("out")])),
        html.Tbody([html.Tr([html.Td(names.get(line, line)), html.Td(f"{i:,}"), html.Td(f"{o:,}")])
                    for line, (i, o) in sorted(totals.items(), key=lambda kv: -kv[1][0])]),
    ])
    return clock, occupancy, figure, table, _health(health)


def _health(nodes: list[live.NodeHealth]):
    if not nodes:
        return html.Div("No edge node has reported yet.", className="empty")
    items = []
    for n in nodes:
        stale = n.age_s > 60
        state = "offline" if n.status != "online" else ("silent" if stale else "online")
        depth = f" · outbox {n.outbox_depth}" if n.outbox_depth else ""
        items.append(html.Li(className=f"node {state}", children=[
            html.Span(n.node, className="node-name"),
            html.Span(f"{state} · heard {n.age_s:.0f} s ago{depth}", className="node-state"),
        ]))
    return html.Ul(items, className="health-list")


@callback(Output("live-heatmap-graph", "figure"), Input("live-interval", "n_intervals"), Input("live-floor", "value"))
def refresh_heatmap(_n: int, floor: str):
    ctx = context.current()
    site = ctx.site
    if floor not in site.floor_by_id:
        return empty_figure("Unknown floor")
    try:
        with ctx.pool.connection() as conn:
            now = _now(conn, site.site.id)
            if now is None:
                return floor_plan(site, floor, [], CELL_M, "no positions received yet")
            cells = live.heatmap(conn, site.site.id, floor, now - timedelta(minutes=HEATMAP_MINUTES), now, CELL_M)
    except psycopg.Error:
        log.exception("heatmap query failed")
        return empty_figure("The database is not answering; retrying every few seconds.")
    title = "" if cells else f"no positions on this floor in the last {HEATMAP_MINUTES} minutes"
    return floor_plan(site, floor, cells, CELL_M, title)
