"""A task sequence: the one type every data source produces, built-in benchmarks and a user's data alike.

``TaskSequence`` holds tasks of float32 tensors (inputs flattened to (n, input_dim), targets
(n, n_outputs) of 0/1) and the shape of one input (``input_shape``, e.g. (C, H, W) for
images, which a convolutional network reads back). A user's data enters through
``from_arrays`` (tensors or numpy arrays per task), ``from_datasets`` (a
``torch.utils.data.Dataset`` per task) or ``from_npz`` (read by den_engine.data.npz): every
array is checked (den_engine.data.arrays), and a bad one is a ``DataError`` naming it. ``source`` says where user data
came from (a file's name, path and SHA-256, or a fingerprint of in-memory arrays), which
the run record keeps so that evaluation and resume can refuse different data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from den_engine.data.arrays import (
    SPLITS,
    DataError,
    as_numpy,
    check_inputs,
    check_targets,
    describe_arrays,
    fingerprint,
    stack_dataset,
)
from den_engine.data.npz import file_sha256, read_npz

__all__ = ["DataError", "TaskData", "TaskSequence", "build_sequence", "load_npz"]

VAL_FRACTION = 0.15
"""Share of a task's training examples held out for validation when the task gives none."""

_STREAM_VALIDATION = 4  # a random stream of its own (the benchmarks use 0-3)


@dataclass(frozen=True)
class TaskData:
    """One task: its name, number of sigmoid outputs and float32 train/val/test tensors.

    Inputs are (n, input_dim); targets are (n, n_outputs) of 0/1. Tasks of one benchmark
    may share input tensors (one-vs-rest tasks see the same images): treat as read-only.
    A user's task without a validation split has ``x_val``/``y_val`` None until
    ``TaskSequence.with_validation`` draws one from its training examples.
    """

    name: str
    n_outputs: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass(frozen=True)
