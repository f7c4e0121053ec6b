"""Which setting is best for its size: the trade-off chart, the knob heatmap and the parallel coordinates.

Runs come as ``(label, record)`` pairs (see ``compare``). A *setting* is a run's values of
the knobs that differ between the runs compared, seed left out: runs of one setting on
several seeds become one marker at their mean with error bars of one standard deviation.
Markers that would cover each other on screen (the same numbers, or nearly) become one
marker with a count, every run listed on hover, so no run hides behind another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import _layout, _num, empty_figure
from dashboard.figures.compare import SYMBOLS, hyperparameters, outcomes_table, pareto_front, varying_fields
from dashboard.figures.label_place import place_labels

Run = tuple[str, dict]

SCORES = {"accuracy": ("average_accuracy", "final average accuracy"), "auroc": ("average_auroc", "final average AUROC")}
SIZES = {"stl": ("relative_to_stl", "parameters, % of STL (lower is leaner)"), "params": ("params", "parameters")}
NEAR_X, NEAR_Y = 0.02, 0.04
"""Two markers closer than this (fractions of the plot's width and height) would cover each other: one marker."""
DECADES = 10.0
"""A knob (or axis) whose largest positive value is at least this times its smallest is drawn on a log scale."""


@dataclass
class Point:
    """One marker of the trade-off chart: one or more settings that land on (nearly) the same spot."""

    labels: list[str]
    """The settings drawn here, by the knobs that differ (``τ=0.01 σ=0.05``)."""
    runs: list[str]
    """Every run behind the marker (their labels), for the hover card."""
    x: float
    y: float
    x_sd: float = 0.0
    y_sd: float = 0.0
    seeds: int = 1
    """Runs per setting (the most of any setting merged here); above 1 the error bars are drawn."""
    on_front: bool = False

    @property
    def text(self) -> str:
        """The label beside the marker: every setting it stands for, and how many there are when several."""
        names = ", ".join(self.labels)
        return f"{names} ({len(self.labels)} settings)" if len(self.labels) > 1 else names


def _knob(name: str) -> str:
    return SYMBOLS.get(name, name)


def setting_fields(records: Sequence[dict]) -> list[str]:
    """The knobs that differ between ``records``, seed left out (seeds are repeats of one setting)."""
    return [f for f in varying_fields(records) if f != "seed"]


def setting_label(record: dict, fields: Sequence[str]) -> str:
    """``τ=0.01 σ=0.05``: the record's values of ``fields`` with the paper's symbols."""
    return " ".join(f"{_knob(k)}={v}" for k, v in hyperparameters(record, fields).items())


def _spread(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, 0.0
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0


def settings(runs: Sequence[Run], score: str = "accuracy", size: str = "stl") -> list[Point]:
    """One point per setting (mean ± sd over its seeds), in the order the settings first appear."""
    records = [r for _, r in runs]
    fields = setting_fields(records)
    table = outcomes_table(runs)
    scale = 100.0 if size == "stl" else 1.0
    groups: dict[str, list[int]] = {}
    for i, (label, record) in enumerate(runs):
        key = setting_label(record, fields) if fields else label
        groups.setdefault(key, []).append(i)
    points = []
    for key, members in groups.items():
        x, x_sd = _spread([_num(table[i][SIZES[size][0]]) * scale for i in members])
        y, y_sd = _spread([_num(table[i][SCORES[score][0]]) for i in members])
        points.append(Point([key], [runs[i][0] for i in members], x, y, x_sd, y_sd, len(members)))
    return points


def _log_wanted(values: Sequence[float]) -> bool:
    positive = [v for v in values if math.isfinite(v) and v > 0]
    return (
        bool(positive)
        and len(positive) == len([v for v in values if math.isfinite(v)])
        and (max(positive) >= DECADES * min(positive))
    )


def _unit(values: list[float], log: bool) -> list[float]:
    """Positions as fractions of the data's span (on a log scale when ``log``), for the nearness test."""
    v = [math.log10(x) if log else x for x in values]
    low, high = min(v), max(v)
    return [(x - low) / (high - low) if high > low else 0.5 for x in v]


def merge_close(points: list[Point], log_x: bool = False) -> list[Point]:
    """Points that would cover each other on screen merged into one (labels and runs kept, position averaged)."""
    drawn = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    if len(drawn) < 2:
        return list(points)
    ux, uy = _unit([p.x for p in drawn], log_x), _unit([p.y for p in drawn], False)
    cluster = list(range(len(drawn)))  # single linkage: a chain of close points is one marker

    def root(i: int) -> int:
        while cluster[i] != i:
            i = cluster[i]
        return i

    for i in range(len(drawn)):
        for j in range(i):
            if abs(ux[i] - ux[j]) < NEAR_X and abs(uy[i] - uy[j]) < NEAR_Y:
                cluster[root(i)] = root(j)
    merged: dict[int, list[Point]] = {}
    for i, p in enumerate(drawn):
        merged.setdefault(root(i), []).append(p)
    out = []
    for group in merged.values():
        out.append(
            Point(
                [label for p in group for label in p.labels], [r for p in group for r in p.runs],
                float(np.mean([p.x for p in group])), float(np.mean([p.y for p in group])),
                max(p.x_sd for p in group), max(p.y_sd for p in group), max(p.seeds for p in group),
                any(p.on_front for p in group),
            )
        )  # fmt: skip
    return out + [p for p in points if p not in drawn]


def tradeoff_points(runs: Sequence[Run], score: str = "accuracy", size: str = "stl") -> tuple[list[Point], list]:
    """The markers of the trade-off chart and the Pareto front ``[(x, y), ...]`` through the settings."""
    points = settings(runs, score, size)
    front = pareto_front([p.x for p in points], [p.y for p in points])
    for i in front:
        points[i].on_front = True
    line = [(points[i].x, points[i].y) for i in front]
    return merge_close(points, _log_wanted([p.x for p in points])), line


def _hover(point: Point, score: str, size: str) -> str:
    what = SCORES[score][1].replace("final average ", "")
    where = f"{point.x:.1f}% of STL" if size == "stl" else f"{point.x:,.0f} parameters"
    if point.seeds > 1:
        where += f" ± {point.x_sd:.1f}" if size == "stl" else f" ± {point.x_sd:,.0f}"
    value = f"{what} {point.y:.4f}" + (
        f" ± {point.y_sd:.4f} (mean ± sd of {point.seeds} seeds)" if point.seeds > 1 else ""
    )
    runs = "<br>".join(point.runs[:12]) + (f"<br>… and {len(point.runs) - 12} more" if len(point.runs) > 12 else "")
    head = f"<b>{len(point.runs)} runs here</b><br>" if len(point.runs) > 1 else ""
    return f"{head}{runs}<br>{where}<br>{value}"


def tradeoff_figure(runs: Sequence[Run], score: str = "accuracy", size: str = "stl") -> go.Figure:
    """Final score against parameters, one labelled marker per setting (stars: the Pareto front)."""
    if not runs:
        return empty_figure("Pick at least one run to compare.")
    points, front = tradeoff_points(runs, score, size)
    drawn = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    if not drawn:
        return empty_figure("None of these runs has a finished task with this score.")
    log_x = _log_wanted([p.x for p in drawn])
    x_range = _padded([math.log10(p.x) if log_x else p.x for p in drawn], 0.08)
    y_range = _padded([p.y for p in drawn], 0.16)
    fig = go.Figure()
    if len(front) > 1:
        fig.add_trace(
            go.Scatter(
                x=[x for x, _ in front], y=[y for _, y in front], mode="lines", name="Pareto front",
                line={"color": "#444444", "width": 2, "dash": "dash"}, hoverinfo="skip", showlegend=False,
            )
        )  # fmt: skip
    seeds = any(p.seeds > 1 for p in drawn)
    fig.add_trace(
        go.Scatter(
            x=[p.x for p in drawn], y=[p.y for p in drawn], mode="markers", name="settings",
            customdata=[_hover(p, score, size) for p in drawn], hovertemplate="%{customdata}<extra></extra>",
            marker={"size": [18 + 4 * min(len(p.runs) - 1, 3) for p in drawn],
                    "symbol": ["star" if p.on_front else "circle" for p in drawn],
                    "color": ["#e6007e" if p.on_front else "#1f77b4" for p in drawn],
                    "line": {"color": "#111111", "width": 1}},
            error_y={"type": "data", "array": [p.y_sd for p in drawn], "visible": seeds, "color": "#666"},
            error_x={"type": "data", "array": [p.x_sd for p in drawn], "visible": seeds, "color": "#666"},
            showlegend=False,
        )
    )  # fmt: skip
    where = [(_fraction(math.log10(p.x) if log_x else p.x, x_range), _fraction(p.y, y_range)) for p in drawn]
    for p, (ax, ay) in zip(drawn, place_labels(where, [p.text for p in drawn]), strict=True):
        fig.add_annotation(
            x=math.log10(p.x) if log_x else p.x, y=p.y, text=p.text, ax=ax, ay=ay, showarrow=True, arrowhead=0,
            arrowwidth=1, arrowcolor="#888", standoff=9, font={"size": 13, "color": "#222"},
            bgcolor="rgba(255,255,255,0.9)", bordercolor="#bbbbbb", borderpad=2, name="label",
        )  # fmt: skip
        if len(p.runs) > 1:  # the count inside the marker: several runs are drawn here
            fig.add_annotation(x=math.log10(p.x) if log_x else p.x, y=p.y, text=f"<b>{len(p.runs)}</b>",
                               showarrow=False, font={"size": 11, "color": "white"}, name="count")  # fmt: skip
    title = f"{SCORES[score][1].capitalize()} against size (stars and dashes: the Pareto front"
    title += "; bars: ± 1 sd over seeds)" if seeds else ")"
    fig.update_layout(_layout(title, height=480, margin={"l": 70, "r": 30, "t": 70, "b": 60}, showlegend=False))
    fig.update_xaxes(title_text=SIZES[size][1], ticksuffix="%" if size == "stl" else "", range=x_range,
                     type="log" if log_x else "linear")  # fmt: skip
    fig.update_yaxes(title_text=SCORES[score][1], range=y_range)
    fig.update_layout(meta={"markers": len(drawn), "runs": sum(len(p.runs) for p in drawn)})
    return fig


def _padded(values: list[float], share: float) -> list[float]:
    """An axis range around ``values`` with ``share`` of their span (or of their size) spare on each side."""
    low, high = min(values), max(values)
    pad = share * (high - low) if high > low else max(abs(high) * 0.02, 0.01)
    return [low - pad, high + pad]


def _fraction(value: float, axis: list[float]) -> float:
    return (value - axis[0]) / (axis[1] - axis[0])


# --- the score over two knobs ----------------------------------------------------------------------


def knob_choices(runs: Sequence[Run]) -> list[str]:
    """Knobs that differ between the runs (seed aside), τ and σ first when they do."""
    fields = setting_fields([r for _, r in runs])
    first = [f for f in ("loss_threshold", "split_threshold") if f in fields]
    return first + [f for f in fields if f not in first]


def _order(values: set[str]) -> list[str]:
    """Knob values in numeric order (inf last), text after numbers."""

    def key(v: str):
        try:
            return (0, float(v))
        except ValueError:
            return (1, v)

    return sorted(values, key=key)


def knob_heatmap(runs: Sequence[Run], x_knob: str, y_knob: str, score: str = "accuracy") -> go.Figure:
    """The mean final score of every (x_knob, y_knob) pair; a cell names how many runs it averages."""
    if x_knob == y_knob:
        return empty_figure("Choose two different knobs.")
    table = outcomes_table(runs)
    if not table or x_knob not in table[0] or y_knob not in table[0]:
        return empty_figure(f"{x_knob} and {y_knob} do not both differ between these runs.")
    key = SCORES[score][0]
    xs, ys = _order({row[x_knob] for row in table}), _order({row[y_knob] for row in table})
    cells: dict[tuple[str, str], list[float]] = {}
    for row in table:
        value = _num(row[key])
        if math.isfinite(value):
            cells.setdefault((row[x_knob], row[y_knob]), []).append(value)
    z = [[float(np.mean(cells[(x, y)])) if (x, y) in cells else None for x in xs] for y in ys]
    count = [[len(cells.get((x, y), [])) for x in xs] for y in ys]
    text = [[f"{v:.4f}<br>{n} run{'s' if n != 1 else ''}" if v is not None else "" for v, n in zip(zr, nr, strict=True)]
            for zr, nr in zip(z, count, strict=True)]  # fmt: skip
    fig = go.Figure(
        go.Heatmap(
            z=z, x=xs, y=ys, text=text, texttemplate="%{text}", colorscale="Viridis", xgap=2, ygap=2,
            colorbar={"title": {"text": SCORES[score][1].replace("final average ", "")}},
            hovertemplate=f"{_knob(x_knob)}=%{{x}}, {_knob(y_knob)}=%{{y}}<br>%{{text}}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(_layout(f"{SCORES[score][1].capitalize()} by {_knob(x_knob)} and {_knob(y_knob)}", height=420))
    # categories in numeric order: evenly spaced, so values a decade apart are as far apart as any two
    fig.update_xaxes(title_text=f"{_knob(x_knob)} ({x_knob})", type="category", categoryorder="array",
                     categoryarray=xs)  # fmt: skip
    fig.update_yaxes(title_text=f"{_knob(y_knob)} ({y_knob})", type="category", categoryorder="array",
                     categoryarray=ys)  # fmt: skip
    return fig


# --- parallel coordinates --------------------------------------------------------------------------

OUTCOME_AXES = (
    ("average_accuracy", "accuracy"),
    ("average_auroc", "AUROC"),
    ("average_val_auroc", "val AUROC"),
    ("relative_to_stl", "% of STL"),
    ("hidden_units", "hidden units"),
    ("backward_transfer_auroc", "BWT"),
)


def _is_float_text(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _dimension(label: str, values: list) -> dict:
    """One parcoords axis. Knobs come as text: numbers (log when they span decades, inf on top) or categories.

    A knob's ticks sit at its own values only, so they never crowd; a log knob keeps its
    values' text (0.001, 0.01 …) on ticks placed at their logarithms.
    """
    if not any(isinstance(v, str) for v in values):  # an outcome: plain numbers
        return {"label": label, "values": [_num(v) for v in values]}
    texts = [str(v) for v in values]
    if all(_is_float_text(t) for t in texts):
        finite = sorted({float(t) for t in texts if math.isfinite(float(t))})
        log = _log_wanted(finite)
        place = {v: math.log10(v) if log else v for v in finite}
        top, bottom = max(place.values(), default=0.0), min(place.values(), default=0.0)
        above = top + 0.25 * ((top - bottom) or 1.0)  # inf (never expand / never split) above the largest
        position = {t: place[float(t)] if math.isfinite(float(t)) else above for t in texts}
        if log:
            label += " (log)"
    else:
        position = {t: float(i) for i, t in enumerate(sorted(set(texts)))}
    ticks = sorted(position.items(), key=lambda item: item[1])
    return {
        "label": label,
        "values": [position[t] for t in texts],
        "tickvals": [p for _, p in ticks],
        "ticktext": [t for t, _ in ticks],
    }


def parallel_coordinates(runs: Sequence[Run], score: str = "accuracy") -> go.Figure:
    """Knobs that vary across the runs, then their outcomes; lines coloured by the chosen final score."""
    if len(runs) < 2:
        return empty_figure("Parallel coordinates need at least two runs.")
    table = outcomes_table(runs)
    fields = varying_fields([r for _, r in runs])
    if not fields:
        return empty_figure("These runs share every hyperparameter: nothing to lay out.")
    dims = [_dimension(f"{SYMBOLS[f]} {f}" if f in SYMBOLS else f, [row[f] for row in table]) for f in fields]
    scale = {"relative_to_stl": 100.0}  # a percentage, as on the trade-off chart
    dims += [_dimension(label, [_num(row[key]) * scale.get(key, 1.0) for row in table]) for key, label in OUTCOME_AXES]
    dims = [d for d in dims if np.isfinite(np.asarray(d["values"], dtype=float)).any()]
    color = [_num(row[SCORES[score][0]]) for row in table]
    color = [c if math.isfinite(c) else min((x for x in color if math.isfinite(x)), default=0.0) for c in color]
    name = SCORES[score][1].replace("final average ", "")
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims, labelangle=0, labelside="top",
            line={"color": color, "colorscale": "Viridis", "showscale": True, "colorbar": {"title": {"text": name}}},
        )
    )  # fmt: skip
    # the first axis's name is centred on it: room on the left for "τ loss_threshold (log)"
    fig.update_layout(_layout("Knobs against outcomes", height=460, margin={"l": 120, "r": 40, "t": 100}))
    return fig
