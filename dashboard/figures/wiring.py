"""The network graph's wiring: single strongest edges, or bundles between birth-task groups.

Pure: a scene, one task's weights and the drawn positions in, plotly trace dicts out.
"""

from __future__ import annotations

import numpy as np

from dashboard.figures.conv import unit_matrix
from dashboard.figures.edges import Bundle, EdgeSet, bundle_sums, bundle_traces, edge_traces
from dashboard.figures.layout import input_geometry
from dashboard.figures.scene import Scene


def _groups(scene: Scene, l: int, rows: list[int]) -> tuple[np.ndarray, list[int]]:
    """Birth-task group index of each row, and the birth task of each group."""
    borns = sorted({int(scene.layers[l][r]["born"]) for r in rows})
    index = {b: i for i, b in enumerate(borns)}
    return np.array([index[int(scene.layers[l][r]["born"])] for r in rows], dtype=int), borns


def _anchor(scene: Scene, l: int, rows: list[int], group: np.ndarray, g: int, positions, side: str):
    geometry = scene.geometries[l]
    ys = [positions[int(scene.layers[l][r]["id"])][1] for r, gi in zip(rows, group, strict=True) if gi == g]
    y = float(np.mean(ys))
    if geometry.kind == "column":
        return geometry.x0, y
    pad = geometry.pitch
    return (geometry.x1 + pad, y) if side == "src" else (geometry.x0 - pad, y)


def edge_layer(scene, weights, positions, input_xy, out_xy, edges, max_edges) -> list[dict]:
    """Single strongest edges, or bundles between birth-task groups (``auto``: bundles once any layer is a block)."""
    if not max_edges or not weights:
        return []
    blocky = input_xy is None or any(g.kind == "grid" for g in scene.geometries)
    if edges == "strongest" or (edges == "auto" and not blocky):
        return edge_traces(*_strongest(scene, weights, positions, input_xy, out_xy).strongest(int(max_edges)))
    return _bundles(scene, weights, positions, input_xy, out_xy)


def unit_xy(scene: Scene, l: int, rows, positions) -> np.ndarray:
    """Drawn (x, y) of the units at weight rows ``rows`` of layer index ``l``."""
    return np.array([positions[int(scene.layers[l][r]["id"])] for r in rows], dtype=float).reshape(-1, 2)


def _strongest(scene, weights, positions, input_xy, out_xy) -> EdgeSet:
    edges = EdgeSet()
    for l, lu in enumerate(scene.layers):
        w = unit_matrix(weights.get(f"hidden.{l + 1}.weight"))
        if w is None or w.ndim != 2 or w.shape[0] != len(lu) or l >= len(scene.geometries):
            continue
        rows = scene.active_rows(l)
        if l == 0:
            if input_xy is None or len(input_xy) != w.shape[1]:
                continue
            cols, src = list(range(w.shape[1])), input_xy
        else:
            cols = [c for c in scene.active_rows(l - 1) if c < w.shape[1]]
            src = unit_xy(scene, l - 1, cols, positions)
        edges.add(w[np.ix_(rows, cols)], src, unit_xy(scene, l, rows, positions))
    head = weights.get(f"head.{scene.task}.weight")
    if head is not None and head.ndim == 2 and scene.layers and head.shape[0] == len(out_xy):
        cols = [c for c in scene.active_rows(len(scene.layers) - 1) if c < head.shape[1]]
        edges.add(head[:, cols], unit_xy(scene, len(scene.layers) - 1, cols, positions), out_xy)
    return edges


def _bundles(scene, weights, positions, input_xy, out_xy) -> list[dict]:
    bundles, pair_of = [], []
    geometry = input_geometry(scene.record)
    for l, lu in enumerate(scene.layers):
        full = weights.get(f"hidden.{l + 1}.weight")
        w = unit_matrix(full)
        if w is None or w.ndim != 2 or w.shape[0] != len(lu) or l >= len(scene.geometries):
            continue
        rows = scene.active_rows(l)
        rgroup, rborn = _groups(scene, l, rows)
        if l == 0:
            cols = list(range(w.shape[1]))
            if input_xy is not None and len(input_xy) == w.shape[1]:
                cgroup, canchor = np.arange(len(cols)), [tuple(p) for p in input_xy]
                cname = [f"input x{c + 1}" for c in cols]
            else:
                cgroup, canchor, cname = np.zeros(len(cols), int), [(geometry.x1, 0.0)], ["the input"]
        else:
            cols = [c for c in scene.active_rows(l - 1) if c < w.shape[1]]
            cgroup, cborn = _groups(scene, l - 1, cols)
            canchor = [_anchor(scene, l - 1, cols, cgroup, g, positions, "src") for g in range(len(cborn))]
            cname = [f"layer {l}, born at task {b}" for b in cborn]
        if not rows or not cols:
            continue
        abs_, net, nonzero = bundle_sums(w[np.ix_(rows, cols)], rgroup, cgroup, len(rborn), len(canchor))
        taps = 1
        if full.ndim > 2:  # a conv (or first dense) weight: Σ|w| and the non-zero count run over every tap
            block = full[np.ix_(rows, cols)].reshape(len(rows), len(cols), -1)
            taps = block.shape[2]
            abs_ = next(bundle_sums(np.abs(block).sum(axis=2), rgroup, cgroup, len(rborn), len(canchor)))
            nonzero = next(
                bundle_sums((block != 0).sum(axis=2).astype(float), rgroup, cgroup, len(rborn), len(canchor))
            )
        counts = taps * np.bincount(rgroup, minlength=len(rborn))[:, None] * np.bincount(cgroup, minlength=len(canchor))
        for g, born in enumerate(rborn):
            dst = _anchor(scene, l, rows, rgroup, g, positions, "dst")
            for c in range(len(canchor)):
                if nonzero[g, c] > 0:
                    bundles.append(
                        Bundle(
                            canchor[c],
                            dst,
                            float(abs_[g, c]),
                            float(net[g, c]),
                            int(counts[g, c]),
                            int(nonzero[g, c]),
                            f"{cname[c]} → layer {l + 1}, born at task {born}",
                        )
                    )
                    pair_of.append(l)
    head = weights.get(f"head.{scene.task}.weight")
    last = len(scene.layers) - 1
    if head is not None and head.ndim == 2 and scene.layers and head.shape[0] == len(out_xy):
        cols = [c for c in scene.active_rows(last) if c < head.shape[1]]
        if cols:
            cgroup, cborn = _groups(scene, last, cols)
            abs_, net, nonzero = bundle_sums(head[:, cols], np.arange(head.shape[0]), cgroup, head.shape[0], len(cborn))
            counts = np.bincount(cgroup, minlength=len(cborn))
            for o in range(head.shape[0]):
                for g, born in enumerate(cborn):
                    if nonzero[o, g] > 0:
                        src = _anchor(scene, last, cols, cgroup, g, positions, "src")
                        bundles.append(
                            Bundle(
                                src,
                                tuple(out_xy[o]),
                                float(abs_[o, g]),
                                float(net[o, g]),
                                int(counts[g]),
                                int(nonzero[o, g]),
                                f"layer {last + 1}, born at task {born} → output {o + 1}",
                            )
                        )
                        pair_of.append(last + 1)
    return bundle_traces(bundles, pair_of)
