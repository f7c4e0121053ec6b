"""Charts of a run over its tasks: growth, sparsity, capacity, accuracy and the decisions."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.base import (
    LAYER_COLORS,
    _events,
    _no_tasks,
    _num,
    _sparsity_list,
    _style,
    _task_axis,
    _tasks,
    empty_figure,
    is_active,
)
from dashboard.figures.encoding import (
    EXPAND_COLORS,
    METRIC_COLORS,
    ORIGIN_COLORS,
    ORIGIN_LABELS,
    ORIGIN_PATTERNS,
    task_color,
)
from dashboard.figures.layout import (
    hidden_base_sizes,
)

# --- growth, sparsity and capacity ------------------------------------------------------------------


def units_chart(record: dict) -> go.Figure:
    """Active units per hidden layer after each task, stacked by origin, with the stored units as a line."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    n_layers = max(len(hidden_base_sizes(record)), max(len(t.get("layer_sizes") or [0]) - 1 for t in tasks), 1)
    fig = make_subplots(rows=1, cols=n_layers, subplot_titles=[f"layer {l}" for l in range(1, n_layers + 1)])
    x = [int(t["task"]) for t in tasks]
    for l in range(1, n_layers + 1):
        counts = {origin: [] for origin in ORIGIN_COLORS}
        for snapshot in tasks:
            mine = [
                u for u in snapshot.get("units") or [] if int(u["layer"]) == l and is_active(u, int(snapshot["task"]))
            ]
            for origin in counts:
                counts[origin].append(sum(1 for u in mine if u.get("origin") == origin))
        for origin, ys in counts.items():
            fig.add_trace(
                go.Bar(
                    x=x,
                    y=ys,
                    name=ORIGIN_LABELS[origin],
                    marker_color=ORIGIN_COLORS[origin],
                    marker_pattern_shape=ORIGIN_PATTERNS[origin],  # origin = pattern, as shape in the graph
                    legendgroup=origin,
                    showlegend=l == 1,
                    hovertemplate=f"task %{{x}}: %{{y}} {origin} units<extra>layer {l}</extra>",
                ),
                row=1,
                col=l,
            )
        stored = [(t.get("layer_sizes") or [])[l] if l < len(t.get("layer_sizes") or []) else None for t in tasks]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=stored,
                mode="lines+markers",
                name="stored (incl. retired)",
                legendgroup="stored",
                line={"color": "#222222", "width": 2, "dash": "dot"},
                showlegend=l == 1,
                hovertemplate=f"task %{{x}}: %{{y}} stored units<extra>layer {l}</extra>",
            ),
            row=1,
            col=l,
        )
    _style(fig, "Units per layer after each task (active units by origin)", barmode="stack", height=420)
    _task_axis(fig, len(tasks))
    fig.update_yaxes(title_text="units", row=1, col=1, rangemode="tozero")
    return fig


def sparsity_chart(record: dict) -> go.Figure:
    """Fraction of exactly-zero weights (among those the task uses) per layer after each task."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    rows = [_sparsity_list(t) for t in tasks]
    n_layers = max(len(r) for r in rows)
    fig = go.Figure()
    for l in range(n_layers):
        fig.add_trace(
            go.Scatter(
                x=[int(t["task"]) for t in tasks],
                y=[100 * r[l] if l < len(r) and not math.isnan(r[l]) else None for r in rows],
                mode="lines+markers",
                name=f"layer {l + 1}",
                line={"color": LAYER_COLORS[l % len(LAYER_COLORS)], "width": 3},
                hovertemplate=f"task %{{x}}: %{{y:.1f}}% zeros<extra>layer {l + 1}</extra>",
            )
        )
    _style(fig, "Sparsity: share of zero weights each task uses", height=380)
    _task_axis(fig, len(tasks))
    fig.update_yaxes(title_text="zero weights (%)", rangemode="tozero")
    return fig


def params_chart(record: dict) -> go.Figure:
    """Total and non-zero parameters after each task, against the MTL and STL network sizes."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    x = [int(t["task"]) for t in tasks]
    series = [
        ("total", "DEN total", METRIC_COLORS["total"], "solid"),
        ("nonzero", "DEN non-zero", METRIC_COLORS["nonzero"], "solid"),
        ("mtl_params", "MTL (one shared net)", "#59a14f", "dash"),
        ("stl_params", "STL (one net per task)", "#b07aa1", "dot"),
    ]
    fig = go.Figure()
    for key, name, color, dash in series:
        ys = [_num((t.get("params") or {}).get(key)) for t in tasks]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[None if math.isnan(v) else v for v in ys],
                mode="lines+markers",
                name=name,
                line={"color": color, "width": 3 if dash == "solid" else 2, "dash": dash},
                hovertemplate="task %{x}: %{y:,.0f} parameters<extra>" + name + "</extra>",
            )
        )
    _style(fig, "Parameters after each task", height=380)
    _task_axis(fig, len(tasks))
    fig.update_yaxes(title_text="parameters", rangemode="tozero")
    return fig


