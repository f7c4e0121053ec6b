"""What a conv filter responds to: its mean activation map over a task's test images (cached).

Computed in the dashboard from a run's saved weights and the benchmark's test inputs: the
engine rebuilds task t's network, the benchmark gives the task's test images, and each conv
layer's pooled maps (after ReLU) are averaged over them. Cached per run file, task and test
task, so clicking from filter to filter costs nothing after the first.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from dashboard.state.loaders import USER_ERRORS, load_run, run_mtime
from den_engine.data.benchmarks import load_benchmark

MAX_IMAGES = 2000  # a mean over this many test images is already steady; more only costs time


def mean_maps(run_dir: str, task: int, test_task: int) -> dict[int, np.ndarray]:
    """Layer number -> (filters, H, W) mean activation maps of task ``task``'s conv layers on ``test_task``'s
    test images; raises a USER_ERRORS error (or OSError) when the weights or the inputs cannot be had."""
    return _cached_maps(str(run_dir), run_mtime(run_dir), int(task), int(test_task))


@st.cache_data(max_entries=8, show_spinner="Running the task's test images through the network…")
def _cached_maps(run_dir: str, mtime: float, task: int, test_task: int) -> dict[int, np.ndarray]:
    del mtime  # a cache key only: a run that grows gets new maps
    run = load_run(run_dir)
    bench = run.data["benchmark"]
    benchmark = load_benchmark(bench["name"], bench["n_tasks"], seed=run.data["seed"])
    if not 1 <= test_task <= len(benchmark.tasks):
        raise ValueError(f"task {test_task} has no test images in this benchmark")
    net = run.network(task)
    x = benchmark.tasks[test_task - 1].x_test[:MAX_IMAGES].to(torch.float32)
    with torch.no_grad():
        outs = net.hidden(x, test_task)
    kinds = net.layer_kinds()
    return {l + 1: h.mean(dim=0).numpy() for l, h in enumerate(outs) if kinds[l] == "conv"}


def filter_map(run_dir: str, task: int, test_task: int, layer: int, row: int) -> tuple[np.ndarray | None, str]:
    """(the (H, W) mean map of filter ``row`` of conv ``layer``, '') or (None, why it is missing)."""
    try:
        maps = mean_maps(run_dir, task, test_task).get(layer)
    except (*USER_ERRORS, OSError, KeyError) as exc:
        return None, f"The activation map needs the run's weights and its benchmark's test images: {exc}"
    if maps is None or row >= maps.shape[0]:
        return None, f"Task {test_task} does not compute this filter."
    return maps[row], ""
