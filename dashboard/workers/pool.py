"""The training pool: every job of every page waits in one fair queue for a bounded set of workers.

The web server only queues, routes messages and draws; the workers train. A ``Job`` is what
a page asks for (train 1 task, train every remaining task, run a sweep) and is cut into
units (``units``). The dispatcher hands the next unit to a free worker, preferring the
worker that ran the job's last unit (it still has the run loaded). Between units a job goes
back to the end of its session's line, so sessions take turns (``queue.FairQueue``).

A job whose browser tab has gone (``Job.gone``) is dropped while it waits and stopped at
the next step while it trains; a stopped unit keeps every task it finished. Stop works the
same way from the page.

``DEN_WORKERS`` sets the pool: a number of local worker processes (default: one per core;
0 trains in one thread of the server, ``inprocess``), or ``ray://HOST:PORT`` to run the
units on a Ray cluster (``ray_slots``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dashboard.workers.queue import FairQueue
from dashboard.workers.units import UnitContext, error_info, is_user_error, run_unit

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
"""How often the dispatcher looks for jobs whose tab has gone."""


@dataclass
class Outcome:
    """How a job ended: ``how`` is done, stopped, gone (its tab closed), error or lost (a worker died)."""

    how: str
    units_done: int = 0
    error: dict | None = None
    mid_unit: bool = False
    """True when a stop cut a unit short (its task was dropped); False when it stopped between units."""


class Job:
    """One page request, trained unit by unit. Pages subclass it (or pass callables) for their payloads.

    Callbacks run on the pool's threads, never under the pool's lock: ``message`` for what a
    unit reports while it runs, ``unit_done`` for its result (returns whether more units are
    wanted), ``ended`` exactly once at the end.
    """

    def __init__(
        self,
        owner: str,
        kind: str,
        payload: Callable[[], dict],
        message: Callable[[str, object], None] | None = None,
        unit_done: Callable[[dict], bool] | None = None,
        ended: Callable[[Outcome], None] | None = None,
        gone: Callable[[], bool] | None = None,
        pause_s: float = 0.0,
        unit_guess_s: float = 5.0,
    ) -> None:
        self.owner, self.kind = owner, kind
        self._payload, self._message, self._unit_done, self._ended = payload, message, unit_done, ended
        self._gone = gone
        self.pause_s, self.unit_guess_s = pause_s, unit_guess_s
        self.not_before = 0.0
        self.units_done = 0
        self.stop_reason: str | None = None  # "stopped" or "gone" once asked
        self.finished = threading.Event()
        self.outcome: Outcome | None = None

    def payload(self) -> dict:
        """The next unit's payload (built when a worker is free, so it carries the latest state)."""
        return self._payload()

    def message(self, kind: str, data: object) -> None:
        """A unit's progress, events and task ends."""
        if self._message is not None:
            self._message(kind, data)

    def unit_done(self, result: dict) -> bool:
        """A unit finished; True when the job wants another."""
        self.units_done += 1
        return bool(self._unit_done(result)) if self._unit_done is not None else False

    def gone(self) -> bool:
        """True once nobody is watching the job (its browser tab closed)."""
        return bool(self._gone and self._gone())

    def end(self, outcome: Outcome) -> None:
        """Record how the job ended and tell its page (once)."""
        if self.finished.is_set():
            return
        outcome.units_done = self.units_done
        self.outcome = outcome
        try:
            if self._ended is not None:
                self._ended(outcome)
        finally:
            self.finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or ``timeout`` seconds pass (False)."""
        return self.finished.wait(timeout)


def _stopped_how(job: Job) -> str:
    return "gone" if job.stop_reason == "gone" else "stopped"


def run_inline(job: Job, cache: dict, stop: threading.Event) -> Outcome:
    """Run every unit of ``job`` in this thread (DEN_SYNC_TRAINING: the page tests): the pool's logic, no worker."""
    ctx = UnitContext(job.message, lambda: stop.is_set() or job.stop_reason is not None, cache, cores=0)
    while True:
        try:
            result = run_unit(job.kind, job.payload(), ctx)
        except Exception as exc:  # noqa: BLE001 - the page shows it; a bug's trace goes to the log
            info = error_info(exc)
            job.end(Outcome("error", error=info))
            return job.outcome
        if result.get("stopped"):
            job.unit_done(result)
            job.end(Outcome(_stopped_how(job), mid_unit=True))
            return job.outcome
        more = job.unit_done(result)
        if not more or job.stop_reason or stop.is_set():
            job.end(Outcome(_stopped_how(job) if (job.stop_reason or stop.is_set()) and more else "done"))
            return job.outcome


