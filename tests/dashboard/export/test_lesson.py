"""The lesson file: one step per task with its figures and story, nothing fetched from anywhere."""

from __future__ import annotations

import json
import re

import pytest

from dashboard.export import lesson
from dashboard.state import url_state
from dashboard.state.learn_session import PairTrainer, spec_from_state
from den_engine import Callbacks


@pytest.fixture(scope="module")
def page():
    state = url_state.LearnState(tasks=("blobs", "xor"), hidden_sizes=(3, 3), iterations=20)
    pair = PairTrainer(spec_from_state(state), Callbacks(), Callbacks())
    pair.train_next()
    pair.train_next()
    return pair, lesson.lesson_html(pair)


def test_one_step_per_task_with_network_regions_and_both_methods(page):
    pair, text = page
    labels = re.findall(r'<section class="step" data-label="([^"]+)"', text)
    assert labels == ["Task 1: blobs", "Task 2: xor"]
    specs = [json.loads(s) for s in re.findall(r'<script type="application/json" id="spec-1-\d">(.*?)</script>',
                                                text, re.S)]  # fmt: skip
    assert len(specs) == 3  # network, regions, DEN / fine-tuning rows
    n_units = len(pair.den.record["tasks"][1]["units"])
    assert len(specs[0]["layout"]["images"]) == 2 + n_units + 1
    assert specs[2]["layout"]["meta"]["rows"] == ["DEN", "fine-tuning"]
    assert "Task 1&#x27;s test accuracy" in text or "Task 1's test accuracy" in text


def test_nothing_is_fetched(page):
    _, text = page
    assert "<script src" not in text and "<link" not in text and "@import" not in text and "<iframe" not in text
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js is inside the file
