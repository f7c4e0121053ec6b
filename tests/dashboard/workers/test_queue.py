"""The pool's waiting line: sessions take turns, one running unit each while others wait."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.workers.queue import FairQueue


@dataclass(eq=False)
class J:
    owner: str
    name: str
    not_before: float = 0.0


def _drain(queue: FairQueue, now: float = 0.0) -> list[str]:
    """Pop, run and finish units one at a time (one worker) until nothing is due."""
    order = []
    while (job := queue.pop(now)) is not None:
        queue.start(job)
        order.append(job.name)
        queue.finish(job)
    return order


def test_sessions_take_turns_round_robin():
    q = FairQueue()
    a1, a2, b1, c1 = J("a", "a1"), J("a", "a2"), J("b", "b1"), J("c", "c1")
    for job in (a1, a2, b1, c1):
        q.push(job)
    assert _drain(q) == ["a1", "b1", "c1", "a2"]  # a's second job waits for everyone else's turn


def test_a_job_requeued_after_its_unit_goes_behind_the_others():
    q = FairQueue()
    play, b, c = J("a", "play"), J("b", "b"), J("c", "c")
    for job in (play, b, c):
        q.push(job)
    first = q.pop(0.0)
    q.start(first)
    assert first is play
    q.finish(play)
    q.push(play)  # Play has more tasks: back in line
    assert [q.pop(0.0).name for _ in range(3)] == ["b", "c", "play"]


def test_a_session_gets_a_second_worker_only_when_nobody_else_waits():
    q = FairQueue()
    lane1, lane2, student = J("sweep", "lane1"), J("sweep", "lane2"), J("s", "student")
    q.push(lane1)
    q.push(lane2)
    q.push(student)
    first = q.pop(0.0)
    q.start(first)
    second = q.pop(0.0)
    q.start(second)
    assert (first.name, second.name) == ("lane1", "student")  # not lane2: the student waits
    third = q.pop(0.0)
    assert third is lane2  # nobody else waits: the sweep may use the free worker


def test_a_job_not_due_yet_waits_and_others_pass_it():
    q = FairQueue()
    paused, other = J("a", "paused", not_before=10.0), J("b", "other")
    q.push(paused)
    q.push(other)
    assert q.pop(5.0) is other and q.pop(5.0) is None
    assert q.pop(10.0) is paused


def test_remove_and_place_in_line():
    q = FairQueue()
    jobs = [J(o, o) for o in "abcd"]
    for job in jobs:
        q.push(job)
    assert [q.ahead_of(j) for j in jobs] == [0, 1, 2, 3]
    assert q.remove(jobs[1]) and not q.remove(jobs[1]) and jobs[1] not in q
    assert q.ahead_of(jobs[3]) == 2 and len(q) == 3
    running = J("a", "a-running")
    q.start(running)  # a's unit is training: a's waiting job comes after everyone else's
    assert q.ahead_of(jobs[0]) == 2