# --- accuracy ---------------------------------------------------------------------------------------


def _matrix(record: Mapping, metric: str) -> list[list[float]]:
    return [[_num(v) for v in (t.get("metrics") or {}).get(metric) or []] for t in _tasks(record)]


def matrix_heatmap(record: dict, metric: str = "auroc") -> go.Figure:
    """R[i][j]: ``metric`` on task j after learning task i (lower triangle, values written in the cells)."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    if metric not in ("auroc", "accuracy"):
        return empty_figure(f"Unknown metric {metric!r}: choose 'auroc' or 'accuracy'.")
    n = len(tasks)
    z = np.full((n, n), np.nan)
    for i, row in enumerate(_matrix(record, metric)):
        for j, v in enumerate(row[: i + 1]):
            z[i, j] = v
    text = [[("" if j > i else ("–" if math.isnan(z[i, j]) else f"{z[i, j]:.3f}")) for j in range(n)] for i in range(n)]
    finite = z[np.isfinite(z)]
    label = "AUROC" if metric == "auroc" else "accuracy"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(1, n + 1)),
            y=list(range(1, n + 1)),
            text=text,
            texttemplate="%{text}",
            textfont={"size": 14 if n <= 10 else 11},
            colorscale="YlGnBu",
            zmax=1.0,
            zmin=float(np.clip(np.floor((finite.min() - 0.01) * 50) / 50, 0.0, 0.98)) if finite.size else 0.5,
            colorbar={"title": {"text": label}},
            hovertemplate="after task %{y}, on task %{x}: %{z:.4f}<extra></extra>",
            hoverongaps=False,
            meta={"kind": "matrix", "metric": metric},
        )
    )
    _style(fig, f"{label} of every task after each task", height=max(360, 60 + 42 * n))
    fig.update_xaxes(title_text="evaluated on task j", tickmode="linear", tick0=1, dtick=1, side="bottom")
    fig.update_yaxes(title_text="after task i", tickmode="linear", tick0=1, dtick=1, autorange="reversed")
    return fig


def average_metric_chart(record: dict) -> go.Figure:
    """Average AUROC and accuracy over the tasks learned so far, after each task."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    x = [int(t["task"]) for t in tasks]
    fig = go.Figure()
    values = []
    for key, name in (("average_auroc", "auroc"), ("average_accuracy", "accuracy")):
        ys = [_num((t.get("metrics") or {}).get(key)) for t in tasks]
        values += [v for v in ys if not math.isnan(v)]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[None if math.isnan(v) else v for v in ys],
                mode="lines+markers",
                name=f"average {'AUROC' if name == 'auroc' else 'accuracy'}",
                line={"color": METRIC_COLORS[name], "width": 3},
                connectgaps=False,
                hovertemplate="after task %{x}: %{y:.4f}<extra></extra>",
            )
        )
    _style(fig, "Average over the tasks learned so far", height=380)
    _task_axis(fig, len(tasks))
    low = min(values, default=0.5)
    fig.update_yaxes(title_text="average on tasks 1..t", range=[max(0.0, min(low, 0.9) - 0.02), 1.005])
    return fig


# --- decisions ---------------------------------------------------------------------------------------


