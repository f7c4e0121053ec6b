"""“Download this lesson”: a Learn run as one self-contained HTML page, one slider step per task (pure).

Each step holds what the Learn page showed after that task: the network with every
neuron's picture, every task's region through its own head, the narration, and task 1
under DEN and under the comparison method so far. Built with export/static_html.py, so
plotly.js is inside the file and the page fetches nothing.
"""

from __future__ import annotations

import html
import re

from dashboard import narrate
from dashboard.export.static_html import Step, standalone_page
from dashboard.figures import regions as rf
from dashboard.figures import teaching as tf

LABELS = {"finetune": "fine-tuning", "l2": "L2-transfer", "ewc": "EWC"}


def _markup(line: str) -> str:
    """A narration line as HTML: escaped, with **bold** kept."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(line))


def _points(pair, task: int) -> dict:
    data = pair.benchmark.tasks[task - 1]
    return {"points": data.x_test.numpy(), "labels": data.y_test.numpy()}


def _acc(record: dict, after: int, task: int) -> str:
    return narrate.fmt(record["tasks"][after - 1]["metrics"]["accuracy"][task - 1], 2)


def task_step(pair, task: int, about: str = "") -> Step:
    """The slider step of one task: network, regions, the DEN / comparison rows, then the narration and ``about``."""
    record = pair.den.record
    # sized for a 1024x768 projector under the page's slider bar: the network is the first thing on screen
    figures = [tf.neuron_network_figure(record, task, pair.frames[task - 1], max_edges=80, height=560, width_px=975)]
    panels = [{"title": f"{t}: {record['tasks'][t - 1]['name']}", "region": pair.frames[task - 1]["regions"][t - 1],
               "note": f"acc {_acc(record, task, t)}", **_points(pair, t)} for t in range(1, task + 1)]  # fmt: skip
    figures.append(rf.regions_figure(panels, height=240))
    story = narrate.narrate_task(record, task)
    text = f"<h2>{html.escape(story[0])}</h2><ul>" + "".join(f"<li>{_markup(s)}</li>" for s in story[1:]) + "</ul>"
    if pair.other is not None and len(pair.other.record["tasks"]) >= task:
        label = LABELS.get(pair.spec.compare, pair.spec.compare)
        rows = [("DEN", record, [f["regions"][0] for f in pair.frames[:task]]),
                (label, pair.other.record, [r[0] for r in pair.other_regions[:task]])]  # fmt: skip
        grid = [(name, [{"region": regions[t - 1], "note": f"acc {_acc(rec, t, 1)}", **_points(pair, 1)}
                        for t in range(1, task + 1)]) for name, rec, regions in rows]  # fmt: skip
        figures.append(rf.comparison_figure(grid, [f"after task {t}" for t in range(1, task + 1)]))
        other = {"tasks": pair.other.record["tasks"][:task]}
        text += f"<p>{_markup(narrate.compare_first_task({'tasks': record['tasks'][:task]}, other, label))}</p>"
    return Step(f"Task {task}: {record['tasks'][task - 1]['name']}", figures, text + about, text_last=True)


INTRO = (
    "<p>A Dynamically Expandable Network learned these 2-D tasks one after another. Move the slider (or press ← →) "
    "to step through the tasks. Each square in the network is one neuron: its input before the ReLU over the "
    "plane, <b>blue where it fires, red where it is silent</b>. Border colour = the task it was born in; "
    "<b>R</b> = retrained at that task; ◇ = a split copy (dashed arc to its original); faded = a retired original. "
    "The big square on top is the task's answer (amber = class 0, teal = class 1).</p>"
)


def lesson_html(pair) -> str:
    """The whole lesson page for the tasks ``pair`` has learned so far."""
    if not pair.tasks_done:
        raise ValueError("no task is learned yet: train at least one task first")
    config = pair.den.record.get("config", {})
    settings = (f"<p>Settings: hidden units {config.get('hidden_sizes')}, k = {config.get('expand_units')}, "
                f"τ = {config.get('loss_threshold')}, σ = {config.get('split_threshold')}, "
                f"seed {config.get('seed')}.</p>")  # fmt: skip
    steps = [task_step(pair, t, INTRO + settings) for t in range(1, pair.tasks_done + 1)]  # the network first
    return standalone_page("DEN lesson: " + ", ".join(pair.spec.order[: pair.tasks_done]), steps, "", 0)
