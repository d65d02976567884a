"""Plotly charts shared by cockpit pages: entrance flows and the "no data, and here is why" placeholder."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go

from mallsense.site import Site

PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]
INK = "#0f172a"
MUTED = "#64748b"
GRID = "#e2e8f0"
FLOW_HEIGHT = 290
FONT = {"family": "Inter, Segoe UI, system-ui, sans-serif", "size": 14, "color": INK}
EMPTY_LINE_CHARS = 44  # an empty state's line: fits a half-width card at its font size (plotly does not wrap)
SHORT_SPAN_DAYS = 10  # daily charts spanning at most this many days get one labelled tick per day
DAY_MS = 86_400_000


def base_layout(height: int) -> dict:
    """Layout settings every cockpit chart shares (white, quiet axes, large enough to read across a room)."""
    return {"height": height, "font": FONT, "plot_bgcolor": "white", "paper_bgcolor": "white",
            "margin": {"l": 56, "r": 16, "t": 16, "b": 44}, "hoverlabel": {"font": {"size": 14}}}


def empty_figure(message: str, height: int = 340) -> go.Figure:
    """A chart-sized placeholder that says why there is nothing to draw, wrapped to stay inside its card."""
    lines = textwrap.wrap(html.escape(message, quote=False), EMPTY_LINE_CHARS, break_on_hyphens=False) or [""]
    fig = go.Figure()
    fig.add_annotation(text="<br>".join(lines), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 17, "color": MUTED})
    fig.update_layout(**base_layout(height), xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def day_axis(days: Iterable[date | datetime | pd.Timestamp], **extra: object) -> dict:
    """An x axis of local days that reads as dates whatever the span: half a day of room either side of the first
    and last day (bars and markers sit on their day), and one tick per day for short spans (plotly would otherwise
    label a single day with clock times)."""
    stamps = pd.to_datetime(pd.Series(list(days)))
    axis: dict = {"type": "date", **extra}
    if stamps.empty:
        return axis
    first, last = stamps.min().normalize(), stamps.max().normalize()
    half = pd.Timedelta(hours=12)
    axis["range"] = [(first - half).isoformat(), (last + half).isoformat()]
    if (last - first).days < SHORT_SPAN_DAYS:
        axis.update(dtick=DAY_MS, tick0=first.isoformat(), tickformat="%d %b %Y")
    return axis


def entrance_colors(site: Site) -> dict[str, str]:
    """One fixed colour per entrance, in site order, so colours do not move between refreshes."""
    return {e.id: PALETTE[k % len(PALETTE)] for k, e in enumerate(site.entrances)}


def entrance_chart(site: Site, flows: pd.DataFrame, since: datetime, until: datetime,
                   bucket: timedelta = timedelta(minutes=5)) -> go.Figure:
    """Entries (up) and exits (down) per entrance and bucket, stacked, on the mall's local clock.

    ``flows`` has the columns of :func:`models.live.entrance_flows` for buckets of length ``bucket``; the x axis spans
    ``[since, until]`` whether or not every bucket has crossings. A bucket still open at ``until`` is hatched (it is
    not a drop in traffic, only an unfinished count).
    """
    tz = site.site.tz
    colors = entrance_colors(site)
    open_bucket = flows["bucket"] + bucket > pd.Timestamp(until)
    local = flows.assign(bucket=flows["bucket"].dt.tz_convert(tz).dt.tz_localize(None),
                         pattern=open_bucket.map({True: "/", False: ""}))
    minutes = f"{bucket.total_seconds() / 60:g} min"
    fig = go.Figure()
    for entrance in site.entrances:
        rows = local[local["line"] == entrance.id]
        if rows.empty:
            continue
        fig.add_trace(go.Bar(
            x=rows["bucket"], y=rows["entries"], name=entrance.name, legendgroup=entrance.id,
            marker={"color": colors[entrance.id], "pattern": {"shape": rows["pattern"], "fgcolor": "white"}},
            hovertemplate="%{y} in<extra>" + entrance.name + "</extra>",
        ))
        fig.add_trace(go.Bar(
            x=rows["bucket"], y=-rows["exits"], name=entrance.name, legendgroup=entrance.id, showlegend=False,
            marker={"color": colors[entrance.id], "opacity": 0.45,
                    "pattern": {"shape": rows["pattern"], "fgcolor": "white"}}, customdata=rows["exits"],
            hovertemplate="%{customdata} out<extra>" + entrance.name + "</extra>",
        ))
    start = since.astimezone(tz).replace(tzinfo=None)
    end = until.astimezone(tz).replace(tzinfo=None)
    fig.update_layout(
        **base_layout(FLOW_HEIGHT), barmode="relative", bargap=0.15, hovermode="x unified", uirevision="entrances",
        xaxis={"range": [start, end], "tickformat": "%H:%M", "showgrid": False, "title": None},
        yaxis={"title": {"text": f"people per {minutes}: in ↑ · out ↓", "font": {"size": 13}},
               "gridcolor": GRID, "zerolinecolor": "#94a3b8", "zerolinewidth": 2},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 13}},
    )
    fig.update_layout(margin={"t": 40})
    return fig
