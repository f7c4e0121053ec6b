"""A task file (.npz) through ``den run --data``: every bad file is one ``error:`` line, exit 2, nothing written."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from den_engine.cli import main
from den_engine.data.sequence import DataError, TaskSequence

FAST = ["--preset", "fast", "--quiet", "--device", "cpu", "--set", "hidden_sizes=4,4", "--set", "iterations=2",
        "--set", "head_iterations=2"]  # fmt: skip


def good_arrays(n_tasks: int = 2, n: int = 12) -> dict:
    """Tiny valid tasks: 3 features, binary labels, both classes in every split."""
    rng = np.random.default_rng(0)
    arrays = {}
    for t in range(1, n_tasks + 1):
        for split, size in (("train", n), ("test", n // 2)):
            arrays[f"x_{split}_{t}"] = rng.normal(size=(size, 3)).astype(np.float32)
            arrays[f"y_{split}_{t}"] = np.arange(size) % 2
    return arrays


def _without(key):
    def change(a):
        del a[key]

    return change


def _set(key, value):
    def change(a):
        a[key] = value(a[key]) if callable(value) else value

    return change


def _write_bytes(data: bytes):
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write


def _truncated(path: Path) -> None:
    np.savez(path, **good_arrays())
    path.write_bytes(path.read_bytes()[:300])


def _pickled(path: Path) -> None:
    arrays = good_arrays()
    arrays["x_train_1"] = np.array([{"a": 1}] * 12, dtype=object)
    np.savez(path, **arrays)  # numpy pickles object arrays on save


def _pickled_labels(path: Path) -> None:
    arrays = good_arrays()
    arrays["y_train_2"] = np.array([0, 1] * 6, dtype=object)
    np.savez(path, **arrays)


def _nan(a):
    a["x_train_2"][3, 1] = np.nan


def _inf(a):
    a["x_test_1"][0, 0] = np.inf


def _renumber(a, old: int, new: int):
    for key in [k for k in a if k.endswith(f"_{old}")]:
        a[key[: -len(str(old))] + str(new)] = a.pop(key)


BAD_ARRAYS = {
    "missing key": (_without("y_test_2"), "y_test_2 is missing"),
    "gap in task numbers": (lambda a: _renumber(a, 2, 3), "task 2 is missing"),
    "numbers from zero": (lambda a: _renumber(a, 1, 0), "start at 1"),
    "unknown array": (_set("x_trian_1", np.zeros((2, 3))), "unexpected array 'x_trian_1'"),
    "val without its targets": (_set("x_val_1", np.zeros((4, 3), np.float32)), "x_val_1 is given without y_val_1"),
    "mismatched lengths": (_set("y_train_1", lambda y: y[:-1]), "x_train_1 has 12 examples but y_train_1 has 11"),
    "NaN in inputs": (_nan, "x_train_2: holds NaN or infinite"),
    "inf in inputs": (_inf, "x_test_1: holds NaN or infinite"),
    "string inputs": (_set("x_train_1", lambda x: x.astype(str)), "x_train_1: dtype <U"),
    "complex inputs": (_set("x_test_2", lambda x: x.astype(np.complex64)), "x_test_2: dtype complex64"),
    "one value per example": (_set("x_train_1", lambda x: x[:, 0]), "x_train_1: shape (12,)"),
    "fractional labels": (_set("y_train_1", lambda y: y + 0.5), "y_train_1: labels must be whole numbers"),
    "negative labels": (_set("y_test_2", lambda y: y - 1), "y_test_2: labels must be 0 or more"),
    "matrix not 0/1": (_set("y_train_2", lambda y: np.stack([y, 2 * y], 1)), "y_train_2: a target matrix"),
    "one class only": (_set("y_train_2", lambda y: np.ones_like(y)), "y_train_2: one class only"),
    "input shapes differ": (_set("x_train_2", lambda x: x[:, :2]), "do not fit the network's input (3,)"),
    "image shapes differ": (
        lambda a: a.update(
            {k: np.zeros((len(v), 2, 2), np.float32) for k, v in a.items() if k.startswith("x_")}
            | {"x_test_2": np.zeros((6, 2, 3), np.float32)}
        ),
        "x_test_2: inputs of shape (2, 3) do not fit the network's input (2, 2)",
    ),  # fmt: skip
    "task names of another length": (_set("task_names", np.array(["a", "b", "c"])), "3 names for 2 tasks"),
    "task names not strings": (_set("task_names", np.array([1, 2])), "task_names: must be a 1-D array of strings"),
}

BAD_FILES = {
    "text file": (_write_bytes(b"x_train_1,y_train_1\n1,0\n"), "not a readable .npz file"),
    "empty file": (_write_bytes(b""), "not a readable .npz file"),
    "truncated npz": (_truncated, "not a readable .npz file"),
    "a single .npy": (lambda p: p.write_bytes(_npy_bytes()), "not a readable .npz file"),
    "pickled object inputs": (_pickled, "x_train_1: holds pickled Python objects"),
    "pickled object labels": (_pickled_labels, "y_train_2: holds pickled Python objects"),
    "no arrays": (lambda p: np.savez(p), "holds no arrays"),
}


def _npy_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 3)))
    return buffer.getvalue()


def _write_case(path: Path, case: str) -> str:
    if case in BAD_ARRAYS:
        change, words = BAD_ARRAYS[case]
        arrays = good_arrays()
        change(arrays)
        np.savez(path, **arrays)
        return words
    write, words = BAD_FILES[case]
    write(path)
    return words


@pytest.mark.parametrize("case", [*BAD_ARRAYS, *BAD_FILES])
def test_every_bad_file_is_one_error_line_exit_2_and_nothing_written(tmp_path, capsys, case):
    path = tmp_path / "tasks.npz"
    words = _write_case(path, case)
    out = tmp_path / "run"
    code = main(["run", "--data", str(path), "--out", str(out), *FAST])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert words in captured.err and str(path) in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()


def test_a_pickle_is_refused_by_the_installed_command_without_a_traceback(tmp_path):
    path = tmp_path / "evil.npz"
    _pickled(path)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "den_engine", "run", "--data", str(path), "--out", str(out), *FAST],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "pickled" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_more_tasks_than_the_file_has_is_refused(tmp_path, capsys):
    path = tmp_path / "tasks.npz"
    np.savez(path, **good_arrays())
    assert main(["run", "--data", str(path), "--tasks", "3", "--out", str(tmp_path / "run"), *FAST]) == 2
    assert "--tasks: tasks has 1 to 2 tasks, got 3" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_data_and_benchmark_together_are_refused(tmp_path, capsys):
    path = tmp_path / "tasks.npz"
    np.savez(path, **good_arrays())
    assert main(["run", "--data", str(path), "--benchmark", "toy-2d", "--out", str(tmp_path / "run")]) == 2
    assert "--data" in capsys.readouterr().err


def test_a_good_file_reads_back_every_array(tmp_path):
    arrays = good_arrays()
    arrays["x_val_2"] = np.ones((4, 3), np.float32)
    arrays["y_val_2"] = np.array([0, 1, 1, 0])
    path = tmp_path / "tasks.npz"
    np.savez(path, task_names=np.array(["first", "second"]), **arrays)
    seq = TaskSequence.from_npz(path)
    assert [t.name for t in seq.tasks] == ["first", "second"]
    assert seq.name == "tasks" and seq.input_shape == (3,)
    np.testing.assert_array_equal(seq.tasks[1].x_val.numpy(), arrays["x_val_2"])
    np.testing.assert_array_equal(seq.tasks[0].y_test.numpy().argmax(1), arrays["y_test_1"])
    assert seq.tasks[0].x_val is None  # drawn later, by the run's seed
    source = seq.source
    assert source["kind"] == "npz" and source["file"] == "tasks.npz" and len(source["sha256"]) == 64
    assert source["arrays"]["x_val_2"] == {"shape": [4, 3], "dtype": "float32"}
    assert source["arrays"]["y_train_1"]["dtype"] == "int64" and source["arrays"]["task_names"]["shape"] == [2]


def test_a_file_rewritten_in_place_is_read_again(tmp_path):
    path = tmp_path / "tasks.npz"
    np.savez(path, **good_arrays())
    first = TaskSequence.from_npz(path)
    arrays = good_arrays()
    arrays["y_train_1"] = np.ones(12, dtype=np.int64)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="one class only"):
        TaskSequence.from_npz(path)
    assert first.source["sha256"] != ""


@pytest.mark.parametrize("command", ["run", "sweep", "compare"])
def test_data_and_a_benchmark_together_are_refused_by_every_command(tmp_path, capsys, command):
    path = tmp_path / "tasks.npz"
    np.savez(path, **good_arrays())
    out = tmp_path / "out"
    code = main([command, "--data", str(path), "--benchmark", "toy-2d", "--out", str(out), "--tasks", "1"])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.startswith("error: --data") and captured.err.count("\n") == 1, captured.err
    assert not out.exists()
