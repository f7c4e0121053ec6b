"""The Learn page's keys (learn_keys) and the task they show (learn_timeline): every key number is acted on once, in
order, whatever the page sends again; a key's step is not undone by the slider's old value."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app_pages.learn_keys import QUEUE, fresh_keys
from dashboard.state import url_state

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
LINK = url_state.LearnState(tasks=("moons", "blobs"), hidden_sizes=(4, 4), iterations=40, expand_units=2, seed=3)


def test_each_key_number_is_acted_on_once_in_order():
    first = {"page": "p", "keys": [[1, "next"], [2, "back"]]}
    actions, seen = fresh_keys(first, (None, 0))
    assert (actions, seen) == (["next", "back"], ("p", 2))
    assert fresh_keys(first, seen) == ([], seen)  # the same value again (a rerun replays it): nothing twice
    more = {"page": "p", "keys": [[2, "back"], [3, "play"], [4, "back"]]}  # sent before 2 was acknowledged
    assert fresh_keys(more, seen) == (["play", "back"], ("p", 4))
    assert fresh_keys({"page": "p", "keys": [[3, "play"]]}, ("p", 4)) == ([], ("p", 4))  # an older value late


def test_a_new_page_numbers_afresh_and_a_malformed_value_is_no_key():
    assert fresh_keys({"page": "q", "keys": [[1, "back"]]}, ("p", 9)) == (["back"], ("q", 1))  # a reload
    for bad in (None, "next", {"keys": [[5, "next"]]}, {"page": "p"}, {"page": "p", "keys": "next"}):
        assert fresh_keys(bad, ("p", 4)) == ([], ("p", 4)), bad
    odd = {"page": "p", "keys": [[5, "jump"], ["6", "next"], [7], 8, [9, "next"]]}
    assert fresh_keys(odd, ("p", 4)) == (["next"], ("p", 9))


@pytest.fixture
def learned(monkeypatch, tmp_path) -> AppTest:
    """The Learn page with both tasks of LINK learned (trained inline)."""
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in url_state.encode(LINK).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("app_pages/learn.py")
    at.run()
    at.button(key="learn_play").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    return at


def _title(at: AppTest) -> str:
    import json

    chart = next(c for c in at.get("plotly_chart") if c.proto.id and "learn_network" in c.proto.id)
    return json.loads(chart.proto.spec)["layout"]["title"]["text"]


def test_a_key_step_outlives_the_old_timeline_and_keys_queued_together_act_in_order(learned):
    at = learned
    assert _title(at).startswith("After task 2")
    at.session_state[QUEUE] = ["back"]
    at.run()
    assert _title(at).startswith("After task 1") and at.slider(key="learn_view_2_1").value == 1
    at.run()  # a rerun (the old slider's value, 2, is gone with its key): still task 1
    assert _title(at).startswith("After task 1")
    at.session_state[QUEUE] = ["next", "back", "next", "next"]  # 2, 1, 2, and the last one learned: stays 2
    at.run()
    assert _title(at).startswith("After task 2") and not at.session_state[QUEUE]
    at.slider(key="learn_view_2_4").set_value(1).run()  # the timeline by hand
    assert _title(at).startswith("After task 1")
