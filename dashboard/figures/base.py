"""Shared pieces of the figure builders: the plotly layout, the empty state, record access."""

from __future__ import annotations

import math
from collections.abc import Mapping

import plotly.graph_objects as go

from dashboard.figures.colors import (
    FONT_FAMILY,
    FONT_SIZE,
    TEMPLATE,
)

NETWORK_HEIGHT = 640
EDGE_BINS = ((2 / 3, 2.6, 0.85), (1 / 3, 1.5, 0.55), (0.0, 0.7, 0.3))  # (min |w|/max, width, opacity)
LAYER_COLORS = ("#4a5a6a", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f")


# --- shared helpers ---------------------------------------------------------------------------


def _tasks(record: Mapping | None) -> list[dict]:
    return list((record or {}).get("tasks") or [])


def _num(value) -> float:
    """A finite float, or NaN for None / NaN / anything unreadable."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _layout(title: str, **overrides) -> dict:
    """The shared look (light template, projector-sized fonts) plus ``overrides``, as one layout dict."""
    base = {
        "template": TEMPLATE,
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "font": {"size": FONT_SIZE, "family": FONT_FAMILY},
        "margin": {"l": 60, "r": 20, "t": 70, "b": 55},
        "legend": {"font": {"size": FONT_SIZE - 1}},
    }
    return {**base, **overrides}


def _style(fig: go.Figure, title: str, **overrides) -> go.Figure:
    fig.update_layout(_layout(title, **overrides))
    return fig


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure that says ``message`` in the middle (nothing to draw yet)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 17})
    _style(fig, title, height=320)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _no_tasks() -> go.Figure:
    return empty_figure("No task learned yet: train the first task to see this chart.")


def is_active(unit: Mapping, task: int) -> bool:
    """Whether a unit record computes for task ``task`` (not yet retired by a split at or before it)."""
    return unit.get("retired") is None or int(unit["retired"]) > task


def _events(snapshot: Mapping, kind: str) -> list[dict]:
    return [e for e in snapshot.get("events") or [] if e.get("type") == kind]


def _task_axis(fig: go.Figure, n_tasks: int, **kwargs) -> None:
    fig.update_xaxes(title_text="task", tickmode="linear", tick0=1, dtick=1, range=[0.4, n_tasks + 0.6], **kwargs)


def _sparsity_list(snapshot: Mapping) -> list[float]:
    value = snapshot.get("sparsity")
    if isinstance(value, Mapping):
        value = value.get("per_layer")
    return [_num(v) for v in value or []]
