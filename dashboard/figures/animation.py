"""Growth as a film: one figure whose frames step through the tasks, new units fading in.

Between task t-1 and t the film shows ``STEPS`` frames: the units born at t fade in from
white, the units pruned at t appear as grey x and fade out on the way to t+1, and a split's
copy (a diamond) travels from its original to its own cell. Every frame updates the same
traces (a heatmap of cells per block layer, a marker set per column layer, one diamond and
one x layer), so plotly can play them in the browser with no server round trip: the figure's
own Play button and task slider drive it. Edges are left out of the film (units only).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import NETWORK_HEIGHT, _layout, _no_tasks, _tasks
from dashboard.figures.encoding import GHOST, mix
from dashboard.figures.frame import input_block_shape, layer_labels
from dashboard.figures.layout import placement
from dashboard.figures.scene import Scene, paint
from dashboard.figures.units import GHOST_CELL, Palette, column_marker_size, legend_traces, pixels_per_unit

STEPS = 3  # frames per task: two in-between, one at the task itself
FRAME_MS = 260


def _frame_data(scene: Scene, alpha: float, prev: Scene | None, positions, rows, ever, palette) -> list[dict]:
    """The unit traces of task ``scene.task`` with its new units ``alpha`` of the way in."""
    looks = paint(scene, "growth")
    task = scene.task
    fading = {int(g["id"]) for g in prev.ghosts} if prev is not None and alpha < 1 else set()
    data = []
    diamonds, crosses = [], []
    for g in scene.geometries:
        born_now = {int(u["id"]) for u in scene.layers[g.layer - 1] if int(u["born"]) == task}
        cells: dict[int, str] = {}
        for u in scene.layers[g.layer - 1]:
            uid = int(u["id"])
            fill = looks[uid].fill
            cells[uid] = mix("#ffffff", fill, alpha) if uid in born_now else fill
            if looks[uid].shape == "diamond" and looks[uid].category != "retired":
                xy = np.array(positions[uid])
                if uid in born_now and u.get("parent") is not None and int(u["parent"]) in positions:
                    xy = np.array(positions[int(u["parent"])]) + alpha * (xy - np.array(positions[int(u["parent"])]))
                diamonds.append(xy)
        taken = {scene.slots[uid][1] for uid in cells}
        for gh in scene.ghosts + ([*prev.ghosts] if fading else []):
            # the last task's ghosts fade out where this task's units have not yet taken their cells
            if int(gh["layer"]) == g.layer and (int(gh["born"]) == task or scene.slots[int(gh["id"])][1] not in taken):
                level = alpha if int(gh["born"]) == task else 1 - alpha
                cells[int(gh["id"])] = mix("#ffffff", GHOST_CELL, level)
                if level > 0.3:
                    crosses.append(positions[int(gh["id"])])
        if g.kind == "grid":
            z = np.full((rows[g.layer], g.columns), np.nan)
            for uid, fill in cells.items():
                r, c = divmod(scene.slots[uid][1], g.columns)
                z[r, c] = palette.code(fill)
            data.append({"type": "heatmap", "z": z[::-1]})
        else:
            ids = ever[g.layer]
            data.append({"type": "scatter", "marker.color": [cells.get(uid, "rgba(0,0,0,0)") for uid in ids]})
    diamonds = np.array(diamonds).reshape(-1, 2)
    crosses = np.array(crosses, dtype=float).reshape(-1, 2)
    data.append({"type": "scatter", "x": diamonds[:, 0], "y": diamonds[:, 1]})
    data.append({"type": "scatter", "x": crosses[:, 0], "y": crosses[:, 1]})
    return data


def growth_animation(record: dict, start: int = 1) -> go.Figure:
    """Every task of the record as an animated film of the growing network (units only, no edges)."""
    tasks = _tasks(record)
    if not tasks:
        return _no_tasks()
    where = placement(record)
    positions, x_range, y_range = where.positions, where.x_range, where.y_range
    px = pixels_per_unit(x_range, y_range)
    scenes = [Scene.of(record, t, where) for t in range(1, len(tasks) + 1)]
    slots, geometries = scenes[0].slots, scenes[0].geometries
    rows: dict[int, int] = {}
    ever: dict[int, list[int]] = {g.layer: [] for g in geometries}
    for uid, (layer, slot) in sorted(slots.items(), key=lambda kv: kv[1]):
        ever.setdefault(layer, []).append(uid)
        rows[layer] = slot // max(geometries[layer - 1].columns, 1) + 1 if layer <= len(geometries) else 1
    palette = Palette()
    base = []
    for g in geometries:
        ids = ever[g.layer]
        xy = np.array([positions[uid] for uid in ids]).reshape(-1, 2)
        hover = [f"unit {uid} · layer {g.layer}" for uid in ids]
        if g.kind == "grid":
            xs = g.x0 + (np.arange(g.columns) + 0.5) * g.pitch
            ys = g.top - (np.arange(rows[g.layer]) + 0.5) * g.pitch
            base.append(
                dict(
                    type="heatmap",
                    x=xs,
                    y=ys[::-1],
                    z=np.full((rows[g.layer], g.columns), np.nan),
                    xgap=1,
                    ygap=1,
                    showscale=False,
                    hoverinfo="skip",
                    meta={"kind": "cells", "layer": g.layer},
                )
            )
        else:
            base.append(
                dict(
                    type="scatter",
                    x=xy[:, 0],
                    y=xy[:, 1],
                    mode="markers",
                    hovertext=hover,
                    hoverinfo="text",
                    marker={"size": column_marker_size(g, px), "color": ["rgba(0,0,0,0)"] * len(ids)},
                    showlegend=False,
                    meta={"kind": "units", "layer": g.layer, "form": "column"},
                )
            )
    cell = 0.5 * min([g.pitch * px for g in geometries if g.kind == "grid"] or [10.0])
    base.append(
        dict(
            type="scatter",
            x=[],
            y=[],
            mode="markers",
            hoverinfo="skip",
            showlegend=False,
            marker={
                "symbol": "diamond",
                "size": max(cell, 5),
                "color": "#fff",
                "line": {"color": "#333", "width": 0.7},
            },
            meta={"kind": "glyphs", "glyph": "diamond"},
        )
    )
    base.append(
        dict(
            type="scatter",
            x=[],
            y=[],
            mode="markers",
            hoverinfo="skip",
            showlegend=False,
            marker={
                "symbol": "x-thin-open",
                "size": max(cell * 1.4, 6),
                "color": GHOST,
                "line": {"color": GHOST, "width": 1.5},
            },
            meta={"kind": "glyphs", "glyph": "pruned"},
        )
    )
    frames, steps = [], []
    start = max(1, min(int(start), len(tasks)))
    for scene in scenes:
        t = scene.task
        prev = scenes[t - 2] if t > 1 else None
        names = []
        for k in range(1, STEPS + 1) if t > 1 else [STEPS]:
            alpha = k / STEPS
            name = f"task {t}" if k == STEPS else f"task {t} ({k}/{STEPS})"
            labels = layer_labels(record, scene.snapshot, t, [g.centre for g in geometries], where.head_x)
            frames.append(
                go.Frame(
                    name=name,
                    data=_frame_data(scene, alpha, prev, positions, rows, ever, palette),
                    traces=list(range(len(base))),
                    layout={
                        "annotations": labels,
                        "title": {"text": f"Growth, task {t}: {scene.snapshot.get('name', '')}"},
                    },
                )
            )
            names.append(name)
        steps.append(
            {
                "label": str(t),
                "method": "animate",
                "args": [
                    names,
                    {
                        "frame": {"duration": FRAME_MS, "redraw": True},
                        "mode": "immediate",
                        "transition": {"duration": 0},
                    },
                ],
            }
        )
    first = next(f for f in frames if f.name == f"task {start}")
    for trace, update in zip(base, first.data, strict=True):
        for key, value in update.to_plotly_json().items():
            if key == "marker":
                trace["marker"] = {**trace.get("marker", {}), **value}
            elif key != "type":
                trace[key] = value
    film = {"retired", "duplicate", "pruned"}  # the film draws no outlines: its legend names only what it draws
    base += [
        t
        for t in legend_traces(paint(scenes[-1], "growth"))
        if t["meta"]["key"].startswith("born:") or t["meta"]["key"] in film
    ]
    palette.apply(base)
    layout = _layout(
        f"Growth, task {start}: {tasks[start - 1].get('name', '')}",
        height=NETWORK_HEIGHT + 60,
        xaxis={"range": list(x_range), "visible": False},
        yaxis={"range": list(y_range), "visible": False, "scaleanchor": "x", "scaleratio": 1},
        margin={"l": 10, "r": 10, "t": 95, "b": 10},
        legend={"orientation": "h", "x": 0.0, "y": -0.22, "yanchor": "top", "font": {"size": 13}},
        annotations=first.layout.annotations,
        shapes=input_block_shape(record),
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": 0.0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 10},
                "showactive": False,
                "buttons": [
                    {
                        "label": "▶ Play",
                        "method": "animate",
                        "args": [
                            None,
                            {
                                "frame": {"duration": FRAME_MS, "redraw": True},
                                "fromcurrent": True,
                                "transition": {"duration": 0},
                            },
                        ],
                    },
                    {
                        "label": "❚❚ Pause",
                        "method": "animate",
                        "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": start - 1,
                "steps": steps,
                "x": 0.16,
                "len": 0.84,
                "y": 0.0,
                "yanchor": "top",
                "currentvalue": {"prefix": "task "},
                "pad": {"t": 10},
            }
        ],
        meta={"kind": "animation", "frames": len(frames)},
    )
    return go.Figure(data=base, frames=frames, layout=layout)