class JobPool:
    """A fair queue in front of ``slots`` workers (made by ``slot_factory(index, on_message)``)."""

    def __init__(self, size: int, slot_factory: Callable | None = None) -> None:
        from dashboard.workers.process import ProcessSlot

        factory = slot_factory or ProcessSlot
        self._lock = threading.Condition()
        self.queue = FairQueue()
        self.slots = [factory(i, self._on_message) for i in range(max(1, size))]
        self._running: dict[int, Job] = {}  # slot index -> job running a unit there
        self._last: dict[int, Job] = {}  # slot index -> the job whose unit it ran last
        self._started: dict[int, float] = {}
        self._unit_s: dict[str, float] = {}  # kind -> a running mean of unit seconds
        self._closed = False
        self._thread = threading.Thread(target=self._dispatch_loop, daemon=True, name="den-pool")
        self._thread.start()

    @property
    def size(self) -> int:
        """How many workers train at once."""
        return len(self.slots)

    # --- what pages call -----------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue a job; it starts when a worker is free and its session's turn comes."""
        with self._lock:
            self.queue.push(job)
            self._lock.notify_all()

    def stop(self, job: Job, reason: str = "stopped") -> None:
        """Drop the job if it waits; stop its unit at the next step if it trains (its finished tasks stay)."""
        end, where = False, "between units"
        with self._lock:
            if job.stop_reason is None:
                job.stop_reason = reason
            if self.queue.remove(job):
                end, where = True, "waiting"
            else:
                for index, running in self._running.items():
                    if running is job:
                        self.slots[index].stop()
                        where = f"training on worker {index}"
        log.info("%s: a %s job of session %s, %s, after %d units", reason, job.kind, str(job.owner)[:8], where,
                 job.units_done)  # fmt: skip
        if end:
            job.end(Outcome(_stopped_how(job)))

    def place(self, job: Job) -> tuple[int, float] | None:
        """(units before it, estimated seconds until it starts) while it waits for a worker; else None."""
        with self._lock:
            if job not in self.queue or job.not_before > time.monotonic():
                return None  # running, ended, or pausing between tasks (Play): not waiting for a worker
            ahead = self.queue.ahead_of(job)
            free = self.size - len(self._running)
            if ahead < free:
                return ahead, 0.0
            unit = self._unit_s.get(job.kind, job.unit_guess_s)
            rounds = math.ceil((ahead - free + 1) / self.size)
            return ahead, rounds * unit

    def busy(self) -> int:
        """Units training now."""
        with self._lock:
            return len(self._running)

    def close(self) -> None:
        """Stop every worker (the server is shutting down)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for slot in self.slots:
            slot.close()

    # --- the dispatcher ---------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        checked = 0.0
        while True:
            with self._lock:
                if self._closed:
                    return
                self._lock.wait(timeout=0.25 if len(self.queue) else CHECK_EVERY_S)
                picks = self._pick()
            for index, job in picks:
                self._start(index, job)
            if time.monotonic() - checked >= CHECK_EVERY_S:
                checked = time.monotonic()
                self._drop_gone()

    def _pick(self) -> list[tuple[int, Job]]:
        """Under the lock: pair free workers with the jobs whose turn it is."""
        picks = []
        free = [i for i in range(self.size) if i not in self._running]
        while free:
            job = self.queue.pop()
            if job is None:
                break
            index = next((i for i in free if self._last.get(i) is job), free[0])  # its run is still loaded there
            free.remove(index)
            self.queue.start(job)
            self._running[index] = job
            self._last[index] = job
            self._started[index] = time.monotonic()
            picks.append((index, job))
        return picks

    def _start(self, index: int, job: Job) -> None:
        """Outside the lock: build the unit's payload and send it to its worker (never for a tab that has gone)."""
        if job.stop_reason is None and job.gone():
            job.stop_reason = "gone"
        if job.stop_reason is not None:
            self._release(index, job)
            job.end(Outcome(_stopped_how(job)))
            return
        try:
            payload = job.payload()
            with self._lock:
                cores = max(1, (os.cpu_count() or 1) // max(1, len(self._running)))
            self.slots[index].run(job.kind, payload, cores)
            if job.stop_reason is not None:
                # asked while the payload was built: the stop then went to the worker's previous unit
                self.slots[index].stop()
        except Exception as exc:  # noqa: BLE001 - a payload that cannot be built or sent fails its job only
            log.exception("could not start a training unit")
            self._release(index, job)
            job.end(Outcome("error", error={"type": type(exc).__name__, "message": str(exc),
                                            "user": is_user_error(exc), "diverged": False, "trace": ""}))  # fmt: skip

    def _release(self, index: int, job: Job) -> None:
        with self._lock:
            if self._running.get(index) is job:
                del self._running[index]
                self.queue.finish(job)
                seconds = time.monotonic() - self._started.pop(index, time.monotonic())
                mean = self._unit_s.get(job.kind)
                self._unit_s[job.kind] = seconds if mean is None else 0.7 * mean + 0.3 * seconds
            self._lock.notify_all()

    def _drop_gone(self) -> None:
        with self._lock:
            jobs = [*self.queue.jobs(), *self._running.values()]
        for job in jobs:
            if job.stop_reason is None and job.gone():
                log.warning("the browser tab of a training job went away; stopping it so the run can be resumed")
                self.stop(job, "gone")

    # --- what workers say -------------------------------------------------------------

    def _on_message(self, slot, kind: str, data: object) -> None:
        with self._lock:
            job = self._running.get(slot.index)
        if job is None:
            if kind == "lost" and not self._closed:
                log.error("idle training worker %s ended (exit code %s); starting a new one", slot.index,
                          data.get("exitcode"))  # fmt: skip
                slot.restart()
            return  # else a late word from a unit that already ended
        if kind == "done":
            self._unit_finished(slot.index, job, data)
        elif kind == "error":
            if not data.get("user"):
                log.error("a training unit failed:\n%s", data.get("trace", ""))
            self._release(slot.index, job)
            job.end(Outcome("error", error=data))
        elif kind == "lost":
            log.error("training worker %s ended unexpectedly (exit code %s)", slot.index, data.get("exitcode"))
            if not self._closed:
                slot.restart()  # before the slot is free again: the next unit goes to the new worker
            self._release(slot.index, job)
            job.end(Outcome("lost", error={"type": "WorkerLost", "message": _lost_words(data),
                                           "user": False, "diverged": False, "trace": ""}))  # fmt: skip
        else:
            job.message(kind, data)

    def _unit_finished(self, index: int, job: Job, result: dict) -> None:
        if result.get("stopped"):
            job.unit_done(result)
            self._release(index, job)
            job.end(Outcome(_stopped_how(job), mid_unit=True))
            return
        try:
            more = job.unit_done(result)
        except Exception as exc:  # noqa: BLE001 - the page's handler failed: end the job, keep the server
            log.exception("a page could not take a unit's result")
            self._release(index, job)
            job.end(Outcome("error", error={"type": type(exc).__name__, "message": str(exc), "user": False,
                                            "diverged": False, "trace": ""}))  # fmt: skip
            return
        self._release(index, job)
        if more and job.stop_reason is None:
            job.not_before = time.monotonic() + job.pause_s
            with self._lock:
                self.queue.push(job)
                self._lock.notify_all()
        else:
            job.end(Outcome(_stopped_how(job) if more else "done"))


def _lost_words(data: dict) -> str:
    """Why a worker was lost, in a few words: its exit code (a local process) or Ray's reason (a cluster actor)."""
    if data.get("exitcode") is not None:
        return f"exit code {data['exitcode']}"
    return str(data.get("reason") or "no exit code")


_POOL: list[JobPool] = []
_POOL_LOCK = threading.Lock()


def pool_size() -> int:
    """Local workers: DEN_WORKERS when it is a number (0: one thread in the server), else one per core."""
    text = (os.environ.get("DEN_WORKERS") or "").strip()
    if text.isdigit():
        return int(text)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def get_pool() -> JobPool:
    """The server's one pool, started on first use (its workers start importing at once)."""
    with _POOL_LOCK:
        if not _POOL:
            address = (os.environ.get("DEN_WORKERS") or "").strip()
            if address.startswith("ray://"):
                from dashboard.workers.ray_slots import ray_slot_factory

                factory, size = ray_slot_factory(address.removeprefix("ray://"))
                _POOL.append(JobPool(size, factory))
            elif pool_size() == 0:
                from dashboard.workers.inprocess import ThreadSlot

                _POOL.append(JobPool(1, ThreadSlot))
            else:
                _POOL.append(JobPool(pool_size()))
        return _POOL[0]
