"""``DEN_WORKERS=0``: the pool's units run in a thread of the web server itself (how the app trained before the pool).

For one user on their own machine this saves the worker processes' memory (a few hundred
megabytes each) and their start-up; it is also the baseline the pool is measured against
(docs/performance.md). Every job still goes through the same fair queue, one unit at a
time, so a second tab waits its turn instead of fighting for the cores, but training
shares the interpreter with the pages: with more than one user, use worker processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dashboard.workers.units import UnitContext, error_info, run_unit


class ThreadSlot:
    """One training thread in the server process, with the ``ProcessSlot`` interface."""

    kind = "thread"

    def __init__(self, index: int, on_message: Callable) -> None:
        self.index, self.on_message = index, on_message
        self.pid = None
        self._cache: dict = {}
        self._stop = threading.Event()

    def run(self, kind: str, payload: dict, cores: int) -> None:
        """Start a unit in a fresh thread; a new stop flag for it, so a late stop never hits the next unit."""
        self._stop = stop = threading.Event()
        threading.Thread(target=self._unit, args=(kind, payload, cores, stop), daemon=True,
                         name=f"den-trainer-{self.index}").start()  # fmt: skip

    def _unit(self, kind: str, payload: dict, cores: int, stop: threading.Event) -> None:
        ctx = UnitContext(lambda k, d: self.on_message(self, k, d), stop.is_set, self._cache, cores)
        try:
            result = run_unit(kind, payload, ctx)
        except Exception as exc:  # noqa: BLE001 - the page shows it; the pool logs a bug's trace
            self.on_message(self, "error", error_info(exc))
            return
        self.on_message(self, "done", result)

    def stop(self) -> None:
        """Ask the running unit to stop at its next step."""
        self._stop.set()

    def restart(self) -> None:
        """Nothing to restart: a thread that failed reported its error."""

    def close(self) -> None:
        """Stop the running unit, if any."""
        self._stop.set()
