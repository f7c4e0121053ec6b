"""What a comparison or a tuning will cost, known before it trains: every run against memory, the wall time.

``compare`` and ``tune`` list the runs they are about to make (``Planned``) and call
``check_cost`` before they write anything: a run whose network could not fit at its largest
is refused with the ConfigError of ``den_engine.core.budget.check_memory`` (naming the
field, the estimate and the free memory), and the wall time of the runs still to train is
estimated with ``budget.serial_seconds``, since a comparison trains its runs one after
another in one process, each at the threads it chooses. A finished run that will be reused
costs nothing and is not checked: it does not train again; a partial one that resumes is
costed whole, erring high. The whole check takes well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from den_engine.core import budget
from den_engine.core.config import bind_preset
from den_engine.core.runner import resolve_device
from den_engine.data.sources import data_info
from den_engine.methods import get_method


@dataclass(frozen=True)
class Planned:
    """One run a comparison or a tuning is about to make."""

    method: str
    config: object
    finished: bool = False
    """A finished run of exactly this setting is there already: it is reused, not trained."""


@dataclass(frozen=True)
class Cost:
    """The estimated wall time of the runs still to train, and how many there are."""

    seconds: float
    to_train: int
    reused: int


def check_cost(planned: list[Planned], benchmark: str, n_tasks: int) -> Cost:
    """Refuse (ConfigError) a run that could not fit in free memory; estimate the wall time of the rest."""
    input_dim = math.prod(data_info(benchmark).input_shape)
    runs = []
    for run in planned:
        if run.finished:
            continue
        config = get_method(run.method).prepare(bind_preset(run.config, benchmark))  # what the Trainer checks
        budget.check_memory(config, input_dim, n_tasks, resolve_device(config.device).type)
        runs.append((config, input_dim, n_tasks))
    return Cost(budget.serial_seconds(runs), len(runs), len(planned) - len(runs))


def cost_lines(cost: Cost, what: str = "this comparison") -> list[str]:
    """The estimate shown before training starts, and the over-an-hour note when it is longer."""
    if not cost.to_train:
        return [f"estimated 0 s: all {cost.reused} runs are finished already and reused"]
    runs = f"{cost.to_train} run{'s' if cost.to_train != 1 else ''}"
    about = "under 1 s" if cost.seconds < 1 else budget.human_seconds(cost.seconds)
    line = f"estimated {about} for {runs}, one after another"
    if cost.reused:
        line += f" ({cost.reused} finished {'ones' if cost.reused != 1 else 'one'} reused)"
    note = budget.long_run_note(cost.seconds, f"{what} of {runs}")
    return [line, note] if note else [line]
