"""The network graph: one marker per unit at its stable position, edges by sign and size.

Pure: a record and one task's weights in, a plotly figure out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import (
    NETWORK_HEIGHT,
    _events,
    _layout,
    _no_tasks,
    _num,
    _tasks,
    empty_figure,
    is_active,
)
from dashboard.figures.colors import (
    DUPLICATE_LINK,
    GHOST,
    HIGHLIGHT_RING,
    SELECTED_RING,
    task_color,
    task_colorscale,
)
from dashboard.figures.edges import EdgeSet, as_array, edge_traces, segments
from dashboard.figures.frame import input_block_shape, input_traces, layer_labels
from dashboard.figures.layout import (
    axis_ranges,
    hidden_base_sizes,
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


def _marker_size(record: Mapping, layer_base: int, y_span: float) -> float:
    pixels = (NETWORK_HEIGHT - 140) * layer_spacing(layer_base) / max(y_span, 1e-9)
    return float(np.clip(0.85 * pixels, 5, 20))


def _title(snapshot: Mapping, task: int) -> str:
    active = "-".join(str(s) for s in snapshot.get("active_sizes") or snapshot.get("layer_sizes") or [])
    stored = "-".join(str(s) for s in snapshot.get("layer_sizes") or [])
    name = snapshot.get("name") or f"task {task}"
    extra = f" (stored {stored})" if stored and stored != active else ""
    return f"After task {task}: {name} · units {active}{extra} → {snapshot.get('n_outputs', 1)} output(s)"


@dataclass
class _Scene:
    """One task's view of a record: its units by layer, which are active, and where they sit."""

    record: Mapping
    snapshot: Mapping
    task: int
    n_tasks: int
    positions: dict[int, tuple[float, float]]
    bases: list[int]
    y_span: float
    units: list[dict]
    layers: list[list[dict]]
    active: list[np.ndarray]  # per layer, indices of the units active at this task
    xy: list[np.ndarray]  # per layer, (n, 2) unit positions
    out_xy: np.ndarray

    @classmethod
    def of(cls, record: Mapping, tasks: list[dict], task: int, positions: dict, y_span: float) -> _Scene:
        """Lay out the units of task ``task``'s snapshot at their stable ``positions``."""
        snapshot = tasks[task - 1]
        bases = hidden_base_sizes(record)
        units = list(snapshot.get("units") or [])
        n_layers = max([len(bases)] + [int(u["layer"]) for u in units])
        layers = [[u for u in units if int(u["layer"]) == layer] for layer in range(1, n_layers + 1)]
        return cls(
            record=record,
            snapshot=snapshot,
            task=task,
            n_tasks=len(tasks),
            positions=positions,
            bases=bases,
            y_span=y_span,
            units=units,
            layers=layers,
            active=[np.array([i for i, u in enumerate(lu) if is_active(u, task)], dtype=int) for lu in layers],
            xy=[
                np.array([positions.get(int(u["id"]), (l + 1.0, 0.0)) for u in lu]).reshape(-1, 2)
                for l, lu in enumerate(layers)
            ],
            out_xy=np.array(output_positions(record, int(snapshot.get("n_outputs") or 1))),
        )

    def marker_size(self, layer_base: int) -> float:
        """Marker diameter (px) for a layer drawn at its base size ``layer_base``."""
        return _marker_size(self.record, layer_base, self.y_span)


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
    positions = unit_positions(record)
    x_range, y_range = axis_ranges(record, positions)
    scene = _Scene.of(record, tasks, int(task), positions, y_range[1] - y_range[0])
    selected = {int(i) for ids in scene.snapshot.get("selected") or [] for i in ids or []} if show_selected else set()
    weights = {k: as_array(v) for k, v in (weights or {}).items()}

    inputs, input_xy = input_traces(record, weights, scene.active[0] if scene.active else np.zeros(0, int))
    edges, zeros = _edges(scene, weights, input_xy)
    unit_traces, sizes = _unit_traces(scene, _drift_history(tasks, scene.task), zeros, selected)
    traces = edge_traces(*edges.strongest(int(max_edges)))
    traces += _duplicate_links(scene)
    traces += inputs
    traces += unit_traces
    traces += _ghosts(scene) if show_pruned else []
    traces += _rings(scene.positions, sizes, selected, highlight or set())
    traces.append(_outputs(scene.out_xy, scene.task))
    traces += _birth_legend(scene.units)
    layout = _layout(
        _title(scene.snapshot, scene.task),
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
        annotations=layer_labels(record, scene.snapshot, scene.task, len(scene.layers)),
        shapes=input_block_shape(record) if not inputs else [],
    )
    return go.Figure(data=traces, layout=layout)


