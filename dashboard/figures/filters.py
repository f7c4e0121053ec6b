"""Explain one conv filter: its kernel, its norm per input channel, and its mean activation map.

Pure: the filter's weights and (when they could be computed) its mean map in, a plotly
figure out. The kernel is drawn blue positive, red negative (the weights' sign colours),
averaged over input channels; the map in greys, darker = stronger response.
"""

from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.base import _layout


def filter_figure(
    kernel: np.ndarray, activation: np.ndarray | None, *, uid: int, layer: int, task: int, note: str = ""
) -> go.Figure:
    """Filter ``uid`` of conv ``layer``: kernel (channels, k, k) averaged over channels, the norm of each
    channel's slice (more than one channel), and the mean activation map over ``task``'s test images."""
    kernel = np.asarray(kernel, dtype=np.float64)
    channels, k = kernel.shape[0], kernel.shape[-1]
    mean = kernel.mean(axis=0)
    panels = ["kernel" + (f" (mean of {channels} input channels)" if channels > 1 else f" {k}×{k}")]
    if channels > 1:
        panels.append("kernel norm per input channel")
    if activation is not None:
        h, w = np.shape(activation)
        panels.append(f"mean activation ({h}×{w} after pooling), task {task} test images")
    else:
        panels.append("mean activation")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.08)
    bound = float(np.abs(mean).max()) or 1.0
    fig.add_trace(
        go.Heatmap(
            z=mean,  # row 0 of a kernel is its top: the y axes run downwards
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorscale="RdBu",
            showscale=False,
            hovertemplate="row %{y}, column %{x}<br>weight %{z:.3g}<extra></extra>",
            name="kernel",
            meta={"kind": "kernel", "id": uid},
        ),
        row=1,
        col=1,
    )
    if channels > 1:
        norms = np.sqrt((kernel**2).sum(axis=(1, 2)))
        fig.add_trace(
            go.Bar(
                x=np.arange(1, channels + 1),
                y=norms,
                marker_color="#4a5a6a",
                name="norm",
                hovertemplate="input channel %{x}<br>‖kernel‖ %{y:.3g}<extra></extra>",
                meta={"kind": "norms", "id": uid},
            ),
            row=1,
            col=2,
        )
    if activation is not None:
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(activation),
                colorscale=[[0, "#ffffff"], [1, "#1f2933"]],
                zmin=0.0,
                showscale=False,
                hovertemplate="row %{y}, column %{x}<br>mean activation %{z:.3g}<extra></extra>",
                name="mean activation",
                meta={"kind": "activation", "id": uid, "task": task},
            ),
            row=1,
            col=len(panels),
        )
    else:
        fig.add_annotation(
            text="<br>".join(textwrap.wrap(note or "not available", 38)),  # short lines: stay inside its panel
            xref=f"x{len(panels)} domain",
            yref=f"y{len(panels)} domain",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 12, "color": "#555"},
        )
    for c in range(1, len(panels) + 1):
        if c == 2 and channels > 1:
            fig.update_xaxes(title_text="input channel", row=1, col=c)
            continue
        fig.update_xaxes(visible=False, row=1, col=c)
        fig.update_yaxes(visible=False, scaleanchor=f"x{c if c > 1 else ''}", autorange="reversed", row=1, col=c)
    fig.update_layout(
        **_layout(f"Filter {uid} · conv layer {layer}", height=300, margin={"l": 10, "r": 10, "t": 70, "b": 40})
    )
    fig.update_layout(showlegend=False, meta={"kind": "filter", "id": uid, "layer": layer})
    return fig
