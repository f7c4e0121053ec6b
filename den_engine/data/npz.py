"""A task sequence from one ``.npz`` file: reading it safely and naming whatever is wrong with it.

The format (docs/cli.md, "Your data"): for each task t = 1..T the arrays ``x_train_t``,
``y_train_t``, ``x_test_t``, ``y_test_t``, optionally ``x_val_t`` and ``y_val_t``, and
optionally ``task_names`` (T strings). The file is read with ``allow_pickle=False``: an
array of Python objects is refused, never unpickled. The run record keeps the file's
name, path, SHA-256 and every array's shape and dtype.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from den_engine.data.arrays import DataError, describe_arrays

_KEY = re.compile(r"^(x|y)_(train|val|test)_(\d+)$")
NAMES_KEY = "task_names"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_npz(path: str, sha256: str | None = None) -> tuple[dict[str, np.ndarray], list[str] | None, dict]:
    """(arrays by key, task names or None, the record's ``source``) of a task file; a DataError names what is wrong."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive, or truncated)")
    try:
        arrays, names = _read_arrays(path)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    source = {"kind": "npz", "file": Path(path).name, "path": path, "sha256": sha256 or file_sha256(path),
              "arrays": describe_arrays(arrays)}  # fmt: skip
    if names is not None:
        source["arrays"][NAMES_KEY] = {"shape": [len(names)], "dtype": "str"}
    return arrays, names, source


def _read_arrays(path: str) -> tuple[dict[str, np.ndarray], list[str] | None]:
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"not a readable .npz file ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError("not an .npz archive of named arrays")
    arrays, names = {}, None
    with npz:
        keys = list(npz.files)
        if not keys:
            raise DataError("holds no arrays; expected x_train_1, y_train_1, x_test_1, y_test_1, ...")
        for key in keys:
            match = _KEY.match(key)
            if key != NAMES_KEY and match is None:
                raise DataError(
                    f"unexpected array {key!r}; expected x_train_t, y_train_t, x_test_t, y_test_t, "
                    "x_val_t, y_val_t (t = 1, 2, ...) and task_names"
                )
            if match is not None and int(match.group(3)) == 0:
                raise DataError(f"{key}: task numbers start at 1")
            value = _read_one(npz, key)
            if key == NAMES_KEY:
                names = _task_names(value)
            else:
                arrays[key] = value
    _check_numbers(arrays)
    return arrays, names


def _read_one(npz, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise DataError(f"{key}: holds pickled Python objects; only plain numeric arrays are read") from None
        raise DataError(f"{key}: cannot be read ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise DataError(f"{key}: cannot be read, the file is truncated or corrupted ({exc})") from None


def _task_names(value: np.ndarray) -> list[str]:
    if value.ndim != 1 or value.dtype.kind not in "US":
        raise DataError(f"{NAMES_KEY}: must be a 1-D array of strings, got dtype {value.dtype} shape {value.shape}")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()]


def _check_numbers(arrays: dict[str, np.ndarray]) -> None:
    numbers = sorted({int(_KEY.match(k).group(3)) for k in arrays})
    if not numbers:
        raise DataError("holds no task arrays; expected x_train_1, y_train_1, x_test_1, y_test_1, ...")
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        raise DataError(
            f"task numbers have a gap: task {missing[0]} is missing between 1 and {numbers[-1]} "
            f"(found tasks {', '.join(map(str, numbers))})"
        )
