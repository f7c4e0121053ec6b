"""Edges of the network graph: pick the strongest weights and draw them in a handful of traces.

Shared by the main network graph and the Learn page's picture network. Pure numpy in,
plain plotly trace dicts out.
"""

from __future__ import annotations

import numpy as np

from dashboard.figures.base import EDGE_BINS
from dashboard.figures.colors import EDGE_NEGATIVE, EDGE_POSITIVE


def as_array(value) -> np.ndarray | None:
    """A weight as a float64 numpy array (a torch tensor is accepted too); None stays None."""
    if value is None:
        return None
    if hasattr(value, "detach"):  # a torch tensor slipped through: accept it
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


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


def edge_traces(weights: np.ndarray, src: np.ndarray, dst: np.ndarray) -> list[dict]:
    """Edges batched by sign and strength: at most six traces whatever the edge count.

    Traces are plain dicts: plotly validates them once, inside ``go.Figure``, instead of twice.
    """
    traces: list[dict] = []
    if weights.size == 0:
        return traces
    rel = np.abs(weights) / float(np.abs(weights).max())
    for sign, color, name in ((1, EDGE_POSITIVE, "positive weight"), (-1, EDGE_NEGATIVE, "negative weight")):
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
                    line={"color": color, "width": width},
                    opacity=opacity,
                    hoverinfo="skip",
                    name=name,
                    legendgroup=name,
                    showlegend=not shown,
                    meta={"kind": "edges", "sign": sign, "weights": np.round(weights[pick], 5)},
                )
            )
            shown = True
    return traces
