"""How a search's trials advance: one task per job, each stop decided against every earlier trial at that task.

A trial used to run whole in one job, judged only against the trials finished before it was
asked. With ``--jobs 2`` that left the first four trials with no reference at all and every
later one with the few finished four trials back, so the costly settings sampled early (tiny
σ: a network the size of STL's, the slowest trials) always ran to the end. Here a job is one
step of a trial: decide the stop after its last finished task, then train the next task
(``SweepJob.stop["until"]``, den_engine.experiments.sweep_jobs). The decision after task t
compares the trial with every earlier-numbered trial's point at task t, finished or not, so it
waits until each earlier trial has passed task t or ended; a waiting trial holds no worker (the
worker takes another trial's step), and the lowest-numbered trial, which waits for no one of
this process, always goes first, so the search never stalls. Which trials stop, and where,
then depends only on the trials, not on the timing or the backend.

Trials of another process sharing the folder are compared as far as their records go, without
waiting (two processes on one folder give up determinism anyway).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from den_engine.core.errors import DENError
from den_engine.experiments.search_rule import record_points
from den_engine.experiments.sweep_jobs import SweepJob, outcome_row, stopped_early
from den_engine.records.store import RUN_FILE, load_run


@dataclass
class TrialSteps:
    """What this process knows of one of its trials: its points so far, whether a step runs, its end."""

    points: list = field(default_factory=list)
    busy: bool = False
    first_how: str | None = None  # how its first step found the run: trained, resumed, reused
    row: dict | None = None  # the outcome once the trial has ended (complete, stopped early, diverged, failed)


def references(state, number: int, task: int, mine: dict[int, TrialSteps]) -> dict | None:
    """{earlier trial: its points up to ``task``} to judge trial ``number`` by; None while one must be waited for."""
    found = {}
    for frozen in state.trials()[:number]:
        other = mine.get(frozen.number)
        if other is not None:
            if other.row is None and len(other.points) < task:
                return None  # an earlier trial of ours has not reached this task yet
            points = other.points
        else:
            points = state.points_of(frozen)
        if len(points) >= task:
            found[str(frozen.number)] = [list(p) for p in points[:task]]
    return found


def next_step(state, number: int, mine: dict[int, TrialSteps]) -> SweepJob | None:
    """The job that advances trial ``number`` by one task (the whole trial without early stopping); None to wait."""
    if not state.spec["early_stop"]:
        return state.job(number)
    done = len(mine[number].points)
    refs = references(state, number, done, mine) if done else {}
    return None if refs is None else state.job(number, refs, done + 1)


def _record(job: SweepJob) -> dict | None:
    if not (Path(job.run_dir) / RUN_FILE).is_file():
        return None
    try:
        return load_run(job.run_dir).data
    except DENError:
        return None


def after_step(state, trial: TrialSteps, job: SweepJob, row: dict) -> bool:
    """Take in a step's outcome; True when the trial has ended (``trial.row`` then says how)."""
    trial.busy = False
    record = _record(job)
    before = len(trial.points)
    trial.points = [list(p) for p in record_points(record, state.spec["score"], state.spec["size"])] if record else []
    trial.first_how = trial.first_how or row.get("how", "")
    how = row.get("how", "")
    if how.startswith("failed") or record is None:
        trial.row = row
    elif stopped_early(record):
        trial.row = {**row, "how": "stopped early"}
    elif record["status"] in ("complete", "diverged"):
        trial.row = {**row, "how": trial.first_how if record["status"] == "complete" else "diverged"}
    elif len(trial.points) <= before:  # a step that learned nothing would be asked again for ever
        trial.row = outcome_row(job, record, f"failed: a step of the trial learned no task (status {record['status']})")
    return trial.row is not None


def drive(state, pool, n_trials: int, jobs: int, lag: int, say: Callable[[str], None]) -> None:
    """Ask, step and tell trials until the study holds ``n_trials`` finished ones; ``pool`` runs the steps."""
    mine: dict[int, TrialSteps] = {}
    order: deque[int] = deque()  # this process's trials not yet told, in the order asked
    for frozen in state.orphans():  # a killed search's trials: finished ones are told, the rest resumed
        state.adopt(frozen)
        order.append(frozen.number)
        job = state.job(frozen.number)
        record = _record(job)
        trial = mine[frozen.number] = TrialSteps(record_points(record, state.spec["score"], state.spec["size"])
                                                  if record else [])  # fmt: skip
        if state.finished_record(job) is not None:
            trial.row = {"how": "reused"}
        else:
            trial.first_how = "resumed" if trial.points else None
            say(f"trial {frozen.number}: resumed from {job.name}")
    running = 0
    while True:
        while len(order) < lag and len(state.trials()) < n_trials:
            number = state.ask()
            order.append(number)
            mine[number] = TrialSteps()
        if order and mine[order[0]].row is not None:  # told in the order asked: the next ask sees the same trials
            state.tell(order[0], mine[order.popleft()].row)
            continue
        if not order:
            return
        for number in sorted(n for n, t in mine.items() if t.row is None and not t.busy):
            if running >= jobs:
                break
            job = next_step(state, number, mine)
            if job is not None:
                pool.submit(job)
                mine[number].busy = True
                running += 1
        if not running:  # cannot happen: the lowest-numbered open trial of ours waits for no one
            raise DENError(f"den search: no trial step can run (open trials {sorted(order)})")
        job, row = pool.wait()
        running -= 1
        if after_step(state, mine[job.index], job, row):
            say(f"trial {job.index}: {mine[job.index].row['how']} {job.values}")
