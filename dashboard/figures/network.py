"""The network graph: every unit at its stable place, painted by mode, with edges or bundles between layers.

Pure: a record and one task's weights in, a plotly figure out. ``mode`` picks what the
colours say (``growth``: birth task; ``changes``: what task t added, selected, split and how
far old units drifted; ``diff``: what differs from task ``since``). ``edges`` picks single
strongest weights or bundles between birth-task groups; ``focus`` (a unit id) draws that
unit's own incoming and outgoing weights, and for a first-layer unit, its weights as an
image of the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import conv
from dashboard.figures.arrival import arriving_looks, move_copies, travel
from dashboard.figures.base import NETWORK_HEIGHT, _layout, _no_tasks, _tasks, empty_figure
from dashboard.figures.edges import EdgeSet, as_array, edge_traces, segments
from dashboard.figures.encoding import DUPLICATE_LINK, task_color
from dashboard.figures.frame import input_block_shape, input_traces, layer_labels
from dashboard.figures.layout import output_positions, placement
from dashboard.figures.scene import MODES, Scene, layer_counts, paint
from dashboard.figures.units import KEEP, Palette, legend_traces, pixels_per_unit, unit_traces
from dashboard.figures.wiring import edge_layer, unit_xy

EDGE_MODES = ("auto", "bundled", "strongest")
MAX_LINKS = 40  # more duplicate-original links than this are a tangle: none are drawn
TITLE_ONE_LINE = 72  # characters of a chart title that fit one line at a 1024-px page


def _drift_history(tasks: list[dict], upto: int) -> dict[int, list[tuple[int, float, float]]]:
    """unit id -> [(task, drift, sigma)] from the drift events of tasks 1..upto."""
    history: dict[int, list[tuple[int, float, float]]] = {}
    for snapshot in tasks[:upto]:
        for event in snapshot.get("events") or []:
            if event.get("type") != "drift":
                continue
            sigma = event.get("split_threshold")
            sigma = math.nan if sigma is None else float(sigma)
            for layer in event.get("drift") or []:
                for uid, value in zip(layer.get("ids") or [], layer.get("values") or [], strict=False):
                    v = math.nan if value is None else float(value)
                    history.setdefault(int(uid), []).append((int(snapshot["task"]), v, sigma))
    return history


def _hover(
    unit: Mapping, task: int, drift: list, zeros: tuple[int, int] | None, selected: bool, extra: list[str] = ()
) -> str:
    retired = unit.get("retired")
    parent = unit.get("parent")
    lines = [
        f"<b>{'filter' if extra else 'unit'} {unit['id']}</b> · {'conv ' if extra else ''}layer {unit['layer']}",
        f"born at task {unit['born']} · {unit['origin']}",
        f"parent: {parent if parent is not None else '–'}",
    ]
    if retired is not None and int(retired) <= task:
        lines.append(f"retired at task {retired}: kept for tasks 1–{int(retired) - 1}")
    else:
        lines.append("retired: –")
    if drift:
        sigma = drift[-1][2]
        parts = " · ".join(f"t{t}: {v:.3g}" if not math.isnan(v) else f"t{t}: –" for t, v, _ in drift[-4:])
        lines.append(f"drift {parts}" + (f" (σ = {sigma:.3g})" if not math.isnan(sigma) else ""))
    if zeros is not None:
        n_zero, n_in = zeros
        lines.append(f"incoming zeros: {n_zero / max(n_in, 1):.0%} ({n_zero}/{n_in})")
    if selected:
        lines.append("selected for retraining at this task")
    return "<br>".join([*lines, *extra])


def _ghost_hover(g: Mapping) -> str:
    return (
        f"<b>unit {g['id']}</b> · layer {g['layer']}<br>born at task {g['born']} · {g['origin']}"
        "<br>pruned by group sparsity at this task"
    )


def _title(snapshot: Mapping, task: int, mode: str, since: int | None) -> str:
    active = "-".join(str(s) for s in snapshot.get("active_sizes") or snapshot.get("layer_sizes") or [])
    stored = "-".join(str(s) for s in snapshot.get("layer_sizes") or [])
    name = snapshot.get("name") or f"task {task}"
    extra = f" ({stored} stored)" if stored and stored != active else ""
    head = {"growth": f"After task {task}", "changes": f"What task {task} changed", "diff": f"Task {since} → {task}"}
    title = f"{head[mode]}: {name} · {active}"
    # a deep network's sizes run past a 1024-px page's chart: the stored sizes go on a line of their own
    return title + ("<br>" + extra.strip() if len(title + extra) > TITLE_ONE_LINE else extra)


def _rows(scene: Scene) -> dict[int, int]:
    """Rows of each block layer over the whole record (so the heatmap grid never changes size)."""
    last: dict[int, int] = {}
    for layer, slot in scene.slots.values():
        last[layer] = max(last.get(layer, 0), slot)
    return {g.layer: last.get(g.layer, 0) // g.columns + 1 for g in scene.geometries if g.kind == "grid"}


def _zeros(scene: Scene, weights: Mapping) -> dict[int, tuple[int, int]]:
    """unit id -> (incoming zeros, incoming weights) over the inputs this task's units read."""
    zeros = {}
    for l, lu in enumerate(scene.layers):
        w = weights.get(f"hidden.{l + 1}.weight")
        if w is None or w.ndim < 2 or w.shape[0] != len(lu):
            continue
        cols = np.arange(w.shape[1]) if l == 0 else np.array([c for c in scene.active_rows(l - 1) if c < w.shape[1]])
        if cols.size == 0:
            continue
        block = w[:, cols].reshape(w.shape[0], -1)  # a filter's incoming entries: every tap of every channel
        nz = np.count_nonzero(block == 0, axis=1)
        zeros.update({int(u["id"]): (int(nz[i]), block.shape[1]) for i, u in enumerate(lu)})
    return zeros


