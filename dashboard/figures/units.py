"""Draw painted units: a column of markers for a small layer, a heatmap of cells for a block layer.

A block layer is one heatmap (cells scale with the plot, so they never overlap and stay
square on equal axes) plus a transparent marker per unit that carries its hover card and
makes it clickable, and small glyphs on top: a diamond on a duplicate, a grey x on a pruned
unit, an outline on a selected or split unit. Every colour comes from ``encoding``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dashboard.figures.encoding import GHOST, SELECTED_RING, SPLIT_RING
from dashboard.figures.layout import LayerGeometry
from dashboard.figures.scene import Look, legend_name

REFERENCE_PLOT = (540.0, 470.0)  # the smallest plot area (px) the marker sizes are chosen for
KEEP = {"marker": {"opacity": 1}}  # the look of points left out of a click selection: unchanged
_SYMBOLS = {"circle": "circle", "diamond": "diamond", "x": "x-thin-open"}


class Palette:
    """Colours of heatmap cells as integer codes, so one stepped colorscale draws them all."""

    def __init__(self) -> None:
        self.colors: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, color: str) -> int:
        """The code of ``color`` (added on first use)."""
        if color not in self._codes:
            self._codes[color] = len(self.colors)
            self.colors.append(color)
        return self._codes[color]

    def apply(self, traces: list[dict]) -> None:
        """Give every cell heatmap in ``traces`` the stepped colorscale of the palette."""
        n = max(len(self.colors), 1)
        scale = []
        for i, color in enumerate(self.colors or ["#ffffff"]):
            scale += [[i / n, color], [(i + 1) / n, color]]
        for t in traces:
            if t.get("type") == "heatmap" and (t.get("meta") or {}).get("kind") == "cells":
                t.update(colorscale=scale, zmin=-0.5, zmax=n - 0.5)


def pixels_per_unit(x_range, y_range) -> float:
    """Screen pixels per data unit in the reference plot (axes are equal-scaled)."""
    return min(REFERENCE_PLOT[0] / (x_range[1] - x_range[0]), REFERENCE_PLOT[1] / (y_range[1] - y_range[0]))


def column_marker_size(geometry: LayerGeometry, px: float) -> float:
    """Marker diameter (px) of a column layer: most of the spacing between its nodes."""
    from dashboard.figures.layout import layer_spacing

    return float(np.clip(0.8 * layer_spacing(geometry.base) * px, 6, 22))


def _column(geometry, items, px) -> list[dict]:
    size = column_marker_size(geometry, px)
    looks = [look for _, _, look, _ in items]
    return [
        dict(
            type="scatter",
            x=np.array([xy[0] for _, xy, _, _ in items]),
            y=np.array([xy[1] for _, xy, _, _ in items]),
            mode="markers",
            marker={
                "color": [GHOST if lk.shape == "x" else lk.fill for lk in looks],
                "symbol": [_SYMBOLS[lk.shape] for lk in looks],
                "size": np.array([size * (1.25 if lk.shape == "diamond" else 1.0) for lk in looks]),
                "line": {
                    "color": [lk.outline or (GHOST if lk.shape == "x" else "#ffffff") for lk in looks],
                    "width": np.array([2.5 if lk.outline else (1.5 if lk.shape == "x" else 0.8) for lk in looks]),
                },
            },
            name=f"layer {geometry.layer} units",
            showlegend=False,
            customdata=np.array([uid for uid, _, _, _ in items]),
            hovertext=np.array([h for _, _, _, h in items], dtype=object),
            hoverinfo="text",
            unselected=KEEP,  # a click selects one unit: the others must not dim
            meta={"kind": "units", "layer": geometry.layer, "form": "column"},
        )
    ]


def _glyphs(geometry, items, cell_px) -> list[dict]:
    """Diamonds on duplicates, x on pruned units, outlines on selected / split units."""
    out = []
    specs = (
        (
            "diamond",
            lambda lk: lk.shape == "diamond" and lk.category != "retired",
            "diamond",
            0.5,
            {"color": "#ffffff", "line": {"color": "#333", "width": 0.7}},
        ),
        (
            "pruned",
            lambda lk: lk.shape == "x",
            "x-thin-open",
            0.8,
            {"color": GHOST, "line": {"color": GHOST, "width": 1.5}},
        ),
        (
            "selected",
            lambda lk: lk.outline == SELECTED_RING,
            "square-open",
            1.0,
            {"color": SELECTED_RING, "line": {"color": SELECTED_RING, "width": 1.6}},
        ),
        (
            "split",
            lambda lk: lk.outline == SPLIT_RING,
            "square-open",
            1.15,
            {"color": SPLIT_RING, "line": {"color": SPLIT_RING, "width": 2}},
        ),
    )
    for name, pick, symbol, scale, style in specs:
        chosen = [(uid, xy) for uid, xy, look, _ in items if pick(look)]
        if not chosen:
            continue
        out.append(
            dict(
                type="scatter",
                x=np.array([xy[0] for _, xy in chosen]),
                y=np.array([xy[1] for _, xy in chosen]),
                mode="markers",
                marker={"symbol": symbol, "size": max(2.5, scale * cell_px), **style},
                hoverinfo="skip",
                showlegend=False,
                unselected=KEEP,
                name=f"layer {geometry.layer} {name}",
                meta={"kind": "glyphs", "glyph": name, "layer": geometry.layer, "ids": [uid for uid, _ in chosen]},
            )
        )
    return out


def _grid(geometry, items, n_rows, palette, px) -> list[dict]:
    cols = geometry.columns
    z = np.full((n_rows, cols), np.nan)
    for uid, slot, look in ((uid, slot, look) for uid, (slot, _), look, _ in items):
        del uid
        row, col = divmod(slot, cols)
        z[row, col] = palette.code(GHOST_CELL if look.shape == "x" else look.fill)
    xs = geometry.x0 + (np.arange(cols) + 0.5) * geometry.pitch
    ys = geometry.top - (np.arange(n_rows) + 0.5) * geometry.pitch
    cell_px = 0.7 * geometry.pitch * px
    heat = dict(
        type="heatmap",
        x=xs,
        y=ys[::-1],
        z=z[::-1],
        xgap=1,
        ygap=1,
        showscale=False,
        hoverinfo="skip",
        name=f"layer {geometry.layer} cells",
        meta={"kind": "cells", "layer": geometry.layer},
    )
    points = [(uid, xy, look, hover) for uid, (_, xy), look, hover in items]
    hover = dict(
        type="scatter",
        x=np.array([xy[0] for _, xy, _, _ in points]),
        y=np.array([xy[1] for _, xy, _, _ in points]),
        mode="markers",
        marker={"size": max(geometry.pitch * px, 4.0), "color": "rgba(0,0,0,0)", "symbol": "square"},
        name=f"layer {geometry.layer} units",
        showlegend=False,
        customdata=np.array([uid for uid, _, _, _ in points]),
        hovertext=np.array([h for _, _, _, h in points], dtype=object),
        hoverinfo="text",
        meta={"kind": "units", "layer": geometry.layer, "form": "grid"},
    )
    return [heat, hover, *_glyphs(geometry, points, cell_px)]


GHOST_CELL = "#f1f1f1"


def unit_traces(
    geometries: list[LayerGeometry],
    slots: Mapping[int, tuple[int, int]],
    looks: Mapping[int, Look],
    hover: Mapping[int, str],
    rows: Mapping[int, int],
    palette: Palette,
    px: float,
) -> list[dict]:
    """The unit traces of every layer, in layer order (same trace list for any task of the record)."""
    by_layer: dict[int, list] = {g.layer: [] for g in geometries}
    geometry = {g.layer: g for g in geometries}
    for uid in sorted(looks, key=lambda i: slots[i][1]):
        layer, slot = slots[uid]
        if layer in by_layer:
            by_layer[layer].append((uid, (slot, geometry[layer].slot_xy(slot)), looks[uid], hover.get(uid, "")))
    traces = []
    for g in geometries:
        items = by_layer[g.layer]
        if g.kind == "grid":
            traces += _grid(g, items, rows.get(g.layer, 1), palette, px)
        else:
            traces += _column(g, [(uid, xy, look, h) for uid, (_, xy), look, h in items], px)
    return traces


def _swatch(category: str, looks: list[Look]) -> dict:
    look = looks[0]
    marker = {"symbol": "square", "size": 13, "color": look.fill, "line": {"color": "#888", "width": 0.5}}
    if category == "pruned":
        marker = {"symbol": "x-thin-open", "size": 12, "color": GHOST, "line": {"color": GHOST, "width": 2}}
    elif category in ("selected", "split_original", "retired_since"):
        color = SELECTED_RING if category == "selected" else SPLIT_RING
        marker = {"symbol": "square-open", "size": 13, "color": color, "line": {"color": color, "width": 2}}
    elif category in ("duplicate", "split_copy"):
        marker = {
            "symbol": "diamond",
            "size": 13,
            "color": look.fill if category == "split_copy" else "#ffffff",
            "line": {"color": "#222", "width": 1},
        }
    elif category == "old":  # a shade: show the darkest one drawn, so the swatch is a colour on screen
        marker = {
            **marker,
            "color": min((lk.fill for lk in looks), key=lambda c: sum(int(c[i : i + 2], 16) for i in (1, 3, 5))),
        }
    return marker


def legend_traces(looks: Mapping[int, Look]) -> list[dict]:
    """Legend-only entries, one per category actually drawn (a legend names exactly what is drawn)."""
    groups: dict[str, list[Look]] = {}
    for look in looks.values():
        groups.setdefault(look.category, []).append(look)
        if look.shape == "diamond" and look.category.startswith("born:"):
            groups.setdefault("duplicate", []).append(look)
        if look.outline == SELECTED_RING:
            groups.setdefault("selected", []).append(look)
        if look.outline == SPLIT_RING and look.category not in ("split_original", "retired_since"):
            groups.setdefault("split_original", []).append(look)

    def order(key: str) -> tuple:
        return (0, int(key.split(":")[1])) if key.startswith("born:") else (1, key)

    return [
        dict(
            type="scatter",
            x=[None],
            y=[None],
            mode="markers",
            name=legend_name(key),
            marker=_swatch(key, groups[key]),
            hoverinfo="skip",
            meta={"kind": "legend", "key": key},
        )
        for key in sorted(groups, key=order)
    ]