class TaskSequence:
    """A named sequence of tasks over inputs of one shape (a built-in benchmark or a user's data)."""

    name: str
    input_dim: int
    input_shape: tuple[int, ...]
    tasks: tuple[TaskData, ...]
    description: str = ""
    source: dict | None = field(default=None, compare=False)
    """Where user data came from (None for a built-in benchmark); run records keep it."""

    # --- constructors ---------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        tasks: Sequence[Mapping | Sequence],
        names: Sequence[str] | None = None,
        name: str = "my-data",
        description: str = "",
    ) -> TaskSequence:
        """Tasks from tensors or numpy arrays: per task a dict with x_train, y_train, x_test, y_test
        (optionally x_val, y_val), or a tuple (x_train, y_train, x_test, y_test[, x_val, y_val]).

        Targets are integer class labels (n,) (one sigmoid output per class) or a 0/1 matrix (n, k).
        """
        arrays = {}
        for t, task in enumerate(tasks, start=1):
            for key, value in _task_arrays(task, t).items():
                arrays[f"{key}_{t}"] = as_numpy(value, f"{key}_{t}")
        if not arrays:
            raise DataError("no tasks given: pass at least one task")
        source = {"kind": "memory", "sha256": fingerprint(arrays), "arrays": describe_arrays(arrays)}
        return build_sequence(arrays, names, name, description, source)

    @classmethod
    def from_datasets(
        cls,
        train: Sequence[torch.utils.data.Dataset],
        test: Sequence[torch.utils.data.Dataset],
        val: Sequence[torch.utils.data.Dataset] | None = None,
        names: Sequence[str] | None = None,
        name: str = "my-data",
        description: str = "",
    ) -> TaskSequence:
        """Tasks from one ``torch.utils.data.Dataset`` per task and split, each item an (input, target) pair."""
        if len(train) != len(test) or (val is not None and len(val) != len(train)):
            raise DataError(f"give one dataset per task for every split: {len(train)} train, {len(test)} test")
        tasks = []
        for t in range(len(train)):
            task = {}
            for split, sets in (("train", train), ("test", test), ("val", val)):
                if sets is not None:
                    task[f"x_{split}"], task[f"y_{split}"] = stack_dataset(sets[t], f"{split} dataset of task {t + 1}")
            tasks.append(task)
        return cls.from_arrays(tasks, names, name, description)

    @classmethod
    def from_npz(cls, path: str | Path) -> TaskSequence:
        """Tasks from a ``.npz`` file (format: docs/cli.md, "Your data"); a bad file is a DataError naming it."""
        return load_npz(path)

    # --- views ----------------------------------------------------------------------

    @property
    def key(self) -> str:
        """What a run id hashes for this data: the benchmark name, or the name and the data's hash."""
        return self.name if self.source is None else f"{self.name}@{self.source['sha256'][:16]}"

    def fingerprinted(self) -> TaskSequence:
        """This sequence with a ``source`` (a fingerprint of its tensors) when it has none."""
        if self.source is not None:
            return self
        arrays = {}
        for t, task in enumerate(self.tasks, start=1):
            for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
                if getattr(task, key) is not None:
                    arrays[f"{key}_{t}"] = getattr(task, key).detach().cpu().numpy()
        source = {"kind": "memory", "sha256": fingerprint(arrays), "arrays": describe_arrays(arrays)}
        return replace(self, source=source)

    def first(self, n_tasks: int | None) -> TaskSequence:
        """The sequence of the first ``n_tasks`` tasks (None: all of them)."""
        if n_tasks is None or n_tasks == len(self.tasks):
            return self
        if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or not 1 <= n_tasks <= len(self.tasks):
            raise DataError(f"--tasks {n_tasks!r} is invalid for {self.name}: it has 1 to {len(self.tasks)} tasks")
        return replace(self, tasks=self.tasks[:n_tasks])

    def with_validation(self, seed: int, fraction: float = VAL_FRACTION) -> TaskSequence:
        """Every task with a validation split; one missing is drawn from its training examples by ``seed``."""
        if all(t.x_val is not None for t in self.tasks):
            return self
        tasks = []
        for number, task in enumerate(self.tasks, start=1):
            if task.x_val is not None:
                tasks.append(task)
                continue
            n = len(task.x_train)
            if n < 2:
                raise DataError(f"x_train_{number}: {n} example; a validation split needs two or give x_val_{number}")
            n_val = max(1, round(n * fraction))
            # Seeded per task: task t's split never depends on how many tasks come before it.
            order = torch.from_numpy(np.random.default_rng([seed, _STREAM_VALIDATION, number]).permutation(n))
            val, train = order[:n_val], order[n_val:]
            tasks.append(replace(task, x_train=task.x_train[train], y_train=task.y_train[train],
                                 x_val=task.x_train[val], y_val=task.y_train[val]))  # fmt: skip
        return replace(self, tasks=tuple(tasks))

    def record(self) -> dict:
        """The run record's ``benchmark`` entry (with ``data`` only for a user's data)."""
        entry = {
            "name": self.name,
            "n_tasks": len(self.tasks),
            "input_dim": self.input_dim,
            "input_shape": list(self.input_shape),
            "task_names": [t.name for t in self.tasks],
            "n_outputs": [t.n_outputs for t in self.tasks],
        }
        if self.source is not None:
            entry["data"] = self.source
        return entry


def _task_arrays(task: Mapping | Sequence, t: int) -> dict:
    if isinstance(task, Mapping):
        unknown = sorted(set(task) - {f"{a}_{s}" for a in "xy" for s in SPLITS})
        if unknown:
            raise DataError(f"task {t}: unknown key {unknown[0]!r}; use x_train, y_train, x_val, y_val, x_test, y_test")
        return dict(task)
    if isinstance(task, Sequence) and len(task) in (4, 6):
        keys = ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val")
        return dict(zip(keys, task, strict=False))
    raise DataError(f"task {t}: give a dict of arrays or a tuple (x_train, y_train, x_test, y_test[, x_val, y_val])")


