"""Each DEN stage checked against the paper's equations, one property per test.

Every test here is aimed at a wrong variant a re-implementation could write; the list
of variants and the check that each one fails lives in tests/mutation/.
"""

import torch

from den_engine.core import den
from den_engine.core.config import preset
from den_engine.core.den import TaskContext, train_task
from den_engine.core.network import ExpandableNet


def tiny_config(**overrides):
    values = dict(hidden_sizes=(12, 8), iterations=40, head_iterations=30, batch_size=32, seed=0)
    values.update(overrides)
    return preset("fast", **values)


def make_task(seed: int, n=96, d=5, outputs=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, outputs, generator=g)
    return x, (x @ w > 0).float()


def ctx_for(task, config, events=None, outputs=1):
    x, y = make_task(task, outputs=outputs)
    hook = None if events is None else events.append
    return TaskContext(task, x, y, config, torch.Generator().manual_seed(100 + task), on_event=hook)


def first_task(config, outputs=1):
    net = ExpandableNet(5, config.hidden_sizes, torch.Generator().manual_seed(0))
    return train_task(net, outputs, ctx_for(1, config, outputs=outputs))


def stage_ends(events):
    return {e["stage"]: e for e in events if e["type"] == "stage_end"}


def test_eq6_runs_after_every_task_even_when_nothing_splits():
    config = tiny_config(split_threshold=float("inf"), loss_threshold=float("inf"))
    net1 = first_task(config)
    events = []
    train_task(net1, 1, ctx_for(2, config, events))
    assert next(e for e in events if e["type"] == "split")["pairs"] == []
    assert stage_ends(events)["split_retraining"]["iterations"] == config.iterations


def test_eq6_moves_the_selected_units_when_nothing_splits(monkeypatch):
    config = tiny_config(split_threshold=float("inf"), loss_threshold=float("inf"))
    net1 = first_task(config)
    after_eq4 = {}
    original = den.split_units

    def spy(net, prev, ctx, touched):
        after_eq4["w"] = [w.clone() for w in net.weights]
        return original(net, prev, ctx, touched)

    monkeypatch.setattr(den, "split_units", spy)
    net2 = train_task(net1, 1, ctx_for(2, config))
    assert any(not torch.equal(a, b) for a, b in zip(after_eq4["w"], net2.weights, strict=True))
