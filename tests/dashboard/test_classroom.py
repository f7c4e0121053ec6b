"""Classroom texts: a neuron's story and the predict-then-reveal answers carry the run's own numbers."""

from __future__ import annotations

import copy

import pytest

from dashboard import classroom
from dashboard.state import url_state
from dashboard.state.learn_session import PairTrainer, spec_from_state
from den_engine import Callbacks


@pytest.fixture(scope="module")
def record():
    """Two tasks with τ = 0 (always grows) and σ = 0 (every drifted unit splits)."""
    state = url_state.LearnState(tasks=("blobs", "moons"), hidden_sizes=(3, 3), iterations=20, expand_units=2,
                                 loss_threshold=0.0, split_threshold=0.0, compare="none")  # fmt: skip
    pair = PairTrainer(spec_from_state(state), Callbacks(), Callbacks())
    pair.train_next()
    pair.train_next()
    return pair.den.record


def _event(snapshot, kind):
    return next(e for e in snapshot["events"] if e["type"] == kind)


def test_answers_follow_the_decisions_with_their_numbers(record):
    first, second = record["tasks"]
    assert classroom.answers(first)["grow"][0] == "no" and classroom.answers(first)["split"][0] == "no"
    decision, split = _event(second, "expansion_decision"), _event(second, "split")
    grow, splits = classroom.answers(second)["grow"], classroom.answers(second)["split"]
    assert grow[0] == ("yes" if decision["expand"] else "no") and f"{decision['loss']:.3g}" in grow[1]
    assert splits[0] == ("yes" if split["pairs"] else "no") and "σ = 0" in splits[1]
    lines = classroom.reveal(second, {"grow": "no", "split": "yes"})
    assert ("✗ the class said no" in lines[0]) == decision["expand"]
    assert ("✓ the class was right" in lines[1]) == bool(split["pairs"])
    kept = copy.deepcopy(second)  # the same task had the loss been under τ: no growth, and "≤" in the reason
    _event(kept, "expansion_decision").update(expand=False, loss=0.01, loss_threshold=0.15)
    assert classroom.answers(kept)["grow"] == ("no", "loss after selective retraining 0.01 ≤ τ = 0.15")
    plain = classroom.reveal(second, {})  # nobody asked: the answers alone, under short headings
    assert plain[0].startswith("New neurons? **") and "class" not in " ".join(plain)


def test_a_split_copy_tells_its_birth_drift_and_original(record):
    second = record["tasks"][1]
    pair = _event(second, "split")["pairs"][0]
    story = classroom.neuron_story(record, pair["duplicate"], 2)
    assert f"copy of neuron {pair['parent']}" in story[0] and f"{pair['drift']:.3g}" in story[0]
    original = classroom.neuron_story(record, pair["parent"], 2)
    assert original[0].startswith("Born at task 1")
    assert any(f"use its copy, neuron {pair['duplicate']}" in line for line in original)
    assert any(line.startswith("Drift at task 2") and "above σ: split" in line for line in original)
    chosen = {i for ids in second["selected"] for i in ids}
    assert ("Selected for retraining at task 2" in " ".join(original)) == (pair["parent"] in chosen)


def test_a_grown_neuron_tells_the_loss_against_tau(record):
    second = record["tasks"][1]
    grown = next(u for u in second["units"] if u["origin"] == "expanded")
    loss = _event(second, "expansion_decision")["loss"]
    assert f"{loss:.3g}" in classroom.neuron_story(record, grown["id"], 2)[0]
    assert "not in the network" in classroom.neuron_story(record, grown["id"], 1)[0]
