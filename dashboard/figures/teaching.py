"""Pure figure builders of the Learn page: the network with every neuron drawn as its picture, decision regions.

Each hidden unit is a small PNG (its activation over the input plane, white to the colour
of the task it was born in) placed at its stable position as a layout image: one image
per unit costs far less than a heatmap trace per unit. Marks follow the main graph:
border colour = birth task, a diamond and a dashed link for a duplicate, a faded dashed
border for a retired original, a grey x for a unit pruned at this task, a black ring for
a unit selected for retraining.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.colors import DUPLICATE_LINK, FONT_FAMILY, FONT_SIZE, GHOST, SELECTED_RING, TEMPLATE, task_color
from dashboard.figures.edges import EdgeSet, edge_traces
from dashboard.figures.layout import input_geometry, layer_spacing, output_positions, unit_positions
from den_engine.data.toy2d import TOY_2D_EXTENT

X_GAP = 0.75
"""Horizontal distance between layers, in units of the vertical layer height (axes are equal-scaled)."""
PICTURE = 0.86
"""A picture's side as a fraction of its layer's unit spacing."""
CLASS_COLORS = ("#e9a23b", "#2a9d8f")
"""Negative / positive class of a toy task (amber / teal: blue and red mean weight signs)."""
REGION_SCALE = [[0.0, "#f4cf94"], [0.5, "#ffffff"], [1.0, "#9fd3cc"]]
"""Pastel versions of the class colours, so the data points stand out on their region."""


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


def diverging(region: np.ndarray) -> np.ndarray:
    """A probability picture (y up) as RGB: amber below 0.5, white at 0.5, teal above."""
    p = np.clip(region, 0.0, 1.0)[..., None]
    low, high = _hex(CLASS_COLORS[0]), _hex(CLASS_COLORS[1])
    rgb = np.where(p < 0.5, low + (255.0 - low) * (p / 0.5), 255.0 + (high - 255.0) * ((p - 0.5) / 0.5))
    return np.flipud(rgb).round().astype(np.uint8)


def _xy(position: tuple[float, float]) -> tuple[float, float]:
    return position[0] * X_GAP, position[1]


def _active(unit: dict, task: int) -> bool:
    return unit.get("retired") is None or int(unit["retired"]) > task


def _picture_image(uri: str, x: float, y: float, side: float, opacity: float = 1.0) -> dict:
    return dict(source=uri, xref="x", yref="y", x=x, y=y, sizex=side, sizey=side, xanchor="center",
                yanchor="middle", sizing="stretch", layer="above", opacity=opacity)  # fmt: skip


def _box(x: float, y: float, side: float, color: str, width: float, dash: str = "solid") -> dict:
    h = side / 2
    return dict(type="rect", xref="x", yref="y", x0=x - h, x1=x + h, y0=y - h, y1=y + h,
                line={"color": color, "width": width, "dash": dash}, layer="above")  # fmt: skip


def _inputs(record: dict, side: float, images: list, shapes: list) -> np.ndarray:
    geometry = input_geometry(record)
    xy = np.array([_xy(p) for p in geometry.positions]).reshape(-1, 2)
    axis = np.linspace(0.0, 1.0, 24)
    ramps = [np.tile(axis, (24, 1)), np.tile(axis[:, None], (1, 24))]  # x1 grows rightwards, x2 upwards
    for (x, y), ramp in zip(xy, ramps, strict=False):
        images.append(_picture_image(png_data_uri(tint(ramp, "#6b6b6b")), x, y, side))
        shapes.append(_box(x, y, side, "#4a5a6a", 1.5))
    return xy


def _scatter(x, y, **kwargs) -> dict:
    return dict(type="scatter", x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float), **kwargs)


def neuron_network_figure(record: dict, task: int, frame: dict, *, max_edges: int = 120) -> go.Figure:
    """The network after ``task``: every hidden unit as its activation picture, the output as the task's region."""
    snapshot = record["tasks"][task - 1]
    positions = {uid: _xy(p) for uid, p in unit_positions(record).items()}
    bases = [int(s) for s in record.get("base_sizes") or snapshot["layer_sizes"][1:]]
    side = PICTURE * min(layer_spacing(b) for b in bases)
    images, shapes, traces = [], [], []
    input_xy = _inputs(record, side, images, shapes)
    units = snapshot["units"]
    selected = {int(i) for ids in snapshot.get("selected") or [] for i in ids or []}
    pictures, weights = frame["pictures"], frame.get("weights") or {}
    n_layers = len(bases)
    layers = [[u for u in units if int(u["layer"]) == layer] for layer in range(1, n_layers + 1)]
    edges = EdgeSet()
    for l, lu in enumerate(layers):
        w = weights.get(f"hidden.{l + 1}.weight")
        rows = [i for i, u in enumerate(lu) if _active(u, task) and u["id"] in pictures]
        dst = np.array([positions[lu[i]["id"]] for i in rows]).reshape(-1, 2)
        if l == 0:
            cols, src = list(range(len(input_xy))), input_xy
        else:
            prev = layers[l - 1]
            cols = [i for i, u in enumerate(prev) if _active(u, task) and u["id"] in pictures]
            src = np.array([positions[prev[i]["id"]] for i in cols]).reshape(-1, 2)
        if w is not None and rows and cols:
            edges.add(np.asarray(w, dtype=float)[np.ix_(rows, cols)], src, dst)
    out_xy = np.array([_xy(p) for p in output_positions(record, 1)])
    head = weights.get(f"head.{task}.weight")
    if head is not None and layers:
        top = [i for i, u in enumerate(layers[-1]) if _active(u, task) and u["id"] in pictures and i < head.shape[1]]
        src = np.array([positions[layers[-1][i]["id"]] for i in top]).reshape(-1, 2)
        edges.add(np.asarray(head, dtype=float)[:1, top], src, out_xy[:1])
    traces += edge_traces(*edges.strongest(max_edges))

    links = [(positions[u["parent"]], positions[u["id"]]) for u in units if u.get("parent") in positions]
    for a, b in links:
        traces.append(_scatter([a[0], b[0]], [a[1], b[1]], mode="lines", hoverinfo="skip", showlegend=False,
                               line={"color": DUPLICATE_LINK, "width": 1.2, "dash": "dash"}))  # fmt: skip
    hover_x, hover_y, hover_text = [], [], []
    for u in units:
        uid = int(u["id"])
        if uid not in pictures or uid not in positions:
            continue
        x, y = positions[uid]
        active, color = _active(u, task), task_color(int(u["born"]))
        images.append(_picture_image(png_data_uri(tint(pictures[uid], color)), x, y, side, 1.0 if active else 0.3))
        fresh = int(u["born"]) == task
        shapes.append(_box(x, y, side, color, 3.0 if fresh else 1.5, "solid" if active else "dot"))
        if uid in selected:
            shapes.append(_box(x, y, side * 1.22, SELECTED_RING, 1.2))
        peak = float(np.max(pictures[uid]))
        hover_x.append(x)
        hover_y.append(y)
        state = "used by this task" if active else f"retired at task {u['retired']} (kept for older tasks)"
        hover_text.append(f"<b>unit {uid}</b> · layer {u['layer']} · born at task {u['born']} · {u['origin']}"
                          + (f" of #{u['parent']}" if u.get("parent") is not None else "")
                          + f"<br>{state}<br>largest activation {peak:.3g}"
                          + ("<br>selected for retraining" if uid in selected else ""))  # fmt: skip
    dup = [positions[int(u["id"])] for u in units if u["origin"] == "duplicate" and int(u["id"]) in pictures]
    if dup:
        d = np.array(dup)
        traces.append(_scatter(d[:, 0] + side / 2, d[:, 1] + side / 2, mode="markers", hoverinfo="skip",
                               name="duplicate (split copy)", marker={"symbol": "diamond", "size": 11,
                               "color": "#ffffff", "line": {"color": DUPLICATE_LINK, "width": 1.5}},
                               meta={"kind": "duplicates"}))  # fmt: skip
    ghosts = [positions[int(g["id"])] for g in snapshot.get("pruned") or [] if int(g["id"]) in positions]
    if ghosts:
        g = np.array(ghosts)
        traces.append(_scatter(g[:, 0], g[:, 1], mode="markers", hoverinfo="text", name="pruned at this task",
                               hovertext=["pruned by group sparsity at this task"] * len(g),
                               marker={"symbol": "x-thin-open", "size": 16, "color": GHOST,
                                       "line": {"width": 2, "color": GHOST}}, meta={"kind": "ghosts"}))  # fmt: skip
    traces.append(_scatter(hover_x, hover_y, mode="markers", hoverinfo="text", hovertext=hover_text,
                           marker={"size": 30, "opacity": 0}, showlegend=False, meta={"kind": "units"}))  # fmt: skip
    region = frame["regions"][task - 1]
    out_side = side * 1.6
    images.append(_picture_image(png_data_uri(diverging(region)), *out_xy[0], out_side))
    shapes.append(_box(*out_xy[0], out_side, task_color(task), 3.0))
    all_y = [y for _, y in positions.values()] + list(input_xy[:, 1]) + [out_xy[0][1]]
    y0, y1 = min(all_y) - side, max(all_y) + side
    x0, x1 = -side * 1.5, out_xy[0][0] + out_side
    fig = go.Figure(traces)
    fig.update_layout(
        template=TEMPLATE, images=images, shapes=shapes, showlegend=False, hovermode="closest",
        font={"size": FONT_SIZE, "family": FONT_FAMILY}, margin={"l": 6, "r": 6, "t": 52, "b": 6},
        title={"text": f"After task {task}: {snapshot.get('name', '')} · units "
               + "-".join(str(s) for s in snapshot.get("active_sizes", [])), "x": 0.01},
        height=int(np.clip(380 * (y1 - y0) + 120, 520, 1000)),
        xaxis={"range": [x0, x1], "visible": False}, uirevision=str(record.get("run_id", "learn")),
        yaxis={"range": [y0, y1], "visible": False, "scaleanchor": "x", "scaleratio": 1},
        meta={"pictures": len(images)},
    )  # fmt: skip
    return fig


