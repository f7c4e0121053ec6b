"""The Learn page's session: its PairTrainer's tasks queued in the worker pool, followed live for the page.

``LearnSession`` reuses ``TrainingSession``'s queue, stop and status machinery and also
collects the events of the task in flight, so the page can narrate each stage as it happens.
The pair itself and the teaching config are ``learn_pair``'s (re-exported here for the pages).
"""

from __future__ import annotations

from dashboard.state.learn_pair import (  # noqa: F401 - the pages and tests import these from here
    PAUSES,
    TEACHING_OVERRIDES,
    LearnSpec,
    PairTrainer,
    available_compare,
    comparison_config,
    learn_benchmark,
    make_trainer,
    single_thread,
    spec_from_state,
)
from dashboard.state.session import TrainingSession


class LearnSession(TrainingSession):
    """A TrainingSession whose run is a PairTrainer (kept in memory, sent to a worker for each task).

    It records the live events of the task DEN is learning, so the page narrates each stage
    as it happens. Play's pauses between tasks are the pool's: the job waits in the queue,
    holding no worker.
    """

    kind = "learn"

    def submit(self, spec, count: int | None, pause_s: float = 0.0) -> bool:
        """Train ``count`` more tasks (None = all), pausing ``pause_s`` between tasks (not when sync)."""
        return super().submit(spec, count, 0.0 if self.sync else pause_s)

    def live_events(self) -> tuple[int, list[dict]]:
        """(task, events so far) of the task DEN is learning now."""
        with self._lock:
            live = self._status.extra
            return int(live.get("live_task", 0)), list(live.get("events", []))

    def _unit_guess(self, spec) -> float:
        return 5.0

    def _payload(self, spec: LearnSpec) -> dict:
        with self._lock:
            pair = self.trainer
            if pair is not None and (pair.tasks_done > 0 or self._status.spec == spec):
                return {"spec": pair.spec, "pair": pair}
            self._status.stage = "loading"
            self._status.spec = spec
            self._status.n_tasks, self._status.tasks_done = len(spec.order), 0
            self._status.version += 1
        return {"spec": spec, "pair": None}

    def _on_message(self, kind: str, data) -> None:
        if kind == "event":
            with self._lock:
                self._status.extra.setdefault("events", []).append(data)
        elif kind == "task_start":
            with self._lock:
                self._status.task = int(data)
                self._started_job()
                self._status.extra["live_task"] = int(data)
                self._status.extra["events"] = []
        elif kind == "progress":
            self._on_progress(*data)

    def _take_result(self, result: dict) -> bool:
        pair = result["pair"]
        with self._lock:
            self.trainer = pair
            self._status.tasks_done, self._status.n_tasks = pair.tasks_done, len(pair.benchmark.tasks)
            self._status.version += 1
            return pair.finished