def _edges(scene: _Scene, weights: Mapping, input_xy: np.ndarray | None) -> tuple[EdgeSet, dict]:
    """Every drawable edge between active units and the task's head, and each unit's incoming-zero count."""
    edges, zeros = EdgeSet(), {}
    active, xy = scene.active, scene.xy
    for l, lu in enumerate(scene.layers):
        w = weights.get(f"hidden.{l + 1}.weight")
        if w is None or w.ndim != 2 or w.shape[0] != len(lu):
            continue
        cols = np.arange(w.shape[1]) if l == 0 else active[l - 1][active[l - 1] < w.shape[1]]
        nz = np.count_nonzero(w[:, cols] == 0, axis=1)
        zeros.update({int(u["id"]): (int(nz[i]), len(cols)) for i, u in enumerate(lu)})
        src = input_xy if l == 0 else xy[l - 1][cols]
        if src is not None and len(src) == len(cols):
            edges.add(w[np.ix_(active[l], cols)], src, xy[l][active[l]])
    head = weights.get(f"head.{scene.task}.weight")
    if head is not None and head.ndim == 2 and scene.layers and head.shape[0] == len(scene.out_xy):
        cols = active[-1][active[-1] < head.shape[1]]
        edges.add(head[:, cols], xy[-1][cols], scene.out_xy)
    return edges, zeros


def _duplicate_links(scene: _Scene) -> list[dict]:
    """One dashed trace linking every duplicate to the original it was split from."""
    positions = scene.positions
    links = [(positions[u["parent"]], positions[u["id"]]) for u in scene.units if u.get("parent") in positions]
    if not links:
        return []
    xs, ys = segments(np.array([a for a, _ in links]), np.array([b for _, b in links]))
    return [
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
    ]


_CATEGORY_NAMES = {
    "base": "base unit",
    "expanded": "expanded unit",
    "duplicate": "duplicate (split copy)",
    "retired": "retired original (kept for old tasks)",
}


def _unit_traces(scene: _Scene, drift: dict, zeros: dict, selected: set[int]) -> tuple[list[dict], dict[int, float]]:
    """A marker trace per kind of unit (base, expanded, duplicate, retired), and each unit's marker size."""
    categories: dict[str, list] = {"base": [], "expanded": [], "duplicate": [], "retired": []}
    for l, lu in enumerate(scene.layers):
        size = scene.marker_size(scene.bases[l] if l < len(scene.bases) else len(lu))
        for i, u in enumerate(lu):
            kind = u["origin"] if is_active(u, scene.task) else "retired"
            categories.setdefault(kind, []).append((u, scene.xy[l][i], size))
    scale = task_colorscale(scene.n_tasks)
    traces = []
    for kind, items in categories.items():
        if not items:
            continue
        born = np.array([int(u["born"]) for u, _, _ in items])
        color = {"color": born, "colorscale": scale, "cmin": 0.5, "cmax": scene.n_tasks + 0.5}  # one colour per task
        if kind == "retired":
            symbol = np.array([("diamond-open" if u["origin"] == "duplicate" else "circle-open") for u, _, _ in items])
        else:
            symbol = "diamond" if kind == "duplicate" else "circle"
        hover = [
            _hover(u, scene.task, drift.get(int(u["id"]), []), zeros.get(int(u["id"])), int(u["id"]) in selected)
            for u, _, _ in items
        ]
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
                name=_CATEGORY_NAMES.get(kind, kind),
                customdata=np.array([int(u["id"]) for u, _, _ in items]),
                hovertext=np.array(hover, dtype=object),
                hoverinfo="text",
                meta={"kind": "units", "category": kind},
            )
        )
    sizes = {int(u["id"]): size for items in categories.values() for u, _, size in items}
    return traces, sizes


def _ghosts(scene: _Scene) -> list[dict]:
    """Grey crosses where units pruned at this task stood."""
    positions = scene.positions
    ghosts = [g for g in scene.snapshot.get("pruned") or [] if int(g["id"]) in positions]
    if not ghosts:
        return []
    size = scene.marker_size(max(scene.bases or [len(scene.units)]))
    return [
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
    ]


def _rings(positions: Mapping, sizes: dict[int, float], selected: set[int], highlight: set[int]) -> list[dict]:
    """Open rings around the units selected for retraining, and around highlighted units."""
    traces = []
    for ids, color, name, grow, width in (
        (selected, SELECTED_RING, "selected for retraining", 4, 1.0 if min(sizes.values(), default=8) >= 8 else 0.5),
        (highlight, HIGHLIGHT_RING, "highlighted", 9, 2.5),
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
    return traces


def _outputs(out_xy: np.ndarray, task: int) -> dict:
    """The task's head: one square per output, in the task's colour."""
    return dict(
        type="scatter",
        x=out_xy[:, 0],
        y=out_xy[:, 1],
        mode="markers",
        name=f"output (task {task} head)",
        marker={"symbol": "square", "size": 18, "color": task_color(task), "line": {"color": "#222", "width": 1}},
        hovertext=[f"output {j + 1} of task {task}'s head" for j in range(len(out_xy))],
        hoverinfo="text",
    )


def _birth_legend(units: list[dict]) -> list[dict]:
    """Legend-only swatches in the second legend: what each task colour means."""
    return [
        dict(
            type="scatter",
            x=[None],
            y=[None],
            mode="markers",
            name=f"born at task {t}",
            legend="legend2",
            marker={"symbol": "square", "size": 12, "color": task_color(t)},
        )
        for t in sorted({int(u["born"]) for u in units})
    ]
