"""Live (operators): people in the mall now, entrance flows, where people are, and whether the sensors are up.

Every 5 s ``live-interval`` reads the data clock into ``live-now``; each panel then refreshes from that one clock in
its own callback, so a slow or failing panel never blocks the others.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from dashboards import context
from dashboards.auth import can
from dashboards.figures import FLOW_HEIGHT, empty_figure, entrance_chart
from dashboards.floorplan import FLOOR_PLAN_HEIGHT, floor_plan
from dashboards.guard import guarded
from mallsense.contract import CameraAudit
from mallsense.site import Site
from models import live

dash.register_page(__name__, path="/", name="Live", title="Live", order=0, area="live")

REFRESH_MS = 5_000
FLOW_WINDOW = timedelta(hours=3)
FLOW_BUCKET = timedelta(minutes=5)
HEATMAP_WINDOW = timedelta(minutes=15)
CELL_M = 2.0
DEAD_LETTER_WINDOW = timedelta(hours=1)
OUTBOX_BACKLOG = 100  # batches waiting on a node's disk worth showing on its chip (a few are normal: unacknowledged)
NO_CROSSINGS = "No crossings received yet — is ingest running, and are the entrance cameras publishing?"

HELP = {
    "occupancy": "Occupancy = entries − exits through every entrance line since local midnight (never below 0); "
                 "compared with the entries by the same clock time on the same weekday of the last four weeks. "
                 "Per floor: people the cameras see there now, and crossings through that floor's doors (—: none).",
    "entrances": "Footfall = entries through entrance lines per 5-minute interval (bars up); exits are drawn down. "
                 "Totals count from local midnight.",
    "heatmap": f"Positions of tracked people from the overhead cameras over the last "
               f"{int(HEATMAP_WINDOW.total_seconds() // 60)} minutes, counted in {CELL_M:g} m cells. "
               "Hover a store for its name.",
    "health": "A node is online when it said so and was heard within a minute; silent when it went quiet; "
              "offline when it (or its last will) said so.",
}


# --------------------------------------------------------------------------------------------------- layout
def _panel(panel_id: str, title: str, help_key: str, *body: Any, extra: Any = None) -> html.Section:
    head = [html.H2(title)] + ([extra] if extra is not None else [])
    return html.Section(id=panel_id, className=f"panel {panel_id}", children=[
        html.Div(head, className="panel-head"), *body, html.P(HELP[help_key], className="help"),
    ])


def layout(**_query: str) -> html.Div:
    """The page; its panels fill from the callbacks below."""
    site = context.current().site
    floors = sorted(site.floors, key=lambda f: f.level)
    default_floor = next((f.id for f in floors if f.level == 0), floors[0].id)
    loading = empty_figure("Loading…", height=FLOOR_PLAN_HEIGHT)
    return html.Div(className="page live", children=[
        dcc.Interval(id="live-interval", interval=REFRESH_MS, n_intervals=0),
        dcc.Store(id="live-now"),
        html.Div(id="live-health", className="health-strip", children="Checking sensors…"),
        html.Div(id="live-alerts", className="alerts", children=[]),
        html.Div(className="live-grid", children=[
            _panel("live-occupancy", "People in the mall", "occupancy",
                   html.Div(id="live-occupancy-body", className="occupancy-body", children="Loading…")),
            _panel("live-heatmap", "Where people are", "heatmap",
                   dcc.Graph(id="live-heatmap-graph", figure=loading, config={"displayModeBar": False}),
                   extra=dcc.RadioItems(
                       id="live-floor", value=default_floor, inline=True, className="floor-picker",
                       options=[{"label": f.name, "value": f.id} for f in floors])),
            _panel("live-entrances", f"Entrances: in and out, last {FLOW_WINDOW.total_seconds() / 3600:g} hours",
                   "entrances",
                   html.Div(className="entrances-body", children=[
                       dcc.Graph(id="live-entrances-graph", figure=empty_figure("Loading…", height=FLOW_HEIGHT),
                                 config={"displayModeBar": False}, className="entrances-graph"),
                       html.Div(id="live-entrances-totals", className="entrances-totals"),
                   ])),
        ]),
    ])


# --------------------------------------------------------------------------------------------------- the clock
def _clock_problem(message: str) -> dict[str, Any]:
    return {"now": None, "problem": message}


@callback(Output("live-now", "data"), Input("live-interval", "n_intervals"))
@guarded(_clock_problem)
def read_clock(_n: int | None) -> dict[str, Any]:
    """The data clock (newest crossing, never ahead of wall time) that every panel of this refresh uses."""
    cockpit = context.current()
    now = live.data_clock(cockpit.pool, cockpit.site.site.id)
    return {"now": now.isoformat(), "problem": None} if now else _clock_problem(NO_CROSSINGS)


def _now(clock: dict[str, Any] | None) -> tuple[datetime | None, str]:
    """The clock's instant, or None and the reason there is none."""
    if not clock:
        return None, "Waiting for the first refresh…"
    if clock.get("now"):
        return datetime.fromisoformat(clock["now"]), ""
    return None, clock.get("problem") or NO_CROSSINGS


