"""AppTest of every page: the first screen, training with the buttons, inspection, runs, and bad input.

Training runs inside the script run here (DEN_SYNC_TRAINING=1), so a click has finished
its task when ``at.run()`` returns; the background thread itself is tested in test_session.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import figures
from den_engine import Trainer, preset

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
SHIPPED = Path(__file__).resolve().parents[3] / "assets" / "runs"
TIMEOUT = 60


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A tiny shipped-style example run (toy-2d, 3 tasks, 8-8 units)."""
    folder = tmp_path_factory.mktemp("examples") / "toy-example"
    config = preset("fast", hidden_sizes=(8, 8), iterations=20, head_iterations=10)
    Trainer(config, "toy-2d", 3, out_dir=folder).run()
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path, example) -> Path:
    """Point the app at the tiny example and a fresh runs folder; train synchronously."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(example.parent))
    monkeypatch.setenv("DEN_RUNS_DIR", str(runs))
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    return runs


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def _tiny_settings(at: AppTest) -> AppTest:
    at.selectbox(key="cfg_benchmark").set_value("toy-2d").run()
    at.number_input(key="cfg_n_tasks").set_value(3)
    at.text_input(key="cfg_iterations").input("20")
    at.text_input(key="cfg_head_iterations").input("10")
    at.text_input(key="cfg_group_lasso").input("0")  # nothing pruned: every expansion must show
    at.text_input(key="cfg_hidden_sizes").input("8,8")
    return at.run()


def _timeline(at):
    """The task timeline: keyed "timeline" while paused, a slider of the play's position while playing."""
    return next(s for s in at.slider if s.label == "Task timeline")


def _title(at) -> str:
    """The network chart's title text."""
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id and "network" in c.proto.id).proto.spec)
    return spec["layout"]["title"]["text"].replace("<b>", "")


def test_first_screen_shows_the_shipped_run(env, example):
    at = _app()
    _ok(at)
    record = json.loads((example / "run.json").read_text())
    assert _metric(at, "Hidden units") == str(sum(record["tasks"][-1]["layer_sizes"][1:]))
    assert any("Shipped example **toy-example**" in c.value for c in at.caption)
    assert _charts(at) == 7  # the network + six charts
    assert "Task 3: xor" in _text(at) or "Task 3:" in _text(at)
    assert at.selectbox(key="cfg_benchmark").value == "toy-2d"  # the shown run's benchmark ...
    hidden = ",".join(map(str, preset("fast", benchmark="toy-2d").hidden_sizes))
    assert at.text_input(key="cfg_hidden_sizes").value == hidden  # ... with the preset's values, not the run's
    assert at.slider(key="timeline").value == 3
    at.button(key="play").click().run()  # from the end, play restarts at task 1 ...
    assert at.session_state["playing"] and _timeline(at).value == 1
    assert _metric(at, "Hidden units") == str(sum(record["tasks"][0]["layer_sizes"][1:]))
    at.run()  # ... and each tick of the play timer shows the next task
    assert _timeline(at).value == 2 and _title(at).startswith("After task 2:")
    assert [b.label for b in at.button if b.key in ("play", "pause")] == ["Pause"]
    at.button(key="pause").click().run()
    assert not at.session_state["playing"] and at.slider(key="timeline").value == 2
    assert _title(at).startswith("After task 2:")
    at.run()  # the next tick of the (dropped) play timer moves nothing
    assert at.slider(key="timeline").value == 2 and not at.session_state["playing"]


def test_a_pause_pressed_twice_stays_paused(monkeypatch):
    """A press can reach the server twice (a busy browser): Pause again must not turn the play back on."""
    from dashboard.app_pages import train

    state = {"playing": True, "play_at": 4, "timeline": 10}
    monkeypatch.setattr(train.st, "session_state", state)
    for _ in range(2):
        train._set_play(10, False)
        assert state["playing"] is False and state["timeline"] == 4
    for _ in range(2):  # and Play twice plays once, from where it stopped
        train._set_play(10, True)
        assert state["playing"] is True and state["play_at"] == 4


def test_dragging_the_timeline_during_play_pauses_at_that_task(env, example):
    at = _app()
    at.button(key="play").click().run()
    at.run()
    assert at.session_state["playing"] and _timeline(at).value == 2
    _timeline(at).set_value(1).run()  # the user drags the timeline back while the play runs
    _ok(at)
    assert not at.session_state["playing"] and _timeline(at).value == 1
    assert _title(at).startswith("After task 1:")
    at.run()  # no play tick moves it on
    assert _timeline(at).value == 1 and not at.session_state["playing"]


def test_next_task_trains_and_every_view_updates(env):
    at = _tiny_settings(_app())
    assert at.text_input(key="cfg_hidden_sizes").value == "8,8"
    at.button(key="next_task").click().run()
    _ok(at)
    assert any("Learned task 1 of 3" in s.value for s in at.success)
    assert _metric(at, "Hidden units") == "16"
    assert "Task 1: blobs" in _text(at) and "from scratch" in _text(at)
    assert _charts(at) == 7
    at.button(key="next_task").click().run()
    _ok(at)
    k = preset("fast", benchmark="toy-2d").expand_units  # toy-2d's fast value
    assert int(_metric(at, "Hidden units")) >= 16 + 2 * k  # tau = 0.01 fires, group lasso 0 keeps all 2k
    assert "Task 2: moons" in _text(at) and f"so added {k} units per layer" in _text(at)
    saved = list(env.iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("toy-2d-den-")
    assert len(json.loads((saved[0] / "run.json").read_text())["tasks"]) == 2

    at.switch_page("app_pages/inspector.py").run()
    _ok(at)
    assert at.selectbox(key="inspect_task").value == 2
    assert "retrained" in _text(at) and "Task 2 expanded" in _text(at)

    at.switch_page("app_pages/train.py").run()
    assert at.text_input(key="cfg_iterations").value == "20"  # settings survive a page visit
    at.button(key="reset").click().run()
    _ok(at)
    assert any("No network to show yet" in i.value for i in at.info)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("cfg_hidden_sizes", "abc", "hidden_sizes"), ("cfg_split_threshold", "-1", "split_threshold")],
)
def test_bad_value_gives_a_message_not_a_traceback(env, key, value, field):
    at = _app()
    at.text_input(key=key).input(value).run()
    assert not at.exception
    assert [e.value for e in at.error if field in e.value] == [e.value for e in at.error]
    assert len(at.error) == 1  # one message for one bad value
    assert at.button(key="next_task").disabled and at.button(key="run_all").disabled
    assert not env.exists()  # nothing was started


