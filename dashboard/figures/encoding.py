"""The visual language of every view, in one place: what each colour, shape, outline and shade means.

birth task = colour (slate for task 1, then a qualitative palette with no pure blue or red:
those two mean a weight's sign), origin = shape (circle / diamond for a duplicate), selected
= black outline, retired = faded, drift = shade of grey (light = unchanged, dark = at σ).
The network graph, the charts, Inspect, Compare and Learn all take their colours from here,
so a colour means the same thing on every page, and each legend names exactly what is drawn.
"""

from __future__ import annotations

import functools

__all__ = [
    "ADDED",
    "DIFF_SAME",
    "DRIFT_DARK",
    "DRIFT_LIGHT",
    "DUPLICATE_LINK",
    "EDGE_NEGATIVE",
    "EDGE_POSITIVE",
    "EXPAND_COLORS",
    "FONT_FAMILY",
    "FONT_SIZE",
    "GHOST",
    "HIGHLIGHT_RING",
    "LEGEND",
    "METRIC_COLORS",
    "ORIGIN_COLORS",
    "ORIGIN_LABELS",
    "ORIGIN_PATTERNS",
    "ORIGIN_SYMBOLS",
    "RETIRED_FADE",
    "SELECTED_RING",
    "SPLIT_RING",
    "TASK_COLORS",
    "TEMPLATE",
    "drift_shade",
    "fade",
    "legend_markdown",
    "mix",
    "task_color",
    "task_colorscale",
]

TASK_COLORS: tuple[str, ...] = (
    "#4a5a6a",  # task 1: slate, so the base network reads as the neutral background
    "#f28e2b",  # orange
    "#59a14f",  # green
    "#b07aa1",  # purple
    "#edc948",  # gold
    "#76b7b2",  # teal
    "#9c755f",  # brown
    "#ff9da7",  # pink
    "#8cd17d",  # light green
    "#d37295",  # rose
    "#499894",  # dark teal
    "#bab0ac",  # warm grey
)

EDGE_POSITIVE = "#2166ac"
EDGE_NEGATIVE = "#c0392b"
DUPLICATE_LINK = "#3d3d3d"
SELECTED_RING = "#111111"  # selected for retraining: a black outline
SPLIT_RING = "#e6007e"  # the original of a split: a magenta outline (the copy is a diamond)
HIGHLIGHT_RING = SPLIT_RING  # older name: the one magenta mark
GHOST = "#9a9a9a"  # pruned at its birth task
RETIRED_FADE = 0.72  # how far a retired original is mixed towards white
DRIFT_LIGHT, DRIFT_DARK = "#d3d8df", "#262a30"  # drift = shade: no drift .. at σ
DIFF_SAME = "#d5dae0"  # architecture diff: a unit present at both tasks
ADDED = "added"  # category key shared by change mode and the diff

# How a unit came to be: shape in the graph; in count charts, the base is task 1's slate and
# expanded units the palette's next colour, duplicates the same hue hatched (origin = pattern).
ORIGIN_SYMBOLS = {"base": "circle", "expanded": "circle", "duplicate": "diamond"}
ORIGIN_COLORS = {"base": TASK_COLORS[0], "expanded": TASK_COLORS[1], "duplicate": TASK_COLORS[1]}
ORIGIN_PATTERNS = {"base": "", "expanded": "", "duplicate": "/"}
ORIGIN_LABELS = {"base": "base (task 1)", "expanded": "expanded", "duplicate": "duplicate (split copy)"}
METRIC_COLORS = {"auroc": "#1b7837", "accuracy": "#762a83", "total": "#4a5a6a", "nonzero": "#f28e2b"}
EXPAND_COLORS = {True: "#f28e2b", False: "#8c99a6"}

FONT_SIZE = 15
FONT_FAMILY = "Inter, Segoe UI, Helvetica, Arial, sans-serif"
_AXIS = {"gridcolor": "#e8ebef", "zerolinecolor": "#cfd4da", "linecolor": "#cfd4da", "automargin": True}
# A light template of a few lines: plotly's built-in "plotly_white" costs ~40 ms per figure to
# validate, more than the whole network drawing, and looks the same for these charts.
TEMPLATE = {
    "layout": {
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(TASK_COLORS),
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "hoverlabel": {"font": {"size": 14}, "bgcolor": "#ffffff"},
        "title": {"font": {"size": FONT_SIZE + 3}},
    }
}

LEGEND = {
    "colour": "the task a unit was born in (task 1 = slate, then the task palette)",
    "shape": "circle (or cell) = a unit; diamond = a duplicate, the copy of a unit that drifted too far",
    "faded": "a retired original, kept only for the tasks learned before it was split",
    "grey x": "a unit added at this task and pruned by group sparsity",
    "black outline": "a unit selected for retraining at this task",
    "magenta outline": "the original of a unit split at this task (dashed line to its copy)",
    "shade (changes mode)": "how far an old unit drifted at this task: light = not at all, dark = at σ",
    "edges": "blue positive, red negative; bundles: width = Σ|w| between two groups of units",
    "layout": "a small layer is a column of nodes; a large one a block of cells, filled by birth task",
}


def task_color(task: int) -> str:
    """The palette colour of task ``task`` (1-based; cycles after the palette ends)."""
    return TASK_COLORS[(max(int(task), 1) - 1) % len(TASK_COLORS)]


@functools.lru_cache(maxsize=4096)  # a few dozen distinct colours, asked for thousands of times per figure
def mix(color: str, other: str, amount: float) -> str:
    """``color`` moved ``amount`` (0..1) of the way towards ``other``, as #rrggbb."""
    a = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * amount):02x}" for x, y in zip(a, b, strict=True))


def fade(color: str, amount: float = RETIRED_FADE) -> str:
    """A faded (whiter) version of ``color``: how retired units are drawn."""
    return mix(color, "#ffffff", amount)


def drift_shade(ratio: float, levels: int = 6) -> str:
    """Grey for drift ρ/σ (clipped to 0..1), quantised to ``levels`` steps so heatmaps stay small."""
    r = min(max(float(ratio), 0.0), 1.0) if ratio == ratio else 0.0  # NaN (not measured) = light
    return mix(DRIFT_LIGHT, DRIFT_DARK, round(r * (levels - 1)) / (levels - 1))


def task_colorscale(n_tasks: int) -> list[list]:
    """A stepped colorscale giving integer value t in [0.5, n_tasks + 0.5] the colour of task t.

    Colouring markers by a number through this scale (cmin 0.5, cmax n_tasks + 0.5) draws the
    same colours as a per-marker colour list, but plotly validates it ~10x faster.
    """
    n = max(int(n_tasks), 1)
    scale = []
    for t in range(1, n + 1):
        scale += [[(t - 1) / n, task_color(t)], [t / n, task_color(t)]]
    return scale


def legend_markdown() -> str:
    """The network drawing's visual conventions as a short Markdown list."""
    return "\n".join(f"- **{key}**: {text}" for key, text in LEGEND.items())
