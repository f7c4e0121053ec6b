"""The frame of the network graph: the input layer (nodes or a pixel-usage image) and the layer labels.

Pure: a record and one task's first-layer weights in, plotly trace and annotation dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dashboard.figures.edges import as_array
from dashboard.figures.layout import input_geometry


def input_traces(record: Mapping, weights: Mapping | None, active_rows: np.ndarray) -> tuple[list, np.ndarray | None]:
    """The input layer's traces, and the source positions of input edges (None for an image block)."""
    geometry = input_geometry(record)
    if geometry.kind == "nodes":
        xy = np.array(geometry.positions, dtype=float).reshape(-1, 2)
        trace = dict(
            type="scatter",
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            marker={"size": 16, "color": "#ffffff", "line": {"color": "#4a5a6a", "width": 2}, "symbol": "square"},
            name="input",
            hovertext=[f"input x{i + 1}" for i in range(geometry.dim)],
            hoverinfo="text",
            showlegend=False,
        )
        return [trace], xy
    rows, cols = geometry.shape
    first = as_array((weights or {}).get("hidden.1.weight"))
    if first is None or first.ndim != 2 or first.shape[1] != geometry.dim:
        return [], None  # drawn as a labelled rectangle by the layout instead
    usage = np.full(rows * cols, np.nan)
    usage[: geometry.dim] = np.abs(first[active_rows[active_rows < first.shape[0]]]).sum(axis=0)
    grid = usage.reshape(rows, cols)
    dx, dy = (geometry.x1 - geometry.x0) / cols, (geometry.y1 - geometry.y0) / rows
    text = np.array(
        [[f"pixel ({r}, {c})<br>Σ|w| into layer 1: {grid[r, c]:.3g}" for c in range(cols)] for r in range(rows)],
        dtype=object,
    )
    trace = dict(
        type="heatmap",
        z=grid,
        x=geometry.x0 + dx * (np.arange(cols) + 0.5),
        y=geometry.y1 - dy * (np.arange(rows) + 0.5),
        colorscale="Greys",
        showscale=False,
        text=text,
        hoverinfo="text",
        name="input usage",
    )
    return [trace], None


def layer_labels(record: Mapping, snapshot: Mapping, task: int, n_layers: int) -> list[dict]:
    """Column titles (input, each layer's active/stored size, the head) and the pixel-shade note."""
    geometry = input_geometry(record)
    shape = "×".join(str(s) for s in geometry.shape) if geometry.kind == "block" else ""
    labels = [f"input<br>{geometry.dim}" + (f" ({shape})" if shape else "")]
    stored = list(snapshot.get("layer_sizes") or [])
    active_sizes = list(snapshot.get("active_sizes") or stored)
    for l in range(1, n_layers + 1):
        a = active_sizes[l] if l < len(active_sizes) else "?"
        s = stored[l] if l < len(stored) else "?"
        labels.append(f"layer {l}<br>{a} active" + (f" / {s} stored" if s != a else ""))
    labels.append(f"head<br>task {task}")
    notes = [
        {
            "text": text,
            "x": float(x),
            "y": 1.0,
            "xref": "x",
            "yref": "paper",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 14},
        }
        for x, text in enumerate(labels)
    ]
    if geometry.kind == "block":
        notes.append(
            {
                "text": "shade: Σ|w| per pixel into layer 1",
                "x": 0.0,
                "y": geometry.y0,
                "xref": "x",
                "yref": "y",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 14, "color": "#555"},
            }
        )
    return notes


def input_block_shape(record: Mapping) -> list[dict]:
    """A framed rectangle standing for an image input when its usage cannot be drawn."""
    geometry = input_geometry(record)
    if geometry.kind != "block":
        return []
    return [
        {
            "type": "rect",
            "x0": geometry.x0,
            "x1": geometry.x1,
            "y0": geometry.y0,
            "y1": geometry.y1,
            "fillcolor": "#eef1f4",
            "line": {"color": "#4a5a6a", "width": 1},
        }
    ]
