"""Where a scatter's labels go so that none covers another label or another marker.

Plotly draws a marker's text at a fixed side, so two close markers' labels overlap. Here
each label gets the first of a few offsets (above, below, then diagonally, then further
out) whose box, in pixels of a plot of the narrowest width the page gives it, overlaps no
label placed before it, no marker and no edge of the plot; when every offset collides,
the one that overlaps least. The boxes are estimates (a character is about ``CHAR_PX``
wide), which is why the plot size errs small.
"""

from __future__ import annotations

from collections.abc import Sequence

PLOT_PX = (620.0, 330.0)
"""The plot area, width and height in pixels, at the narrowest the Compare page draws it (1024-pixel window)."""
CHAR_PX, LINE_PX, MARKER_PX = 7.4, 20.0, 14.0
OFFSETS = ((0, -30), (0, 30), (-75, -30), (75, -30), (-75, 30), (75, 30), (0, -58), (0, 58), (-110, 0), (110, 0))
"""Label centre relative to its marker, in pixels (plotly's annotation ``ax``, ``ay``: y grows downwards)."""

Box = tuple[float, float, float, float]  # left, top, right, bottom in pixels


def _overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _box(cx: float, cy: float, text: str) -> Box:
    half_w, half_h = (CHAR_PX * len(text) + 10) / 2, LINE_PX / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def place_labels(positions: Sequence[tuple[float, float]], texts: Sequence[str],
                 plot: tuple[float, float] = PLOT_PX) -> list[tuple[int, int]]:  # fmt: skip
    """Offsets ``(ax, ay)`` in pixels for each label; ``positions`` are the markers' places as fractions of the plot."""
    width, height = plot
    pixels = [(x * width, (1 - y) * height) for x, y in positions]  # screen y grows downwards
    markers = [(px - MARKER_PX, py - MARKER_PX, px + MARKER_PX, py + MARKER_PX) for px, py in pixels]
    frame = (0.0, -40.0, width, height + 30.0)  # a little room above and below the axes is still drawn
    placed: list[Box] = []
    out = []
    for (px, py), text in zip(pixels, texts, strict=True):
        best, best_cost = OFFSETS[0], float("inf")
        for ax, ay in OFFSETS:
            box = _box(px + ax, py + ay, text)
            outside = (box[2] - box[0]) * (box[3] - box[1]) - _overlap(box, frame)
            cost = outside + sum(_overlap(box, other) for other in placed + markers)
            if cost < best_cost:
                best, best_cost = (ax, ay), cost
            if cost == 0:
                break
        placed.append(_box(px + best[0], py + best[1], text))
        out.append(best)
    return out
