"""Pure figure builders of the Learn page: the network with every neuron drawn as its picture.

Built for a projector. Layers are rows (inputs at the bottom, the task's answer on top),
so a landscape screen's width holds a layer's units side by side. Each hidden unit is a
small PNG of its field (its input before the ReLU) over the plane with a diverging map:
blue where it fires, red where it is silent, white on its own boundary line. Everything
else about a unit is drawn *around* its picture, never in its fill: the border's colour
is the task it was born in (thicker when born at this task), a black "R" badge above it
marks a unit retrained at this task, a diamond badge marks a split copy, with a dashed
arc up to the original it was copied from; a retired original is faded with a dotted
border, a pruned unit a grey x. Pictures are placed as layout images (one per unit, far
cheaper than a heatmap trace per unit) on a fixed grid of slots with a gap between
neighbours, so they never touch. Regions and the DEN/fine-tuning rows are in regions.py.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.colors import (
    DUPLICATE_LINK,
    EDGE_NEGATIVE,
    EDGE_POSITIVE,
    FONT_FAMILY,
    FONT_SIZE,
    GHOST,
    SELECTED_RING,
    TEMPLATE,
    task_color,
)
from dashboard.figures.edges import EdgeSet, edge_traces
from dashboard.figures.layout import hidden_base_sizes
from dashboard.figures.teaching_layout import (
    INPUT_SIDE,
    OUT_SIDE,
    SIDE,
    choose_columns,
    plan,
    planned_sizes,
    slot_pixels,
)

CLASS_COLORS = ("#e9a23b", "#2a9d8f")
"""Negative / positive class of a toy task (amber / teal: blue and red mean sign)."""
GAMMA = 0.6
"""< 1 lifts weak values off white, so a unit's shape reads even where its field is small."""


