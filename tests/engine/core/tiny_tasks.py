"""Tiny tasks and configs shared by the stage tests: a 5-input network, 96 points a task."""

import torch

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
