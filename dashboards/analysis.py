"""What the analysis pages (Flows, Visitors, Leasing, Campaigns, Members) share.

- **Filters** — a date range, a floor and a zone in the cockpit's top bar, kept in the browser session
  (``filters`` store) so they carry from page to page. Pages read them with :func:`selection`, which refuses a
  period outside :func:`calendar` or ending before it starts with :class:`PeriodRefused` (``dashboards.guard``
  shows its message in the panel).
- **Period data** — :func:`period_data` gives a period's :class:`models.report.Loaded` (rollups, materialized visits
  and stays, transactions, members, each read on first use) and keeps it for ``CACHE_S`` seconds, so the several
  charts of a page (and the next page) do not query the database again.
- **Chart blocks** — :func:`chart` is a panel with a title, a graph (PNG export from its toolbar), a *Download CSV*
  button and the metric's definition; :func:`csv_export` wires the button to the same data as the chart.
- **Access** — every callback checks the signed-in user's role (:mod:`dashboards.auth`) before it reads anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboards import context
from dashboards.figures import empty_figure
from dashboards.guard import Refused
from mallsense.site import Site
from models import live
from models.history import Period
from models.report import Loaded

CACHE_S = 60.0
DEFAULT_DAYS = 30
HISTORY = timedelta(days=3653)  # how far back a period may start (ten years before today)
AHEAD = timedelta(days=366)  # how far ahead it may end (simulated or imported data may run ahead of the clock)
GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2},
                "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


@dataclass(frozen=True)
class Selection:
    """The filters in force: local days ``first``..``last``, a floor and a zone (None: all)."""

    first: date
    last: date
    floor: str | None
    zone: str | None

    def label(self) -> str:
        where = self.zone or self.floor or "whole mall"
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y} · {where}"


class PeriodRefused(Refused):
    """A period the pages will not compute; ``message`` tells the user why, and what to pick instead."""


def calendar(site: Site) -> tuple[date, date]:
    """The first and last day a period may cover: ``HISTORY`` before the site's today to ``AHEAD`` after it."""
    today = datetime.now(site.site.tz).date()
    return today - HISTORY, today + AHEAD


def default_period(site: Site) -> tuple[date, date]:
    """The last ``DEFAULT_DAYS`` days up to the newest day with data (today when there is none)."""
    try:
        clock = live.data_clock(context.current().pool, site.site.id)
    except Exception:  # noqa: BLE001 - the database may be down when the page is built; the panels will say so
        clock = None
    last = (clock or datetime.now(site.site.tz)).astimezone(site.site.tz).date()
    return last - timedelta(days=DEFAULT_DAYS - 1), last


def filter_bar(site: Site) -> html.Div:
    """Date range, floor and zone pickers; their values go to the session store ``filters``."""
    first, last = default_period(site)
    floors = sorted(site.floors, key=lambda f: f.level)
    return html.Div(className="filter-bar", id="filter-bar", children=[
        dcc.Store(id="filters", storage_type="session"),
        html.Span("Period", className="filter-label"),
        dcc.DatePickerRange(id="f-dates", start_date=first, end_date=last, display_format="DD MMM YYYY",
                            minimum_nights=0, first_day_of_week=1, min_date_allowed=calendar(site)[0],
                            max_date_allowed=calendar(site)[1]),
        html.Span("Floor", className="filter-label"),
        dcc.Dropdown(id="f-floor", options=[{"label": f.name, "value": f.id} for f in floors], value=None,
                     placeholder="all floors", clearable=True, className="filter-dropdown"),
        html.Span("Zone", className="filter-label"),
        dcc.Dropdown(id="f-zone", options=[], value=None, placeholder="all zones", clearable=True,
                     className="filter-dropdown"),
    ])


@callback(Output("f-zone", "options"), Output("f-zone", "value"), Input("f-floor", "value"), State("f-zone", "value"))
def zone_options(floor: str | None, zone: str | None) -> tuple[list[dict[str, str]], str | None]:
    """The zones of the chosen floor with a camera or a shop (all floors: every such zone)."""
    site = context.current().site
    zones = [z for z in site.zones if floor is None or z.floor == floor]
    options = [{"label": f"{z.name} ({z.id})", "value": z.id} for z in zones]
    return options, zone if zone in {z.id for z in zones} else None


@callback(Output("filters", "data"), Input("f-dates", "start_date"), Input("f-dates", "end_date"),
          Input("f-floor", "value"), Input("f-zone", "value"))
def keep_filters(start: str | None, end: str | None, floor: str | None, zone: str | None) -> dict[str, Any]:
    return {"first": start, "last": end, "floor": floor, "zone": zone}


def selection(filters: dict[str, Any] | None) -> Selection:
    """The filters as dates and ids; missing or unreadable dates fall back to the default period.

    Raises :class:`PeriodRefused` for readable dates outside :func:`calendar` (year 1, year 9999...) or a period
    that ends before it starts. A period longer than 366 days keeps its last 366.
    """
    site = context.current().site
    first, last = default_period(site)
    filters = filters if isinstance(filters, dict) else {}
    try:
        if filters.get("first"):
            first = date.fromisoformat(str(filters["first"])[:10])
        if filters.get("last"):
            last = date.fromisoformat(str(filters["last"])[:10])
    except ValueError:
        first, last = default_period(site)
    lowest, highest = calendar(site)
    if not (lowest <= first <= highest and lowest <= last <= highest):
        raise PeriodRefused(f"The period {first} – {last} is outside the cockpit's calendar: pick days between "
                            f"{lowest:%d %b %Y} and {highest:%d %b %Y}.")
    if last < first:
        raise PeriodRefused(f"The period starts after it ends ({first:%d %b %Y} > {last:%d %b %Y}): "
                            "pick its first day, then its last.")
    if (last - first).days > 366:
        first = last - timedelta(days=366)
    floor, zone = filters.get("floor"), filters.get("zone")
    floor = floor if isinstance(floor, str) and floor in site.floor_by_id else None  # anything else: all floors
    zone = zone if isinstance(zone, str) and zone in site.zone_by_id else None
    return Selection(first, last, floor, zone)