def png_data_uri(rgb: np.ndarray) -> str:
    """A (height, width, 3) uint8 array as a base64 PNG data URI (zlib only; row 0 is the top)."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + np.ascontiguousarray(row).tobytes() for row in rgb.astype(np.uint8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def tint(picture: np.ndarray, color: str) -> np.ndarray:
    """An activation picture (y up) as RGB (row 0 at the top): white at 0, ``color`` at its maximum."""
    top = float(np.max(picture)) if picture.size else 0.0
    level = np.clip(picture / top, 0.0, 1.0) if top > 0 else np.zeros_like(picture)
    rgb = 255.0 + level[..., None] * (_hex(color) - 255.0)
    return np.flipud(rgb).round().astype(np.uint8)


def signed(field: np.ndarray, negative: str = EDGE_NEGATIVE, positive: str = EDGE_POSITIVE) -> np.ndarray:
    """A signed picture (y up) as RGB: ``negative`` at -max|v|, white at 0, ``positive`` at +max|v|."""
    top = float(np.max(np.abs(field))) if field.size else 0.0
    level = np.clip(field / top, -1.0, 1.0) if top > 0 else np.zeros_like(field)
    level = np.sign(level) * np.abs(level) ** GAMMA
    low, high = _hex(negative), _hex(positive)
    a = np.abs(level)[..., None]
    rgb = 255.0 + a * (np.where(level[..., None] < 0, low, high) - 255.0)
    return np.flipud(rgb).round().astype(np.uint8)


def diverging(region: np.ndarray) -> np.ndarray:
    """A probability picture (y up) as RGB: amber below 0.5, white at 0.5, teal above."""
    p = np.clip(region, 0.0, 1.0)[..., None]
    low, high = _hex(CLASS_COLORS[0]), _hex(CLASS_COLORS[1])
    rgb = np.where(p < 0.5, low + (255.0 - low) * (p / 0.5), 255.0 + (high - 255.0) * ((p - 0.5) / 0.5))
    return np.flipud(rgb).round().astype(np.uint8)


def _active(unit: dict, task: int) -> bool:
    return unit.get("retired") is None or int(unit["retired"]) > task


def _image(uri: str, x: float, y: float, side: float, opacity: float = 1.0) -> dict:
    return dict(source=uri, xref="x", yref="y", x=x, y=y, sizex=side, sizey=side, xanchor="center",
                yanchor="middle", sizing="stretch", layer="above", opacity=opacity)  # fmt: skip


def _box(x: float, y: float, side: float, color: str, width: float, dash: str = "solid") -> dict:
    h = side / 2
    return dict(type="rect", xref="x", yref="y", x0=x - h, x1=x + h, y0=y - h, y1=y + h,
                line={"color": color, "width": width, "dash": dash}, layer="above")  # fmt: skip


def _arc(a: tuple[float, float], b: tuple[float, float]) -> dict:
    """A dashed arc from the top of picture ``a`` to the top of picture ``b`` (same row), over the pictures between."""
    top_a, top_b = a[1] + SIDE / 2, b[1] + SIDE / 2
    lift = 0.22 + 0.04 * abs(b[0] - a[0])
    path = f"M {a[0]} {top_a} Q {(a[0] + b[0]) / 2} {max(top_a, top_b) + 2 * lift} {b[0]} {top_b}"
    # under the pictures and badges: an arc across rows never covers a picture
    return dict(type="path", path=path, xref="x", yref="y", layer="below",
                line={"color": DUPLICATE_LINK, "width": 1.6, "dash": "dash"})  # fmt: skip


def _scatter(x, y, **kwargs) -> dict:
    return dict(type="scatter", x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float), **kwargs)


def _inputs(images: list, shapes: list, where) -> np.ndarray:
    """The two inputs x1, x2 at the bottom row, as ramps in the same signed colours."""
    axis = np.linspace(-1.0, 1.0, 24)
    ramps = [np.tile(axis, (24, 1)), np.tile(axis[:, None], (1, 24))]  # x1 grows rightwards, x2 upwards
    xy = np.array(where, dtype=float)
    for (x, y), ramp in zip(xy, ramps, strict=True):
        images.append(_image(png_data_uri(signed(ramp)), x, y, INPUT_SIDE))
        shapes.append(_box(x, y, INPUT_SIDE, "#4a5a6a", 2.0))
    return xy


def _hover(u: dict, task: int, selected: set[int], field: np.ndarray) -> str:
    state = "used by this task" if _active(u, task) else f"retired at task {u['retired']} (kept for older tasks)"
    parent = f" of #{u['parent']}" if u.get("parent") is not None else ""
    fires = float(np.mean(field > 0)) if field.size else 0.0
    retrained = "<br>retrained at this task" if int(u["id"]) in selected else ""
    return (f"<b>neuron {u['id']}</b> · layer {u['layer']} · born at task {u['born']} · {u['origin']}{parent}"
            f"<br>{state}<br>fires on {fires:.0%} of the plane{retrained}")  # fmt: skip


def _edges(layers, positions, task, pictures, weights, input_xy, out_xy):
    edges = EdgeSet()
    for l, lu in enumerate(layers):
        w = weights.get(f"hidden.{l + 1}.weight")
        rows = [i for i, u in enumerate(lu) if _active(u, task) and u["id"] in pictures]
        dst = np.array([positions[lu[i]["id"]] for i in rows]).reshape(-1, 2)
        if l == 0:
            cols, src = list(range(len(input_xy))), input_xy
        else:
            cols = [i for i, u in enumerate(layers[l - 1]) if _active(u, task) and u["id"] in pictures]
            src = np.array([positions[layers[l - 1][i]["id"]] for i in cols]).reshape(-1, 2)
        if w is not None and rows and cols:
            edges.add(np.asarray(w, dtype=float)[np.ix_(rows, cols)], src, dst)
    head = weights.get(f"head.{task}.weight")
    if head is not None and layers:
        top = [i for i, u in enumerate(layers[-1]) if _active(u, task) and u["id"] in pictures and i < head.shape[1]]
        src = np.array([positions[layers[-1][i]["id"]] for i in top]).reshape(-1, 2)
        edges.add(np.asarray(head, dtype=float)[:1, top], src, out_xy)
    return edges


TITLE_PX = 34
"""Pixels above the plot for the figure's title."""
BADGE = 0.26
"""A badge's size in slots (its marker is sized in pixels from the slot's size on screen)."""


def network_columns(record: dict, width_px: float, height_px: float) -> tuple[int, float]:
    """(pictures per row, pixels per slot) that make the pictures largest in a figure of that size."""
    sizes = planned_sizes(record)
    plot_h = max(height_px - TITLE_PX - 4, 1.0)
    columns = choose_columns(sizes, width_px - 4, plot_h)
    return columns, slot_pixels(sizes, columns, width_px - 4, plot_h)


