"""Toy 2-D tasks: two-class point clouds (blobs, moons, circles, xor, spirals, checkerboard).

Each shape is drawn from a numpy generator, balanced (half of each class) and noise-free
in its labels, inside ``TOY_2D_EXTENT``. Small enough that every neuron's response can be
drawn over the plane, which is what the dashboard's Learn page does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TOY_2D_EXTENT = (-1.5, 1.5)
"""Square range (both axes) that holds every toy-2d input; the dashboard draws it."""

TOY_2D_TASKS = ("blobs", "moons", "circles", "xor", "spirals", "checkerboard")
"""The shapes, in the order toy-2d presents them."""


def _two_classes(
    sample: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw points from ``sample`` until both classes have n // 2 (balanced, noise-free)."""
    xs, ys = [], []
    for label in (0, 1):
        pool = np.empty((0, 2))
        while len(pool) < n // 2:
            points, labels = sample(rng, 2 * n)
            pool = np.concatenate([pool, points[labels == label]])
        xs.append(pool[: n // 2])
        ys.append(np.full(n // 2, label))
    return np.concatenate(xs), np.concatenate(ys)


def _by_class(
    make: Callable[[np.random.Generator, int, int], np.ndarray],
) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    """Turn a per-class generator into a sampler returning half of each class."""

    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        points = np.concatenate([make(rng, n // 2, 0), make(rng, n // 2, 1)])
        return points, np.repeat([0, 1], n // 2)

    return sample


def _blobs(rng: np.random.Generator, n: int, label: int) -> np.ndarray:
    centre = 0.5 if label else -0.5
    return centre + 0.25 * rng.standard_normal((n, 2))


def _moons(rng: np.random.Generator, n: int, label: int) -> np.ndarray:
    t = rng.uniform(0.0, math.pi, n)
    if label:
        points = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1)
    else:
        points = np.stack([np.cos(t), np.sin(t)], 1)
    # The raw moons span [-1, 2] x [-0.5, 1]; centre and shrink them into [-1, 1]^2.
    return 0.6 * (points - [0.5, 0.25]) + 0.05 * rng.standard_normal((n, 2))


def _circles(rng: np.random.Generator, n: int, label: int) -> np.ndarray:
    angle = rng.uniform(0.0, 2 * math.pi, n)
    radius = (0.4 if label else 0.9) + 0.06 * rng.standard_normal(n)
    return radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)


def _spirals(rng: np.random.Generator, n: int, label: int) -> np.ndarray:
    t = np.sqrt(rng.uniform(0.0, 1.0, n))  # sqrt: even density along the spiral's length
    angle = 3 * math.pi * t + (math.pi if label else 0.0)
    radius = 0.1 + 0.85 * t
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return points + 0.03 * rng.standard_normal((n, 2))


def _xor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    points = rng.uniform(-1.0, 1.0, (n, 2))
    return points, (points[:, 0] * points[:, 1] > 0).astype(np.int64)


def _checkerboard(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    points = rng.uniform(-1.0, 1.0, (n, 2))
    cells = np.floor(2 * (points + 1.0)).astype(np.int64)  # a 4 x 4 board of 0.5 squares
    return points, (cells.sum(1) % 2).astype(np.int64)


_SAMPLERS = {
    "blobs": _by_class(_blobs),
    "moons": _by_class(_moons),
    "circles": _by_class(_circles),
    "xor": _xor,
    "spirals": _by_class(_spirals),
    "checkerboard": _checkerboard,
}


def sample_shape(name: str, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 points of shape ``name`` clipped to the extent, and their 0/1 labels (n // 2 each)."""
    points, labels = _two_classes(_SAMPLERS[name], rng, n)
    return np.clip(points, *TOY_2D_EXTENT).astype(np.float32), labels
