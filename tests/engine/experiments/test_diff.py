"""Decision diff: empty for a run against itself, names the right task, decision and layer otherwise."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from den_engine.core.config import preset
from den_engine.core.runner import Trainer
from den_engine.experiments.diff import decision_diff, decisions, describe_first, diff_rows

SHIPPED = Path(__file__).resolve().parents[3] / "assets" / "runs"


def _tiny(**overrides):
    return preset("fast", hidden_sizes=(8, 8), iterations=15, head_iterations=10, device="cpu", **overrides)


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads((SHIPPED / "digits-den-fast" / "run.json").read_text())


def _event(snapshot: dict, kind: str) -> dict:
    return next(e for e in snapshot["events"] if e["type"] == kind)


def test_a_run_against_itself_has_no_difference(shipped):
    diff = decision_diff(shipped, copy.deepcopy(shipped))
    assert diff["first"] is None and diff_rows(diff) == []
    assert [t["task"] for t in diff["tasks"]] == list(range(1, len(shipped["tasks"]) + 1))
    assert all(t["differences"] == [] for t in diff["tasks"])
    assert "same decisions" in describe_first(diff)


def test_decisions_read_the_events(shipped):
    snap = shipped["tasks"][1]
    d = decisions(snap)
    assert d["expanded"] == _event(snap, "expansion_decision")["expand"]
    assert d["selected"] == [n for n, _ in _event(snap, "selection")["counts"]]
    assert d["added"] == [len(ids) for ids in _event(snap, "expansion")["added"]]
    assert d["pruned"] == [len(ids) for ids in _event(snap, "expansion")["pruned"]]
    pairs = _event(snap, "split")["pairs"]
    assert d["split"] == [sum(p["layer"] == layer for p in pairs) for layer in (1, 2)]
    assert decisions(shipped["tasks"][0]) == {
        "selected": None, "expanded": None, "added": [0, 0], "pruned": [0, 0], "split": [0, 0],
    }  # fmt: skip


def test_an_edited_split_and_decision_are_found_in_order(shipped):
    other = copy.deepcopy(shipped)
    split = _event(other["tasks"][2], "split")
    before = sum(p["layer"] == 2 for p in split["pairs"])
    split["pairs"].append({"layer": 2, "parent": 40, "duplicate": 999, "drift": 1.0})
    decision = _event(other["tasks"][4], "expansion_decision")
    decision["expand"] = not decision["expand"]
    diff = decision_diff(shipped, other)
    assert diff["first"] == {"task": 3, "what": "split", "layer": 2, "a": before, "b": before + 1}
    assert [(t["task"], t["differences"]) for t in diff["tasks"] if t["differences"]] == [
        (3, [{"what": "split", "layer": 2, "a": before, "b": before + 1}]),
        (5, [{"what": "expanded", "layer": None, "a": not decision["expand"], "b": decision["expand"]}]),
    ]
    rows = diff_rows(diff)
    assert [r["first"] for r in rows] == [True, False] and rows[0]["task"] == 3 and rows[0]["layer"] == 2
    assert "task 3" in describe_first(diff) and "layer 2" in describe_first(diff)


def test_runs_that_differ_only_in_sigma_first_differ_at_a_split():
    a = Trainer(_tiny(split_threshold=0.0), "toy-2d", 2).run()
    b = Trainer(_tiny(split_threshold=math.inf), "toy-2d", 2).run()
    pairs = _event(a["tasks"][1], "split")["pairs"]
    assert pairs, "sigma = 0 splits every unit that drifted at all"
    diff = decision_diff(a, b)
    first = diff["first"]
    assert (first["task"], first["what"], first["layer"]) == (2, "split", min(p["layer"] for p in pairs))
    assert first["a"] == sum(p["layer"] == first["layer"] for p in pairs) and first["b"] == 0
    task2 = diff["tasks"][1]["differences"]
    assert {d["what"] for d in task2} == {"split"}  # selection and expansion come before the split: the same
    assert diff["tasks"][0]["differences"] == []


def test_runs_that_differ_in_tau_first_differ_at_the_expansion_decision():
    a = Trainer(_tiny(loss_threshold=0.0), "toy-2d", 2).run()
    b = Trainer(_tiny(loss_threshold=math.inf), "toy-2d", 2).run()
    diff = decision_diff(a, b)
    assert diff["first"] == {"task": 2, "what": "expanded", "layer": None, "a": True, "b": False}
    assert diff["extra_tasks"] == {"a": 0, "b": 0}
    shorter = decision_diff(a, {**b, "tasks": b["tasks"][:1]})
    assert shorter["first"] is None and shorter["extra_tasks"] == {"a": 1, "b": 0}
    assert "run A has 1 more task" in describe_first(shorter)
    added = [d for d in diff["tasks"][1]["differences"] if d["what"] == "added"]
    assert [d["layer"] for d in added] == [1, 2] and all(d["b"] == 0 and d["a"] > 0 for d in added)