def neuron_network_figure(
    record: dict,
    task: int,
    frame: dict,
    *,
    max_edges: int = 120,
    height: int = 430,
    font_size: int = FONT_SIZE,
    width_px: float = 1000.0,
    picked: int | None = None,
    timeline: tuple[int, int] | None = None,
) -> go.Figure:
    """The network after ``task``: every hidden unit as its picture (a wide layer wrapped onto rows, sized for a
    figure ``width_px`` wide and ``height`` high), the output as the task's decision region; the ``picked`` neuron
    ringed, with a cue on the title line that its card opens below.

    ``timeline`` = (tasks learned, tasks in the lesson) puts the lesson's timeline on the title line, one mark a
    task (● learned, ○ to come, the shown task's mark in colour): the Learn page draws it there while it trains,
    in place of its slider, so the timeline, the title and the picture are one element and always name one task.
    """
    snapshot = record["tasks"][task - 1]
    columns, slot_px = network_columns(record, width_px, height)
    where = plan(record, columns)
    positions = where.positions
    images, shapes, traces = [], [], []
    input_xy = _inputs(images, shapes, where.inputs)
    units = snapshot["units"]
    selected = {int(i) for ids in snapshot.get("selected") or [] for i in ids or []}
    fields = frame.get("fields") or frame["pictures"]
    n_layers = len(hidden_base_sizes(record))
    layers = [[u for u in units if int(u["layer"]) == layer] for layer in range(1, n_layers + 1)]
    out_xy = np.array([where.output])
    edges = _edges(layers, positions, task, fields, frame.get("weights") or {}, input_xy, out_xy)
    traces += edge_traces(*edges.strongest(max_edges))
    hover_x, hover_y, hover_text, hover_ids = [], [], [], []
    badges = {"R": [], "◇": []}
    lift = SIDE / 2 + BADGE / 2 + 0.05  # a badge's centre above its picture's centre: clear of the picture
    for u in units:
        uid = int(u["id"])
        if uid not in fields or uid not in positions:
            continue
        x, y = positions[uid]
        active, color = _active(u, task), task_color(int(u["born"]))
        images.append(_image(png_data_uri(signed(fields[uid])), x, y, SIDE, 1.0 if active else 0.35))
        fresh = int(u["born"]) == task
        shapes.append(_box(x, y, SIDE, color, 4.5 if fresh else 3.0, "solid" if active else "dot"))
        if uid in selected:
            badges["R"].append((x + SIDE / 2 - BADGE / 2, y + lift))
        if u["origin"] == "duplicate":
            badges["◇"].append((x - SIDE / 2 + BADGE / 2, y + lift))
            if u.get("parent") in positions:
                shapes.append(_arc(positions[u["parent"]], (x, y)))
        hover_x.append(x)
        hover_y.append(y)
        hover_ids.append(uid)
        hover_text.append(_hover(u, task, selected, fields[uid]))
    badge_px = max(9.0, BADGE * slot_px)
    if badges["R"]:
        b = np.array(badges["R"])
        traces.append(_scatter(b[:, 0], b[:, 1], mode="markers+text", text=["R"] * len(b), hoverinfo="skip",
                               textfont={"color": "#ffffff", "size": round(badge_px * 0.66)},
                               name="retrained at this task", marker={"size": badge_px, "color": SELECTED_RING},
                               meta={"kind": "retrained"}))  # fmt: skip
    if badges["◇"]:
        d = np.array(badges["◇"])
        traces.append(_scatter(d[:, 0], d[:, 1], mode="markers", hoverinfo="skip", name="split copy",
                               marker={"symbol": "diamond", "size": badge_px, "color": "#ffffff",
                                       "line": {"color": DUPLICATE_LINK, "width": 2}},
                               meta={"kind": "duplicates"}))  # fmt: skip
    ghosts = [positions[int(g["id"])] for g in snapshot.get("pruned") or [] if int(g["id"]) in positions]
    if ghosts:
        g = np.array(ghosts)
        traces.append(_scatter(g[:, 0], g[:, 1], mode="markers", hoverinfo="text", name="pruned at this task",
                               hovertext=["pruned by group sparsity at this task"] * len(g),
                               marker={"symbol": "x-thin-open", "size": SIDE * slot_px * 0.6, "color": GHOST,
                                       "line": {"width": 3, "color": GHOST}}, meta={"kind": "ghosts"}))  # fmt: skip
    traces.append(_scatter(hover_x, hover_y, mode="markers", hoverinfo="text", hovertext=hover_text,
                           customdata=hover_ids, marker={"size": SIDE * slot_px, "opacity": 0, "symbol": "square"},
                           showlegend=False, meta={"kind": "units"}))  # fmt: skip
    region = frame["regions"][task - 1]
    images.append(_image(png_data_uri(diverging(region)), *out_xy[0], OUT_SIDE))
    shapes.append(_box(*out_xy[0], OUT_SIDE, task_color(task), 4.5))
    fig = go.Figure(traces)
    if picked is not None and picked in positions and picked in fields:
        _pick_cue(fig, shapes, positions[picked], picked, font_size)
    fig.update_layout(
        template=TEMPLATE, images=images, shapes=shapes, showlegend=False, hovermode="closest",
        font={"size": font_size, "family": FONT_FAMILY}, margin={"l": 2, "r": 2, "t": TITLE_PX, "b": 2},
        title={"text": timeline_marks(task, timeline) + f"After task {task}: {snapshot.get('name', '')} · neurons "
               "per layer " + " · ".join(str(s) for s in snapshot.get("active_sizes", [])[1:]), "x": 0.01,
               "y": 0.995, "yanchor": "top", "font": {"size": font_size + 3}},
        height=height, dragmode=False, clickmode="event+select",
        xaxis={"range": list(where.x_range), "visible": False, "fixedrange": True, "constrain": "domain"},
        yaxis={"range": list(where.y_range), "visible": False, "scaleanchor": "x", "scaleratio": 1,
               "fixedrange": True, "constrain": "domain"},
        uirevision=str(record.get("run_id", "learn")),
        meta={"pictures": len(images), "task": task, "columns": columns, "rows": list(where.rows),
              "timeline": list(timeline) if timeline else None},
    )  # fmt: skip
    return fig


