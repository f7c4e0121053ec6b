"""What the Learn page trains: DEN and a comparison method on the same 2-D tasks, one task at a time.

``PairTrainer`` trains both methods one task at a time (nothing written to disk) and keeps a
*frame* per task: every unit's picture, every task's decision region, the weights. A worker
gets the pair, trains one task and sends it back (``dashboard.workers.units.learn_unit``);
``learn_session.LearnSession`` queues those tasks and follows them for the page. This module
knows nothing of sessions or the pool, so a worker imports it alone.

Threads: the tiny 2-D networks train several times faster on one thread than on two busy
ones (PyTorch's parallel kernels cost more than they save at this size). PyTorch's OpenMP
thread count is per thread, so the job sets it to 1 in the thread that trains and restores it.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from dashboard.figures import neurons
from dashboard.state import custom_task
from dashboard.state.url_state import LearnState
from den_engine import Callbacks, DENConfig, Trainer
from den_engine.core.config import ConfigError, preset
from den_engine.data.benchmarks import Benchmark, load_benchmark
from den_engine.methods import get_method, method_names

PAUSES = {"slow": 4.0, "normal": 1.5, "fast": 0.0}
"""Seconds Play waits between tasks, so the class can read what just happened."""
TEACHING_OVERRIDES = dict(head_iterations=100, batch_size=64, l1_strength=1e-4, learning_rate=1e-2)
"""On top of the fast preset: see the module docstring of app_pages/learn.py for why."""


@dataclass(frozen=True)
class LearnSpec:
    """What a Learn run trains: DEN's config, the task order, the method and the comparison."""

    config: DENConfig
    order: tuple[str, ...]
    method: str = "den"
    compare: str | None = "finetune"
    custom: str = ""
    """The class's own task as link text, used where ``order`` names custom_task.NAME."""


def available_compare(names: tuple[str, ...]) -> tuple[str, ...]:
    """The comparison methods of ``names`` that the engine has registered (plus "none")."""
    known = set(method_names())
    return tuple(n for n in names if n == "none" or n in known)


def spec_from_state(state: LearnState) -> LearnSpec:
    """A validated LearnSpec from the page state (ConfigError names a bad field)."""
    config = preset(
        "fast",
        **TEACHING_OVERRIDES,
        hidden_sizes=state.hidden_sizes,
        expand_units=state.expand_units,
        loss_threshold=state.loss_threshold,
        split_threshold=state.split_threshold,
        group_lasso=state.group_lasso,
        iterations=state.iterations,
        seed=state.seed,
        device="cpu",
        preset="teaching",
    )
    compare = state.compare if state.compare in available_compare((state.compare,)) else None
    if custom_task.NAME in state.tasks and not state.custom:
        raise ConfigError("tasks", f"the task “{custom_task.NAME}” has no points yet: draw some or upload a CSV")
    custom = state.custom if custom_task.NAME in state.tasks else ""
    return LearnSpec(config, tuple(state.tasks), state.method, None if compare == "none" else compare, custom)


def comparison_config(config: DENConfig, method: str):
    """``method``'s config with every field it shares with DEN's ``config`` (same budget and seed)."""
    cls = get_method(method).config_class
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls) if hasattr(config, f.name)}
    return cls(**shared)


def learn_benchmark(seed: int, order: tuple[str, ...], custom: str = "") -> Benchmark:
    """The toy-2d tasks in ``order``, with the class's own task (``custom`` link text) where it is named."""
    toy = tuple(n for n in order if n != custom_task.NAME)
    bench = load_benchmark("toy-2d", seed=seed, order=toy or ("blobs",))
    if custom_task.NAME not in order:
        return bench
    own = custom_task.task_data(custom_task.from_text(custom), seed)
    by_name = {t.name: t for t in bench.tasks} | {custom_task.NAME: own}
    return dataclasses.replace(bench, tasks=tuple(by_name[n] for n in order))


def make_trainer(
    config, order: tuple[str, ...], method: str, callbacks: Callbacks | None = None, custom: str = ""
) -> Trainer:
    """A Trainer on the toy-2d tasks in ``order`` (kept in memory only)."""
    trainer = Trainer(config, "toy-2d", len(order), callbacks=callbacks, method=method)
    # The Trainer loads the benchmark's default order; swap in the chosen one before any
    # task trains (initial weights come from the seed alone, not from the data).
    trainer.benchmark = learn_benchmark(config.seed, order, custom)
    trainer.record["benchmark"]["task_names"] = list(order)
    return trainer


@contextmanager
def single_thread():
    """Run the block with one PyTorch thread in this thread (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PairTrainer:
    """DEN (or an ablation) and an optional comparison method, trained task by task in step."""

    def __init__(self, spec: LearnSpec, den_callbacks: Callbacks, other_callbacks: Callbacks) -> None:
        self.spec = spec
        self.den = make_trainer(spec.config, spec.order, spec.method, den_callbacks, spec.custom)
        self.other = None
        if spec.compare:
            self.other = make_trainer(comparison_config(spec.config, spec.compare), spec.order, spec.compare,
                                      other_callbacks, spec.custom)  # fmt: skip
        self.benchmark = self.den.benchmark
        self.frames: list[dict] = []
        self.other_regions: list[list] = []
        self.on_start = None  # (task) -> None, before DEN starts a task

    def close(self) -> None:
        """Let go of both trainers' run folders (the Learn page keeps its runs in memory: nothing to do on disk)."""
        for trainer in (self.den, self.other):
            if trainer is not None:
                trainer.close()

    @property
    def tasks_done(self) -> int:
        """Tasks both methods have learned."""
        return len(self.frames)

    @property
    def finished(self) -> bool:
        """True once every task of the sequence is learned by both."""
        return self.tasks_done >= len(self.benchmark.tasks)

    def train_next(self) -> dict:
        """Learn the next task with both methods (a stopped half is finished on the next call)."""
        task = self.tasks_done + 1
        with single_thread():
            if self.den.tasks_done < task:
                if self.on_start is not None:
                    self.on_start(task)
                self.den.train_next()
            if self.other is not None and self.other.tasks_done < task:
                self.other.train_next()
                self.other_regions.append(neurons.regions_only(self.other.net, task))
            self.frames.append(neurons.frame(self.den.net, task))
        return self.den.record["tasks"][-1]