def mall_time(site: Site, now: datetime) -> str:
    local = now.astimezone(site.site.tz)
    return f"as of {local:%H:%M:%S} (mall time) · {local:%a %d %b %Y}"


# --------------------------------------------------------------------------------------------------- occupancy
def _empty(message: str) -> html.Div:
    return html.Div(message, className="empty")


@callback(Output("live-occupancy-body", "children"), Input("live-now", "data"))
@guarded(_empty)
def show_occupancy(clock: dict[str, Any] | None) -> Any:
    """The big number, today's in/out, and per-floor counts."""
    now, problem = _now(clock)
    if now is None:
        return _empty(problem)
    cockpit = context.current()
    site = cockpit.site
    occ = live.occupancy_now(cockpit.pool, site, now)
    names = {f.id: f.name for f in site.floors}
    with_doors = {e.floor for e in site.entrances}

    def in_view(n: int | None) -> str:
        return "—" if n is None else f"{n:,}"

    def doors(floor: str, n: int) -> str:
        return f"{n:,}" if floor in with_doors else "—"

    return [
        html.Div(f"{occ.people:,}", className="big-number"),
        html.Div(mall_time(site, now), id="live-clock", className="clock"),
        html.Div(f"since midnight: {occ.entries:,} in · {occ.exits:,} out", className="sub"),
        html.Div(_versus(live.same_time_past_weeks(cockpit.pool, site, now), occ.entries, now, site),
                 id="live-versus", className="versus"),
        html.Table(className="floor-table", children=[
            html.Thead(html.Tr([html.Th("Floor"), html.Th("in view"), html.Th("doors in"), html.Th("doors out"),
                                html.Th("WiFi est.", title="people estimated from phones' WiFi probes, last 5 min "
                                                          "(an estimate, not a count: docs/wifi.md)")])),
            html.Tbody([
                html.Tr([html.Td(names[f.floor]), html.Td(in_view(f.in_view), className="strong"),
                         html.Td(doors(f.floor, f.entries)), html.Td(doors(f.floor, f.exits)),
                         html.Td("—" if f.wifi_people is None else f"~{f.wifi_people:,.0f}")])
                for f in occ.floors
            ]),
        ]),
    ]


def _versus(past: list[tuple[Any, int]], today: int, now: datetime, site: Site) -> str:
    """Today's entries so far against the same weekday of the past weeks at the same clock time."""
    weekday = f"{now.astimezone(site.site.tz):%A}s"
    if not past:
        return f"No earlier {weekday} to compare with yet."
    mean = sum(n for _, n in past) / len(past)
    change = f"{100 * (today / mean - 1):+.0f} %" if mean else "—"
    return f"{change} against the last {len(past)} {weekday} by this time ({mean:,.0f} in on average)"


# --------------------------------------------------------------------------------------------------- alerts
@callback(Output("live-alerts", "children"), Input("live-now", "data"))
@guarded(lambda m: [html.Div(m, className="alert warn")])
def show_alerts(clock: dict[str, Any] | None) -> Any:
    """Sensors down, occupancy over the site's threshold, VIP members arriving (names only for member roles)."""
    now, _problem = _now(clock)
    cockpit = context.current()
    site = cockpit.site
    alerts = []
    down = [n for n in live.sensor_health(cockpit.pool, site.site.id) if n.condition in ("offline", "silent")]
    if down:
        alerts.append(html.Div(f"Sensors down: {', '.join(n.node for n in down)} — {_age(down[0].last_heard_s)}",
                               className="alert bad"))
    if now is not None:
        limit = site.site.occupancy_alert
        if limit:
            people = live.occupancy_now(cockpit.pool, site, now).people
            if people >= limit:
                alerts.append(html.Div(f"Occupancy {people:,} is over the alert level of {limit:,}",
                                       className="alert bad"))
        show_ids = can("members")
        for a in live.vip_arrivals(cockpit.pool, site, now)[:3]:
            who = f"VIP member {a.member_id}" if show_ids else "A VIP member"
            alerts.append(html.Div(f"{who} arrived at {a.arrived.astimezone(site.site.tz):%H:%M}",
                                   className="alert vip"))
    return alerts


# --------------------------------------------------------------------------------------------------- entrances
def _entrances_problem(message: str) -> tuple[Any, Any]:
    return empty_figure(message, height=FLOW_HEIGHT), ""


