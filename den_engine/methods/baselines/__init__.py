"""The paper's baselines (Section 4), registered in the method registry on import.

Each writes the same run records as DEN: fine-tuning, L2-transfer, EWC and MTL on one
fixed network; progressive networks and STL as one column per task. See the modules
for what each trains: ``shared`` (one network), ``columns`` (columns), ``ewc`` (Fisher).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from den_engine.methods.baselines.columns import column_parameter_count, train_progressive, train_stl
from den_engine.methods.baselines.configs import (
    BaselineConfig,
    EWCConfig,
    FinetuneConfig,
    L2Config,
    MTLConfig,
    ProgressiveConfig,
    STLConfig,
)
from den_engine.methods.baselines.shared import train_ewc, train_finetune, train_l2, train_mtl
from den_engine.methods.registry import Method, register

__all__ = [
    "Baseline",
    "BaselineConfig",
    "EWCConfig",
    "FinetuneConfig",
    "L2Config",
    "MTLConfig",
    "ProgressiveConfig",
    "STLConfig",
]


@dataclass(frozen=True)
class Baseline(Method):
    """A method with an optional parameter counter ``net -> (total, non-zero)`` for its records."""

    count_parameters: Callable | None = None


for _method in (
    Baseline("finetune", "Fine-tuning: one network, every hidden weight retrained per task (weight decay only)",
             FinetuneConfig, train_finetune),
    Baseline("l2", "L2-transfer: fine-tuning pulled toward the previous task's weights (lambda/2 ||W - W^{t-1}||^2)",
             L2Config, train_l2),
    Baseline("ewc", "EWC: fine-tuning with a diagonal-Fisher penalty summed over past tasks",
             EWCConfig, train_ewc),
    Baseline("progressive", "Progressive networks: a new column per task, lateral connections from frozen columns",
             ProgressiveConfig, train_progressive, count_parameters=partial(column_parameter_count, lateral=True)),
    Baseline("stl", "STL: one separate network per task (counted as T networks)",
             STLConfig, train_stl, count_parameters=partial(column_parameter_count, lateral=False)),
    Baseline("mtl", "MTL: one network trained jointly on every task so far (an upper reference, not sequential)",
             MTLConfig, train_mtl, sequential=False),
):  # fmt: skip
    register(_method)
