"""Decision regions of the Learn page (pure): one row of task panels, and the method-per-row comparison grid.

Panel titles never collide: a grid has exactly one column per panel of a row (it never
wraps), titles are short (the task's number and name above each column), and each
panel's accuracy is written inside the panel's corner rather than in its title.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.colors import FONT_FAMILY, FONT_SIZE, TEMPLATE
from dashboard.figures.teaching import CLASS_COLORS
from den_engine.data.toy2d import TOY_2D_EXTENT

REGION_SCALE = [[0.0, "#f4cf94"], [0.5, "#ffffff"], [1.0, "#9fd3cc"]]
"""Pastel versions of the class colours, so the data points stand out on their region."""


def _panel(fig: go.Figure, panel: dict, row: int, col: int, marker_size: int) -> None:
    low, high = TOY_2D_EXTENT
    region = np.asarray(panel["region"])
    axis = np.linspace(low, high, region.shape[0])
    fig.add_trace(go.Heatmap(z=region, x=axis, y=axis, zmin=0, zmax=1, colorscale=REGION_SCALE, showscale=False,
                             hovertemplate="p = %{z:.2f}<extra></extra>"), row=row, col=col)  # fmt: skip
    points, labels = np.asarray(panel["points"]).reshape(-1, 2), np.asarray(panel["labels"]).ravel()
    for label in (0, 1):
        pick = labels == label
        marker = {"size": marker_size, "color": CLASS_COLORS[label], "line": {"width": 0.8, "color": "#ffffff"}}
        dots = go.Scatter(x=points[pick, 0], y=points[pick, 1], mode="markers", hoverinfo="skip", marker=marker)
        fig.add_trace(dots, row=row, col=col)


def _corner_notes(fig: go.Figure, notes: list[tuple[int, str]], font_size: int) -> None:
    """``(subplot index from 1, text)``: a label in the top-left corner inside that panel."""
    low, high = TOY_2D_EXTENT
    for index, text in notes:
        suffix = "" if index == 1 else str(index)
        fig.add_annotation(x=low + 0.05, y=high - 0.05, xref=f"x{suffix}", yref=f"y{suffix}", text=text,
                           showarrow=False, xanchor="left", yanchor="top", bgcolor="rgba(255,255,255,0.85)",
                           font={"size": font_size}, borderpad=2)  # fmt: skip


def _square_axes(fig: go.Figure, n: int) -> None:
    low, high = TOY_2D_EXTENT
    fig.update_xaxes(range=[low, high], visible=False, constrain="domain", fixedrange=True)
    fig.update_yaxes(range=[low, high], visible=False, fixedrange=True, constrain="domain")
    for i in range(1, n + 1):  # each panel square: its y axis scaled to its own x axis
        fig.layout[f"yaxis{'' if i == 1 else i}"].scaleanchor = f"x{'' if i == 1 else i}"


def regions_figure(panels: list[dict], *, height: int = 260, font_size: int = FONT_SIZE) -> go.Figure:
    """One row of decision regions: each panel {title, region, points (n, 2), labels (n,), note}."""
    n = max(len(panels), 1)
    fig = make_subplots(rows=1, cols=n, column_titles=[p["title"] for p in panels] or None,
                        horizontal_spacing=0.02)  # fmt: skip
    for i, panel in enumerate(panels):
        _panel(fig, panel, 1, i + 1, 6 if n > 1 else 8)
    _corner_notes(fig, [(i + 1, p["note"]) for i, p in enumerate(panels) if p.get("note")], font_size - 1)
    _square_axes(fig, n)
    fig.update_layout(template=TEMPLATE, showlegend=False, height=height, font={"size": font_size,
                      "family": FONT_FAMILY}, margin={"l": 2, "r": 2, "t": 34, "b": 2}, dragmode=False)  # fmt: skip
    for annotation in fig.layout.annotations:
        if annotation.xref == "paper":
            annotation.font.update(size=font_size, color="#1f2937")
    return fig


def comparison_figure(rows: list[tuple[str, list[dict]]], column_titles: list[str], *, height: int = 200) -> go.Figure:
    """Methods as rows (always one row each, never wrapped), tasks as columns: ``rows`` = [(name, panels)]."""
    n_cols = max(len(column_titles), 1)
    fig = make_subplots(rows=len(rows), cols=n_cols, column_titles=column_titles, row_titles=[r[0] for r in rows],
                        horizontal_spacing=0.015, vertical_spacing=0.04)  # fmt: skip
    notes = []
    for r, (_, panels) in enumerate(rows):
        for c, panel in enumerate(panels[:n_cols]):
            _panel(fig, panel, r + 1, c + 1, 5)
            if panel.get("note"):
                notes.append((r * n_cols + c + 1, panel["note"]))
    _corner_notes(fig, notes, FONT_SIZE - 2)
    _square_axes(fig, len(rows) * n_cols)
    fig.update_layout(template=TEMPLATE, showlegend=False, height=height * len(rows) + 40,
                      font={"size": FONT_SIZE, "family": FONT_FAMILY}, dragmode=False,
                      margin={"l": 2, "r": 28, "t": 34, "b": 2}, meta={"rows": [r[0] for r in rows]})  # fmt: skip
    for annotation in fig.layout.annotations:
        if annotation.xref == "paper":
            annotation.font.update(size=FONT_SIZE, color="#1f2937")
    return fig
