"""The network graph: one marker per unit at its stable position, edges by sign and size.

Pure: a record and one task's weights in, a plotly figure out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from dashboard.colors import (
    DUPLICATE_LINK,
    EDGE_NEGATIVE,
    EDGE_POSITIVE,
    GHOST,
    HIGHLIGHT_RING,
    SELECTED_RING,
    task_color,
    task_colorscale,
)
from dashboard.figure_base import (
    EDGE_BINS,
    NETWORK_HEIGHT,
    _events,
    _layout,
    _no_tasks,
    _num,
    _tasks,
    empty_figure,
)
from dashboard.graph_layout import (
    axis_ranges,
    hidden_base_sizes,
    input_geometry,
    layer_spacing,
    output_positions,
    unit_positions,
)

# --- the network --------------------------------------------------------------------------------


def _drift_history(tasks: list[dict], upto: int) -> dict[int, list[tuple[int, float, float]]]:
    """unit id -> [(task, drift, sigma)] from the drift events of tasks 1..upto."""
    history: dict[int, list[tuple[int, float, float]]] = {}
    for snapshot in tasks[:upto]:
        task = int(snapshot["task"])
        for event in _events(snapshot, "drift"):
            sigma = _num(event.get("split_threshold"))
            for layer in event.get("drift") or []:
                values = np.array([math.nan if v is None else v for v in layer.get("values") or []], dtype=float)
                for uid, value in zip(layer.get("ids") or [], values.tolist(), strict=False):
                    history.setdefault(uid, []).append((task, value, sigma))
    return history


def _is_active(unit: Mapping, task: int) -> bool:
    return unit.get("retired") is None or int(unit["retired"]) > task


def _hover(unit: Mapping, task: int, drift: list, zeros: tuple[int, int] | None, selected: bool) -> str:
    retired = unit.get("retired")
    parent = unit.get("parent")
    lines = [
        f"<b>unit {unit['id']}</b> · layer {unit['layer']}",
        f"born at task {unit['born']} · {unit['origin']}",
        f"parent: {parent if parent is not None else '–'}",
    ]
    if retired is not None and int(retired) <= task:
        lines.append(f"retired at task {retired}: kept for tasks 1–{int(retired) - 1}")
    else:
        lines.append("retired: –")
    if drift:
        sigma = drift[-1][2]
        parts = " · ".join(f"t{t}: {v:.3g}" if not math.isnan(v) else f"t{t}: –" for t, v, _ in drift)
        lines.append(f"drift {parts}" + (f" (σ = {sigma:.3g})" if not math.isnan(sigma) else ""))
    if zeros is not None:
        n_zero, n_in = zeros
        lines.append(f"incoming zeros: {n_zero / max(n_in, 1):.0%} ({n_zero}/{n_in})")
    if selected:
        lines.append("selected for retraining at this task")
    return "<br>".join(lines)


def _as_array(value) -> np.ndarray | None:
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor slipped through: accept it
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


class _Edges:
    """Candidate edges as weight blocks; picks the strongest ones without materialising coordinates."""

    def __init__(self) -> None:
        self.blocks: list[
            tuple[np.ndarray, np.ndarray, np.ndarray]
        ] = []  # (values (r, c), src xy (c, 2), dst xy (r, 2))

    def add(self, values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
        if values.size:
            self.blocks.append((values, src, dst))

    def strongest(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, src xy, dst xy) of the ``k`` largest-|w| non-zero edges, strongest first."""
        if not self.blocks or k <= 0:
            return np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2))
        flat = np.concatenate([b[0].ravel() for b in self.blocks])
        nonzero = np.flatnonzero(flat)
        if nonzero.size > k:
            nonzero = nonzero[np.argpartition(-np.abs(flat[nonzero]), k - 1)[:k]]
        chosen = nonzero[np.argsort(-np.abs(flat[nonzero]), kind="stable")]
        offsets = np.cumsum([0] + [b[0].size for b in self.blocks])
        block_of = np.searchsorted(offsets, chosen, side="right") - 1
        src, dst = np.zeros((chosen.size, 2)), np.zeros((chosen.size, 2))
        for b, (values, s, d) in enumerate(self.blocks):
            mine = block_of == b
            rows, cols = np.divmod(chosen[mine] - offsets[b], values.shape[1])
            src[mine], dst[mine] = s[cols], d[rows]
        return flat[chosen], src, dst


