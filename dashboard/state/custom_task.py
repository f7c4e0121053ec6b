"""A task the class brings: two-class points drawn on the plane or read from a small CSV (pure; no Streamlit).

A CSV has the header ``x1,x2,label`` and one point per row: coordinates inside the toy
plane, label 0 or 1. Every rejection names the row and the column. The points travel in
the classroom link as compact text (``x1~x2~label`` joined by ``_``) when that text is
short enough; ``link_problem`` says why not otherwise.

Training data: a handful of clicked points is too few to train and test on, so each point
becomes a small cloud (Gaussian jitter of ``JITTER``) of ``SAMPLES`` points in all, split
like the built-in toy tasks. The seed fixes the clouds, so a link reproduces the run.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np
import torch

from den_engine.data.benchmarks import TaskData
from den_engine.data.toy2d import TOY_2D_EXTENT

NAME = "yours"
"""The custom task's name in the task sequence."""
HEADER = ("x1", "x2", "label")
MAX_ROWS = 200
MIN_ROWS = 4
MAX_BYTES = 20_000
LINK_LIMIT = 1_500
"""Characters of point text a classroom link may carry (browsers and chat apps cut long links)."""
JITTER = 0.08
SAMPLES = (400, 100, 200)
"""Train, validation and test points made from the clouds (the built-in tasks' split)."""


class CustomTaskError(ValueError):
    """A custom task's points are unusable; the message names the row and column."""


@dataclass(frozen=True)
class CustomPoints:
    """Validated points (n, 2) float32 and labels (n,) int of a custom task."""

    points: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _number(text: str, row: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CustomTaskError(f"Row {row}, column {column}: “{text}” is not a number.") from None
    if not math.isfinite(value):
        raise CustomTaskError(f"Row {row}, column {column}: “{text}” is not a finite number.")
    return value


def _check_row(cells: list[str], row: int) -> tuple[float, float, int]:
    if len(cells) != 3:
        raise CustomTaskError(f"Row {row} has {len(cells)} cells; it needs 3: x1, x2 and label.")
    low, high = TOY_2D_EXTENT
    x1, x2 = (_number(cells[i].strip(), row, HEADER[i]) for i in (0, 1))
    for value, column in ((x1, "x1"), (x2, "x2")):
        if not low <= value <= high:
            raise CustomTaskError(f"Row {row}, column {column}: {value:g} is outside the plane ({low:g} to {high:g}).")
    label = cells[2].strip()
    if label not in ("0", "1", "0.0", "1.0"):
        raise CustomTaskError(f"Row {row}, column label: “{label}” is not 0 or 1.")
    return x1, x2, int(float(label))


def validate(rows: list[tuple[float, float, int]]) -> CustomPoints:
    """CustomPoints from checked rows, or CustomTaskError when there are too few, too many or one class only."""
    if len(rows) > MAX_ROWS:
        raise CustomTaskError(f"There are {len(rows)} points; the limit is {MAX_ROWS}.")
    if len(rows) < MIN_ROWS:
        raise CustomTaskError(f"There are {len(rows)} points; a task needs at least {MIN_ROWS}.")
    labels = np.array([r[2] for r in rows], dtype=np.int64)
    if labels.min() == labels.max():
        raise CustomTaskError(f"Every point has label {labels[0]}; a task needs points of both labels, 0 and 1.")
    points = np.array([r[:2] for r in rows], dtype=np.float32)
    return CustomPoints(points, labels)


def parse_csv(data: bytes) -> CustomPoints:
    """Points from a CSV file's bytes (header x1,x2,label); CustomTaskError names what is wrong, and where."""
    if len(data) > MAX_BYTES:
        raise CustomTaskError(f"The file is {len(data):,} bytes; the limit is {MAX_BYTES:,} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CustomTaskError("The file is not plain text (UTF-8); save it as CSV.") from None
    lines = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if not lines:
        raise CustomTaskError("The file is empty: it needs the header x1,x2,label and one point per row.")
    header = tuple(c.strip().lower() for c in lines[0])
    if header != HEADER:
        raise CustomTaskError(f"Row 1 must be the header x1,x2,label; it is “{','.join(lines[0])}”.")
    if len(lines) - 1 > MAX_ROWS:
        raise CustomTaskError(f"The file has {len(lines) - 1} points; the limit is {MAX_ROWS}.")
    return validate([_check_row(cells, i + 2) for i, cells in enumerate(lines[1:])])


def to_text(custom: CustomPoints) -> str:
    """The points as link text: ``x1~x2~label`` (2 decimals) joined by ``_``."""
    return "_".join(f"{x:.2f}~{y:.2f}~{int(lab)}" for (x, y), lab in zip(custom.points, custom.labels, strict=True))


def from_text(text: str) -> CustomPoints:
    """Points from link text (see ``to_text``); CustomTaskError names the bad point."""
    rows = []
    for i, item in enumerate(p for p in text.split("_") if p):
        rows.append(_check_row(item.split("~"), i + 1))
    return validate(rows)


def link_problem(custom: CustomPoints | None) -> str | None:
    """Why the classroom link cannot carry these points, or None when it can."""
    if custom is None:
        return None
    size = len(to_text(custom))
    if size <= LINK_LIMIT:
        return None
    return (f"your task's {len(custom)} points need {size:,} characters, more than a link carries safely "
            f"({LINK_LIMIT:,}); the link holds every other setting: share the CSV file with it.")  # fmt: skip


def to_csv(custom: CustomPoints) -> str:
    """The points as a CSV file that ``parse_csv`` reads back."""
    lines = [",".join(HEADER)]
    lines += [f"{x:.4g},{y:.4g},{int(lab)}" for (x, y), lab in zip(custom.points, custom.labels, strict=True)]
    return "\n".join(lines) + "\n"


def task_data(custom: CustomPoints, seed: int) -> TaskData:
    """A toy task from the points: a cloud around each point, split into train, validation and test."""
    rng = np.random.default_rng([int(seed), 0x5EED, len(custom)])
    n = sum(SAMPLES)
    pick = rng.integers(0, len(custom), n)
    pick[: len(custom)] = np.arange(len(custom))  # every point appears at least once
    rng.shuffle(pick)
    x = custom.points[pick] + rng.normal(0.0, JITTER, (n, 2)).astype(np.float32)
    x = np.clip(x, *TOY_2D_EXTENT).astype(np.float32)
    y = custom.labels[pick].astype(np.float32)[:, None]
    a, b = SAMPLES[0], SAMPLES[0] + SAMPLES[1]
    t = [torch.from_numpy(v.copy()) for v in (x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])]
    return TaskData(NAME, 1, *t)
