"""``den report RUN -o run.html``: a whole run as one self-contained HTML file, stepped task by task.

One slider position per task: the network after that task (with its strongest edges), the
plain-language decision log of that task, and the run's charts as they stood then (growth,
sparsity, parameters, the R matrix, average scores). Built with dashboard.export.static_html,
the machinery of the Learn page's lesson file: plotly.js inline, no server, nothing fetched.

The engine reaches this module only at run time (den_engine.records.export_cli imports it by
name), so the engine never imports the dashboard.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from dashboard.export.static_html import Step, standalone_page
from dashboard.figures.charts import average_metric_chart, matrix_heatmap, params_chart, sparsity_chart, units_chart
from dashboard.figures.colors import LEGEND
from dashboard.figures.network import network_figure
from dashboard.narrate import fmt, narrate_task
from den_engine.core.errors import RunFileError
from den_engine.records.store import RunRecord, load_run

MAX_EDGES = 300
"""Strongest edges drawn per network picture (as on the Train page)."""


def _upto(record: dict, task: int) -> dict:
    """The record as it stood after ``task``: later tasks and the final summary left out."""
    return {
        **record,
        "tasks": record["tasks"][:task],
        "final": None if task < len(record["tasks"]) else record.get("final"),
    }


def _weights(run: RunRecord, task: int, notes: list[str]) -> dict | None:
    """A task's tensors as numpy arrays for the edges; None (and a note) when the file is unreadable."""
    try:
        return {k: v.numpy() for k, v in run.weights(task).items()}
    except RunFileError as exc:
        notes.append(f"Task {task}: edges not drawn ({exc}).")
        return None


def _task_html(record: dict, task: int) -> str:
    """The decision log of one task, as the dashboard words it."""
    lines = narrate_task(record, task)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines[1:])
    return f'<h2>{html.escape(lines[0])}</h2><ul class="decisions">{items}</ul>'


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return fmt(value, 4) if isinstance(value, float) else str(value)


def intro_html(record: dict, notes: list[str]) -> str:
    """What the run is: benchmark, method, config, final scores, the drawing's legend, any notes."""
    bench = record["benchmark"]
    final = record.get("final") or {}
    facts = {
        "benchmark": f"{bench['name']} ({len(record['tasks'])} of {bench.get('n_tasks', '?')} tasks learned)",
        "method": f"{record.get('method')} (preset {record.get('preset')}, seed {record.get('seed')})",
        "status": record.get("status"),
        "average AUROC": _cell(final.get("average_auroc")),
        "average accuracy": _cell(final.get("average_accuracy")),
        "backward transfer (AUROC)": _cell(final.get("backward_transfer_auroc")),
        "run id": record.get("run_id"),
        "created": record.get("created"),
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    config = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in record["config"].items()
    )
    legend = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in LEGEND.items())
    note = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
    return (
        "<style>.facts th{text-align:left;padding-right:1em;font-weight:600}.decisions li{margin:4px 0}"
        ".note{color:#b45309}details{margin:8px 0}</style>"
        f"{note}<table class='facts'>{rows}</table>"
        f"<details><summary>Configuration</summary><table class='facts'>{config}</table></details>"
        f"<details><summary>How to read the network</summary><ul>{legend}</ul></details>"
        "<p>Move the slider (or press ← →) to step through the tasks.</p>"
    )


def report_steps(run: RunRecord, max_edges: int = MAX_EDGES, notes: list[str] | None = None) -> list[Step]:
    """One step per learned task: the network, the decision log and the charts up to that task."""
    record = run.data
    notes = notes if notes is not None else []
    steps = []
    for task in range(1, len(record["tasks"]) + 1):
        weights = _weights(run, task, notes) if max_edges else None
        upto = _upto(record, task)
        figures = [
            network_figure(record, task, weights, max_edges=max_edges),
            units_chart(upto),
            sparsity_chart(upto),
            params_chart(upto),
            matrix_heatmap(upto, "auroc"),
            average_metric_chart(upto),
        ]
        label = f"task {task} of {len(record['tasks'])}: {record['tasks'][task - 1].get('name', '')}"
        steps.append(Step(label=label, figures=figures, html=_task_html(record, task)))
    return steps


def build_report(run: RunRecord, max_edges: int = MAX_EDGES) -> str:
    """The report page as a string."""
    if not run.tasks:
        raise RunFileError(f"{run.path}: the run has no finished task yet; nothing to report")
    notes: list[str] = []
    steps = report_steps(run, max_edges, notes)
    record = run.data
    title = f"DEN run {record.get('run_id', '')}: {record['benchmark']['name']}, {record.get('method')}"
    return standalone_page(title, steps, intro_html(record, notes))


def write_report(run_dir: str | Path, out: str | Path, max_edges: int = MAX_EDGES) -> Path:
    """Write the report of the run in ``run_dir`` to the file ``out``; returns its path."""
    run = load_run(run_dir)
    out = Path(out)
    if out.is_dir():
        raise RunFileError(f"{out}: is a directory; give the report's file name, e.g. -o run.html")
    text = build_report(run, max_edges)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
