"""Colours, symbols and fonts shared by every chart, so a colour means the same thing on every page.

Task colours are a qualitative palette with no pure blue or red in it: those two are
reserved for the sign of a weight (blue positive, red negative) in the network drawing.
"""

from __future__ import annotations

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
SELECTED_RING = "#111111"
HIGHLIGHT_RING = "#e6007e"
GHOST = "#9a9a9a"

# How a unit came to be: colours for charts that count units by origin.
ORIGIN_COLORS = {"base": "#8c99a6", "expanded": "#2a9d8f", "duplicate": "#8e6bbf"}
ORIGIN_LABELS = {"base": "base (task 1)", "expanded": "expanded", "duplicate": "duplicate (split)"}
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
    "circle": "a unit used by this task",
    "diamond": "a duplicate: a copy of a unit that drifted too far (dashed line to its original)",
    "open circle": "a retired original, kept only for the tasks learned before it was split",
    "x": "a unit added at this task and pruned by group sparsity",
    "black ring": "a unit selected for retraining at this task",
    "edges": "blue positive, red negative; thicker and darker = larger |w| (strongest only)",
}


def task_color(task: int) -> str:
    """The palette colour of task ``task`` (1-based; cycles after the palette ends)."""
    return TASK_COLORS[(max(int(task), 1) - 1) % len(TASK_COLORS)]


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
