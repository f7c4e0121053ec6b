"""What a training worker runs: one unit of a job, reporting as it goes.

A unit is one task of a Train run (the run's folder is the state: the worker claims it,
trains the next task, commits it and lets go), one task of a Learn pair (the pair travels
to the worker and back, pickled: its networks are a few hundred kilobytes) or one run of a
Compare-page sweep. Every unit returns a dict; ``"stopped": True`` says a Stop (or a closed
tab) ended it early, with every finished task kept.

The same functions run inside a worker process (``process``), on a Ray node, and inline in
the page's own thread when ``DEN_SYNC_TRAINING`` asks for it (the page tests), so the three
paths cannot drift apart.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from den_engine import Callbacks, DENError, Trainer, TrainingStopped
from den_engine.core.threads import limit_cores
from den_engine.data.benchmarks import BenchmarkError
from den_engine.records.claim import claim_run_folder
from den_engine.records.store import RUN_FILE

PROGRESS_EVERY_S = 0.1
"""Progress reaches the server at most this often (the page polls twice a second)."""
CACHED_RUNS = 2
"""Train runs a worker keeps loaded between units, so the next task of a run skips reloading it."""


class UnitContext:
    """A unit's line to the server: ``emit`` a message, ask ``should_stop``; ``cache`` outlives the unit."""

    def __init__(self, send: Callable[[str, object], None], should_stop: Callable[[], bool], cache: dict,
                 cores: int = 1) -> None:  # fmt: skip
        self.send, self.should_stop, self.cache, self.cores = send, should_stop, cache, cores
        self._last = (0.0, "")

    def emit(self, kind: str, data: object = None) -> None:
        """Send one message to the job's session."""
        self.send(kind, data)

    def progress(self, stage: str, iteration: int, total: int, loss: float) -> None:
        """Training progress, thinned to one message per PROGRESS_EVERY_S (a new stage always goes)."""
        now = time.monotonic()
        if stage == self._last[1] and now - self._last[0] < PROGRESS_EVERY_S and iteration < total:
            return
        self._last = (now, stage)
        self.send("progress", (stage, iteration, total, float(loss)))


def _stamp(run_dir: Path) -> tuple[int, int] | None:
    try:
        info = (run_dir / RUN_FILE).stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _train_trainer(payload: dict, ctx: UnitContext, callbacks: Callbacks) -> Trainer:
    """The payload's run, claimed for this unit: new, kept from the last unit, or resumed from its folder."""
    run_dir = Path(payload["run_dir"])
    cache: OrderedDict = ctx.cache.setdefault("runs", OrderedDict())
    if payload["create"]:
        spec = payload["spec"]
        trainer = Trainer(spec.config, spec.benchmark, spec.n_tasks, out_dir=run_dir, callbacks=callbacks,
                          method=spec.method)  # fmt: skip
        ctx.emit("created", {"n_tasks": len(trainer.benchmark.tasks)})
        return trainer
    kept = cache.pop(str(run_dir), None)
    if kept is not None and kept[1] == _stamp(run_dir):  # nobody trained it since this worker did
        trainer = kept[0]
        trainer.owner = claim_run_folder(run_dir, "resume")
        if _stamp(run_dir) == kept[1]:
            trainer.callbacks = callbacks
            return trainer
        trainer.close()  # changed between the look and the claim: load what is there now
    return Trainer.resume(run_dir, callbacks)


def train_unit(payload: dict, ctx: UnitContext) -> dict:
    """Train the next task of a run on disk (payload: spec, run_dir, create)."""
    limit_cores(ctx.cores)
    callbacks = Callbacks(on_progress=ctx.progress, should_stop=ctx.should_stop,
                          on_task_end=lambda snapshot: ctx.emit("task", {"task": snapshot["task"]}))  # fmt: skip
    trainer = _train_trainer(payload, ctx, callbacks)
    stopped, trained = False, not trainer.finished
    try:
        ctx.emit("task_start", trainer.tasks_done + 1)
        if trained:
            trainer.train_next()
    except TrainingStopped:
        stopped = True
    finally:
        trainer.close()
        trainer.callbacks = Callbacks()
        cache = ctx.cache.setdefault("runs", OrderedDict())
        cache[str(trainer.out_dir)] = (trainer, _stamp(Path(trainer.out_dir)))
        while len(cache) > CACHED_RUNS:
            cache.popitem(last=False)
    total = len(trainer.benchmark.tasks)
    return {"stopped": stopped, "trained": trained and not stopped, "tasks_done": trainer.tasks_done, "n_tasks": total,
            "finished": trainer.finished}  # fmt: skip


def learn_unit(payload: dict, ctx: UnitContext) -> dict:
    """Train the next task of a Learn pair (payload: spec, pair or None); returns the pair."""
    from dashboard.state.learn_pair import PairTrainer  # the worker imports the Learn code only when used

    den_cb = Callbacks(on_event=lambda event: ctx.emit("event", event), on_progress=ctx.progress,
                       should_stop=ctx.should_stop)  # fmt: skip
    other_cb = Callbacks(on_progress=lambda s, i, t, loss: ctx.progress(f"compare:{s}", i, t, loss),
                         should_stop=ctx.should_stop)  # fmt: skip
    pair = payload["pair"]
    if pair is None:
        pair = PairTrainer(payload["spec"], den_cb, other_cb)
    else:
        pair.den.callbacks = den_cb
        if pair.other is not None:
            pair.other.callbacks = other_cb
    pair.on_start = lambda task: ctx.emit("task_start", task)
    stopped = False
    try:
        pair.train_next()
    except TrainingStopped:
        stopped = True  # a half-learned task: the method that finished it keeps it, the next unit does the rest
    finally:
        pair.on_start = None
        for trainer in (pair.den, pair.other):
            if trainer is not None:
                trainer.callbacks = Callbacks()
    return {"stopped": stopped, "pair": pair}


def sweep_unit(payload: dict, ctx: UnitContext) -> dict:
    """Train (or resume, or reuse) one run of a sweep (payload: job, a SweepJob); returns its outcome row."""
    from den_engine.experiments.sweep_jobs import WORKER_THREADS, run_job

    if payload["job"] is None:
        return {"stopped": False, "row": None}  # another of the sweep's lanes took the last run
    limit_cores(WORKER_THREADS)  # as `den sweep`: a record does not depend on how many runs trained side by side
    try:
        row = run_job(payload["job"], progress=lambda event: ctx.emit("sweep", event), should_stop=ctx.should_stop)
    except TrainingStopped:
        return {"stopped": True}
    return {"stopped": False, "row": row}


UNITS: dict[str, Callable[[dict, UnitContext], dict]] = {
    "train": train_unit,
    "learn": learn_unit,
    "sweep": sweep_unit,
}


def is_user_error(exc: BaseException) -> bool:
    """True for a failure the user can act on (a setting, a file, a folder); False for a bug."""
    return isinstance(exc, (DENError, BenchmarkError, ValueError, OSError))


def error_info(exc: BaseException) -> dict:
    """What the server needs of a failed unit: the kind, the message, whether a user can fix it, the trace."""
    import traceback

    return {"type": type(exc).__name__, "message": str(exc), "user": is_user_error(exc),
            "diverged": type(exc).__name__ == "TrainingDiverged", "trace": traceback.format_exc()}  # fmt: skip


def run_unit(kind: str, payload: dict, ctx: UnitContext) -> dict:
    """Run one unit of ``kind`` (a KeyError names an unknown kind)."""
    return UNITS[kind](payload, ctx)
