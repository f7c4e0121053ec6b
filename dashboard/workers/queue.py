"""The waiting line of the training pool: round robin over sessions, one running unit per session while others wait.

A job is trained in units (one task, or one run of a sweep). After each unit a job that has
more to do goes back to the end of its session's line, and the sessions take turns: with
thirty students pressing Next task at once, each gets a worker in turn, and one student's
Play (every remaining task) does not hold a worker while the others wait. A session never
has two units running at once while another session waits, so a user's second job (a sweep
beside a Train run, a sweep's parallel runs) shares that user's turn instead of taking a
second worker from someone else.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Protocol


class Queued(Protocol):
    """What the queue needs of a job: whose it is, and from when it may run."""

    owner: str
    not_before: float


class FairQueue:
    """Jobs waiting for a worker, handed out round robin over their owners (not thread-safe: the pool locks)."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque] = OrderedDict()  # owner -> its waiting jobs, in turn order
        self.running: dict[str, int] = {}  # owner -> units running now (0 or 1)

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def __contains__(self, job) -> bool:
        return any(job in line for line in self._lines.values())

    def push(self, job: Queued) -> None:
        """Add a job at the end of its owner's line (a new owner's turn comes after every other owner's)."""
        self._lines.setdefault(job.owner, deque()).append(job)

    def remove(self, job: Queued) -> bool:
        """Take a waiting job out of the line; False if it was not waiting."""
        line = self._lines.get(job.owner)
        if line is None or job not in line:
            return False
        line.remove(job)
        if not line:
            del self._lines[job.owner]
        return True

    def pop(self, now: float | None = None) -> Queued | None:
        """The next job to run: the first owner in turn order with nothing running and a job due.

        Only when no such owner waits does an owner get a second worker (a sweep's parallel
        runs): a free worker never idles, and nobody waits behind someone's second unit
        longer than that unit takes. None when nothing is due.
        """
        now = time.monotonic() if now is None else now
        return self._pop(now, busy_ok=False) or self._pop(now, busy_ok=True)

    def _pop(self, now: float, busy_ok: bool) -> Queued | None:
        for owner, line in self._lines.items():
            if self.running.get(owner) and not busy_ok:
                continue
            job = next((j for j in line if j.not_before <= now), None)
            if job is None:
                continue
            line.remove(job)
            del self._lines[owner]
            if line:  # the owner's other jobs wait for its next turn, after everyone else's
                self._lines[owner] = line
            return job
        return None

    def start(self, job: Queued) -> None:
        """Mark the job's owner as running a unit."""
        self.running[job.owner] = self.running.get(job.owner, 0) + 1

    def finish(self, job: Queued) -> None:
        """Mark the job's unit as ended; the owner's turn is over."""
        left = self.running.get(job.owner, 0) - 1
        if left > 0:
            self.running[job.owner] = left
        else:
            self.running.pop(job.owner, None)
        line = self._lines.pop(job.owner, None)
        if line:  # its waiting jobs go to the end of the turn order
            self._lines[job.owner] = line

    def ahead_of(self, job: Queued, now: float | None = None) -> int:
        """How many units start before ``job`` if every worker frees up in turn (0: it is next)."""
        now = time.monotonic() if now is None else now
        lines = OrderedDict((o, deque(line)) for o, line in self._lines.items())
        running = set(self.running)
        count = 0
        while any(lines.values()):
            progressed = False
            for owner in list(lines):
                line = lines[owner]
                if not line:
                    continue
                if owner in running:  # it goes after the unit running now ends: one turn later
                    running.discard(owner)
                    progressed = True
                    continue
                nxt = line.popleft()
                if nxt is job:
                    return count
                count += 1
                progressed = True
            if not progressed:
                break
        return count

    def jobs(self) -> list[Queued]:
        """Every waiting job, in turn order."""
        return [job for line in self._lines.values() for job in line]
