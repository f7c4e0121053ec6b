"""Tests for den_engine.records.metrics: AUROC against scikit-learn, accuracy, task-matrix summaries."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from den_engine.records.metrics import (
    accuracy,
    auroc,
    average_final,
    backward_transfer,
    capacity,
    forgetting,
    mlp_parameter_count,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

# ----------------------------------------------------------------------------- auroc


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=2, max_size=60))
def test_auroc_equals_sklearn_with_many_ties(pairs: list[tuple[int, bool]]) -> None:
    scores = np.array([s for s, _ in pairs], dtype=float)
    targets = np.array([t for _, t in pairs], dtype=float)
    assume(0 < targets.sum() < len(targets))
    assert auroc(scores, targets) == pytest.approx(roc_auc_score(targets, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_sklearn_on_rounded_random_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    targets = (rng.random(500) < 0.1).astype(np.float32)
    scores = np.round(rng.normal(size=500) + targets, 1)  # rounding makes ties common
    expected = roc_auc_score(targets, scores)
    assert auroc(scores, targets) == pytest.approx(expected, abs=1e-12)
    assert auroc(torch.tensor(scores)[:, None], torch.tensor(targets)) == pytest.approx(expected)


def test_auroc_perfect_inverted_and_all_tied() -> None:
    targets = [0, 0, 1, 1]
    assert auroc([0.1, 0.2, 0.8, 0.9], targets) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], targets) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], targets) == 0.5


def test_auroc_macro_mean_skips_single_class_columns() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 3))
    targets = (rng.random((200, 3)) < 0.3).astype(float)
    expected = np.mean([roc_auc_score(targets[:, j], scores[:, j]) for j in range(3)])
    assert auroc(scores, targets) == pytest.approx(expected, abs=1e-12)
    targets[:, 1] = 0.0  # column 1 now has no positives: it cannot be scored
    expected = np.mean([roc_auc_score(targets[:, j], scores[:, j]) for j in (0, 2)])
    assert auroc(scores, targets) == pytest.approx(expected, abs=1e-12)


def test_auroc_is_nan_when_no_column_has_both_classes() -> None:
    assert math.isnan(auroc([0.1, 0.7, 0.3], [1, 1, 1]))
    assert math.isnan(auroc(np.ones((4, 2)), np.zeros((4, 2))))


@pytest.mark.parametrize(
    ("scores", "targets", "argument"),
    [
        ([0.1, 0.2, 0.3], [0, 1], "scores"),
        ([0.1, 0.2], [0, 2], "targets"),
        ([0.1, float("nan")], [0, 1], "scores"),
        ([], [], "scores"),
    ],
)
def test_auroc_rejects_bad_inputs(scores, targets, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        auroc(scores, targets)


# ----------------------------------------------------------------------------- accuracy


def test_accuracy_single_output_thresholds_logits_at_zero() -> None:
    logits = torch.tensor([[-1.0], [2.0], [0.5], [0.0]])
    targets = torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    # -1 -> 0 right, 2 -> 1 right, 0.5 -> 1 wrong, 0 -> 0 (not > 0) wrong.
    assert accuracy(logits, targets) == 0.5


def test_accuracy_many_outputs_compares_argmax() -> None:
    scores = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 3.0], [-1.0, -2.0, -3.0]])
    targets = np.eye(3)[[1, 0, 0]]
    assert accuracy(scores, targets) == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- task matrix

# R[i][j]: score on task j after training task i. Task 0 peaks after task 1 (0.95), so
# forgetting (which uses the best earlier score) differs from -BWT (which uses R[j][j]).
MATRIX = [[0.9], [0.95, 0.8], [0.7, 0.85, 0.9]]


def test_average_final_is_mean_of_last_row() -> None:
    assert average_final(MATRIX) == pytest.approx((0.7 + 0.85 + 0.9) / 3)


def test_backward_transfer_by_hand() -> None:
    # ((0.7 - 0.9) + (0.85 - 0.8)) / 2
    assert backward_transfer(MATRIX) == pytest.approx(-0.075)


def test_forgetting_by_hand() -> None:
    # task 0: max(0.9, 0.95) - 0.7 = 0.25; task 1: 0.8 - 0.85 = -0.05; mean 0.1
    assert forgetting(MATRIX) == pytest.approx(0.1)


def test_single_task_matrix() -> None:
    assert average_final([[0.8]]) == pytest.approx(0.8)
    assert math.isnan(backward_transfer([[0.8]]))
    assert math.isnan(forgetting([[0.8]]))


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[0.9], [0.8]], "row 1"),
        ([[0.9, 0.1]], "row 0"),
        ([[0.9], [0.8, 0.7], [0.6, 0.5]], "row 2"),
        ([], "at least one row"),
    ],
)
@pytest.mark.parametrize("metric", [average_final, backward_transfer, forgetting])
def test_ragged_matrix_raises_naming_the_row(matrix, message: str, metric) -> None:
    with pytest.raises(ValueError, match=message):
        metric(matrix)


# ----------------------------------------------------------------------------- capacity


def test_mlp_parameter_count_by_hand() -> None:
    # 3 -> 4 -> 2 -> 1: (12 + 4) + (8 + 2) + (2 + 1)
    assert mlp_parameter_count(3, [4, 2], 1) == 29
    assert mlp_parameter_count(3, [], 2) == 8  # the head reads the inputs directly
    assert mlp_parameter_count(784, [312, 128], 10) == 286_274


def test_capacity_by_hand() -> None:
    # body 3 -> 4 -> 2: 26; heads of 1 and 2 outputs on 2 units: 3 and 6.
    result = capacity(70, 3, [4, 2], [1, 2])
    assert result["mtl_params"] == 26 + 3 + 6
    assert result["stl_params"] == (26 + 3) + (26 + 6)
    assert result["relative_to_mtl"] == pytest.approx(2.0)
    assert result["relative_to_stl"] == pytest.approx(70 / 61)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((10, 0, [4], [1]), "input_dim"),
        ((10, 3, [4, 0], [1]), "hidden_sizes"),
        ((10, 3, [4], []), "n_outputs"),
        ((-1, 3, [4], [1]), "total_params"),
    ],
)
def test_capacity_rejects_bad_sizes(args, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        capacity(*args)


def test_metrics_import_no_heavy_libraries() -> None:
    code = (
        "import sys, den_engine.records.metrics; "
        "print(sorted({'sklearn', 'scipy', 'pandas'} & {m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