def test_inspect_page_explains_a_task(env):
    at = _app().switch_page("app_pages/inspector.py").run()
    _ok(at)
    at.selectbox(key="inspect_task").set_value(2).run()
    _ok(at)
    text = _text(at)
    assert "Task 2:" in text and "Selective retraining (Eq. 4)" in text and "σ =" in text
    assert _charts(at) >= 4  # loss vs tau, a drift histogram per layer, the highlighted network
    assert len(at.dataframe) >= 2


def test_runs_page_lists_loads_and_downloads(env, example):
    at = _app().switch_page("app_pages/runs.py").run()
    _ok(at)
    assert at.selectbox(key="run_pick").value == str(example)
    assert len(at.get("download_button")) == 5
    at.button(key="load_run").click().run()
    _ok(at)
    assert _metric(at, "Hidden units")  # switched to the Train page with the run in every view


def test_corrupted_run_file_and_escaping_folder_are_errors(env):
    broken = env / "broken-run"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text('{"format": "den-run", "schema_ver')
    at = _app().switch_page("app_pages/runs.py").run()
    assert not at.exception
    at.selectbox(key="run_pick").set_value(str(broken))
    at.button(key="load_run").click().run()
    assert not at.exception
    assert any("Cannot load this run" in e.value and "not valid JSON" in e.value for e in at.error)
    at.session_state["view_path"] = str(broken)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception and any("Could not read the run" in e.value for e in at.error)
    at.switch_page("app_pages/runs.py").run()
    at.text_input(key="cfg_runs_folder").input("/etc").run()
    assert not at.exception and any("outside" in e.value for e in at.error)


def test_unexpected_bug_is_a_friendly_message(env, monkeypatch):
    def broken(record):
        raise RuntimeError("chart exploded")

    monkeypatch.setattr(figures, "units_chart", broken)
    at = _app()
    assert not at.exception
    assert any("Something went wrong" in e.value and "chart exploded" in e.value for e in at.error)
    assert _metric(at, "Hidden units")  # the rest of the page still works


@pytest.mark.parametrize("run", sorted(p.name for p in SHIPPED.glob("*") if (p / "run.json").is_file()) or ["none"])
def test_every_shipped_run_fills_every_view(monkeypatch, tmp_path, run):
    if run == "none":
        pytest.skip("no shipped runs in assets/runs yet")
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["view_path"] = str(SHIPPED / run)
    at.run()
    _ok(at)
    assert _charts(at) == 7 and _metric(at, "Hidden units")
    at.switch_page("app_pages/inspector.py").run()
    _ok(at)
    assert "Task" in _text(at) and _charts(at) >= 3


def test_the_film_has_the_only_timeline_and_play_and_the_growth_view_comes_back_where_it_was(env, example):
    at = _app()
    _timeline(at).set_value(2).run()
    at.session_state["graph_view"] = "film"
    at.run()
    _ok(at)
    assert not [s for s in at.slider if s.label == "Task timeline"]  # the film's own slider is the timeline
    assert not [b for b in at.button if b.key == "play"]  # and its own Play
    film = next(c for c in at.get("plotly_chart") if c.proto.id and "network_film" in c.proto.id)
    assert json.loads(film.proto.spec)["frames"]  # the film itself, with its frames
    at.session_state["graph_view"] = "growth"
    at.run()
    assert _timeline(at).value == 2 and _title(at).startswith("After task 2:")


def test_switching_to_the_film_during_a_play_stops_the_page_play(env, example):
    at = _app()
    at.button(key="play").click().run()
    at.run()
    assert at.session_state["playing"]
    at.session_state["graph_view"] = "film"
    at.run()
    _ok(at)
    assert not at.session_state["playing"]


def test_a_play_tick_cut_short_before_its_finished_picture_draws_that_task_again(env, example, monkeypatch):
    """A busy server: the next play tick came before this one sent its task's finished picture."""
    from dashboard.app_pages import train

    at = _app()
    at.button(key="play").click().run()
    at.run()  # a whole tick: task 2 drawn, finished picture sent
    assert _timeline(at).value == 2 and at.session_state["play_drawn"] == (2, 0)
    at.session_state["play_drawn"] = (1, 0)  # as if task 2's tick had been cut short
    at.run()
    assert _timeline(at).value == 2 and _title(at).startswith("After task 2:")  # task 2 again, whole
    at.run()
    assert _timeline(at).value == 3  # then the play goes on
    state = {"play_at": 3, "play_drawn": (2, 0)}  # a server too slow for one picture a tick still moves on
    monkeypatch.setattr(train.st, "session_state", state)
    assert [train._tick_drew_its_task(redraws=2) for _ in range(3)] == [False, False, True]
