"""How many torch threads a run uses: chosen from the size of its work and the cores it may use.

Small networks lose to thread hand-offs: on a 2-core machine that other processes keep
busy, a 5-task digits run took 13-14 s with one thread and 17-114 s with two. So a
run uses one thread unless both one step and one stage are large (the paper preset
on MNIST), and then every core it may use. A config's ``threads`` field (the CLI's
``--threads``) overrides the choice; a sweep caps the cores of each worker
(``limit_cores``), so its records do not depend on how many jobs run side by side.
The choice is recorded in ``run.json`` under ``compute``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

STEP_WORK = 20e6
"""Multiply-adds per step below which one thread is faster than several."""
STAGE_WORK = 1e11
"""Multiply-adds per stage below which a run is too short to gain from more threads."""

_LIMIT = [0]  # cores this process may use; 0 = every core it is allowed to run on


def limit_cores(n: int) -> None:
    """Cap the cores every later run in this process may use (a sweep worker's share); 0 lifts it."""
    _LIMIT[0] = max(0, int(n))


def cores_available() -> int:
    """Cores this process may run on (its CPU affinity), within ``limit_cores``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _LIMIT[0]) if _LIMIT[0] else cores)


def step_work(input_dim: int, config) -> float:
    """Multiply-adds of one forward pass of a batch through the base network."""
    sizes = [input_dim, *getattr(config, "hidden_sizes", ()), 1]
    return float(config.batch_size) * sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))


def choose_threads(input_dim: int, config, cores: int | None = None) -> dict:
    """The thread count of a run and why: {"threads", "chosen_by", "cores", "step_work"}."""
    cores = cores or cores_available()
    work = step_work(input_dim, config)
    asked = getattr(config, "threads", 0) or 0
    if asked:
        return {"threads": int(asked), "chosen_by": "config", "cores": cores, "step_work": work}
    big = work >= STEP_WORK and work * getattr(config, "iterations", 1) >= STAGE_WORK
    return {"threads": cores if big else 1, "chosen_by": "policy", "cores": cores, "step_work": work}


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch threads, restoring the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
