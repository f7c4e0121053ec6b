"""Read a network figure back as a user's eye would: what colour, shape and marks each unit has."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def traces(fig: go.Figure, kind: str) -> list:
    """The figure's traces of one kind (their ``meta["kind"]``)."""
    return [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("kind") == kind]


def drawn_units(fig: go.Figure) -> dict[int, dict]:
    """Read back from the figure what every unit looks like: colour, shape and glyphs (columns and cells alike)."""
    out: dict[int, dict] = {}
    cells = {tr.meta["layer"]: tr for tr in traces(fig, "cells")}
    for tr in traces(fig, "units"):
        ids = [int(i) for i in tr.customdata]
        if tr.meta["form"] == "column":
            colours, symbols = list(tr.marker.color), list(tr.marker.symbol)
            lines = list(tr.marker.line.color)
            for i, uid in enumerate(ids):
                out[uid] = {"colour": colours[i], "shape": symbols[i], "glyphs": set(), "outline": lines[i]}
            continue
        heat = cells[tr.meta["layer"]]
        xs, ys, z = np.asarray(heat.x), np.asarray(heat.y), np.asarray(heat.z, dtype=float)
        for uid, x, y in zip(ids, tr.x, tr.y, strict=True):
            code = z[int(np.argmin(np.abs(ys - y))), int(np.argmin(np.abs(xs - x)))]
            colour = heat.colorscale[2 * int(code)][1]
            out[uid] = {"colour": colour, "shape": "cell", "glyphs": set(), "outline": None}
    for tr in traces(fig, "glyphs"):
        for uid in tr.meta["ids"]:
            out[uid]["glyphs"].add(tr.meta["glyph"])
    return out


def is_diamond(look: dict) -> bool:
    return look["shape"].startswith("diamond") or "diamond" in look["glyphs"]
