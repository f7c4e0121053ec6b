"""One way in for every data source: a benchmark name, a ``.npz`` path or a ``TaskSequence``.

The trainer, the comparison and the sweep name their data with a string (a built-in
benchmark, or a path ending in ``.npz``) or pass a ``TaskSequence``; this module turns any
of them into the sequence to train on, the key a run id hashes, and, for a run record,
the same data again — refusing a file or an in-memory sequence whose hash differs from
the one the run was trained on.
"""

from __future__ import annotations

from pathlib import Path

from den_engine.data.benchmarks import BENCHMARKS, BenchmarkInfo, load_benchmark
from den_engine.data.npz import file_sha256
from den_engine.data.sequence import DataError, TaskSequence, load_npz

DataSource = str | TaskSequence
"""What a Trainer takes as its data: a benchmark name, a path to a ``.npz`` file, or a TaskSequence."""


def is_data_file(benchmark: object) -> bool:
    """True for a string naming a ``.npz`` file (built-in benchmark names never end so)."""
    return isinstance(benchmark, (str, Path)) and str(benchmark).lower().endswith(".npz")


def resolve_sequence(benchmark: DataSource, n_tasks: int | None, seed: int) -> TaskSequence:
    """The first ``n_tasks`` tasks of the data, every task with a validation split (drawn by ``seed`` if missing)."""
    if isinstance(benchmark, TaskSequence):
        # built by hand (no source): fingerprinted, so that its record never passes for a benchmark's
        return benchmark.fingerprinted().first(n_tasks).with_validation(seed)
    if is_data_file(benchmark):
        return load_npz(benchmark).first(n_tasks).with_validation(seed)
    return load_benchmark(benchmark, n_tasks, seed=seed)


def data_key(benchmark: DataSource) -> str:
    """What a run id hashes: a benchmark's name, or the data's name and hash (other data, other id)."""
    if isinstance(benchmark, TaskSequence):
        return benchmark.fingerprinted().key
    if is_data_file(benchmark):
        return load_npz(benchmark).key
    return benchmark


def record_key(bench: dict) -> str:
    """``data_key`` of the data a run record was trained on (its ``benchmark`` entry)."""
    data = bench.get("data")
    return bench["name"] if not data else f"{bench['name']}@{data['sha256'][:16]}"


def data_info(benchmark: DataSource) -> BenchmarkInfo:
    """Name, input shape and task counts of a benchmark or a user's data (read and checked)."""
    if isinstance(benchmark, str) and not is_data_file(benchmark):
        if benchmark not in BENCHMARKS:
            raise DataError(f"benchmark name {benchmark!r} is unknown; choose one of {list(BENCHMARKS)}")
        return BENCHMARKS[benchmark]
    seq = benchmark if isinstance(benchmark, TaskSequence) else load_npz(benchmark)
    return BenchmarkInfo(seq.name, seq.description, seq.input_shape, len(seq.tasks), len(seq.tasks))


def sequence_for_record(bench: dict, seed: int, n_tasks: int, data: DataSource | None = None) -> TaskSequence:
    """The data a run was trained on, from its record's ``benchmark`` entry.

    A built-in benchmark is rebuilt by name. A user's file is ``data`` (a path) or, when
    not given, the file at the recorded path; a file or sequence whose hash differs is a
    DataError naming it.
    """
    source = bench.get("data")
    if not source:
        if data is not None and data_key(data) != bench["name"]:
            raise DataError(f"this run was trained on the built-in benchmark {bench['name']!r}, not on {data}")
        return load_benchmark(bench["name"], n_tasks, seed=seed)
    if isinstance(data, TaskSequence):
        return _same(data, source).first(n_tasks).with_validation(seed)
    if source.get("kind") != "npz":
        raise DataError(
            f"this run was trained on in-memory data (fingerprint {source['sha256'][:12]}); "
            "pass the same TaskSequence again (data=...)"
        )
    return load_npz(_recorded_file(source, data)).first(n_tasks).with_validation(seed)


def _recorded_file(source: dict, data: str | Path | None) -> Path:
    """The run's file: ``data`` or the recorded path; a DataError when the recorded one is gone or either differs."""
    path = Path(data if data is not None else source["path"]).expanduser()
    if data is None and not path.is_file():
        raise DataError(
            f"this run was trained on {source['file']} (SHA-256 {source['sha256'][:12]}), which is no longer at "
            f"{path}; pass it with --data FILE"
        )
    if path.is_file() and (now := file_sha256(path)) != source["sha256"]:
        raise DataError(
            f"{path}: this file differs from the one the run was trained on ({source['file']}, SHA-256 "
            f"{source['sha256'][:12]}, now {now[:12]}); pass the same file with --data"
        )
    return path


def check_recorded_file(bench: dict, data: str | Path | None = None) -> None:
    """The file a run was trained on is still the same (``den export``, ``den report``): the SHA-256 only.

    ``data`` (a path) or, when not given, the file at the recorded path must hash as recorded; a file found
    nowhere or differing is a DataError naming it. A built-in benchmark passes (``data`` then must name it);
    a run on in-memory data passes, having no file to compare (from Python, ``evaluate_run`` takes the data).
    """
    source = bench.get("data")
    if not source:
        if data is not None and data_key(data) != bench["name"]:
            raise DataError(f"this run was trained on the built-in benchmark {bench['name']!r}, not on {data}")
        return
    if source.get("kind") != "npz":
        if data is not None:
            raise DataError(
                f"this run was trained on in-memory data (fingerprint {source['sha256'][:12]}), not on a file: "
                "leave out --data"
            )
        return
    if not _recorded_file(source, data).is_file():  # --data naming no file (the recorded one gone is refused above)
        raise DataError(f"--data {data}: not a file; pass the file this run was trained on ({source['file']})")


def _same(data: TaskSequence, source: dict) -> TaskSequence:
    if data.source is None or data.source["sha256"] != source["sha256"]:
        have = "a built-in benchmark" if data.source is None else f"hash {data.source['sha256'][:12]}"
        raise DataError(
            f"the data passed ({data.name}, {have}) differs from the data this run was trained on "
            f"(hash {source['sha256'][:12]})"
        )
    return data
