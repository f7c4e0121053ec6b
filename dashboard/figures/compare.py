"""Pure builders for the Compare page: several run records in, plotly figures and plain tables out.

A "run" here is a ``(label, record)`` pair; labels name the runs in legends and tables
(``run_labels`` makes short ones from the hyperparameters that differ). Nothing here
touches Streamlit or the disk. Incomplete runs are drawn up to their last finished
task, and their "final" numbers are those of that task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import _layout, _num, empty_figure, network_figure
from dashboard.figures.colors import TASK_COLORS
from den_engine.experiments.diff import DECISIONS, LABELS, decision_diff

Run = tuple[str, dict]

RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
SYMBOLS = {
    "loss_threshold": "τ",
    "split_threshold": "σ",
    "expand_units": "k",
    "l2_transfer": "λ",
    "l1_strength": "μ",
    "group_lasso": "γ",
}
IGNORED_FIELDS = ("device", "preset")


def run_color(i: int) -> str:
    """The colour of the i-th compared run (the same in every chart of the page)."""
    return RUN_COLORS[i % len(RUN_COLORS)]


# --- hyperparameters and outcomes --------------------------------------------------------------


def _fmt(value) -> str:
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    if value is None:
        return "inf"  # records write infinite thresholds as null
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def varying_fields(records: Sequence[dict]) -> list[str]:
    """Config fields (and the method / benchmark) whose value is not the same in every record."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in (record.get("config") or {}) if k not in keys and k not in IGNORED_FIELDS]
    out = [k for k in keys if len({_fmt((r.get("config") or {}).get(k, "-")) for r in records}) > 1]
    for extra in ("method",):
        if len({r.get(extra) for r in records}) > 1:
            out.insert(0, extra)
    if len({(r.get("benchmark") or {}).get("name") for r in records}) > 1:
        out.insert(0, "benchmark")
    return out


def hyperparameters(record: dict, fields: Sequence[str]) -> dict[str, str]:
    """The values of ``fields`` in one record, as short strings."""
    config = record.get("config") or {}
    out = {}
    for name in fields:
        if name == "benchmark":
            out[name] = (record.get("benchmark") or {}).get("name", "?")
        elif name == "method":
            out[name] = str(record.get("method", "?"))
        else:
            out[name] = _fmt(config.get(name, "-"))
    return out


def run_labels(records: Sequence[dict], names: Sequence[str]) -> list[str]:
    """Short, unique labels: the differing hyperparameters (``τ=0.01 σ=0.05 seed=1``), else the names."""
    fields = varying_fields(records)
    labels = []
    for record, name in zip(records, names, strict=True):
        values = hyperparameters(record, fields)
        text = " ".join(f"{SYMBOLS.get(k, k)}={v}" for k, v in values.items())
        labels.append(text if fields and len(text) <= 48 else name)
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if labels.count(label) > 1:
            labels[i] = f"{label} #{seen[label]}"
    return labels