def timeline_marks(task: int, timeline: tuple[int, int] | None) -> str:
    """The title's timeline: a mark per task of the lesson, ● learned, ○ to come, task ``task``'s in colour."""
    if timeline is None:
        return ""
    learned, total = timeline
    marks = []
    for t in range(1, max(total, learned) + 1):
        mark = "●" if t <= learned else "○"
        marks.append(f"<span style='color:{task_color(t)}'>{mark}</span>" if t == task else mark)
    return f"<span style='color:#6b7780'>{' '.join(marks)}</span>    "


PICK_COLOR = "#d62e8a"
"""The ring and the cue of the neuron picked for its card (magenta: no task's border colour, no field colour)."""


def _pick_cue(fig: go.Figure, shapes: list, xy: tuple[float, float], uid: int, font_size: int) -> None:
    """Ring the picked neuron and say, on the title line, that its card is open below the network (a click there
    scrolls to it): on a projector the card starts under the first screen."""
    shapes.append(_box(*xy, SIDE + 0.1, PICK_COLOR, 5.0))
    words = f"<span style='color:#ffffff'><b>▼ Neuron {uid}: its story is below</b></span>"  # a link is blue
    fig.add_annotation(text=f"<a href='#neuron-card' target='_self'>{words}</a>",
                       xref="paper", yref="paper", x=1.0, y=1.0, xanchor="right", yanchor="bottom", yshift=4,
                       showarrow=False, bgcolor=PICK_COLOR, borderpad=5, captureevents=True,
                       font={"size": font_size + 1, "color": "#ffffff"}, name="pick-cue")  # fmt: skip


def field_figure(field: np.ndarray, extent: tuple[float, float], title: str, *, height: int = 320) -> go.Figure:
    """One neuron's field, large, with a colour bar: the picture of the neuron card."""
    axis = np.linspace(extent[0], extent[1], field.shape[0])
    top = float(np.max(np.abs(field))) or 1.0
    scale = [[0.0, EDGE_NEGATIVE], [0.5, "#ffffff"], [1.0, EDGE_POSITIVE]]
    fig = go.Figure(go.Heatmap(z=field, x=axis, y=axis, zmin=-top, zmax=top, colorscale=scale,
                               colorbar={"title": {"text": "input<br>to ReLU"}, "thickness": 14},
                               hovertemplate="x1 %{x:.2f}, x2 %{y:.2f}: %{z:.3g}<extra></extra>"))  # fmt: skip
    fig.add_trace(go.Contour(z=field, x=axis, y=axis, contours={"start": 0, "end": 0, "coloring": "none"},
                             line={"color": "#111111", "width": 2}, showscale=False, hoverinfo="skip"))  # fmt: skip
    fig.update_layout(template=TEMPLATE, height=height, title={"text": title, "x": 0.01},
                      margin={"l": 4, "r": 4, "t": 40, "b": 4}, font={"family": FONT_FAMILY, "size": FONT_SIZE},
                      xaxis={"visible": False, "constrain": "domain"},
                      yaxis={"visible": False, "scaleanchor": "x"})  # fmt: skip
    return fig
