"""DEN's behaviour on the real MNIST digits (fast preset, two tasks, a few seconds each).

After task 1 the network is clearly sparse; selective retraining picks a strict subset
of the units; expansion fires or not with tau, splitting fires or not with sigma.
"""

import math

import pytest

from den_engine.core.config import preset
from den_engine.core.runner import Trainer

pytestmark = pytest.mark.slow


def two_tasks(**overrides):
    config = preset("fast", device="cpu", **overrides)
    trainer = Trainer(config, "mnist-one-vs-rest", 2)
    trainer.run()
    return trainer.record["tasks"]


def event(snapshot, kind):
    return next((e for e in snapshot["events"] if e["type"] == kind), None)


@pytest.fixture(scope="module")
def default_run():
    return two_tasks()


def test_first_task_leaves_a_clearly_sparse_network(default_run):
    sparsity = default_run[0]["sparsity"]
    assert all(s >= 0.25 for s in sparsity), sparsity


def test_selective_retraining_selects_a_strict_subset(default_run):
    counts = event(default_run[1], "selection")["counts"]
    assert all(0 < selected <= candidates for selected, candidates in counts)
    assert sum(s for s, _ in counts) < sum(c for _, c in counts), counts


@pytest.fixture(scope="module")
def frozen_run():
    return two_tasks(loss_threshold=math.inf, split_threshold=math.inf)[1]


def test_expansion_depends_on_tau(default_run, frozen_run):
    fired = event(default_run[1], "expansion_decision")
    assert fired["expand"] is True and fired["loss"] > fired["loss_threshold"]
    assert sum(len(ids) for ids in event(default_run[1], "expansion")["added"]) > 0
    assert event(frozen_run, "expansion_decision")["expand"] is False
    assert event(frozen_run, "expansion") is None


def test_split_depends_on_sigma(frozen_run):
    assert event(frozen_run, "split")["pairs"] == []
    assert frozen_run["layer_sizes"][1:] == list(preset("fast").hidden_sizes)
    splitting = two_tasks(loss_threshold=math.inf, split_threshold=0.0)[1]
    pairs = event(splitting, "split")["pairs"]
    assert len(pairs) > 0
    assert splitting["layer_sizes"][1:] == [
        size + sum(p["layer"] == layer for p in pairs) for layer, size in enumerate(preset("fast").hidden_sizes, 1)
    ]