def network_figure(
    record: dict,
    task: int,
    weights: dict[str, np.ndarray] | None = None,
    *,
    max_edges: int = 300,
    edges: str = "auto",
    mode: str = "growth",
    since: int | None = None,
    focus: int | None = None,
    show_selected: bool = False,
    show_pruned: bool = True,
    arrive: float | None = None,
) -> go.Figure:
    """The network after task ``task`` in ``mode``, with edges (``max_edges`` = 0 hides them).

    ``arrive`` (0..1) draws an in-between picture of the step from task-1: the units born at
    ``task`` only that far in (see ``arrival``); None is the finished picture.
    """
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    if not 1 <= int(task) <= len(tasks):
        return empty_figure(f"Task {task} is not in this run: it has {len(tasks)} learned task(s).")
    if mode not in MODES or edges not in EDGE_MODES:
        return empty_figure(f"Unknown drawing mode {mode!r} / edges {edges!r}.")
    task = int(task)
    since = max(1, min(int(since if since is not None else task - 1), task)) if mode == "diff" else None
    where = placement(record)
    scene = Scene.of(record, task, where)
    positions, x_range, y_range = where.positions, where.x_range, where.y_range
    px = pixels_per_unit(x_range, y_range)
    weights = {k: as_array(v) for k, v in (weights or {}).items()}
    looks = paint(scene, mode, since=since, show_selected=show_selected)
    if not show_pruned:
        looks = {uid: lk for uid, lk in looks.items() if lk.shape != "x"}
    # an in-between picture (``arrive``) stays 0.2 s: it carries no hover cards
    history, zeros = (_drift_history(tasks, task), _zeros(scene, weights)) if arrive is None else ({}, {})
    n_conv = conv.conv_layers(record)
    hover = (
        {}
        if arrive is not None
        else {
            int(u["id"]): _hover(
                u,
                task,
                history.get(int(u["id"]), []),
                zeros.get(int(u["id"])),
                int(u["id"]) in scene.selected,
                (conv.filter_lines(weights.get(f"hidden.{l + 1}.weight"), i) or ["conv filter"]) if l < n_conv else [],
            )
            for l, lu in enumerate(scene.layers)
            for i, u in enumerate(lu)
        }
    )
    hover.update({int(g["id"]): _ghost_hover(g) for g in scene.ghosts} if arrive is None else {})
    focus_row = _focus_row(scene, focus)
    first_active = np.array(scene.active_rows(0) if scene.layers else [], dtype=int)
    inputs, input_xy = input_traces(
        record, weights, first_active, focus_row if focus_row and focus_row[2] == 0 else None
    )
    out_xy = np.array(output_positions(record, int(scene.snapshot.get("n_outputs") or 1), where.head_x))
    palette = Palette()
    traces = edge_layer(scene, weights, positions, input_xy, out_xy, edges, max_edges)
    traces += _links(scene, positions, mode, since)
    traces += inputs
    drawn = looks if arrive is None else arriving_looks(scene, looks, arrive)
    rows = _rows(scene)
    units = unit_traces(scene.geometries, scene.slots, drawn, hover, rows, palette, px)
    if n_conv and arrive is None:  # kernels go right over the first layer's cells, under their hover markers
        at = next((i + 1 for i, t in enumerate(units) if (t.get("meta") or {}).get("kind") == "cells"), 0)
        units[at:at] = conv.kernel_traces(scene, weights, looks, rows.get(1, 1))
    if arrive is not None:
        move_copies(units, travel(scene, positions, arrive))
    traces += units
    if focus_row is not None:
        traces += _focus(scene, weights, positions, input_xy, out_xy, focus_row)
    traces.append(_outputs(out_xy, task))
    traces += legend_traces(looks)
    palette.apply(traces)
    extra = layer_counts(scene, mode, since)
    title = _title(scene.snapshot, task, mode, since)
    layout = _layout(
        title,
        height=NETWORK_HEIGHT,
        hovermode="closest",
        uirevision=str(record.get("run_id", "network")),
        xaxis={"range": list(x_range), "visible": False},
        yaxis={
            "range": list(y_range),
            "visible": False,
            "scaleanchor": "x",
            "scaleratio": 1,
            "constrain": "domain",
            "constraintoward": "top",
        },  # spare height goes under the drawing, not over it
        # a stored count under a conv title is a third line: room for it above the plot
        margin={
            "l": 10,
            "r": 10,
            "t": (125 if any(extra) else 95) + (20 if n_conv else 0) + 22 * title.count("<br>"),
            "b": 10,
        },
        legend={
            "orientation": "h",
            "x": 0.0,
            "y": 0.0,
            "yanchor": "top",
            "font": {"size": 13},
            "itemsizing": "constant",
            "entrywidthmode": "pixels",
        },
        annotations=layer_labels(
            record,
            scene.snapshot,
            task,
            [g.centre for g in scene.geometries],
            where.head_x,
            extra,
            focus_row[0] if focus_row and focus_row[2] == 0 else None,
            kernel=conv.kernel_size(record, weights) if n_conv else None,
        ),
        shapes=(input_block_shape(record) if not inputs else []) + conv.frames(scene.geometries, rows, n_conv),
        meta={
            "mode": mode,
            "task": task,
            "since": since,
            "focus": focus_row[0] if focus_row else None,
            "arrive": arrive,
        },
    )
    if n_conv:  # a conv title's third line reaches where plotly centres the title in the top margin: pin it up
        layout["title"] = {**layout["title"], "y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 14}}
    return go.Figure(data=traces, layout=layout)


def _focus_row(scene: Scene, focus: int | None) -> tuple[int, int, int] | None:
    """(unit id, weight row, layer index) of the unit in focus, or None."""
    if focus is None:
        return None
    for l, lu in enumerate(scene.layers):
        for i, u in enumerate(lu):
            if int(u["id"]) == int(focus):
                return int(focus), i, l
    return None


def _focus(scene, weights, positions, input_xy, out_xy, focus_row) -> list[dict]:
    """The focus unit's own incoming and outgoing weights, drawn over everything, and a ring around it."""
    uid, row, l = focus_row
    edges = EdgeSet()
    me = np.array([positions[uid]])
    w = conv.unit_matrix(weights.get(f"hidden.{l + 1}.weight"))
    if w is not None and w.ndim == 2 and row < w.shape[0]:
        if l > 0:
            cols = [c for c in scene.active_rows(l - 1) if c < w.shape[1]]
            edges.add(w[row : row + 1, cols], unit_xy(scene, l - 1, cols, positions), me)
        elif input_xy is not None and len(input_xy) == w.shape[1]:
            edges.add(w[row : row + 1], input_xy, me)
    nxt = conv.unit_matrix(
        weights.get(f"hidden.{l + 2}.weight") if l + 1 < len(scene.layers) else weights.get(f"head.{scene.task}.weight")
    )
    if nxt is not None and nxt.ndim == 2 and row < nxt.shape[1]:
        if l + 1 < len(scene.layers):
            rows = [r for r in scene.active_rows(l + 1) if r < nxt.shape[0]]
            edges.add(nxt[rows, row : row + 1], me, unit_xy(scene, l + 1, rows, positions))
        elif nxt.shape[0] == len(out_xy):
            edges.add(nxt[:, row : row + 1], me, out_xy)
    traces = edge_traces(*edges.strongest(200), kind="focus_edges", prefix=f"unit {uid}: ", wider=1.8)
    traces.append(
        dict(
            type="scatter",
            x=me[:, 0],
            y=me[:, 1],
            mode="markers",
            name=f"unit {uid} (clicked)",
            marker={"symbol": "circle-open", "size": 22, "color": "#111", "line": {"width": 3, "color": "#111"}},
            hoverinfo="skip",
            meta={"kind": "focus", "id": uid},
        )
    )
    return traces


def _links(scene: Scene, positions, mode: str, since: int | None) -> list[dict]:
    """Dashed lines tying duplicates to their originals (only this task's, or the diff's, when there are many)."""
    units = [u for lu in scene.layers for u in lu if u.get("parent") is not None and int(u["parent"]) in positions]
    if mode == "diff":
        units = [u for u in units if int(u["born"]) > int(since or 1)]
    elif mode == "changes":
        units = [u for u in units if int(u["born"]) == scene.task]
    if len(units) > MAX_LINKS:  # a tangle: the outlines, diamonds and hover cards say it instead
        units = []
    if not units:
        return []
    src = np.array([positions[int(u["parent"])] for u in units])
    dst = np.array([positions[int(u["id"])] for u in units])
    xs, ys = segments(src, dst)
    return [
        dict(
            type="scatter",
            x=xs,
            y=ys,
            mode="lines",
            line={"color": DUPLICATE_LINK, "width": 1.3, "dash": "dot"},
            name="duplicate – original",
            hoverinfo="skip",
            meta={"kind": "duplicate_links", "n": len(units)},
        )
    ]


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
        unselected=KEEP,
        meta={"kind": "outputs"},
    )
