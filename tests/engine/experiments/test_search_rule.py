"""The search's trade-off and its early-stopping rule: who clearly dominates, the front, its hypervolume."""

from __future__ import annotations

import math

import pytest

from den_engine.experiments.search_rule import (
    clearly_dominates,
    hypervolume,
    pareto_front,
    record_points,
    stop_reason,
)

MARGINS = {"margin_score": 0.01, "margin_size": 0.10, "score": "auroc", "size": "stl"}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.95, 0.20), (0.93, 0.20), True),  # better by more than the score margin, same size
        ((0.95, 0.20), (0.945, 0.20), False),  # better, but within the score margin
        ((0.90, 0.18), (0.90, 0.20), True),  # 10 % smaller, same score
        ((0.90, 0.19), (0.90, 0.20), False),  # 5 % smaller: within the size margin
        ((0.99, 0.21), (0.90, 0.20), False),  # far better score but larger: a trade-off, not dominance
        ((0.89, 0.10), (0.90, 0.20), False),  # far smaller but a lower score
        ((0.90, 0.20), (0.90, 0.20), False),  # the same point
    ],
)
def test_clear_dominance_needs_no_loss_on_either_side_and_a_margin_on_one(a, b, expected):
    assert clearly_dominates(a, b, 0.01, 0.10) is expected


REFERENCES = {"3": [[0.90, 0.5], [0.95, 0.30], [0.97, 0.25]], "12": [[0.905, 0.5], [0.80, 0.10]]}


def test_a_trial_clearly_dominated_at_the_same_task_is_stopped_and_told_why():
    reason = stop_reason({**MARGINS, "references": REFERENCES}, 2, 3, (0.90, 0.31))
    assert reason.startswith("stopped early by den search after task 2 of 3")
    assert "trial 3's at the same task (val AUROC 0.9500, 30.0% of STL" in reason
    assert "(val AUROC 0.9000, 31.0% of STL)" in reason


def test_a_trial_on_the_front_at_its_task_goes_on():
    stop = {**MARGINS, "references": REFERENCES}
    assert stop_reason(stop, 2, 3, (0.96, 0.31)) is None  # better than trial 3, larger: a trade-off
    assert stop_reason(stop, 2, 3, (0.945, 0.29)) is None  # within both margins of trial 3
    assert stop_reason(stop, 1, 3, (0.90, 0.50)) is None  # after task 1 every trial is alike


def test_only_the_same_task_counts_and_the_last_task_never_stops():
    stop = {**MARGINS, "references": REFERENCES}
    # dominated by trial 3's point after task 3, but this is task 1: no stop (an earlier-task rule would)
    assert stop_reason(stop, 1, 3, (0.90, 0.50)) is None
    assert stop_reason(stop, 3, 3, (0.50, 0.90)) is None  # nothing left to save after the last task
    short = {**MARGINS, "references": {"5": [[0.99, 0.01]]}}  # a reference with fewer tasks is no reference
    assert stop_reason(short, 2, 3, (0.5, 0.9)) is None


def test_the_points_are_validation_scores_averaged_over_the_tasks_so_far():
    snap = {"metrics": {"val_auroc": [1.0, 0.8], "auroc": [0.0, 0.0], "val_accuracy": [0.9, 0.7]},
            "params": {"relative_to_stl": 0.4, "total": 1234}}  # fmt: skip
    assert record_points({"tasks": [snap]}) == [(pytest.approx(0.9), 0.4)]
    assert record_points({"tasks": [snap]}, "accuracy", "params") == [(pytest.approx(0.8), 1234.0)]
    snap["metrics"]["val_auroc"] = [1.0, None]
    assert record_points({"tasks": [snap]})[0][0] == -math.inf  # an undefined score is never good


def test_the_front_and_its_hypervolume():
    points = [(0.9, 0.5), (0.8, 0.2), (0.85, 0.6), (0.8, 0.2), (0.4, 0.1)]
    assert pareto_front(points) == [0, 1, 3, 4]  # (0.85, 0.6) is dominated; equal points both stay
    # from size 0.2 to 0.5 the best score is 0.8, from 0.5 to 1.0 it is 0.9; (0.4, 0.1) is below the reference
    assert hypervolume(points, (0.5, 1.0)) == pytest.approx(0.3 * 0.3 + 0.4 * 0.5)
    assert hypervolume([], (0.5, 1.0)) == 0.0
    assert hypervolume([(0.9, 0.5)], (0.5, 1.0)) == pytest.approx(0.2)
