"""The plain-language task log says what the snapshot's events say, with their numbers."""

from __future__ import annotations

import pytest

from dashboard.narrate import fmt, narrate_task
from den_engine import Trainer, preset


def _snapshot(expand: bool = True, pairs: list | None = None) -> dict:
    events = [
        {"type": "stage_end", "stage": "train_head", "iterations": 100, "loss": 0.3},
        {"type": "selection", "stage": "selective_retraining", "selected": [[1], [2]],
         "counts": [[37, 312], [12, 128]]},
        {"type": "stage_end", "stage": "selective_retraining", "iterations": 150, "loss": 0.052},
        {"type": "expansion_decision", "stage": "selective_retraining", "loss": 0.052, "loss_threshold": 0.01,
         "expand": expand},
        {"type": "drift", "stage": "split", "split_threshold": 0.05,
         "drift": [{"ids": [1, 2], "values": [0.02, 0.09]}, {"ids": [3], "values": [0.01]}]},
        {"type": "split", "stage": "split", "pairs": pairs or []},
    ]  # fmt: skip
    if expand:
        events.insert(4, {"type": "expansion", "stage": "pruning", "added": [list(range(10)), list(range(10, 20))],
                          "pruned": [[0, 1, 2], [10, 11, 12, 13]], "kept": [list(range(3, 10)), list(range(14, 20))],
                          "loss": 0.02})  # fmt: skip
    return {
        "task": 4, "name": "digit 3 vs rest", "layer_sizes": [784, 322, 138], "active_sizes": [784, 320, 138],
        "events": events, "sparsity": [0.5, 0.25], "params": {"total": 1000, "nonzero": 600},
        "metrics": {"average_auroc": 0.987},
    }  # fmt: skip


def _record(snapshot: dict) -> dict:
    filler = [{"task": t} for t in range(1, snapshot["task"])]
    return {"config": {"expand_units": 10}, "tasks": [*filler, snapshot]}


def test_expanding_task_names_every_decision_with_its_numbers():
    text = " ".join(narrate_task(_record(_snapshot()), 4))
    assert text.startswith("Task 4: digit 3 vs rest")
    assert "retrained 37 of 312 units in layer 1 and 12 of 128 units in layer 2" in text
    assert "loss after selective retraining 0.052 > τ = 0.01, so added 10 units per layer" in text.lower()
    assert "pruned 7 of the 20 new units (3 of 10 in layer 1 and 4 of 10 in layer 2); 13 kept" in text
    assert "No unit drifted more than σ = 0.05 (largest drift 0.09)" in text
    assert "322 and 138 units (320 and 138 used by this task)" in text
    assert "50% and 25%" in text and "1,000 parameters (600 non-zero)" in text and "0.987" in text


def test_no_expansion_and_splits_are_reported():
    pairs = [{"layer": 1, "parent": 2, "duplicate": 40, "drift": 0.09}]
    text = " ".join(narrate_task(_record(_snapshot(expand=False, pairs=pairs)), 4))
    assert "0.052 ≤ τ = 0.01, so the network did not grow" in text
    assert "pruned" not in text
    assert "1 units drifted more than σ = 0.05 (1 in layer 1)" in text and "#2 → #40 (0.09)" in text


def test_missing_task_is_a_sentence_not_an_error():
    assert narrate_task({"tasks": []}, 3) == ["Task 3 has not been learned in this run."]


@pytest.mark.parametrize(("value", "text"), [(0.0523, "0.0523"), (float("inf"), "∞"), (None, "n/a"), (10, "10")])
def test_fmt(value, text):
    assert fmt(value) == text


def test_log_of_a_real_run_matches_its_events(tmp_path):
    config = preset("fast", hidden_sizes=(8, 8), iterations=20, head_iterations=10, loss_threshold=0.0)
    record = Trainer(config, "toy-2d", 2, out_dir=tmp_path / "run").run()
    first = " ".join(narrate_task(record, 1))
    assert "from scratch with L1 sparsity for 20 steps" in first
    second = narrate_task(record, 2)
    selection = next(e for e in record["tasks"][1]["events"] if e["type"] == "selection")
    n, total = selection["counts"][0]
    assert any(f"retrained {n} of {total} units in layer 1" in line for line in second)
    k = record["config"]["expand_units"]  # the fast preset's k for toy-2d
    assert any(f"> τ = 0, so added {k} units per layer" in line for line in second)  # tau = 0 always expands
    sizes = record["tasks"][1]["layer_sizes"][1:]
    assert any(f"hold {sizes[0]} and {sizes[1]} units" in line for line in second)


def test_auroc_reads_as_a_number_with_decimals_and_task_one_is_not_a_range():
    first = {**_snapshot(), "task": 1, "events": [], "metrics": {"average_auroc": 1.0}}
    text = " ".join(narrate_task({"config": {}, "tasks": [first]}, 1))
    assert "AUROC on task 1 is 1.000." in text and "1–1" not in text
    assert "average AUROC over tasks 1–4 is 0.987." in " ".join(narrate_task(_record(_snapshot()), 4))


@pytest.mark.parametrize(("pairs", "said"), [([], "nothing split"), ([{"layer": 1, "parent": 2, "duplicate": 40,
                                                                      "drift": 0.09}], "after the split")])  # fmt: skip
def test_eq6_retraining_is_told_whether_or_not_a_unit_split(pairs, said):
    snapshot = _snapshot(expand=False, pairs=pairs)
    snapshot["events"].append({"type": "stage_end", "stage": "split_retraining", "iterations": 150, "loss": 0.04})
    text = " ".join(narrate_task(_record(snapshot), 4))
    assert said in text and "Eq. 6" in text
    assert ("after the split" in text) == bool(pairs)