def drift_histogram(record: dict, task: int, layer: int) -> go.Figure:
    """How far every old unit of ``layer`` drifted at ``task`` (Eq. 6's rho), with sigma and the split units."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    if not 1 <= int(task) <= len(tasks):
        return empty_figure(f"Task {task} is not in this run: it has {len(tasks)} learned task(s).")
    if int(task) == 1:
        return empty_figure("Task 1 trains every unit from scratch: drift is measured from task 2 on.")
    snapshot = tasks[int(task) - 1]
    events = _events(snapshot, "drift")
    per_layer = (events[-1].get("drift") or []) if events else []
    if not 1 <= int(layer) <= len(per_layer):
        return empty_figure(f"No drift was measured for layer {layer} at task {task}.")
    sigma = _num(events[-1].get("split_threshold"))
    entry = per_layer[int(layer) - 1]
    pairs = [(int(i), _num(v)) for i, v in zip(entry.get("ids") or [], entry.get("values") or [], strict=False)]
    pairs = [(i, v) for i, v in pairs if not math.isnan(v)]
    splits = [
        p for e in _events(snapshot, "split") for p in e.get("pairs") or [] if int(p.get("layer", 0)) == int(layer)
    ]
    title = f"Drift of layer {layer}'s old units at task {task}"
    if not pairs:
        return empty_figure(f"No old unit of layer {layer} had a drift value at task {task}.", title)
    values = [v for _, v in pairs]
    fig = go.Figure(
        go.Histogram(
            x=values,
            nbinsx=min(40, max(8, len(values) // 3)),
            name="old units",
            marker_color=ORIGIN_COLORS["base"],
            hovertemplate="drift %{x}: %{y} units<extra></extra>",
        )
    )
    if splits:
        fig.add_trace(
            go.Scatter(
                x=[_num(p.get("drift")) for p in splits],
                y=[0] * len(splits),
                mode="markers",
                marker={
                    "symbol": "diamond",
                    "size": 13,
                    "color": task_color(int(task)),
                    "line": {"color": "#222", "width": 1},
                },
                name=f"split ({len(splits)})",
                cliponaxis=False,
                hovertext=[
                    f"unit {p['parent']} → duplicate {p['duplicate']}<br>drift {_num(p.get('drift')):.4g}"
                    for p in splits
                ],
                hoverinfo="text",
            )
        )
    if not math.isnan(sigma):
        fig.add_vline(x=sigma, line={"color": "#111111", "dash": "dash", "width": 2})
        fig.add_annotation(
            x=sigma, y=1.0, yref="paper", text=f"σ = {sigma:.3g}", showarrow=False, xanchor="left", yanchor="bottom"
        )
    names = ", ".join(str(p["parent"]) for p in splits[:12]) + (" …" if len(splits) > 12 else "")
    note = f"split: {names}" if splits else "no unit passed σ: nothing split"
    title = f"{title}<br><sup>{note}</sup>"
    _style(fig, title, height=380, bargap=0.05)
    fig.update_xaxes(title_text="drift ρ = ‖w(t) − w(t−1)‖₂ of incoming weights", rangemode="tozero")
    fig.update_yaxes(title_text="units")
    return fig


def loss_threshold_chart(record: dict, task: int | None = None) -> go.Figure:
    """Per task, the loss after selective retraining against tau (a dash on each bar); ``task`` is outlined.

    A linear axis: bars measure from zero, and each task's τ is a short dash across its own bar,
    so a bar that reaches past its dash expanded. The inspected task keeps full colour and an
    outline; the others are paler.
    """
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    rows = []
    for snapshot in tasks:
        for event in _events(snapshot, "expansion_decision")[-1:]:
            rows.append(
                (
                    int(snapshot["task"]),
                    _num(event.get("loss")),
                    _num(event.get("loss_threshold")),
                    bool(event.get("expand")),
                )
            )
    if not rows:
        return empty_figure("Task 1 is learned from scratch: the expansion decision starts at task 2.")

    def shown(v: float) -> float | None:
        return v if math.isfinite(v) else None

    fig = go.Figure()
    for expand, name in ((True, "expanded (loss > τ)"), (False, "not expanded (loss ≤ τ)")):
        mine = [r for r in rows if r[3] == expand]
        inspected = [r[0] == task for r in mine]
        fig.add_trace(
            go.Bar(
                x=[r[0] for r in mine],
                y=[shown(r[1]) for r in mine],
                name=name,
                marker={
                    "color": EXPAND_COLORS[expand],
                    "opacity": [1.0 if task is None or hit else 0.45 for hit in inspected],
                    "line": {"color": "#111111", "width": [3 if hit else 0 for hit in inspected]},
                },
                hovertemplate="task %{x}: loss %{y:.4g}<extra>" + name + "</extra>",
                showlegend=True,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[r[0] for r in rows],
            y=[shown(r[2]) for r in rows],
            mode="markers",
            name="τ (loss threshold)",
            marker={"symbol": "line-ew", "size": 24, "line": {"color": "#111111", "width": 3}},
            hovertemplate="task %{x}: τ = %{y:.4g}<extra></extra>",
        )
    )
    _style(fig, "Loss after selective retraining vs τ", height=380)
    _task_axis(fig, len(tasks))
    fig.update_yaxes(title_text="data loss", type="linear", rangemode="tozero")
    if task is not None and any(r[0] == task for r in rows):
        top = max((v for r in rows for v in r[1:3] if math.isfinite(v)), default=1.0)
        fig.add_annotation(x=task, y=top * 1.12, text=f"task {task}", showarrow=False, font={"size": 13})
    return fig
