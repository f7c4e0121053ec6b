"""The hooks a caller passes to a run (``Callbacks``): the engine reports through them and prints nothing.

The CLI and the dashboard follow training with them; ready loggers (den_engine.records.live)
join in front of the caller's own hooks, so what a logger writes is there when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from den_engine.core.den import Event
from den_engine.core.training import ProgressFn


@dataclass
class Callbacks:
    """Hooks a caller passes in to follow training live; the engine prints nothing."""

    on_event: Callable[[Event], None] | None = None
    on_progress: ProgressFn | None = None
    on_task_end: Callable[[dict], None] | None = None
    should_stop: Callable[[], bool] | None = None
    loggers: list = field(default_factory=list)
    """Ready loggers that write while the run trains (den_engine.records.live: TensorBoardLogger, CSVLogger)."""

    def joined(self) -> Callbacks:
        """The hooks the trainer calls: every logger's first, then the caller's own."""
        if not self.loggers:
            return self
        return Callbacks(
            on_event=_chain([lg.on_event for lg in self.loggers], self.on_event),
            on_progress=_chain([lg.on_progress for lg in self.loggers], self.on_progress),
            on_task_end=_chain([lg.on_task_end for lg in self.loggers], self.on_task_end),
            should_stop=self.should_stop,
        )


def _chain(hooks: list[Callable], last: Callable | None) -> Callable:
    hooks = [*hooks, last] if last is not None else hooks

    def call(*args) -> None:
        for hook in hooks:
            hook(*args)

    return call