def _mean(values) -> float:
    finite = [v for v in values or [] if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def outcome(record: dict) -> dict:
    """A run's last numbers: average AUROC (test and validation) and accuracy, BWT, parameters, capacity, units."""
    tasks = record.get("tasks") or []
    last = tasks[-1] if tasks else {}
    final = record.get("final") or {}
    metrics, params = last.get("metrics") or {}, last.get("params") or {}
    return {
        "tasks_done": len(tasks),
        "status": record.get("status", "?"),
        "average_auroc": _num(final.get("average_auroc", metrics.get("average_auroc"))),
        "average_val_auroc": _mean(metrics.get("val_auroc")),  # the column to tune on, not the test AUROC
        "average_accuracy": _num(final.get("average_accuracy", metrics.get("average_accuracy"))),
        "backward_transfer_auroc": _num(final.get("backward_transfer_auroc")),
        "params": _num(params.get("total")),
        "nonzero_params": _num(params.get("nonzero")),
        "relative_to_stl": _num(params.get("relative_to_stl")),
        "hidden_units": sum((last.get("active_sizes") or [0])[1:]),
    }


def outcomes_table(runs: Sequence[Run]) -> list[dict]:
    """One row per run: its label, the hyperparameters that differ, and its outcome (for views and CSV)."""
    fields = varying_fields([r for _, r in runs])
    rows = []
    for label, record in runs:
        row = {"run": label, **hyperparameters(record, fields), **outcome(record)}
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return rows


def pareto_front(capacity: Sequence[float], score: Sequence[float]) -> list[int]:
    """Indices of the runs no other run beats (capacity no larger and score no smaller, one strictly).

    Runs with a missing number are never on the front. Sorted by capacity.
    """
    points = [(c, s, i) for i, (c, s) in enumerate(zip(capacity, score, strict=True)) if not (c != c or s != s)]
    front = []
    for c, s, i in points:
        dominated = any(c2 <= c and s2 >= s and (c2 < c or s2 > s) for c2, s2, _ in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (capacity[i], -score[i]))


# --- per-task curves ------------------------------------------------------------------------------


def _no_runs() -> go.Figure:
    return empty_figure("Pick at least one run to compare.")


def _per_task(record: dict, read) -> tuple[list[int], list]:
    tasks = record.get("tasks") or []
    ys = [read(t) for t in tasks]
    return [int(t["task"]) for t in tasks], [None if isinstance(y, float) and math.isnan(y) else y for y in ys]


def _layer_size(snapshot: dict, layer: int) -> int | None:
    sizes = snapshot.get("active_sizes") or []
    return sizes[layer] if layer < len(sizes) else None


def _legend_below(fig: go.Figure, n_entries: int, height: int) -> go.Figure:
    """Run names go under the plot, one per row: long names never squeeze the plot area."""
    rows = max(n_entries, 1)
    fig.update_layout(
        height=height + 26 * rows,
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.18, "yanchor": "top",
                "entrywidthmode": "fraction", "entrywidth": 1.0},
        margin={"b": 40 + 26 * rows},
    )  # fmt: skip
    return fig


def units_overlay(runs: Sequence[Run]) -> go.Figure:
    """Units each task uses per hidden layer, one line per run, a panel per layer."""
    if not runs:
        return _no_runs()
    n_layers = max((len(t.get("active_sizes") or [0]) - 1 for _, r in runs for t in r.get("tasks") or []), default=0)
    if n_layers < 1:
        return empty_figure("No task learned yet in these runs.")
    fig = make_subplots(rows=1, cols=n_layers, subplot_titles=[f"layer {l}" for l in range(1, n_layers + 1)])
    for i, (label, record) in enumerate(runs):
        for l in range(1, n_layers + 1):
            x, y = _per_task(record, lambda t, l=l: _layer_size(t, l))
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="lines+markers", name=label, legendgroup=label, showlegend=l == 1,
                    line={"color": run_color(i), "width": 3},
                    hovertemplate=f"task %{{x}}: %{{y}} units<extra>{label}, layer {l}</extra>",
                ),
                row=1, col=l,
            )  # fmt: skip
    fig.update_layout(_layout("Units per layer after each task", height=400))
    fig.update_xaxes(title_text="task", dtick=1)
    fig.update_yaxes(title_text="active units", row=1, col=1, rangemode="tozero")
    return _legend_below(fig, len(runs), 400)


def _overlay(runs: Sequence[Run], read, title: str, y_title: str, hover: str) -> go.Figure:
    if not runs:
        return _no_runs()
    fig = go.Figure()
    for i, (label, record) in enumerate(runs):
        x, y = _per_task(record, read)
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines+markers", name=label, line={"color": run_color(i), "width": 3},
                hovertemplate=f"task %{{x}}: {hover}<extra>{label}</extra>",
            )
        )  # fmt: skip
    fig.update_layout(_layout(title, height=380))
    fig.update_xaxes(title_text="task", dtick=1)
    fig.update_yaxes(title_text=y_title)
    return _legend_below(fig, len(runs), 380)


def params_overlay(runs: Sequence[Run]) -> go.Figure:
    """Total parameters after each task, one line per run."""
    return _overlay(
        runs, lambda t: _num((t.get("params") or {}).get("total")), "Parameters after each task", "parameters",
        "%{y:,.0f} parameters",
    )  # fmt: skip


def auroc_overlay(runs: Sequence[Run]) -> go.Figure:
    """Average AUROC over the tasks learned so far, after each task, one line per run."""
    return _overlay(
        runs, lambda t: _num((t.get("metrics") or {}).get("average_auroc")),
        "Average AUROC over the tasks learned so far", "average AUROC", "%{y:.4f}",
    )  # fmt: skip