def _segments(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line coordinates for many segments in one trace, separated by gaps.

    The gap is NaN in a float array rather than None in a list: it reaches the browser as
    the same null, but plotly validates a float array at once instead of value by value.
    """
    n = len(src)
    xs, ys = np.full(3 * n, np.nan), np.full(3 * n, np.nan)
    xs[0::3], xs[1::3], ys[0::3], ys[1::3] = src[:, 0], dst[:, 0], src[:, 1], dst[:, 1]
    return xs, ys


def _edge_traces(weights: np.ndarray, src: np.ndarray, dst: np.ndarray) -> list[dict]:
    """Edges batched by sign and strength: at most six traces whatever the edge count.

    Traces are plain dicts: plotly validates them once, inside ``go.Figure``, instead of twice.
    """
    traces = []
    if weights.size == 0:
        return traces
    top = float(np.abs(weights).max())
    upper = np.inf
    for sign, color, name in ((1, EDGE_POSITIVE, "positive weight"), (-1, EDGE_NEGATIVE, "negative weight")):
        shown = False
        upper = np.inf
        for low, width, opacity in EDGE_BINS:
            rel = np.abs(weights) / top
            pick = (np.sign(weights) == sign) & (rel >= low) & (rel < upper)
            upper = low
            if not pick.any():
                continue
            xs, ys = _segments(src[pick], dst[pick])
            traces.append(
                dict(
                    type="scatter",
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": color, "width": width},
                    opacity=opacity,
                    hoverinfo="skip",
                    name=name,
                    legendgroup=name,
                    showlegend=not shown,
                    meta={"kind": "edges", "sign": sign, "weights": np.round(weights[pick], 5)},
                )
            )
            shown = True
    return traces


def _marker_size(record: Mapping, layer_base: int, y_span: float) -> float:
    pixels = (NETWORK_HEIGHT - 140) * layer_spacing(layer_base) / max(y_span, 1e-9)
    return float(np.clip(0.85 * pixels, 5, 20))


def _input_traces(record: Mapping, weights: Mapping | None, active_rows: np.ndarray) -> tuple[list, np.ndarray | None]:
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
    first = _as_array((weights or {}).get("hidden.1.weight"))
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


def _title(snapshot: Mapping, task: int) -> str:
    active = "-".join(str(s) for s in snapshot.get("active_sizes") or snapshot.get("layer_sizes") or [])
    stored = "-".join(str(s) for s in snapshot.get("layer_sizes") or [])
    name = snapshot.get("name") or f"task {task}"
    extra = f" (stored {stored})" if stored and stored != active else ""
    return f"After task {task}: {name} · units {active}{extra} → {snapshot.get('n_outputs', 1)} output(s)"


def network_figure(
    record: dict,
    task: int,
    weights: dict[str, np.ndarray] | None = None,
    *,
    max_edges: int = 300,
    show_selected: bool = True,
    show_pruned: bool = True,
    highlight: set[int] | None = None,
) -> go.Figure:
    """The network after task ``task``: units by birth task, duplicates, ghosts, and the strongest edges."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    if not 1 <= int(task) <= len(tasks):
        return empty_figure(f"Task {task} is not in this run: it has {len(tasks)} learned task(s).")
    task = int(task)
    snapshot = tasks[task - 1]
    positions = unit_positions(record)
    (x_range, y_range), bases = axis_ranges(record, positions), hidden_base_sizes(record)
    y_span = y_range[1] - y_range[0]
    units = list(snapshot.get("units") or [])
    n_layers = max([len(bases)] + [int(u["layer"]) for u in units])
    layers = [[u for u in units if int(u["layer"]) == layer] for layer in range(1, n_layers + 1)]
    active = [np.array([i for i, u in enumerate(lu) if _is_active(u, task)], dtype=int) for lu in layers]
    selected = {int(i) for ids in snapshot.get("selected") or [] for i in ids or []} if show_selected else set()
    drift = _drift_history(tasks, task)
    weights = {k: _as_array(v) for k, v in (weights or {}).items()}
    xy = [
        np.array([positions.get(int(u["id"]), (l + 1.0, 0.0)) for u in lu]).reshape(-1, 2)
        for l, lu in enumerate(layers)
    ]

    traces: list = []
    input_traces, input_xy = _input_traces(record, weights, active[0] if active else np.zeros(0, int))
    edges, zeros = _Edges(), {}
    for l, lu in enumerate(layers):
        w = weights.get(f"hidden.{l + 1}.weight")
        if w is None or w.ndim != 2 or w.shape[0] != len(lu):
            continue
        cols = np.arange(w.shape[1]) if l == 0 else active[l - 1][active[l - 1] < w.shape[1]]
        nz = np.count_nonzero(w[:, cols] == 0, axis=1)
        zeros.update({int(u["id"]): (int(nz[i]), len(cols)) for i, u in enumerate(lu)})
        src = input_xy if l == 0 else xy[l - 1][cols]
        if src is not None and len(src) == len(cols):
            edges.add(w[np.ix_(active[l], cols)], src, xy[l][active[l]])
    out_xy = np.array(output_positions(record, int(snapshot.get("n_outputs") or 1)))
    head = weights.get(f"head.{task}.weight")
    if head is not None and head.ndim == 2 and layers and head.shape[0] == len(out_xy):
        cols = active[-1][active[-1] < head.shape[1]]
        edges.add(head[:, cols], xy[-1][cols], out_xy)
    traces += _edge_traces(*edges.strongest(int(max_edges)))

    links = [(positions[u["parent"]], positions[u["id"]]) for u in units if u.get("parent") in positions]
    if links:
        xs, ys = _segments(np.array([a for a, _ in links]), np.array([b for _, b in links]))
        traces.append(
            dict(
                type="scatter",
                x=xs,
                y=ys,
                mode="lines",
                line={"color": DUPLICATE_LINK, "width": 1.5, "dash": "dash"},
                name="duplicate – original",
                hoverinfo="skip",
                meta={"kind": "duplicate_links", "n": len(links)},
            )
        )
    traces += input_traces

    categories = {"base": [], "expanded": [], "duplicate": [], "retired": []}
    for l, lu in enumerate(layers):
        size = _marker_size(record, bases[l] if l < len(bases) else len(lu), y_span)
        for i, u in enumerate(lu):
            kind = u["origin"] if _is_active(u, task) else "retired"
            categories.setdefault(kind, []).append((u, xy[l][i], size))
    names = {
        "base": "base unit",
        "expanded": "expanded unit",
        "duplicate": "duplicate (split copy)",
        "retired": "retired original (kept for old tasks)",
    }
    scale, n_colors = task_colorscale(len(tasks)), len(tasks)
    for kind, items in categories.items():
        if not items:
            continue
        born = np.array([int(u["born"]) for u, _, _ in items])
        color = {"color": born, "colorscale": scale, "cmin": 0.5, "cmax": n_colors + 0.5}  # one colour per task
        if kind == "retired":
            symbol = np.array([("diamond-open" if u["origin"] == "duplicate" else "circle-open") for u, _, _ in items])
        else:
            symbol = "diamond" if kind == "duplicate" else "circle"
        traces.append(
            dict(
                type="scatter",
                x=np.array([p[0] for _, p, _ in items]),
                y=np.array([p[1] for _, p, _ in items]),
                mode="markers",
                marker={
                    **color,
                    "symbol": symbol,
                    "size": np.array([s for _, _, s in items]) * (1.25 if kind == "duplicate" else 1.0),
                    "line": {**color, "width": 1.5}
                    if kind == "retired"
                    else {"color": "#ffffff", "width": 0.6 if min(s for _, _, s in items) >= 8 else 0.0},
                    "opacity": 0.45 if kind == "retired" else 1.0,
                },
                name=names.get(kind, kind),
                customdata=np.array([int(u["id"]) for u, _, _ in items]),
                hovertext=np.array(
                    [
                        _hover(u, task, drift.get(int(u["id"]), []), zeros.get(int(u["id"])), int(u["id"]) in selected)
                        for u, _, _ in items
                    ],
                    dtype=object,
                ),
                hoverinfo="text",
                meta={"kind": "units", "category": kind},
            )
        )
    ghosts = [g for g in snapshot.get("pruned") or [] if int(g["id"]) in positions] if show_pruned else []
    if ghosts:
        size = _marker_size(record, max(bases or [len(units)]), y_span)
        traces.append(
            dict(
                type="scatter",
                x=[positions[int(g["id"])][0] for g in ghosts],
                y=[positions[int(g["id"])][1] for g in ghosts],
                mode="markers",
                marker={
                    "symbol": "x-thin-open",
                    "size": max(size, 7),
                    "color": GHOST,
                    "line": {"width": 1.5, "color": GHOST},
                },
                opacity=0.6,
                name="pruned at this task (ghost)",
                customdata=[int(g["id"]) for g in ghosts],
                hovertext=[
                    f"<b>unit {g['id']}</b> · layer {g['layer']}<br>born at task {g['born']} · {g['origin']}"
                    "<br>pruned by group sparsity at this task"
                    for g in ghosts
                ],
                hoverinfo="text",
                meta={"kind": "ghosts"},
            )
        )
    sizes = {int(u["id"]): size for items in categories.values() for u, _, size in items}
    for ids, color, name, grow, width in (
        (selected, SELECTED_RING, "selected for retraining", 4, 1.0 if min(sizes.values(), default=8) >= 8 else 0.5),
        (highlight or set(), HIGHLIGHT_RING, "highlighted", 9, 2.5),
    ):
        ring = sorted(i for i in ids if i in positions)
        if ring:
            traces.append(
                dict(
                    type="scatter",
                    x=np.array([positions[i][0] for i in ring]),
                    y=np.array([positions[i][1] for i in ring]),
                    mode="markers",
                    name=name,
                    hoverinfo="skip",
                    marker={
                        "symbol": "circle-open",
                        "size": np.array([sizes.get(i, 8.0) + grow for i in ring]),
                        "color": color,
                        "line": {"width": width, "color": color},
                    },
                    opacity=0.7 if color == SELECTED_RING else 1.0,
                    meta={"kind": "ring", "n": len(ring)},
                )
            )
    traces.append(
        dict(
            type="scatter",
            x=out_xy[:, 0],
            y=out_xy[:, 1],
            mode="markers",
            name=f"output (task {task} head)",
            marker={"symbol": "square", "size": 18, "color": task_color(task), "line": {"color": "#222", "width": 1}},
            hovertext=[f"output {j + 1} of task {task}'s head" for j in range(len(out_xy))],
            hoverinfo="text",
        )
    )
    born = sorted({int(u["born"]) for u in units})
    for t in born:  # legend-only swatches: what each colour means
        traces.append(
            dict(
                type="scatter",
                x=[None],
                y=[None],
                mode="markers",
                name=f"born at task {t}",
                legend="legend2",
                marker={"symbol": "square", "size": 12, "color": task_color(t)},
            )
        )

    layout = _layout(
        _title(snapshot, task),
        height=NETWORK_HEIGHT,
        hovermode="closest",
        uirevision=str(record.get("run_id", "network")),
        xaxis={"range": list(x_range), "visible": False, "fixedrange": False},
        yaxis={"range": list(y_range), "visible": False},
        margin={"l": 10, "r": 10, "t": 95, "b": 60},
        legend={"font": {"size": 14}, "itemsizing": "constant"},
        legend2={
            "orientation": "h",
            "x": 0.0,
            "y": 0.0,
            "yanchor": "top",
            "font": {"size": 14},
            "itemsizing": "constant",
        },
        annotations=_layer_labels(record, snapshot, task, n_layers),
        shapes=_input_block_shape(record) if not input_traces else [],
    )
    return go.Figure(data=traces, layout=layout)


def _layer_labels(record: Mapping, snapshot: Mapping, task: int, n_layers: int) -> list[dict]:
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


def _input_block_shape(record: Mapping) -> list[dict]:
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
