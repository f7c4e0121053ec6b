"""Checks and identities of a user's arrays: dtypes, shapes, labels, and the hash a run record keeps.

Pure numpy (and torch only to accept tensors): den_engine.data.sequence builds tasks from
what passes here, den_engine.data.npz reads files into it. Every problem is a
``DataError`` whose message names the array and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
import torch

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """A user's data cannot be a task sequence; the message names the array and what is wrong."""


def fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes (in-memory data's identity)."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def describe_arrays(arrays: Mapping[str, np.ndarray]) -> dict:
    """Every array's shape and dtype, for the record."""
    return {key: {"shape": list(a.shape), "dtype": str(a.dtype)} for key, a in sorted(arrays.items(), key=_order)}


def _order(item) -> tuple:
    key = item[0]
    head, _, number = key.rpartition("_")
    return (int(number), head) if number.isdigit() else (math.inf, key)


def as_numpy(value, where: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()  # numpy has no bfloat16
        return value.numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise DataError(f"{where}: holds Python objects; give numbers (a numeric numpy array or tensor)")
    return array


def stack_dataset(dataset, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        n = len(dataset)
        items = [dataset[i] for i in range(n)]
    except TypeError as exc:
        raise DataError(f"{where}: not a map-style Dataset with len() and indexing ({exc})") from None
    if n == 0:
        raise DataError(f"{where}: is empty")
    if not all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        raise DataError(f"{where}: every item must be an (input, target) pair")
    xs = [as_numpy(x, where) for x, _ in items]
    ys = [as_numpy(y, where) for _, y in items]
    if len({x.shape for x in xs}) > 1:
        raise DataError(f"{where}: inputs of different shapes {sorted({x.shape for x in xs})[:2]}")
    return np.stack(xs), np.stack(ys)


def check_inputs(x: np.ndarray, key: str) -> None:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{key}: dtype {x.dtype} is not a real number type; inputs must be int, float or bool")
    if x.ndim < 2 or x.ndim > 4:
        raise DataError(
            f"{key}: shape {x.shape}; inputs need one row per example: (n, features), (n, H, W) or (n, C, H, W)"
        )
    if x.shape[0] == 0 or 0 in x.shape:
        raise DataError(f"{key}: shape {x.shape} holds no values")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{key}: holds NaN or infinite values")


def check_targets(y: np.ndarray, key: str) -> tuple[np.ndarray, int | None]:
    """(checked targets, number of classes of integer labels or None for a 0/1 matrix)."""
    if y.dtype.kind not in "biuf":
        raise DataError(f"{key}: dtype {y.dtype} is not a number type; targets are integer labels or a 0/1 matrix")
    if y.ndim not in (1, 2) or y.shape[0] == 0 or (y.ndim == 2 and y.shape[1] == 0):
        raise DataError(f"{key}: shape {y.shape}; targets are integer labels (n,) or a 0/1 matrix (n, outputs)")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(f"{key}: holds NaN or infinite values")
    if y.ndim == 2:
        if not np.isin(y, (0, 1)).all():
            raise DataError(f"{key}: a target matrix must hold only 0 and 1, found {_example(y[~np.isin(y, (0, 1))])}")
        return y.astype(np.float32), None
    if y.dtype.kind == "f" and not (y == np.round(y)).all():
        raise DataError(f"{key}: labels must be whole numbers, found {_example(y[y != np.round(y)])}")
    if (y < 0).any():
        raise DataError(f"{key}: labels must be 0 or more, found {_example(y[y < 0])}")
    return y.astype(np.int64), int(y.max()) + 1


def _example(values: np.ndarray):
    return values.flat[0].item()