@callback(Output("live-entrances-graph", "figure"), Output("live-entrances-totals", "children"),
          Input("live-now", "data"))
@guarded(_entrances_problem)
def show_entrances(clock: dict[str, Any] | None) -> tuple[Any, Any]:
    """In/out per entrance in 5-minute buckets over the last 3 hours, and today's totals per entrance."""
    now, problem = _now(clock)
    if now is None:
        return _entrances_problem(problem)
    cockpit = context.current()
    site = cockpit.site
    lines = [e.id for e in site.entrances]
    since = now - FLOW_WINDOW
    until = live.through(now)
    flows = live.entrance_flows(cockpit.pool, site.site.id, since, until, FLOW_BUCKET, lines=lines)
    totals = live.entrance_totals(cockpit.pool, site.site.id, live.local_day_start(site, now), until, lines=lines)
    if flows.empty:
        tz = site.site.tz
        figure = empty_figure(height=FLOW_HEIGHT, message=f"No crossings between {since.astimezone(tz):%H:%M} and "
                              f"{now.astimezone(tz):%H:%M} — are the entrance cameras publishing?")
    else:
        figure = entrance_chart(site, flows, since, until, FLOW_BUCKET)
    return figure, [totals_table(site, totals), quality_notes(site, live.camera_audits(cockpit.pool, site.site.id))]


def quality_notes(site: Site, audits: dict[str, CameraAudit]) -> html.Div:
    """Data quality of the entrance figures: each entrance camera's last commissioning audit, or that it has none
    (its counts are then unmeasured on this door)."""
    cameras = [s for s in site.sensors if s.kind == "camera" and {e.id for e in site.entrances} & set(s.lines)]
    if not cameras:
        return html.Div()
    items = [html.Li(f"{s.id}: {audit_text(audits[s.id]) if s.id in audits else 'not audited yet'}",
                     className="off" if s.id in audits and audits[s.id].count_error_pct > live.AUDIT_TARGET_PCT
                     else "")
             for s in cameras]
    audited = sum(s.id in audits for s in cameras)
    return html.Div(className="quality-notes", children=[
        html.Div(f"Data quality: {audited} of {len(cameras)} entrance cameras audited (mallsense camera-audit)",
                 className="muted"),
        html.Ul(items)])


def totals_table(site: Site, totals: pd.DataFrame) -> html.Table:
    """Today's entries and exits for every entrance of the site (zero where no crossing arrived), and their sum."""
    floors = {f.id: f.name for f in site.floors}
    table = (totals.set_index("line").reindex([e.id for e in site.entrances], fill_value=0)
             if not totals.empty else pd.DataFrame({"entries": 0, "exits": 0}, index=[e.id for e in site.entrances]))
    rows = [
        html.Tr(className="quiet" if table.at[e.id, "entries"] + table.at[e.id, "exits"] == 0 else "", children=[
            html.Td([html.Div(e.name), html.Div(floors.get(e.floor, e.floor), className="muted")]),
            html.Td(f"{table.at[e.id, 'entries']:,}"), html.Td(f"{table.at[e.id, 'exits']:,}"),
        ])
        for e in site.entrances
    ]
    total = html.Tr(className="total", children=[
        html.Td("All entrances"), html.Td(f"{table['entries'].sum():,}"), html.Td(f"{table['exits'].sum():,}"),
    ])
    return html.Table(className="totals-table", children=[
        html.Thead(html.Tr([html.Th("Today"), html.Th("in"), html.Th("out")])),
        html.Tbody([*rows, total]),
    ])


# --------------------------------------------------------------------------------------------------- heatmap
def _floor_note(message: str) -> Any:
    return empty_figure(message, height=FLOOR_PLAN_HEIGHT)


@callback(Output("live-heatmap-graph", "figure"), Input("live-now", "data"), Input("live-floor", "value"))
@guarded(_floor_note)
def show_heatmap(clock: dict[str, Any] | None, floor: str | None) -> Any:
    """The selected floor's plan with the last 15 minutes of positions."""
    cockpit = context.current()
    site = cockpit.site
    if floor not in site.floor_by_id:
        return _floor_note("Choose a floor.")
    now, problem = _now(clock)
    if now is None:
        return floor_plan(site, floor, None, CELL_M, note=problem)
    since = now - HEATMAP_WINDOW
    cells = live.heatmap(cockpit.pool, site.site.id, floor, since, live.through(now), CELL_M)
    note = None
    if cells.empty:
        note = (f"No positions on this floor since {since.astimezone(site.site.tz):%H:%M} "
                "— are its overhead cameras publishing?")
    return floor_plan(site, floor, cells, CELL_M, note=note)


