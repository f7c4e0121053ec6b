"""AppTest of the Learn page: a classroom link seeds the controls, Next and Play train, presenter mode hides them
(and they keep their values)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import url_state

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
TIMEOUT = 90
LINK = url_state.LearnState(tasks=("moons", "blobs"), hidden_sizes=(4, 4), iterations=40, expand_units=2, seed=3)


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))


def _learn(state: url_state.LearnState = LINK) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in url_state.encode(state).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("app_pages/learn.py")
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _chart(at: AppTest, key: str) -> dict:
    import json

    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id).proto.spec)


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_link_seeds_controls_and_next_trains_a_network_of_pictures():
    at = _learn()
    _ok(at)
    assert at.multiselect(key="learn_tasks").value == ["moons", "blobs"]
    assert at.text_input(key="learn_hidden_sizes").value == "4,4"
    assert at.slider(key="learn_expand_units").value == 2
    assert at.number_input(key="learn_seed").value == 3
    assert any("Press **Next task** to learn moons" in i.value for i in at.info)
    at.button(key="learn_next").click().run()
    _ok(at)
    assert any("Learned task 1 of 2" in s.value for s in at.success)
    assert "from scratch" in _text(at)
    assert "After task 1: moons" in _chart(at, "learn_network")["layout"]["title"]["text"]
    assert "Task 1: moons" in [a["text"] for a in _chart(at, "learn_region")["layout"]["annotations"]]
    network = _chart(at, "learn_network")
    assert len(network["layout"]["images"]) == 2 + 8 + 1  # two inputs, 4 + 4 hidden pictures, the output region
    assert network["layout"]["images"][2]["source"].startswith("data:image/png;base64,")


def test_play_trains_the_rest_and_shows_forgetting_side_by_side():
    at = _learn()
    at.button(key="learn_play").click().run()
    _ok(at)
    assert any("Learned task 2 of 2" in s.value for s in at.success)
    assert at.button(key="learn_next").disabled and at.button(key="learn_play").disabled
    compare = _chart(at, "learn_compare_chart")
    assert sum(1 for t in compare["data"] if t["type"] == "heatmap") == 4  # DEN and fine-tuning after tasks 1, 2
    assert "Task 1's test accuracy after learning it and 1 more task: DEN" in _text(at)
    assert (
        "fine-tuning" in _text(at) and "After task 2: blobs" in _chart(at, "learn_network")["layout"]["title"]["text"]
    )
    assert compare["layout"]["meta"]["rows"] == ["DEN", "fine-tuning"]  # two labelled rows, never wrapped
    at.button(key="learn_reset").click().run()
    _ok(at)
    assert any("Press **Next task**" in i.value for i in at.info)


def test_controls_write_the_classroom_link():
    at = _learn()
    at.number_input(key="learn_loss_threshold").set_value(0.4).run()
    at.multiselect(key="learn_tasks").set_value(["xor", "moons", "spirals"]).run()
    _ok(at)
    state, warnings = url_state.decode({k: at.query_params[k] for k in at.query_params})
    assert warnings == [] and state.loss_threshold == 0.4 and state.tasks == ("xor", "moons", "spirals")
    assert state.hidden_sizes == (4, 4) and state.seed == 3  # the rest of the link is kept
    assert "tau=0.4" in next(c.value for c in at.code)


def test_presenter_mode_hides_the_controls_and_keeps_their_values():
    at = _learn(url_state.LearnState(**{**LINK.__dict__, "presenter": True}))
    _ok(at)
    assert at.toggle(key="learn_presenter").value
    hides = 'section[data-testid="stSidebar"]'  # the presenter CSS hides the sidebar: no settings, no link
    assert hides in at.get("html")[0].proto.body
    assert not at.main.multiselect and not at.main.text_input and not at.main.code  # none outside it
    assert at.button(key="learn_next") and not at.header
    at.run()  # a rerun in presenter mode (a key, a resize): the hidden settings keep their values
    at.toggle(key="learn_presenter").set_value(False).run()
    _ok(at)
    assert hides not in at.get("html")[0].proto.body
    assert at.multiselect(key="learn_tasks").value == ["moons", "blobs"]
    assert at.text_input(key="learn_hidden_sizes").value == "4,4" and at.slider(key="learn_expand_units").value == 2
    assert at.query_params["presenter"] == ["0"] or at.query_params["presenter"] == "0"


def test_a_broken_link_warns_and_uses_defaults():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["k"] = "many"
    at.query_params["tasks"] = "moons,unicorns"
    at.run()
    at.switch_page("app_pages/learn.py").run()
    _ok(at)
    warnings = [w.value for w in at.warning]
    assert any("k='many' ignored" in w for w in warnings) and any("tasks=" in w for w in warnings)
    assert at.slider(key="learn_expand_units").value == url_state.LearnState().expand_units


def test_a_bad_value_is_explained_beside_its_field_and_blocks_training():
    at = _learn()
    at.text_input(key="learn_hidden_sizes").set_value("abc").run()
    assert not at.exception
    beside = [e.value for e in at.sidebar.error]
    assert any("Hidden units per layer: “abc” is not a list of whole numbers" in e for e in beside), beside
    assert all("invalid literal" not in e for e in beside)
    assert at.button(key="learn_next").disabled and at.button(key="learn_play").disabled
    at.text_input(key="learn_hidden_sizes").set_value("3,3").run()
    _ok(at)
    assert not at.button(key="learn_next").disabled
    at.button(key="learn_next").click().run()
    assert _chart(at, "learn_network")["layout"]["title"]["text"].endswith("3 · 3")  # the fixed value trained


def test_ask_the_class_then_reveal_with_the_numbers_and_explain_a_neuron():
    at = _learn()
    at.toggle(key="learn_ask").set_value(True).run()
    assert at.radio(key="learn_guess_1_grow")
    at.radio(key="learn_guess_1_grow").set_value("yes").run()
    at.button(key="learn_next").click().run()
    _ok(at)
    story = _text(at)
    assert "Will the network need new neurons? **No**" in story and "✗ the class said yes" in story
    assert at.radio(key="learn_guess_2_split")  # the question about the next task
    at.selectbox(key="learn_neuron").set_value(2).run()
    _ok(at)
    assert "Born at task 1 (moons): one of the first network's neurons." in _text(at)
    assert _chart(at, "learn_card")["data"][0]["type"] == "heatmap"


def test_asking_and_the_class_guesses_outlive_presenter_mode_and_stepping_back():
    at = _learn()
    at.toggle(key="learn_ask").set_value(True).run()
    at.radio(key="learn_guess_1_grow").set_value("yes").run()
    at.toggle(key="learn_presenter").set_value(True).run()  # the switch of "Ask the class" is hidden now
    at.run()  # a rerun in presenter mode (a key, a resize) forgets what a hidden widget held
    assert at.radio(key="learn_guess_1_grow").value == "yes"  # still asked, the guess still there
    at.button(key="learn_next").click().run()
    at.button(key="learn_next").click().run()  # a rerun that draws task 2's question, not task 1's
    _ok(at)
    at.slider(key="learn_view_2").set_value(1).run()
    assert "✗ the class said yes" in _text(at)  # the guess about task 1, revealed after two more reruns
    at.toggle(key="learn_presenter").set_value(False).run()
    assert at.toggle(key="learn_ask").value  # the switch comes back on


def test_drawn_points_become_a_task_and_ride_in_the_link():
    at = _learn()
    at.session_state["learn_drawn"] = [(0.5, 0.5, 1), (-0.5, -0.5, 1), (0.5, -0.5, 0), (-0.5, 0.5, 0)]
    at.run()
    at.button(key="learn_draw_use").click().run()
    _ok(at)
    assert at.multiselect(key="learn_tasks").value == ["moons", "blobs", "yours"]
    state, warnings = url_state.decode({k: at.query_params[k] for k in at.query_params})
    assert warnings == [] and state.tasks[-1] == "yours" and state.custom.count("_") == 3


def test_with_asking_on_play_stops_before_each_task_for_the_guess_and_shows_its_data():
    at = _learn()
    assert "Next: task 1, moons" in [a["text"] for a in _chart(at, "learn_coming")["layout"]["annotations"]]
    at.toggle(key="learn_ask").set_value(True).run()
    at.button(key="learn_play").click().run()
    _ok(at)
    assert any("Learned task 1 of 2" in s.value for s in at.success)  # one task, then it waits for the class
    assert at.radio(key="learn_guess_2_grow") and "Play waits for the class" in _text(at)
    assert "Next: task 2, blobs" in [a["text"] for a in _chart(at, "learn_coming")["layout"]["annotations"]]
    at.button(key="learn_play").click().run()  # the teacher goes on (a key does the same: learn_keys)
    assert any("Learned task 2 of 2" in s.value for s in at.success)


def test_a_link_warning_keeps_its_tildes():
    at = _learn(url_state.LearnState(tasks=("moons",), custom="0.5~0.5~7"))
    warnings = [w.value for w in at.warning if w.value.startswith("Classroom link")]
    assert warnings and all("~" not in w.replace("\\~", "") for w in warnings), warnings


def test_two_tabs_that_learned_the_same_lesson_share_its_figures(monkeypatch):
    from dashboard.figures import regions, teaching

    built = {"network": 0, "regions": 0}

    def counted(name, func):
        def wrapper(*args, **kwargs):
            built[name] += 1
            return func(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(teaching, "neuron_network_figure", counted("network", teaching.neuron_network_figure))
    monkeypatch.setattr(regions, "regions_figure", counted("regions", regions.regions_figure))
    lesson = url_state.LearnState(tasks=("circles", "moons"), hidden_sizes=(3,), iterations=20, seed=41)
    first = _learn(lesson)
    first.button(key="learn_next").click().run()
    _ok(first)
    once = dict(built)
    assert once["network"] == 1 and once["regions"] >= 2  # the network; the task's region and every task's
    second = _learn(lesson)  # another tab, the same link: the same network, learned again in its own session
    second.button(key="learn_next").click().run()
    _ok(second)
    assert _chart(second, "learn_network") == _chart(first, "learn_network")
    assert built == once  # drawn from the figures the first tab built, none built again
    second.run()
    assert built == once  # a rerun of the page builds nothing either
