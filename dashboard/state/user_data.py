"""A user's data in the dashboard: the ``.npz`` files of the runs folder, and a run's own data again.

The Train page offers only the ``.npz`` files lying directly in the runs folder, by file
name: a name with a folder in it, or a file outside the runs folder, is refused, so no
page ever opens a server path a user typed. A run trained on a user's file finds it again
through the engine (``sequence_for_record``), which refuses a missing file or one whose
hash differs with one message naming it; the pages show that message and everything that
does not need the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from den_engine.data.benchmarks import BENCHMARKS, BenchmarkInfo
from den_engine.data.sequence import DataError
from den_engine.data.sources import data_info, sequence_for_record

DATA_SUFFIX = ".npz"
EXAMPLES_PER_TASK = 6
"""Test inputs drawn per task: enough to see what a task is about, few enough for one row."""
POINTS_PER_TASK = 200
"""Test points drawn per task of 2-D inputs: a point is cheap, and a cloud shows the task's shape."""


def is_data_choice(name: object) -> bool:
    """True for a Train-page data choice that names a file (built-in benchmark names never end in .npz)."""
    return isinstance(name, str) and name.lower().endswith(DATA_SUFFIX)


def data_files(folder: str | Path) -> list[str]:
    """File names of the ``.npz`` files directly in ``folder`` (sorted; none when it is missing)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.suffix.lower() == DATA_SUFFIX and p.is_file())


def data_path(name: str, folder: str | Path) -> Path:
    """The runs-folder file a data choice names; a DataError for anything else (a path, a missing file)."""
    root = Path(folder).resolve()
    if not is_data_choice(name) or Path(name).name != name or name in (".", ".."):
        raise DataError(f"data file {name!r}: choose a .npz file from the runs folder {root} by its name")
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():  # a link out of the folder is refused too
        raise DataError(f"data file {name!r}: there is no such .npz file in the runs folder {root}")
    return path


def choice_info(name: str, folder: str | Path | None) -> BenchmarkInfo:
    """Name, input shape and task counts of a built-in benchmark or a runs-folder file (read and checked)."""
    if not is_data_choice(name):
        if name not in BENCHMARKS:
            raise DataError(f"benchmark name {name!r} is unknown; choose one of {list(BENCHMARKS)}")
        return BENCHMARKS[name]
    if folder is None:
        raise DataError(f"data file {name!r}: the runs folder is not usable, so its files cannot be read")
    return file_info(str(data_path(name, folder)))


def file_info(path: str) -> BenchmarkInfo:
    """``data_info`` of a data file, read and hashed once per version of the file (not on every rerun)."""
    return _file_info(path, _stamp(path))


@st.cache_data(max_entries=16, show_spinner=False)
def _file_info(path: str, stamp: tuple) -> BenchmarkInfo:
    del stamp  # part of the cache key only
    return data_info(path)


def choice_label(name: str) -> str:
    """How the picker names a choice: a benchmark by its name, a file as 'your data: NAME'."""
    return f"your data: {name}" if is_data_choice(name) else name


# --- a run's own data --------------------------------------------------------------------------


def source_of(record: dict) -> dict | None:
    """The record's user-data source (file name, path, SHA-256, shapes), None for a built-in benchmark."""
    return (record.get("benchmark") or {}).get("data") or None


@dataclass(frozen=True)
class TaskExamples:
    """A few test inputs of one task, each flattened, with their 0/1 targets."""

    name: str
    inputs: np.ndarray  # (n, input_dim)
    targets: np.ndarray  # (n, n_outputs)


@st.cache_data(max_entries=8, show_spinner=False)
def _examples(bench: dict, seed: int, n_tasks: int, stamp: tuple) -> list[TaskExamples]:
    del stamp  # part of the cache key only: a rewritten file is read (and checked) again
    sequence = sequence_for_record(bench, seed, n_tasks)
    out = []
    for task in sequence.tasks:
        x, y = task.x_test.numpy(), task.y_test.numpy()
        # the first examples of each class, so that every class of a task shows
        labels = y.argmax(1) if y.shape[1] > 1 else y[:, 0]
        if x.shape[1] == 2:
            out.append(TaskExamples(task.name, x[:POINTS_PER_TASK], y[:POINTS_PER_TASK]))
            continue
        picks = [i for c in np.unique(labels) for i in np.flatnonzero(labels == c)[: EXAMPLES_PER_TASK // 2]]
        picks = sorted(picks)[:EXAMPLES_PER_TASK]
        out.append(TaskExamples(task.name, x[picks], y[picks]))
    return out


def _stamp(path: str) -> tuple:
    try:
        info = Path(path).stat()
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size)


def run_examples(record: dict) -> list[TaskExamples]:
    """A few test inputs per task of a run on a user's file; a DataError naming the file if missing or changed."""
    bench = record["benchmark"]
    source = source_of(record) or {}
    seed = int((record.get("config") or {}).get("seed", 0))
    return _examples(bench, seed, int(bench["n_tasks"]), _stamp(source.get("path", "")))
