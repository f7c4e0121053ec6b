"""The frame of the network graph: the input layer (nodes or an image) and the layer labels.

An image input is drawn at its true aspect (the axes are equal-scaled): by default the
Σ|w| each pixel sends into layer 1; with a first-layer unit in focus, that unit's own
incoming weights (blue positive, red negative): what the neuron looks for.
Pure: a record and one task's first-layer weights in, plotly trace and annotation dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dashboard.figures.conv import conv_layers
from dashboard.figures.edges import as_array
from dashboard.figures.layout import input_geometry


def input_traces(
    record: Mapping, weights: Mapping | None, active_rows: np.ndarray, focus: tuple[int, int] | None = None
) -> tuple[list, np.ndarray | None]:
    """The input layer's traces, and the source positions of input edges (None for an image block).

    ``focus`` = (unit id, weight row) of a first-layer unit draws its incoming weights instead of the usage.
    """
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
    own = focus is not None and 0 <= focus[1] < first.shape[0]
    if own:
        usage[: geometry.dim] = first[focus[1]]
        what, style = f"weight into unit {focus[0]}", {"colorscale": "RdBu", "zmid": 0.0}
    else:
        usage[: geometry.dim] = np.abs(first[active_rows[active_rows < first.shape[0]]]).sum(axis=0)
        what, style = "Σ|w| into layer 1", {"colorscale": [[0, "#ffffff"], [1, "#1f2933"]]}  # darker = used more
    grid = usage.reshape(rows, cols)
    dx, dy = (geometry.x1 - geometry.x0) / cols, (geometry.y1 - geometry.y0) / rows
    text = np.array(
        [[f"pixel ({r}, {c})<br>{what}: {grid[r, c]:.3g}" for c in range(cols)] for r in range(rows)],
        dtype=object,
    )
    trace = dict(
        type="heatmap",
        z=grid[::-1],  # row 0 of the image is its top: y grows upwards
        x=geometry.x0 + dx * (np.arange(cols) + 0.5),
        y=(geometry.y1 - dy * (np.arange(rows) + 0.5))[::-1],
        showscale=False,
        text=text[::-1],
        hoverinfo="text",
        name="input weights" if own else "input usage",
        meta={"kind": "input", "focus": focus[0] if own else None, "shape": [rows, cols]},
        **style,
    )
    return [trace], None


def layer_labels(
    record: Mapping,
    snapshot: Mapping,
    task: int,
    centres: list[float],
    head_x: float,
    extra: list[str] | None = None,
    focus: int | None = None,
    kernel: int | None = None,
) -> list[dict]:
    """Column titles (input, each layer's active/stored size and ``extra`` line, the head) and the input note.

    With ``kernel`` (a conv run), the conv layers are titled ``conv l · k×k`` and count filters.
    """
    n_conv = conv_layers(record) if kernel else 0
    geometry = input_geometry(record)
    shape = "×".join(str(s) for s in geometry.shape) if geometry.kind == "block" else ""
    labels = [(0.0, f"input<br>{geometry.dim}" + (f" ({shape})" if shape else ""))]
    stored = list(snapshot.get("layer_sizes") or [])
    active_sizes = list(snapshot.get("active_sizes") or stored)
    for l, x in enumerate(centres, start=1):
        a = active_sizes[l] if l < len(active_sizes) else "?"
        s = stored[l] if l < len(stored) else "?"
        if l <= n_conv:
            # three short lines: conv blocks are narrow, and two side by side must not share a label's width
            text = f"conv {l} · {kernel}×{kernel}<br>{a} filters" + (f"<br>({s} stored)" if s != a else "")
        elif n_conv:  # beside conv blocks a dense block is narrow too: the same three short lines
            text = f"layer {l}<br>{a} active" + (f"<br>({s} stored)" if s != a else "")
        else:
            text = f"layer {l}<br>{a} active" + (f" / {s} stored" if s != a else "")
        if extra and l - 1 < len(extra) and extra[l - 1]:
            text += f"<br><span style='font-size:12px'>{extra[l - 1]}</span>"
        labels.append((x, text))
    labels.append((head_x, f"head<br>task {task}"))
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
        for x, text in labels
    ]
    if geometry.kind == "block":
        note = (  # short lines: the note must stay within the block's width, clear of the edge bundles
            "every pixel<br>feeds every<br>filter of conv 1"
            if n_conv
            else f"weights into<br>unit {focus}:<br>blue +, red −"
            if focus is not None
            else "per pixel:<br>Σ|w| into<br>layer 1"
        )
        notes.append(
            {
                "text": note,
                "x": 0.0,
                "y": geometry.y0,
                "xref": "x",
                "yref": "y",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 12, "color": "#555"},
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
