"""A few inputs of every task of a user's data (pure): images when they are images, else points or vectors.

``input_shape`` is the one the run record keeps: (H, W) or (C, H, W) is an image (a single
channel in grey, three as colour, others side by side); two numbers per input are points
in the plane; anything else is a plain vector, one row of cells per example. One panel row
per task, titled with the task's own name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.colors import FONT_FAMILY, FONT_SIZE, TEMPLATE
from dashboard.figures.teaching import CLASS_COLORS

GAP = 1  # blank pixels between two examples of one task


def input_kind(input_shape: Sequence[int]) -> str:
    """'image', 'points' (two numbers per input) or 'vectors'."""
    shape = [int(s) for s in input_shape]
    if len(shape) == 2 or (len(shape) == 3 and shape[0] <= 4):
        return "image" if min(shape[-2:]) > 1 else "vectors"
    return "points" if int(np.prod(shape or [0])) == 2 else "vectors"


def _image(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """One input as a (H, W) grey picture (channels side by side) or a (H, W, 3) colour one."""
    if len(shape) == 2:
        return x.reshape(shape)
    c, h, w = shape
    planes = x.reshape(c, h, w)
    if c == 3:
        return np.moveaxis(planes, 0, -1)
    return np.concatenate(list(planes), axis=1)


def _label(y: np.ndarray) -> str:
    return str(int(y.argmax())) if len(y) > 1 else str(int(y[0] > 0.5))


def _strip(inputs: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The task's examples side by side, NaN between them (drawn blank)."""
    pictures = [_image(x, shape) for x in inputs]
    gap = np.full((*pictures[0].shape[:1], GAP, *pictures[0].shape[2:]), np.nan)
    parts = []
    for k, picture in enumerate(pictures):
        parts += [gap, picture] if k else [picture]
    return np.concatenate(parts, axis=1)


def _colour(strip: np.ndarray) -> np.ndarray:
    low, high = np.nanmin(strip), np.nanmax(strip)
    scaled = (strip - low) / (high - low or 1.0) * 255
    return np.nan_to_num(scaled, nan=255).astype(np.uint8)


def examples_figure(examples: Sequence, input_shape: Sequence[int], file_name: str = "") -> go.Figure:
    """One row per task (its name as the title): its test inputs drawn as images, points or vectors."""
    kind = input_kind(input_shape)
    names = [e.name for e in examples]
    if kind == "points":
        return _points_figure(examples, file_name)
    rows = max(len(examples), 1)
    titles = [f"{e.name} (classes of the examples: {' '.join(_label(y) for y in e.targets)})" for e in examples]
    fig = make_subplots(rows=rows, cols=1, subplot_titles=titles, vertical_spacing=min(0.3 / rows, 0.08))
    for row, e in enumerate(examples, start=1):
        if kind == "image":
            strip = _strip(e.inputs, [int(s) for s in input_shape])
            if strip.ndim == 3:
                fig.add_trace(go.Image(z=_colour(strip), hoverinfo="skip"), row=row, col=1)
            else:
                fig.add_trace(go.Heatmap(z=strip[::-1], colorscale="Greys", showscale=False,
                                         hovertemplate="value %{z:.3g}<extra></extra>"), row=row, col=1)  # fmt: skip
                fig.update_yaxes(scaleanchor=f"x{row if row > 1 else ''}", row=row, col=1)
        else:
            fig.add_trace(go.Heatmap(z=e.inputs, colorscale="RdBu", zmid=0.0, showscale=False,
                                     hovertemplate="input %{x}: %{z:.3g}<extra></extra>"), row=row, col=1)  # fmt: skip
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    per_row = 120 if kind == "image" else 90
    fig.update_layout(template=TEMPLATE, height=60 + per_row * rows, margin={"l": 8, "r": 8, "t": 40, "b": 8},
                      font={"size": FONT_SIZE, "family": FONT_FAMILY}, showlegend=False,
                      meta={"kind": kind, "tasks": names, "file": file_name})  # fmt: skip
    return fig


def _points_figure(examples: Sequence, file_name: str) -> go.Figure:
    cols = max(len(examples), 1)
    fig = make_subplots(rows=1, cols=cols, subplot_titles=[e.name for e in examples], horizontal_spacing=0.03)
    for col, e in enumerate(examples, start=1):
        labels = np.array([int(_label(y)) for y in e.targets])
        for label in np.unique(labels):
            pick = labels == label
            fig.add_trace(go.Scatter(x=e.inputs[pick, 0], y=e.inputs[pick, 1], mode="markers", hoverinfo="skip",
                                     marker={"size": 5, "color": CLASS_COLORS[int(label) % len(CLASS_COLORS)]}),
                          row=1, col=col)  # fmt: skip
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(template=TEMPLATE, height=260, margin={"l": 8, "r": 8, "t": 40, "b": 8}, showlegend=False,
                      font={"size": FONT_SIZE, "family": FONT_FAMILY},
                      meta={"kind": "points", "tasks": [e.name for e in examples], "file": file_name})  # fmt: skip
    return fig
