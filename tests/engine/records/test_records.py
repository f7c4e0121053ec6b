"""Run files: atomic writes, clear errors for missing, partial, foreign or corrupted files."""

import json

import pytest
import torch

from den_engine.core.config import preset
from den_engine.core.errors import RunFileError
from den_engine.core.runner import Trainer
from den_engine.records.store import load_run, read_weights, write_run_json, write_weights


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "run"
    config = preset("fast", hidden_sizes=(8, 4), iterations=10, head_iterations=5, device="cpu")
    Trainer(config, "toy-2d", 2, out).run()
    return out


def copy_of(run_dir, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(run_dir, target)
    return target


def test_loads_a_run_by_directory_or_file(run_dir):
    assert load_run(run_dir).data == load_run(run_dir / "run.json").data
    net = load_run(run_dir).network(2)
    assert net.forward(torch.zeros(3, 2), 1).shape == (3, 1)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda p: (p / "run.json").write_text('{"format": "den-run", "schema_ver'), "not valid JSON"),
        (lambda p: (p / "run.json").write_bytes(b"\xff\xfe\x00garbage"), "not valid JSON"),
        (lambda p: (p / "run.json").write_text("[1, 2]"), "JSON object"),
        (lambda p: (p / "run.json").write_text('{"format": "something-else"}'), "not a DEN run"),
        (lambda p: _edit(p, schema_version=99), "schema version 99"),
        (lambda p: _edit(p, tasks="nope"), "'tasks'"),
        (lambda p: _edit_task(p, 0, task=5), "says it is task 5"),
        (lambda p: _edit_task(p, 0, weights="../../etc/passwd"), "unexpected weights file"),
        (lambda p: (p / "run.json").unlink(), "no run.json"),
    ],
)
def test_broken_run_files_give_a_clear_error(run_dir, tmp_path, mutate, message):
    target = copy_of(run_dir, tmp_path)
    mutate(target)
    with pytest.raises(RunFileError, match=message):
        load_run(target)


def _edit(path, **changes):
    data = json.loads((path / "run.json").read_text())
    data.update(changes)
    (path / "run.json").write_text(json.dumps(data))


def _edit_task(path, index, **changes):
    data = json.loads((path / "run.json").read_text())
    data["tasks"][index].update(changes)
    (path / "run.json").write_text(json.dumps(data))


def test_missing_directory(tmp_path):
    with pytest.raises(RunFileError, match="no such run directory"):
        load_run(tmp_path / "absent")


@pytest.mark.parametrize("damage", ["truncate", "missing", "garbage"])
def test_broken_weights_give_a_clear_error(run_dir, tmp_path, damage):
    target = copy_of(run_dir, tmp_path)
    path = target / "weights" / "task-002.safetensors"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"\x00" * 64)
    run = load_run(target)
    with pytest.raises(RunFileError, match="task-002"):
        run.network(2)
    run.network(1)  # the other task still loads


def test_weights_that_do_not_match_the_snapshot(run_dir, tmp_path):
    target = copy_of(run_dir, tmp_path)
    tensors = read_weights(target / "weights" / "task-001.safetensors")
    del tensors["hidden.2.weight"]
    write_weights(target, 1, tensors)
    with pytest.raises(RunFileError, match="do not match"):
        load_run(target).network(1)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    write_run_json(tmp_path, {"format": "x", "n": 1})
    with pytest.raises(TypeError):
        write_run_json(tmp_path, {"format": "x", "bad": object()})
    assert json.loads((tmp_path / "run.json").read_text()) == {"format": "x", "n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_nan_is_written_as_null(tmp_path):
    write_run_json(tmp_path, {"value": float("nan"), "inf": float("inf")})
    assert json.loads((tmp_path / "run.json").read_text()) == {"value": None, "inf": None}
