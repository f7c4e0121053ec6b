"""Evaluation metrics: per-task scores, continual-learning summaries and network capacity.

This module owns how the engine scores a run: AUROC (the DEN paper's metric) and
accuracy on one task's outputs; the summaries of an accuracy/AUROC matrix over tasks
(average final score, backward transfer, forgetting); and the parameter counts that put
a grown network's size next to one multi-task network (MTL) and one network per task
(STL). Only numpy and torch are used, so results are exact and dependency-free.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray | Sequence[float] | Sequence[Sequence[float]]


def _as_columns(values: ArrayLike, argument: str) -> np.ndarray:
    """A float64 (n, k) copy of scores or targets; 1-D input becomes one column."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{argument} must be a non-empty (n,) or (n, k) array; got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{argument} must be finite; found NaN or infinity")
    return array


def _scores_and_targets(scores: ArrayLike, targets: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s, t = _as_columns(scores, "scores"), _as_columns(targets, "targets")
    if s.shape != t.shape:
        raise ValueError(f"scores {s.shape} and targets {t.shape} must have the same shape")
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("targets must contain only 0 and 1")
    return s, t


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)
    return (last_rank - (counts - 1) / 2.0)[inverse]


def _binary_auroc(scores: np.ndarray, targets: np.ndarray) -> float:
    positive = targets == 1.0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    # Mann-Whitney U: the positives' rank sum minus its minimum, over all pairs.
    u = _average_ranks(scores)[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auroc(scores: ArrayLike, targets: ArrayLike) -> float:
    """Area under the ROC curve; for (n, k > 1) the mean over columns holding both classes.

    Exact: AUROC = U / (n_pos * n_neg) with the Mann-Whitney U computed from average
    ranks, so ties count one half. Returns NaN when no column has both classes.
    """
    s, t = _scores_and_targets(scores, targets)
    per_column = [_binary_auroc(s[:, j], t[:, j]) for j in range(s.shape[1])]
    valid = [value for value in per_column if not math.isnan(value)]
    return float(np.mean(valid)) if valid else math.nan


def accuracy(scores: ArrayLike, targets: ArrayLike) -> float:
    """Fraction correct: logits > 0 against the target for k = 1, else argmax against argmax."""
    s, t = _scores_and_targets(scores, targets)
    if s.shape[1] == 1:
        correct = (s[:, 0] > 0.0) == (t[:, 0] == 1.0)
    else:
        correct = s.argmax(1) == t.argmax(1)
    return float(correct.mean())


# ----------------------------------------------------------------------------- task matrix


def _validated(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """The matrix as float rows, checking it is lower-triangular: row i has i + 1 entries."""
    if len(matrix) == 0:
        raise ValueError("matrix must have at least one row")
    rows = []
    for i, row in enumerate(matrix):
        if len(row) != i + 1:
            raise ValueError(
                f"matrix row {i} has {len(row)} entries; expected {i + 1} "
                "(row i holds the scores on tasks 0..i after training task i)"
            )
        rows.append([float(value) for value in row])
    return rows


def average_final(matrix: Sequence[Sequence[float]]) -> float:
    """Mean score on every task after the last one: mean_j R[T-1][j] for j = 0..T-1.

    ``matrix`` is lower-triangular: R[i][j] is the score on task j after training task i.
    """
    return float(np.mean(_validated(matrix)[-1]))


def backward_transfer(matrix: Sequence[Sequence[float]]) -> float:
    """BWT (Lopez-Paz & Ranzato 2017): mean over j < T-1 of R[T-1][j] - R[j][j].

    Negative means later tasks hurt earlier ones. NaN with fewer than two tasks.
    """
    rows = _validated(matrix)
    last = rows[-1]
    if len(rows) < 2:
        return math.nan
    return float(np.mean([last[j] - rows[j][j] for j in range(len(rows) - 1)]))


def forgetting(matrix: Sequence[Sequence[float]]) -> float:
    """Forgetting (Chaudhry et al. 2018): mean over j < T-1 of max_{j<=i<T-1} R[i][j] - R[T-1][j].

    How far each earlier task fell from its best score before the last task. NaN with
    fewer than two tasks.
    """
    rows = _validated(matrix)
    last = rows[-1]
    if len(rows) < 2:
        return math.nan
    drops = [max(rows[i][j] for i in range(j, len(rows) - 1)) - last[j] for j in range(len(rows) - 1)]
    return float(np.mean(drops))


# ----------------------------------------------------------------------------- capacity


def _is_int(value: object, minimum: int) -> bool:
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    return is_int and value >= minimum


def _check_sizes(input_dim: int, hidden_sizes: Sequence[int], outputs: Sequence[int]) -> None:
    if not _is_int(input_dim, 1):
        raise ValueError(f"input_dim must be an int >= 1; got {input_dim!r}")
    if not all(_is_int(v, 1) for v in hidden_sizes):
        raise ValueError(f"hidden_sizes must hold ints >= 1; got {list(hidden_sizes)!r}")
    if len(outputs) == 0 or not all(_is_int(v, 1) for v in outputs):
        raise ValueError(f"n_outputs must be ints >= 1, one per task; got {list(outputs)!r}")


def _body_parameter_count(input_dim: int, hidden_sizes: Sequence[int]) -> int:
    sizes = [input_dim, *hidden_sizes]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def _head_parameter_count(last_width: int, n_outputs: int) -> int:
    return last_width * n_outputs + n_outputs


def mlp_parameter_count(input_dim: int, hidden_sizes: Sequence[int], n_outputs: int) -> int:
    """Weights plus biases of a plain fully-connected network with one output head."""
    _check_sizes(input_dim, hidden_sizes, [n_outputs])
    last_width = hidden_sizes[-1] if hidden_sizes else input_dim
    return _body_parameter_count(input_dim, hidden_sizes) + _head_parameter_count(last_width, n_outputs)


def capacity(
    total_params: int,
    input_dim: int,
    hidden_sizes: Sequence[int],
    n_outputs_per_task: Sequence[int],
    body_params: int | None = None,
) -> dict[str, float]:
    """A network's size against MTL (one body, a head per task) and STL (a network per task).

    ``body_params`` replaces the fully connected body's count (a conv body: kernels included).

    Returns ``mtl_params``, ``stl_params`` and ``total_params`` divided by each, as
    ``relative_to_mtl`` and ``relative_to_stl`` (the paper's capacity axis).
    """
    _check_sizes(input_dim, hidden_sizes, n_outputs_per_task)
    if not _is_int(total_params, 0):
        raise ValueError(f"total_params must be an int >= 0; got {total_params!r}")
    last_width = hidden_sizes[-1] if hidden_sizes else input_dim
    heads = [_head_parameter_count(last_width, k) for k in n_outputs_per_task]
    body = _body_parameter_count(input_dim, hidden_sizes) if body_params is None else int(body_params)
    mtl = body + sum(heads)
    stl = sum(body + head for head in heads)
    return {
        "mtl_params": int(mtl),
        "stl_params": int(stl),
        "relative_to_mtl": total_params / mtl,
        "relative_to_stl": total_params / stl,
    }