def regions_figure(panels: list[dict], *, columns: int | None = None, height: int = 300) -> go.Figure:
    """Decision regions side by side: each panel {title, region, points (n, 2), labels (n,)}."""
    n = max(len(panels), 1)
    columns = columns or n
    rows = -(-n // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[p["title"] for p in panels],
                        horizontal_spacing=0.03, vertical_spacing=0.12)  # fmt: skip
    low, high = TOY_2D_EXTENT
    for i, panel in enumerate(panels):
        row, col = i // columns + 1, i % columns + 1
        region = np.asarray(panel["region"])
        axis = np.linspace(low, high, region.shape[0])
        fig.add_trace(go.Heatmap(z=region, x=axis, y=axis, zmin=0, zmax=1, colorscale=REGION_SCALE, showscale=False,
                                 hovertemplate="p = %{z:.2f}<extra></extra>"), row=row, col=col)  # fmt: skip
        points, labels = np.asarray(panel["points"]), np.asarray(panel["labels"]).ravel()
        for label in (0, 1):
            pick = labels == label
            marker = {"size": 6, "color": CLASS_COLORS[label], "line": {"width": 0.8, "color": "#ffffff"}}
            dots = go.Scatter(x=points[pick, 0], y=points[pick, 1], mode="markers", hoverinfo="skip", marker=marker)
            fig.add_trace(dots, row=row, col=col)
    fig.update_xaxes(range=[low, high], visible=False, constrain="domain")
    fig.update_yaxes(range=[low, high], visible=False, scaleratio=1)
    for i in range(len(panels)):  # each panel square: its y axis scaled to its own x axis
        fig.update_yaxes(scaleanchor=f"x{i + 1 if i else ''}", row=i // columns + 1, col=i % columns + 1)
    fig.update_layout(template=TEMPLATE, showlegend=False, height=height * rows,
                      font={"size": FONT_SIZE - 1, "family": FONT_FAMILY},
                      margin={"l": 4, "r": 4, "t": 40, "b": 4})  # fmt: skip
    for annotation in fig.layout.annotations:
        annotation.font.size = FONT_SIZE - 2
    return fig
