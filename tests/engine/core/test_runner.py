"""Whole runs: determinism, evaluate agrees, stop and resume lose nothing."""

import json

import pytest
import torch

from den_engine.core.config import preset
from den_engine.core.errors import DENError, TrainingStopped
from den_engine.core.runner import Callbacks, Trainer
from den_engine.records.evaluate import evaluate_run
from den_engine.records.store import clean_json, load_run, strip_timings

BENCH = "digits-one-vs-rest"


def tiny(**overrides):
    values = dict(hidden_sizes=(16, 8), iterations=30, head_iterations=20, batch_size=64, device="cpu")
    values.update(overrides)
    return preset("fast", **values)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "a"
    trainer = Trainer(tiny(loss_threshold=0.0, split_threshold=0.02), BENCH, 3, out)
    trainer.run()
    return out, trainer


def test_same_seed_gives_the_same_record(finished_run, tmp_path):
    out, trainer = finished_run
    again = Trainer(tiny(loss_threshold=0.0, split_threshold=0.02), BENCH, 3, tmp_path / "b")
    again.run()
    a = strip_timings(json.loads((out / "run.json").read_text()))
    b = strip_timings(json.loads((tmp_path / "b" / "run.json").read_text()))
    assert a == b
    for task in (1, 2, 3):
        wa, wb = load_run(out).weights(task), load_run(tmp_path / "b").weights(task)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_another_seed_gives_another_run(finished_run, tmp_path):
    out, _ = finished_run
    other = Trainer(tiny(loss_threshold=0.0, split_threshold=0.02, seed=1), BENCH, 2, tmp_path / "c")
    other.run()
    a = load_run(out).tasks[0]["metrics"]
    b = load_run(tmp_path / "c").tasks[0]["metrics"]
    assert a != b


def test_record_round_trips_through_json_unchanged(finished_run):
    out, trainer = finished_run
    assert load_run(out).data == clean_json(trainer.record)


def test_record_has_every_decision(finished_run):
    out, _ = finished_run
    run = load_run(out)
    assert run.data["status"] == "complete" and run.data["final"]["n_tasks"] == 3
    t2 = run.tasks[1]
    kinds = {e["type"] for e in t2["events"]}
    assert {"stage_end", "selection", "expansion_decision", "expansion", "drift", "split", "sparsity"} <= kinds
    stages = [e["stage"] for e in t2["events"] if e["type"] == "stage_end"]
    assert stages[:3] == ["train_head", "selective_retraining", "expansion"]
    ids = [u["id"] for u in t2["units"]]
    assert len(ids) == len(set(ids))
    assert t2["layer_sizes"][1:] == [sum(u["layer"] == layer for u in t2["units"]) for layer in (1, 2)]
    assert len(t2["metrics"]["auroc"]) == 2
    assert run.data["final"]["auroc_matrix"][-1] == run.tasks[-1]["metrics"]["auroc"]


def test_evaluate_agrees_with_the_record(finished_run):
    out, _ = finished_run
    report = evaluate_run(out)
    assert report["agrees_with_record"] and report["max_abs_difference"] == 0.0
    assert report["auroc_matrix"] == [t["metrics"]["auroc"] for t in load_run(out).tasks]


def test_evaluate_notices_tampered_weights(finished_run, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    out, _ = finished_run
    copy = tmp_path / "tampered"
    shutil.copytree(out, copy)
    path = copy / "weights" / "task-002.safetensors"
    tensors = load_file(path)
    tensors["head.1.weight"] = -tensors["head.1.weight"]
    save_file(tensors, path)
    assert evaluate_run(copy)["agrees_with_record"] is False


def test_stop_keeps_finished_tasks_and_continuing_matches_an_uninterrupted_run(finished_run, tmp_path):
    out, _ = finished_run
    calls = {"n": 0}

    def stop_in_task_2():
        calls["n"] += 1
        return trainer.tasks_done == 1 and calls["n"] > 40

    trainer = Trainer(
        tiny(loss_threshold=0.0, split_threshold=0.02), BENCH, 3, tmp_path / "s", Callbacks(should_stop=stop_in_task_2)
    )
    trainer.train_next()
    before = [w.clone() for w in trainer.net.weights]
    with pytest.raises(TrainingStopped):
        trainer.train_next()
    assert trainer.tasks_done == 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.net.weights, strict=True))
    saved = load_run(tmp_path / "s")
    assert saved.data["status"] == "stopped" and len(saved.tasks) == 1
    trainer.callbacks = Callbacks()
    trainer.run()
    a = strip_timings(load_run(out).tasks)
    b = strip_timings(load_run(tmp_path / "s").tasks)
    assert a == b


def test_resume_from_disk_matches_an_uninterrupted_run(finished_run, tmp_path):
    out, _ = finished_run
    first = Trainer(tiny(loss_threshold=0.0, split_threshold=0.02), BENCH, 3, tmp_path / "r")
    first.train_next()
    first.train_next()
    del first
    resumed = Trainer.resume(tmp_path / "r")
    assert resumed.tasks_done == 2
    resumed.run()
    assert strip_timings(load_run(out).tasks) == strip_timings(load_run(tmp_path / "r").tasks)


def test_training_past_the_last_task_is_a_clear_error(finished_run):
    _, trainer = finished_run
    with pytest.raises(DENError, match="already learned"):
        trainer.train_next()


def test_cuda_request_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path cannot be exercised")
    from den_engine.core.errors import ConfigError

    with pytest.raises(ConfigError, match="device"):
        Trainer(tiny(device="cuda"), BENCH, 1)