# --------------------------------------------------------------------------------------------------- data
_cache: dict[tuple[str, date, date], tuple[float, Loaded]] = {}
_lock = threading.Lock()


def period_data(sel: Selection) -> Loaded:
    """The period's data, from the cache when it was loaded less than ``CACHE_S`` seconds ago."""
    cockpit = context.current()
    key = (cockpit.site.site.id, sel.first, sel.last)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
    data = Loaded(cockpit.pool, Period(cockpit.site, sel.first, sel.last))  # each part read when a chart needs it
    with _lock:
        for k in [k for k, (t, _) in _cache.items() if now - t >= CACHE_S]:
            del _cache[k]
        _cache[key] = (now, data)
    return data


def stores_in(site: Site, sel: Selection) -> list[str]:
    """Store ids the floor/zone filter keeps (a zone keeps the shops facing it, or the shop it is)."""
    out = []
    for s in site.stores:
        floor = site.zone_by_id[s.zone].floor
        if sel.floor and floor != sel.floor:
            continue
        if sel.zone and sel.zone not in (s.zone, s.front_zone):
            continue
        out.append(s.id)
    return out


# --------------------------------------------------------------------------------------------------- layout parts
def chart(block_id: str, title: str, help_text: str, *, height: int = 340, wide: bool = False) -> html.Section:
    """A panel with a graph (``<id>-graph``), a CSV button (``<id>-csv``) and the metric's definition."""
    return html.Section(id=block_id, className="panel chart" + (" wide" if wide else ""), children=[
        html.Div(className="panel-head", children=[
            html.H2(title),
            html.Button("Download CSV", id=f"{block_id}-csv", className="csv-button", n_clicks=0),
            dcc.Download(id=f"{block_id}-download"),
        ]),
        dcc.Graph(id=f"{block_id}-graph", figure=empty_figure("Loading…", height=height), config=GRAPH_CONFIG),
        html.P(help_text, className="help"),
    ])


def tiles(block_id: str, title: str, help_text: str) -> html.Section:
    """A panel of key figures (``<id>-body``)."""
    return html.Section(id=block_id, className="panel tiles wide", children=[
        html.Div(className="panel-head", children=[html.H2(title)]),
        html.Div(id=f"{block_id}-body", className="tile-row", children="Loading…"),
        html.P(help_text, className="help"),
    ])


def tile(label: str, value: str, note: str = "") -> html.Div:
    return html.Div(className="tile", children=[html.Div(value, className="tile-value"),
                                                html.Div(label, className="tile-label"),
                                                html.Div(note, className="tile-note")])


def page(page_id: str, title: str, intro: str, *blocks: Any) -> html.Div:
    return html.Div(className=f"page analysis {page_id}", children=[
        html.Div(className="page-head", children=[html.H1(title), html.P(intro, className="intro"),
                                                  html.Div(id=f"{page_id}-selection", className="selection")]),
        html.Div(className="analysis-grid", children=list(blocks)),
    ])


def selection_label(page_id: str, area: str) -> None:
    """Wire ``<page_id>-selection`` to show the filters in force (checked against ``area`` like the charts)."""
    from dashboards.auth import require

    @callback(Output(f"{page_id}-selection", "children"), Input("filters", "data"))
    @require(area)
    def show_selection(filters: dict[str, Any] | None) -> str:
        try:
            return selection(filters).label()
        except PeriodRefused as exc:
            return exc.message

    show_selection.__name__ = f"show_{page_id}_selection"


def csv_export(block_id: str, frame_of: Callable[[Selection], pd.DataFrame], filename: str,
               area: str) -> None:
    """Wire ``<block_id>-csv`` to download ``frame_of(selection)`` (checked against ``area`` like the chart)."""
    from dashboards.auth import require

    @callback(Output(f"{block_id}-download", "data"), Input(f"{block_id}-csv", "n_clicks"),
              State("filters", "data"), prevent_initial_call=True)
    @require(area)
    def download(n_clicks: int, filters: dict[str, Any] | None) -> Any:
        try:
            sel = selection(filters)
        except PeriodRefused:
            raise PreventUpdate from None  # nothing to download: the charts already say why
        frame = frame_of(sel)
        return dcc.send_data_frame(frame.to_csv, f"{filename}-{sel.first}-{sel.last}.csv", index=False)

    download.__name__ = f"download_{block_id.replace('-', '_')}"


def no_data(message: str, height: int = 340) -> go.Figure:
    return empty_figure(message, height=height)


NO_VISITS = ("No identified visits in this period: visits come from members who use the app (BLE). "
             "Is the analytics job running (mallsense analytics), and were app users in the mall?")
NO_COUNTS = "No counts in this period — pick days with data (the newest day with data is the default)."