def build_sequence(
    arrays: Mapping[str, np.ndarray],
    names: Sequence[str] | None,
    name: str,
    description: str,
    source: dict,
) -> TaskSequence:
    """Check every task's arrays (keys ``x_train_1`` ...) and build the sequence; a DataError names what is wrong."""
    numbers = sorted({int(k.rpartition("_")[2]) for k in arrays})
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(numbers):
            raise DataError(f"task_names: {len(names)} names for {len(numbers)} tasks")
    tasks, input_shape = [], None
    for t in numbers:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            if f"{key}_{t}" not in arrays:
                raise DataError(f"task {t}: {key}_{t} is missing")
        if (f"x_val_{t}" in arrays) != (f"y_val_{t}" in arrays):
            have, lack = ("x_val", "y_val") if f"x_val_{t}" in arrays else ("y_val", "x_val")
            raise DataError(f"task {t}: {have}_{t} is given without {lack}_{t}")
        splits = [s for s in SPLITS if f"x_{s}_{t}" in arrays]
        xs, ys, classes = {}, {}, []
        for s in splits:
            x, y = arrays[f"x_{s}_{t}"], arrays[f"y_{s}_{t}"]
            check_inputs(x, f"x_{s}_{t}")
            ys[s], n_classes = check_targets(y, f"y_{s}_{t}")
            if len(x) != len(y):
                raise DataError(f"task {t}: x_{s}_{t} has {len(x)} examples but y_{s}_{t} has {len(y)}")
            if input_shape is None:
                input_shape = x.shape[1:]
            elif x.shape[1:] != input_shape:
                raise DataError(
                    f"x_{s}_{t}: inputs of shape {x.shape[1:]} do not fit the network's input {input_shape} "
                    "(set by x_train_1): every task and split must have one input shape"
                )
            xs[s] = x
            classes.append(n_classes)
        n_outputs = _n_outputs(ys, classes, t)
        tensors = {}
        for s in splits:
            x = torch.from_numpy(np.ascontiguousarray(xs[s], dtype=np.float32).reshape(len(xs[s]), -1))
            y = ys[s] if ys[s].ndim == 2 else np.eye(n_outputs, dtype=np.float32)[ys[s]]
            tensors[s] = (x, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)))
        val = tensors.get("val", (None, None))
        task_name = names[len(tasks)] if names is not None else f"task {t}"
        tasks.append(TaskData(task_name, n_outputs, *tensors["train"], *val, *tensors["test"]))
    return TaskSequence(name, math.prod(input_shape), tuple(input_shape), tuple(tasks), description, source)


def _n_outputs(ys: dict[str, np.ndarray], classes: list[int | None], t: int) -> int:
    kinds = {c is None for c in classes}
    if len(kinds) > 1:
        raise DataError(f"task {t}: some splits give integer labels and others a 0/1 matrix; use one kind")
    if None in classes:
        widths = {s: y.shape[1] for s, y in ys.items()}
        if len(set(widths.values())) > 1:
            raise DataError(f"task {t}: target matrices have different widths {widths}")
        rows = np.unique(ys["train"], axis=0)
        if len(rows) < 2:
            raise DataError(f"y_train_{t}: one class only (every row is {rows[0].tolist()}); a task needs two")
        return next(iter(widths.values()))
    if len(np.unique(ys["train"])) < 2:
        raise DataError(f"y_train_{t}: one class only (every label is {int(ys['train'][0])}); a task needs two")
    return max(max(classes), 2)


def load_npz(path: str | Path) -> TaskSequence:
    """The task sequence of a ``.npz`` file (den_engine.data.npz reads and checks it)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    path = path.resolve()
    return _load_npz(str(path), file_sha256(path))


@lru_cache(maxsize=4)
def _load_npz(path: str, sha256: str) -> TaskSequence:
    # Keyed by the content's hash: a file rewritten in place is read again, an unchanged one is not.
    arrays, names, source = read_npz(path, sha256)
    try:
        return build_sequence(arrays, names, Path(path).stem, f"tasks from {Path(path).name}", source)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
