"""The Learn page's figures and the boxes they are drawn in: built once where they can be shared, once per tab
and change otherwise (a class on one server reruns its pages far more often than their pictures change).

``stage_sizes`` sizes the first screen for the window; ``network_figure`` and the region panels are what it
shows; ``memo`` keeps a tab's figure until what it shows changes; ``coming_figure`` (the first task's points
before task 1) is shared by every tab. Every kept figure is ``sent``: cheap to draw again.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import streamlit as st

from dashboard import narrate
from dashboard.app_pages import learn_parts as parts
from dashboard.figures import regions as rf
from dashboard.figures import teaching as tf
from dashboard.figures.sent import sent
from dashboard.state.learn_session import learn_benchmark

# Pixels of the window above the network: navigation, buttons, status line (and the heading in normal mode).
ABOVE_NETWORK = {True: 220, False: 300}
MIN_NETWORK, MAX_NETWORK = 420, 900
# Content at least this wide holds the region and the story beside the network (a quarter of the width).
WIDE_PX = 1100
SIDE_SHARE = 0.25
# What of a run's record its figures can show (``_digest``), less the clock's readings in it.
RECORD_KEYS = ("run_id", "method", "seed", "benchmark", "config", "base_sizes")
CLOCK_KEYS = frozenset({"wall_time_s", "samples_per_s", "step_samples_per_s", "seconds", "created", "updated"})


def points(pair, task: int) -> dict:
    data = pair.benchmark.tasks[task - 1]
    return {"points": data.x_test.numpy(), "labels": data.y_test.numpy()}


def accuracy(record: dict, after: int, task: int) -> str:
    return narrate.fmt(record["tasks"][after - 1]["metrics"]["accuracy"][task - 1], 2)


def stage_sizes(presenter: bool, view: tuple[int, int]) -> dict:
    """The first screen's boxes (px) for content ``view[0]`` wide in a window ``view[1]`` high."""
    width, height = view
    wide = width >= WIDE_PX
    network_h = int(min(MAX_NETWORK, max(MIN_NETWORK, height - ABOVE_NETWORK[presenter])))
    side_w = width * SIDE_SHARE if wide else width / 3
    return {"wide": wide, "network_h": network_h, "network_w": width * (1 - SIDE_SHARE) - 12 if wide else width,
            "region_h": int(min(340, side_w + 30))}  # fmt: skip


def task_panel(pair, task: int) -> dict:
    record = pair.den.record
    return {"title": f"Task {task}: {record['tasks'][task - 1]['name']}",
            "region": pair.frames[task - 1]["regions"][task - 1],
            "note": f"accuracy {accuracy(record, task, task)}", **points(pair, task)}  # fmt: skip


def coming_panel(benchmark, task: int) -> dict:
    """The data of a task not learned yet, over a blank plane: what the class is about to see learned."""
    data = benchmark.tasks[task - 1]
    return {"title": f"Next: task {task}, {data.name}", "region": np.full((2, 2), 0.5), "note": "not learned yet",
            "points": data.x_test.numpy(), "labels": data.y_test.numpy()}  # fmt: skip


def memo(name: str, pair, key: tuple, build):
    """This tab's figure ``name`` for ``pair`` and ``key``, built again only when one of them changes.

    Every poll that sees the job move, every click and every key reruns the whole page, and most of those
    runs change nothing a figure shows; with a class on one server, rebuilding them was most of the server's
    work (plotly's layout updates above all).
    """
    store = st.session_state.setdefault("learn_figures", {})
    hit = store.get(name)
    if hit is None or hit[0] is not pair or hit[1] != key:
        hit = store[name] = (pair, key, _shared(name, _digest(pair, store), key, build))
    return hit[2]


@st.cache_resource(max_entries=128, show_spinner=False)
def _shared(name: str, digest: str, key: tuple, _build):
    """Figure ``name`` of every pair whose content has ``digest``, built once and shared by their tabs (read only).

    A class opens one lesson and presses Next together: the same link and seed train the same network in
    every tab, and each tab building its own copy of the same figures was most of the server's work after a
    task (30 tabs, 30 builds of each)."""
    built = _build()
    return [sent(f) for f in built] if isinstance(built, list) else sent(built)


def _digest(pair, store: dict) -> str:
    """A digest of what ``pair``'s figures show (kept per pair and task count): equal pairs share their figures."""
    kept = store.get("digest")
    if kept is not None and kept[0] is pair and kept[1] == pair.tasks_done:
        return kept[2]

    def shown(value):  # a record less its clock readings: they differ from tab to tab and are in no figure
        if isinstance(value, dict):
            return {k: shown(v) for k, v in value.items() if k not in CLOCK_KEYS}
        return [shown(v) for v in value] if isinstance(value, list) else value

    def head(record: dict | None):
        return None if record is None else {k: record.get(k) for k in (*RECORD_KEYS, "tasks")}

    other = pair.other.record if pair.other is not None else None
    content = (pair.spec, shown(head(pair.den.record)), pair.frames, shown(head(other)), pair.other_regions)
    digest = hashlib.blake2b(pickle.dumps(content, protocol=5), digest_size=16).hexdigest()
    store["digest"] = (pair, pair.tasks_done, digest)
    return digest


def network_figure(pair, task: int, presenter: bool, view: tuple[int, int], timeline: bool = False):
    """The network after ``task``, sized for the window, the neuron picked for its card ringed; with ``timeline``
    the lesson's timeline on its title line (while a task trains, in place of the slider)."""
    sizes = stage_sizes(presenter, view)
    parts.remember_click(st.session_state.get("learn_network"))  # a click of this rerun, before the figure
    picked = st.session_state.get("learn_neuron")

    def build():
        fig = tf.neuron_network_figure(pair.den.record, task, pair.frames[task - 1], max_edges=80,
                                       height=sizes["network_h"], font_size=17 if presenter else 15,
                                       width_px=sizes["network_w"], picked=picked, timeline=marks)  # fmt: skip
        return fig.update_layout(meta={**fig.layout.meta, "view": list(view)})  # the size it was drawn for

    marks = (pair.tasks_done, len(pair.benchmark.tasks)) if timeline else None
    return memo("network", pair, (pair.tasks_done, task, presenter, tuple(view), picked, marks), build)


@st.cache_data(max_entries=8, show_spinner=False)
def _benchmark(seed: int, order: tuple[str, ...], custom: str):
    return learn_benchmark(seed, order, custom)


@st.cache_resource(max_entries=32, show_spinner=False)
def coming_figure(seed: int, order: tuple[str, ...], custom: str, height: int, font: int):
    """The first task's points over the plane: built once per lesson and size, shared by every tab (read only).

    It is the costliest part of the page before task 1 (about 70 ms of the server's one interpreter);
    a class of thirty opening the same lesson draws it once.
    """
    bench = _benchmark(seed, order, custom)
    return sent(rf.regions_figure([coming_panel(bench, 1)], height=height, font_size=font))