# --------------------------------------------------------------------------------------------------- health
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{max(0, round(seconds))} s ago"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _chip(n: live.NodeHealth) -> html.Span:
    """A node as a coloured chip: name, state when not online, age; details in its tooltip."""
    detail = [f"{n.node}: {n.condition if n.condition != 'unknown' else 'never heard from'}",
              f"state topic: {n.status or 'nothing received'}", f"last message: {_age(n.last_heard_s)}",
              f"sensors delivering: {n.sensors}"]
    if n.outbox_depth is not None:
        detail.append(f"outbox: {n.outbox_depth:,} batches waiting, {n.outbox_dropped or 0:,} dropped")
    for sensor, cam in sorted(n.cameras.items()):
        share = cam.keeping_up
        detail.append(f"camera {sensor}: detector on "
                      f"{'no frames yet' if share is None else f'{share:.0%} of its planned frames'}"
                      f" (detect_every {cam.detect_every}), {cam.frames_dropped:,} of {cam.frames_read:,} frames "
                      f"dropped, {cam.reconnects} reconnects")
    for sensor, cam in sorted(n.cameras.items()):
        if cam.audit is not None:
            detail.append(f"camera {sensor}: {audit_text(cam.audit)}")
    words = [] if n.condition == "online" else ["never heard" if n.condition == "unknown" else n.condition]
    if n.last_heard_s is not None:
        words.append(_age(n.last_heard_s))
    if (n.outbox_depth or 0) >= OUTBOX_BACKLOG or n.outbox_dropped:
        dropped = f", {n.outbox_dropped:,} dropped" if n.outbox_dropped else ""
        words.append(f"outbox {n.outbox_depth or 0:,}{dropped}")
    for sensor, share in sorted(n.cameras_behind.items()):
        words.append(f"{sensor} detects on {share:.0%} of frames")  # the CPU cannot keep up: counts get coarser
    for sensor, count in sorted(n.seq_conflicts.items()):  # its sequence restarted: batches went to dead_letter
        words.append(f"{sensor} {count:,} seq conflicts")
        detail.append(f"sensor {sensor}: {count:,} batches refused in the last "
                      f"{live.CONFLICT_WINDOW.total_seconds() / 3600:g} h because their seq was already stored with "
                      "other content (sequence restarted without a new epoch; kept in dead_letter as seq_conflict)")
    for sensor, audit in sorted(n.cameras_off_target.items()):  # counts off by more than the target when audited
        words.append(f"{sensor} audit {audit.count_error_pct:.0f}% off")
    flags = ((" behind" if n.cameras_behind or n.cameras_off_target else "")
             + (" conflict" if n.seq_conflicts else ""))
    return html.Span([html.B(n.node), " · " + " · ".join(words) if words else ""],
                     className=f"chip {n.condition}{flags}", title="\n".join(detail))


def audit_text(audit: CameraAudit) -> str:
    """A camera's last commissioning audit in words: error, its 95 % interval, how many crossings, when."""
    when = datetime.fromtimestamp(audit.at / 1000, tz=UTC)
    return (f"last audit {when:%Y-%m-%d}: count error {audit.count_error_pct:.1f}% (95% interval "
            f"{audit.ci_low_pct:.1f}-{audit.ci_high_pct:.1f}%) on {audit.crossings:,} crossings")


def _health_problem(message: str) -> list[html.Span]:
    return [html.Span("Sensors", className="strip-title"), html.Span(message, className="strip-problem")]


@callback(Output("live-health", "children"), Input("live-interval", "n_intervals"))
@guarded(_health_problem)
def show_health(_n: int | None) -> Any:
    """One chip per edge node (configured or heard from), and a summary line."""
    cockpit = context.current()
    site = cockpit.site
    nodes = live.sensor_health(cockpit.pool, site.site.id)
    rejected = live.dead_letters(cockpit.pool, site.site.id, DEAD_LETTER_WINDOW)
    heard = {n.node for n in nodes}
    unheard = [live.NodeHealth.never_heard(node) for node in site.nodes if node not in heard]
    everyone = sorted([*nodes, *unheard], key=lambda n: n.node)
    online = sum(n.condition == "online" for n in everyone)
    ages = [n.last_heard_s for n in nodes if n.last_heard_s is not None]
    if nodes:
        summary = f"{online}/{len(everyone)} nodes online · last message {_age(min(ages) if ages else None)}"
    else:
        summary = "No edge node has reported yet — is ingest running?"
    chips = [_chip(n) for n in everyone]
    rejected_text = f"rejected messages, last hour: {rejected:,}"
    return [
        html.Span("Sensors", className="strip-title"),
        html.Span(summary, className="strip-summary"),
        html.Span(chips, className="chips"),
        html.Span(rejected_text, className="strip-rejected warn" if rejected else "strip-rejected"),
        html.Span("?", className="strip-help", title=HELP["health"]),
    ]
