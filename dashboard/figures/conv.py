"""Conv layers in the network picture: which layers are conv, their frames, kernels and filter cards.

A conv layer is drawn like any block layer (one cell per filter, coloured by birth task,
placed at birth), inside a framed block titled ``conv l · k×k``. The first conv layer's
cells also show each filter's kernel (averaged over input channels) inset in its cell, so
the birth colour stays visible as a ring: blue positive, red negative, scaled per filter.
A retired filter's kernel is faded like its cell. Weights of conv layers have units on dims
0 and 1 and taps after them; ``unit_matrix`` folds the taps so edges and bundles treat a
filter as one unit. Pure: a record, a scene and one task's weights in, plotly dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dashboard.figures.base import is_active

RETIRED_KERNEL_OPACITY = 0.3
CONV_FRAME = {"fillcolor": "#f4f6f8", "line": {"color": "#8a96a3", "width": 1}}


def conv_layers(record: Mapping) -> int:
    """How many of the record's hidden layers are conv layers (0 for a fully connected run)."""
    channels = (record.get("config") or {}).get("conv_channels")
    if channels:
        return len(list(channels))
    for snapshot in reversed(record.get("tasks") or []):
        kinds = snapshot.get("layer_kinds")
        if kinds:
            return sum(1 for kind in kinds if kind == "conv")
    return 0


def conv_channels(record: Mapping) -> list[int]:
    """Base filters of each conv layer (config, else the first snapshot's sizes)."""
    n = conv_layers(record)
    channels = (record.get("config") or {}).get("conv_channels")
    if channels:
        return [int(c) for c in channels]
    tasks = record.get("tasks") or []
    if n and tasks:
        return [int(s) for s in tasks[0].get("layer_sizes", [])[1 : n + 1]]
    return []


def kernel_size(record: Mapping, weights: Mapping | None = None) -> int:
    """The kernel side: from the weights when given, else the config (the engine's default is 5)."""
    w = (weights or {}).get("hidden.1.weight")
    if w is not None and np.ndim(w) == 4:
        return int(np.shape(w)[-1])
    return int((record.get("config") or {}).get("kernel_size") or 5)


def unit_matrix(w: np.ndarray | None, signed: bool = True) -> np.ndarray | None:
    """A weight as a (units, units below) matrix: taps summed (signed) or Σ|w| (``signed=False``)."""
    if w is None or w.ndim <= 2:
        return w
    flat = w.reshape(w.shape[0], w.shape[1], -1)
    return flat.sum(axis=2) if signed else np.abs(flat).sum(axis=2)


def filter_lines(w: np.ndarray | None, row: int) -> list[str]:
    """Hover-card lines of a conv filter: its kernel norm per input channel (largest first past 6)."""
    if w is None or w.ndim != 4 or not 0 <= row < w.shape[0]:
        return []
    norms = np.sqrt((w[row].astype(np.float64) ** 2).sum(axis=(1, 2)))  # (channels,)
    if norms.size <= 6:
        shown = " · ".join(f"c{c + 1}: {v:.3g}" for c, v in enumerate(norms))
    else:
        top = np.argsort(-norms, kind="stable")[:5]
        shown = " · ".join(f"c{c + 1}: {norms[c]:.3g}" for c in top) + f" … ({int((norms == 0).sum())} zero)"
    return [f"kernel {w.shape[2]}×{w.shape[3]} · norm per input channel: {shown}"]


def frames(geometries, rows: Mapping[int, int], n_conv: int) -> list[dict]:
    """A framed rectangle behind every conv layer's block (its whole-run height)."""
    out = []
    for g in geometries[:n_conv]:
        pad = g.pitch * 0.35
        bottom = g.top - rows.get(g.layer, 1) * g.pitch
        out.append(
            {"type": "rect", "layer": "below", "x0": g.x0 - pad, "x1": g.x1 + pad, "y0": bottom - pad,
             "y1": g.top + pad, **CONV_FRAME}
        )  # fmt: skip
    return out


def kernel_traces(scene, weights: Mapping, looks: Mapping, n_rows: int) -> list[dict]:
    """The first conv layer's kernels inset in their cells: one heatmap for active filters, one for retired.

    Each cell of the block is split into k + 2 steps a side; the kernel fills the inner k × k,
    the border stays empty (NaN) so the cell's birth colour shows as a ring. Heatmaps scale
    with the plot, as the cells do.
    """
    w = weights.get("hidden.1.weight")
    if w is None or w.ndim != 4 or not scene.geometries or not scene.layers or w.shape[0] != len(scene.layers[0]):
        return []
    g = scene.geometries[0]
    k = int(w.shape[-1])
    n = k + 2
    kernels = w.mean(axis=1)  # (filters, k, k): averaged over input channels
    step = g.pitch / n
    xs = g.x0 + (np.arange(g.columns * n) + 0.5) * step
    ys = g.top - (np.arange(n_rows * n) + 0.5) * step
    out = []
    for active in (True, False):
        z = np.full((n_rows * n, g.columns * n), np.nan)
        ids = []
        for i, u in enumerate(scene.layers[0]):
            uid = int(u["id"])
            if uid not in looks or is_active(u, scene.task) != active:
                continue
            row, col = g.cell(scene.slots[uid][1])
            if row >= n_rows:
                continue
            scale = float(np.abs(kernels[i]).max()) or 1.0
            z[row * n + 1 : row * n + 1 + k, col * n + 1 : col * n + 1 + k] = kernels[i] / scale  # row 0 = top
            ids.append(uid)
        if not ids:
            continue
        out.append(
            dict(
                type="heatmap",
                x=xs,
                y=ys[::-1],
                z=z[::-1],
                colorscale="RdBu",
                zmin=-1.0,
                zmax=1.0,
                showscale=False,
                hoverinfo="skip",
                opacity=1.0 if active else RETIRED_KERNEL_OPACITY,
                name="layer 1 kernels" + ("" if active else " (retired)"),
                meta={"kind": "kernels", "active": active, "ids": ids, "k": k, "cells": n},
            )
        )
    return out