def curves_table(runs: Sequence[Run]) -> list[dict]:
    """The data of the three overlays: one row per run and task (for CSV)."""
    rows = []
    for label, record in runs:
        for t in record.get("tasks") or []:
            row = {"run": label, "task": t["task"]}
            row.update({f"units_layer_{l}": n for l, n in enumerate((t.get("active_sizes") or [])[1:], start=1)})
            row["params"] = (t.get("params") or {}).get("total")
            row["average_auroc"] = (t.get("metrics") or {}).get("average_auroc")
            rows.append(row)
    return rows


# --- networks side by side --------------------------------------------------------------------------


def compared_network(record: dict, label: str, weights: dict | None = None, height: int = 600) -> go.Figure:
    """The run's network after its last task, large enough to read: titled by its label, with the legend."""
    n = len(record.get("tasks") or [])
    if n == 0:
        return empty_figure("No task learned yet.", label)
    fig = network_figure(record, n, weights, max_edges=200, show_pruned=False)
    sizes = "-".join(str(s) for s in (record["tasks"][-1].get("active_sizes") or []))
    top = fig.layout.margin.t + 50  # the run's name above the layer labels, never over them
    fig.update_layout(
        title={"text": f"{label}<br><sup>after task {n}: {sizes} active units</sup>", "font": {"size": 16},
               "y": 1.0, "yanchor": "top", "yref": "container", "pad": {"t": 8}},
        height=height, showlegend=True, margin={**fig.layout.margin.to_plotly_json(), "t": top},
    )  # fmt: skip
    return fig


# --- decision diff ---------------------------------------------------------------------------------


def _layers(values) -> str:
    if values is None:
        return "—"
    if isinstance(values, bool):
        return "yes" if values else "no"
    return " / ".join(str(v) for v in values)


def decision_table(a: dict, b: dict) -> tuple[list[dict], dict]:
    """Task by task, each decision of run A and run B side by side (per-layer values "l1 / l2").

    Returns (rows, diff); a row has task, decision, run A, run B, differs, first, layers
    (the layers that differ).
    """
    diff = decision_diff(a, b)
    first = diff["first"]
    rows = []
    for entry in diff["tasks"]:
        differing = {d["what"]: [] for d in entry["differences"]}
        for d in entry["differences"]:
            differing[d["what"]].append(d["layer"])
        for what in DECISIONS:
            va, vb = entry["decisions_a"][what], entry["decisions_b"][what]
            if va is None and vb is None:
                continue
            layers = differing.get(what, [])
            rows.append(
                {
                    "task": entry["task"],
                    "decision": LABELS[what],
                    "run A": _layers(va),
                    "run B": _layers(vb),
                    "differs": what in differing,
                    "first": first is not None and (first["task"], first["what"]) == (entry["task"], what),
                    "layers": ", ".join(str(l) for l in layers if l is not None),
                }
            )
    return rows, diff


def decision_diff_figure(a: dict, b: dict, labels: tuple[str, str] = ("A", "B")) -> go.Figure:
    """A tasks x decisions grid: grey = same, orange = different, the first difference outlined."""
    diff = decision_diff(a, b)
    if not diff["tasks"]:
        return empty_figure("The two runs share no finished task.")
    tasks = [e["task"] for e in diff["tasks"]]
    z = [[1 if any(d["what"] == what for d in e["differences"]) else 0 for e in diff["tasks"]] for what in DECISIONS]
    hover = [
        [f"task {e['task']}: {LABELS[what]}<br>{labels[0]}: {_layers(e['decisions_a'][what])}<br>"
         f"{labels[1]}: {_layers(e['decisions_b'][what])}" for e in diff["tasks"]]
        for what in DECISIONS
    ]  # fmt: skip
    fig = go.Figure(
        go.Heatmap(
            z=z, x=tasks, y=[LABELS[w] for w in DECISIONS], text=hover, hovertemplate="%{text}<extra></extra>",
            colorscale=[[0, "#eef0f2"], [1, TASK_COLORS[1]]], zmin=0, zmax=1, showscale=False, xgap=3, ygap=3,
        )
    )  # fmt: skip
    first = diff["first"]
    if first is not None:
        row = DECISIONS.index(first["what"])
        fig.add_shape(
            type="rect", x0=first["task"] - 0.5, x1=first["task"] + 0.5, y0=row - 0.5, y1=row + 0.5,
            line={"color": "#e6007e", "width": 4},
        )  # fmt: skip
    fig.update_layout(_layout("Where the two runs decided differently (pink box: the first time)", height=320))
    fig.update_xaxes(title_text="task", dtick=1)
    fig.update_yaxes(autorange="reversed")
    return fig
