"""Run records on disk: a versioned ``run.json`` plus one safetensors file per task.

Layout of a run directory::

    run.json                      config, benchmark, per-task snapshots, final metrics
    weights/task-001.safetensors  every tensor after task 1 (+ the RNG state)
    weights/task-002.safetensors  ...

Every write goes to a temporary file in the same directory and is then renamed over
the target (atomic on POSIX), weights before ``run.json``: a run killed at any moment
leaves the last completed task intact and loadable. No pickle is ever read.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from den_engine.core.errors import RunFileError
from den_engine.core.network import ExpandableNet

FORMAT = "den-run"
SCHEMA_VERSION = 1
RUN_FILE = "run.json"
MAX_RUN_FILE_BYTES = 256 * 1024 * 1024
TIMING_KEYS = frozenset({"wall_time_s", "samples_per_s", "step_samples_per_s", "created", "updated", "device"})


def weights_name(task: int) -> str:
    """Relative path of task ``task``'s weights file inside a run directory."""
    return f"weights/task-{task:03d}.safetensors"


def clean_json(value: Any) -> Any:
    """Plain JSON: NaN and infinities become None, tuples lists, tensors numbers."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, torch.Tensor):
        return clean_json(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _publish(tmp: str, path: Path) -> None:
    """Give a finished temporary file ordinary permissions and rename it over ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; runs are meant to be shared
    os.replace(tmp, path)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_json(run_dir: Path, record: dict) -> None:
    """Atomically write ``record`` as the run's ``run.json``."""
    text = json.dumps(clean_json(record), indent=1, allow_nan=False)
    _atomic_write_bytes(Path(run_dir) / RUN_FILE, text.encode())


def write_weights(run_dir: Path, task: int, tensors: dict[str, torch.Tensor]) -> str:
    """Atomically write a task's tensors; returns the file's relative name."""
    name = weights_name(task)
    path = Path(run_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata={"format": FORMAT})
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


@dataclass(frozen=True)
class RunRecord:
    """A run read back from disk: its directory and its ``run.json`` content."""

    path: Path
    data: dict

    @property
    def tasks(self) -> list[dict]:
        """Per-task snapshots, in order."""
        return self.data["tasks"]

    @property
    def config(self) -> dict:
        """The run's config as plain data."""
        return self.data["config"]

    def weights(self, task: int) -> dict[str, torch.Tensor]:
        """The tensors saved after task ``task`` (1-based)."""
        if not 1 <= task <= len(self.tasks):
            raise RunFileError(f"{self.path}: no task {task}; the run has {len(self.tasks)} finished tasks")
        return read_weights(self.path / self.tasks[task - 1]["weights"])

    def network(self, task: int, device: str = "cpu") -> ExpandableNet:
        """The network as it was after task ``task``."""
        tensors = self.weights(task)
        tensors = {k: v for k, v in tensors.items() if k.startswith(("hidden.", "head."))}
        snapshot = self.tasks[task - 1]
        try:
            bench = self.data["benchmark"]
            return ExpandableNet.from_state(
                bench["input_dim"], snapshot["units"], tensors, device, bench.get("input_shape")
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise RunFileError(f"{self.path}: weights of task {task} do not match its snapshot ({exc})") from exc


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, with a clear error when it is missing or corrupted."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path}: weights file is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RunFileError(f"{path}: not a readable safetensors file ({exc})") from exc


_REQUIRED = {"format": str, "schema_version": int, "method": str, "config": dict, "benchmark": dict, "tasks": list}
_SNAPSHOT_KEYS = ("task", "layer_sizes", "units", "events", "metrics", "weights")


def load_run(path: str | os.PathLike) -> RunRecord:
    """Read a run directory (or its run.json); a missing, partial or foreign file is a RunFileError."""
    path = Path(path)
    run_dir = path.parent if path.name == RUN_FILE else path
    file = run_dir / RUN_FILE
    if not run_dir.exists():
        raise RunFileError(f"{run_dir}: no such run directory")
    if not file.is_file():
        raise RunFileError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    if file.stat().st_size > MAX_RUN_FILE_BYTES:
        raise RunFileError(f"{file}: larger than {MAX_RUN_FILE_BYTES // 2**20} MiB; refusing to read it")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFileError(f"{file}: not valid JSON ({exc}); the file is truncated or corrupted") from exc
    validate_record(data, str(file))
    return RunRecord(run_dir, data)


def validate_record(data: Any, where: str = "run.json") -> None:
    """Check the shape of a run record; raise RunFileError naming what is wrong."""
    if not isinstance(data, dict):
        raise RunFileError(f"{where}: expected a JSON object at the top level")
    if data.get("format") != FORMAT:
        raise RunFileError(f"{where}: not a DEN run record (format is {data.get('format')!r}, expected {FORMAT!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunFileError(
            f"{where}: written with schema version {version!r}; this version of den_engine reads version "
            f"{SCHEMA_VERSION}"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise RunFileError(f"{where}: field '{key}' is missing or not a {kind.__name__}")
    bench = data["benchmark"]
    if not isinstance(bench.get("input_dim"), int) or not isinstance(bench.get("name"), str):
        raise RunFileError(f"{where}: field 'benchmark' lacks 'name' or 'input_dim'")
    for i, snapshot in enumerate(data["tasks"]):
        if not isinstance(snapshot, dict):
            raise RunFileError(f"{where}: task entry {i + 1} is not an object")
        missing = [k for k in _SNAPSHOT_KEYS if k not in snapshot]
        if missing:
            raise RunFileError(f"{where}: task entry {i + 1} lacks {missing}")
        if snapshot["task"] != i + 1:
            raise RunFileError(f"{where}: task entry {i + 1} says it is task {snapshot['task']!r}")
        weights = snapshot["weights"]
        if not isinstance(weights, str) or weights != weights_name(i + 1):
            raise RunFileError(f"{where}: task entry {i + 1} names an unexpected weights file {weights!r}")
        if not isinstance(snapshot["units"], list) or not all(isinstance(u, dict) for u in snapshot["units"]):
            raise RunFileError(f"{where}: task entry {i + 1} has a malformed unit list")


def strip_timings(value: Any) -> Any:
    """A copy of a record without wall-clock fields (for reproducibility checks)."""
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value
