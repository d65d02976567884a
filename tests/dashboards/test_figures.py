"""Cockpit figures on plain data (no database): floor-plan grid and labels, heat placement, entrance bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.figures import EMPTY_LINE_CHARS, day_axis, empty_figure, entrance_chart
from dashboards.floorplan import density, floor_grid, floor_plan
from mallsense.site import load_site
from models import live

SITE = load_site()


def cells(rows: list[tuple[int, int, int]], cell_m: float = 2.0) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ix", "iy", "positions"])
    return frame.assign(x=(frame["ix"] + 0.5) * cell_m, y=(frame["iy"] + 0.5) * cell_m)[live.HEATMAP_COLUMNS]


def test_floor_grid_covers_the_outline_and_names_the_store_under_each_cell():
    grid = floor_grid(SITE, "f1", 2.0)
    assert (grid.ix0, grid.iy0, grid.nx, grid.ny) == (0, 0, 100, 40)  # a 200 m × 80 m floor
    # f1-11-shop spans x 10..58, y 50..80: cell (20, 30) has its centre at (41, 61)
    assert grid.labels[30, 20] == "Galleria Department Store (department store)"
    assert grid.labels[20, 50] == "Atrium"  # the middle of the mall


def test_density_places_counts_and_drops_cells_off_the_plan():
    grid = floor_grid(SITE, "f1", 2.0)
    z = density(grid, cells([(0, 0, 4), (50, 20, 10), (-1, 1, 3), (100, 0, 2)]))
    assert z[0, 0] == 4 and z[20, 50] == 10
    assert np.nansum(z) == 14  # the two cells outside the floor's outline are not drawn
    figure = floor_plan(SITE, "f1", cells([(50, 20, 10)]), 2.0)
    (heatmap,) = [t for t in figure.data if isinstance(t, go.Heatmap)]
    assert heatmap.text[20][50] == "Atrium<br>10 positions"
    assert heatmap.text[0][0] == "no positions"  # outside every zone, but still hoverable


def test_entrance_chart_draws_exits_downwards_and_hatches_the_open_bucket():
    t0 = datetime(2025, 6, 14, 2, 0, tzinfo=UTC)  # 10:00 in the mall
    flows = pd.DataFrame({"bucket": [t0, t0 + timedelta(minutes=5)], "line": ["e-south", "e-south"],
                          "entries": [7, 3], "exits": [2, 1]}).astype({"bucket": "datetime64[us, UTC]"})
    fig = entrance_chart(SITE, flows, t0 - timedelta(hours=3), t0 + timedelta(minutes=7))
    entries, exits = fig.data
    assert list(entries.y) == [7, 3] and list(exits.y) == [-2, -1]
    assert list(entries.marker.pattern.shape) == ["", "/"]  # 10:05-10:10 is still open at 10:07
    assert entries.name == "South main entrance"
    assert pd.Timestamp(entries.x[0]) == pd.Timestamp("2025-06-14 10:00")  # drawn on the mall's clock


def test_a_floor_image_lies_under_the_plan_north_up(tmp_path):
    import shutil

    from dashboards.floorplan import add_background

    site_file = tmp_path / "mall.yaml"
    shutil.copy(SITE.path, site_file)
    (tmp_path / "f1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    text = site_file.read_text()
    site_file.write_text(text.replace("- id: f1\n  name: Ground floor\n", "- id: f1\n  name: Ground floor\n"
                                      "  image: f1.png\n", 1))
    site = load_site(site_file)
    fig = go.Figure()
    assert add_background(fig, site, "f1") == (0, 0, 200.0, 80.0)
    (image,) = fig.layout.images
    assert image.source.startswith("data:image/png;base64,")
    assert (image.x, image.y, image.sizex, image.sizey, image.yanchor) == (0, 80.0, 200.0, 80.0, "top")
    empty = go.Figure()
    add_background(empty, SITE, "f1")  # the demo mall has no images
    assert empty.layout.images == ()


def test_empty_states_wrap_to_fit_their_card_and_keep_every_word():
    message = ("No identified visits in this period: visits come from members who use the app (BLE). Is the "
               "analytics job running (mallsense analytics), and were app users in the mall? <none>")
    text = empty_figure(message).layout.annotations[0].text
    lines = text.split("<br>")
    assert len(lines) > 2 and max(map(len, lines)) <= EMPTY_LINE_CHARS
    assert " ".join(lines).replace("&lt;", "<").replace("&gt;", ">") == message
    assert empty_figure("Loading…").layout.annotations[0].text == "Loading…"  # the pages wait for this exact text


def test_a_daily_axis_reads_as_dates_for_one_day_and_leaves_long_spans_to_plotly():
    one = day_axis(pd.Series([pd.Timestamp("2026-11-28")]))
    assert one["type"] == "date" and one["tickformat"] == "%d %b %Y" and one["dtick"] == 86_400_000
    assert one["range"] == ["2026-11-27T12:00:00", "2026-11-28T12:00:00"]  # the day's bar or point in the middle
    fig = go.Figure(go.Scatter(x=[datetime(2026, 11, 28)], y=[3]))
    fig.update_layout(xaxis=one)
    assert fig.layout.xaxis.tickformat == "%d %b %Y"
    month = day_axis([datetime(2026, 11, 1) + timedelta(days=d) for d in range(28)])
    assert "dtick" not in month and "tickformat" not in month
    assert day_axis([]) == {"type": "date"}
