"""The trade-off a search optimises, and the rule that stops a clearly dominated trial early.

A trial's point after task t is (score, size): the mean validation AUROC (or accuracy) over
tasks 1..t after task t, and its parameters after task t as a fraction of STL's (or as an
absolute count). Higher score is better, smaller size is better. Only validation data
counts: the test split never chooses a setting.

The stopping rule (``stop_reason``): after task t < T, a trial is stopped when some earlier
trial (a lower number, finished or still running) had, at the same task t, a point that
*clearly dominates* it: no worse on both objectives, and better by a margin on at least one
(score higher by ``margin_score``, or size smaller by the fraction ``margin_size``). Points
within the margins never stop a trial, so two settings that have not yet parted ways (after
task 1, before any expansion, every setting of tau and sigma is the same network) both go on. The rule is a heuristic:
a trial dominated at task t may still end on the front, since later tasks can reverse the
order; the margins bound how clear the gap must be first. Pure Python: no Optuna here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SCORES = ("auroc", "accuracy")
SIZES = ("stl", "params")
MARGIN_SCORE = 0.01
"""Default: a reference must score at least this much higher (mean validation AUROC) ..."""
MARGIN_SIZE = 0.10
"""... or be at least this fraction smaller, to stop a trial."""


def task_point(snapshot: dict, score: str = "auroc", size: str = "stl") -> tuple[float, float]:
    """(score, size) of a run after the task of ``snapshot``: mean validation score over its tasks so far."""
    values = snapshot["metrics"].get(f"val_{score}")
    finite = [v for v in values or [] if v is not None and math.isfinite(v)]
    mean = sum(finite) / len(finite) if finite and len(finite) == len(values) else -math.inf
    params = snapshot["params"]
    return mean, float(params["relative_to_stl"] if size == "stl" else params["total"])


def record_points(record: dict, score: str = "auroc", size: str = "stl") -> list[tuple[float, float]]:
    """The point after every finished task of a run record, task 1 first."""
    return [task_point(snap, score, size) for snap in record.get("tasks") or []]


def clearly_dominates(a: Sequence[float], b: Sequence[float], margin_score: float, margin_size: float) -> bool:
    """True when point ``a`` is no worse than ``b`` on both objectives and better by a margin on one."""
    (score_a, size_a), (score_b, size_b) = a, b
    if score_a < score_b or size_a > size_b:
        return False
    better_score = score_a > score_b and score_a >= score_b + margin_score
    smaller = size_a < size_b and size_a <= size_b * (1 - margin_size)
    return better_score or smaller  # with both margins 0: plain Pareto dominance


def stop_reason(stop: dict, task: int, n_tasks: int, point: Sequence[float]) -> str | None:
    """Why a trial at ``point`` after ``task`` should stop, or None to go on.

    ``stop`` holds ``references`` ({trial number: [point after task 1, ...]}, the earlier trials
    that reached ``task``), ``margin_score``, ``margin_size`` and the objectives' names (``score``, ``size``).
    """
    if task >= n_tasks:
        return None  # the last task is done: nothing left to save
    for number, points in sorted(stop["references"].items(), key=lambda item: int(item[0])):
        if len(points) < task:
            continue
        ref = points[task - 1]
        if clearly_dominates(ref, point, stop["margin_score"], stop["margin_size"]):
            return (
                f"stopped early by den search after task {task} of {n_tasks}: its point "
                f"({_describe(point, stop)}) is clearly dominated by trial {number}'s at the same task "
                f"({_describe(ref, stop)}; margins {stop['margin_score']:g} {_score_name(stop)}, "
                f"{stop['margin_size']:.0%} size)"
            )
    return None


def _score_name(stop: dict) -> str:
    return f"val {stop.get('score', 'auroc').replace('auroc', 'AUROC')}"


def _describe(point: Sequence[float], stop: dict) -> str:
    size = f"{point[1]:.1%} of STL" if stop.get("size", "stl") == "stl" else f"{point[1]:,.0f} params"
    return f"{_score_name(stop)} {point[0]:.4f}, {size}"


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (higher score, smaller size), in input order."""
    front = []
    for i, (score, size) in enumerate(points):
        beaten = any(s >= score and z <= size and (s > score or z < size) for j, (s, z) in enumerate(points) if j != i)
        if not beaten:
            front.append(i)
    return front


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by the points and bounded by ``reference`` = (lowest score, largest size).

    Points not better than the reference on both objectives add nothing.
    """
    ref_score, ref_size = reference
    inside = sorted({(s, z) for s, z in points if s > ref_score and z < ref_size}, key=lambda p: (p[1], -p[0]))
    area, best = 0.0, ref_score
    for i, (score, size) in enumerate(inside):  # sweep from the smallest size up
        best = max(best, score)
        right = inside[i + 1][1] if i + 1 < len(inside) else ref_size
        area += (best - ref_score) * (right - size)
    return area
