"""The baselines' hyperparameters: one frozen dataclass per method, validated on creation.

Every baseline shares DEN's optimisation fields (so a preset gives every method of a
comparison the same budget: ``iterations`` steps per task, same step size and batch)
and adds its own regulariser. Checks are the generic ``validate`` plus each class's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from den_engine.core.config import ConfigBase, validate
from den_engine.core.errors import ConfigError


@dataclass(frozen=True)
class BaselineConfig(ConfigBase):
    """Fields every baseline shares (DEN's names and defaults)."""

    hidden_sizes: tuple[int, ...] = (312, 128)
    """Units per hidden layer (for progressive and STL: the size of one column)."""
    conv_channels: tuple[int, ...] = ()
    """Filters per conv layer below the hidden layers (DEN's conv backbone); empty = fully connected only."""
    kernel_size: int = 5
    """Side of every conv kernel (k x k, 'same' padding, then 2x2 max-pooling)."""
    learning_rate: float = 1e-3
    """Adam's step size at the start of every task."""
    lr_decay: float = 0.95
    """Multiplier applied to the step size after every epoch (staircase); 1 disables it."""
    decay_samples: int = 0
    """Training samples between two decays; 0 = one epoch of the task's data (the reference)."""
    batch_size: int = 256
    """Samples per optimisation step (per task, for MTL's joint steps)."""
    iterations: int = 4300
    """Optimisation steps per task."""
    weight_decay: float = 1e-4
    """Coefficient of 1/2 ||w||^2 on the tensors a task trains."""
    seed: int = 0
    """Seed of data splits, initialisation and batch order."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    threads: int = 0
    """torch threads for training; 0 = chosen from the network's size and the cores (recorded)."""
    preset: str = "custom"
    """Name of the preset these values came from (recorded in every run)."""

    def __post_init__(self) -> None:
        validate(self)
        self.check()

    def check(self) -> None:
        """The method's own checks (ConfigError naming the field)."""


@dataclass(frozen=True)
class FinetuneConfig(BaselineConfig):
    """Fine-tuning: one network, every hidden weight and the new head trained per task."""


@dataclass(frozen=True)
class L2Config(BaselineConfig):
    """L2-transfer: fine-tuning pulled toward the previous task's weights."""

    l2_transfer: float = 0.5
    """lambda: pull of 1/2 ||W - W^{t-1}||^2 on every hidden weight and bias (DEN's lambda)."""

    def check(self) -> None:
        if self.l2_transfer <= 0:
            raise ConfigError("l2_transfer", f"must be > 0 (0 is plain fine-tuning), got {self.l2_transfer!r}")


@dataclass(frozen=True)
class EWCConfig(BaselineConfig):
    """EWC: fine-tuning with a diagonal-Fisher penalty summed over the past tasks."""

    ewc_lambda: float = 1000.0
    """lambda: weight of sum_i 1/2 F_i (W - W*_i)^2 over past tasks i."""

    def check(self) -> None:
        value = self.ewc_lambda
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError("ewc_lambda", f"must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class ProgressiveConfig(BaselineConfig):
    """Progressive networks: a new column per task with lateral connections from older ones."""


@dataclass(frozen=True)
class STLConfig(BaselineConfig):
    """Single-task learning: one separate network (column) per task."""


@dataclass(frozen=True)
class MTLConfig(BaselineConfig):
    """Multi-task learning: one network trained jointly on every task seen so far."""
