"""The registry of learning methods a run can use: DEN, its ablations and the baselines.

A method is a config class (a frozen dataclass with defaults and validation), a way to
build the task-1 network, and a ``train_task(net, n_outputs, ctx) -> net`` that learns
one task on a copy of the network (den_engine.core.den's contract). Every method writes the
same run records, so every view and metric works for all of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from den_engine.core import den
from den_engine.core.config import DENConfig
from den_engine.core.errors import ConfigError
from den_engine.core.network import ExpandableNet


@dataclass(frozen=True)
class Method:
    """One learning method: its name, config class and per-task routine."""

    name: str
    description: str
    config_class: type
    train_task: Callable
    prepare: Callable = staticmethod(lambda config: config)  # forces a variant's fixed fields
    sequential: bool = True  # False for methods that see every task at once (MTL)

    def create_net(
        self, input_dim: int, config, generator: torch.Generator, device, input_shape: tuple[int, ...] | None = None
    ) -> ExpandableNet:
        """The network before task 1 (conv layers, when the config has them, read images of ``input_shape``)."""
        return ExpandableNet(
            input_dim,
            tuple(config.hidden_sizes),
            generator,
            device,
            conv_channels=tuple(getattr(config, "conv_channels", ())),
            kernel_size=getattr(config, "kernel_size", 5),
            input_shape=input_shape,
        )

    def __reduce__(self):
        # A method travels between processes (the dashboard's training workers) by its
        # registered name: its routines are plain functions of the registry, not data.
        return get_method, (self.name,)


def _fixed(**values) -> Callable:
    def prepare(config):
        return dataclasses.replace(config, **values)

    return prepare


METHODS: dict[str, Method] = {
    "den": Method("den", "DEN: selective retraining, dynamic expansion and split (the full method)",
                  DENConfig, den.train_task),
    "den-expand": Method("den-expand", "DEN ablation: selective retraining and expansion, no split (sigma = inf)",
                         DENConfig, den.train_task, _fixed(split_threshold=math.inf)),
    "den-selective": Method("den-selective", "DEN ablation: selective retraining only (tau = sigma = inf)",
                            DENConfig, den.train_task, _fixed(loss_threshold=math.inf, split_threshold=math.inf)),
}  # fmt: skip


LOOKUP_HOOKS: list[Callable[[], None]] = []
"""Called before a name is looked up in vain or the names are listed (den_engine.methods.user loads DEN_PLUGINS)."""


def _run_hooks() -> None:
    for hook in LOOKUP_HOOKS:
        hook()


def register(method: Method) -> None:
    """Add a method to the registry (den_engine.methods.baselines registers itself on import)."""
    METHODS[method.name] = method


def get_method(name: str) -> Method:
    """The method called ``name``, or a ConfigError listing the known ones."""
    if name not in METHODS:
        _run_hooks()
    if name not in METHODS:
        raise ConfigError("method", f"unknown method {name!r}; choose one of {sorted(METHODS)} (a method of your own: "
                          "load its file with --plugin FILE.py or DEN_PLUGINS)")  # fmt: skip
    return METHODS[name]


def method_names() -> list[str]:
    """Every registered method, DEN first (with DEN_PLUGINS' methods)."""
    _run_hooks()
    return list(METHODS)
