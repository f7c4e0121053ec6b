"""Edges of the network graph: the strongest single weights, or bundles between groups of units.

Shared by the main network graph and the Learn page's picture network. Pure numpy in,
plain plotly trace dicts out. At scale, single edges are a hairball; a bundle joins two
groups of units of consecutive layers (e.g. the units born at task 2 in layer 1 and those
born at task 1 in layer 2), its width the sum of |w| between them, its colour the sign of
their sum; hovering its midpoint gives the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dashboard.figures.base import EDGE_BINS
from dashboard.figures.encoding import EDGE_NEGATIVE, EDGE_POSITIVE


def as_array(value) -> np.ndarray | None:
    """A weight as a float numpy array (float32 stays float32: no copy); a torch tensor is accepted too."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor slipped through: accept it
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    return value if value.dtype in (np.float32, np.float64) else value.astype(np.float64)


class EdgeSet:
    """Candidate edges as weight blocks; picks the strongest ones without materialising coordinates."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (values (r, c), src (c, 2), dst (r, 2))

    def add(self, values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
        """Add a block: ``values[r, c]`` is the edge from ``src[c]`` to ``dst[r]``."""
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


def segments(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line coordinates for many segments in one trace, separated by gaps.

    The gap is NaN in a float array rather than None in a list: it reaches the browser as
    the same null, but plotly validates a float array at once instead of value by value.
    """
    n = len(src)
    xs, ys = np.full(3 * n, np.nan), np.full(3 * n, np.nan)
    xs[0::3], xs[1::3], ys[0::3], ys[1::3] = src[:, 0], dst[:, 0], src[:, 1], dst[:, 1]
    return xs, ys


def edge_traces(
    weights: np.ndarray, src: np.ndarray, dst: np.ndarray, *, kind: str = "edges", prefix: str = "", wider: float = 1.0
) -> list[dict]:
    """Edges batched by sign and strength: at most six traces whatever the edge count.

    Traces are plain dicts: plotly validates them once, inside ``go.Figure``, instead of twice.
    """
    traces: list[dict] = []
    if weights.size == 0:
        return traces
    rel = np.abs(weights) / float(np.abs(weights).max())
    for sign, color, name in (
        (1, EDGE_POSITIVE, prefix + "positive weight"),
        (-1, EDGE_NEGATIVE, prefix + "negative weight"),
    ):
        shown = False
        upper = np.inf
        for low, width, opacity in EDGE_BINS:
            pick = (np.sign(weights) == sign) & (rel >= low) & (rel < upper)
            upper = low
            if not pick.any():
                continue
            xs, ys = segments(src[pick], dst[pick])
            traces.append(
                dict(
                    type="scatter",
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": color, "width": width * wider},
                    opacity=min(1.0, opacity * wider),
                    hoverinfo="skip",
                    name=name,
                    legendgroup=name,
                    showlegend=not shown,
                    meta={"kind": kind, "sign": sign, "weights": np.round(weights[pick], 5)},
                )
            )
            shown = True
    return traces


BUNDLE_WIDTHS = (1.0, 2.5, 4.5, 7.0, 10.0)  # px, for Σ|w| in fifths of the largest bundle of its layer pair


@dataclass
class Bundle:
    """All weights from one group of units (or the inputs) to one group of the next layer."""

    src: tuple[float, float]
    dst: tuple[float, float]
    total_abs: float
    total: float
    n_weights: int
    n_nonzero: int
    label: str


def bundle_sums(weights: np.ndarray, row_groups: np.ndarray, col_groups: np.ndarray, n_rows: int, n_cols: int):
    """(Σ|w|, Σw, count of non-zero) per (row group, column group) of ``weights``, as three arrays."""
    dtype = weights.dtype if weights.dtype == np.float32 else np.float64
    rows = np.zeros((n_rows, weights.shape[0]), dtype=dtype)
    rows[row_groups, np.arange(weights.shape[0])] = 1.0
    cols = np.zeros((weights.shape[1], n_cols), dtype=dtype)
    cols[np.arange(weights.shape[1]), col_groups] = 1.0
    absolute = np.abs(weights)
    nonzero = (weights != 0).astype(dtype)
    # multi_dot multiplies in the cheap order (the 784 input columns collapse first)
    return (np.linalg.multi_dot([rows, m, cols]).astype(np.float64) for m in (absolute, weights, nonzero))


def bundle_traces(bundles: list[Bundle], pair_of: list[int]) -> list[dict]:
    """Bundles binned by sign and width (at most ten line traces) plus one hover trace at their midpoints."""
    if not bundles:
        return []
    top: dict[int, float] = {}
    for b, pair in zip(bundles, pair_of, strict=True):
        top[pair] = max(top.get(pair, 0.0), b.total_abs)
    level = [min(int(5 * b.total_abs / top[p]), 4) if top[p] > 0 else 0 for b, p in zip(bundles, pair_of, strict=True)]
    traces = []
    for sign, color, name in ((1, EDGE_POSITIVE, "bundle, Σw > 0"), (-1, EDGE_NEGATIVE, "bundle, Σw < 0")):
        shown = False
        for lv in range(4, -1, -1):
            pick = [b for b, l in zip(bundles, level, strict=True) if l == lv and (1 if b.total >= 0 else -1) == sign]
            if not pick:
                continue
            xs, ys = segments(np.array([b.src for b in pick]), np.array([b.dst for b in pick]))
            traces.append(
                dict(
                    type="scatter",
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": color, "width": BUNDLE_WIDTHS[lv]},
                    opacity=0.35 + 0.1 * lv,
                    hoverinfo="skip",
                    name=name,
                    legendgroup=name,
                    showlegend=not shown,
                    meta={"kind": "bundles", "sign": sign, "sums": [round(b.total_abs, 5) for b in pick]},
                )
            )
            shown = True
    mids = np.array([[(b.src[0] + b.dst[0]) / 2, (b.src[1] + b.dst[1]) / 2] for b in bundles])
    traces.append(
        dict(
            type="scatter",
            x=mids[:, 0],
            y=mids[:, 1],
            mode="markers",
            showlegend=False,
            name="bundle totals",
            marker={"size": 9, "color": "rgba(0,0,0,0)"},
            hoverinfo="text",
            hovertext=[
                f"{b.label}<br>{b.n_weights:,} weights, {b.n_nonzero:,} non-zero<br>"
                f"Σ|w| = {b.total_abs:.3g} · Σw = {b.total:.3g}"
                for b in bundles
            ],
            meta={"kind": "bundle_hover"},
        )
    )
    return traces
