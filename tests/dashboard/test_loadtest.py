"""The load test (dashboard/loadtest): its reading of Streamlit's messages, its numbers, its CLI, one real run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from dashboard.loadtest import protocol, server
from dashboard.loadtest.__main__ import main
from dashboard.loadtest.client import Timings
from dashboard.loadtest.report import Result, summary, table


# -- building the server's messages -----------------------------------------------------------------
def _new_session(run_id: str, fragments: tuple[str, ...] = (), page_hash: str = "h-learn") -> ForwardMsg:
    msg = ForwardMsg()
    msg.new_session.page_script_hash = page_hash
    page = msg.new_session.app_pages.add()
    page.url_pathname, page.page_script_hash = "learn", "h-learn"
    msg.metadata.run.script_run_id = run_id
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def _delta(path: tuple[int, ...], element: Element, fragment_id: str = "") -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.new_element.CopyFrom(element)
    msg.delta.fragment_id = fragment_id
    msg.metadata.delta_path.extend(path)
    return msg


def _finished(status=ForwardMsg.FINISHED_SUCCESSFULLY) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = status
    return msg


def _button(label: str, widget_id: str, disabled: bool = False) -> Element:
    element = Element()
    element.button.label, element.button.id, element.button.disabled = label, widget_id, disabled
    return element


def _alert(body: str, fmt=None) -> Element:
    element = Element()
    element.alert.body, element.alert.format = body, fmt or element.alert.SUCCESS
    return element


def _markdown(body: str) -> Element:
    element = Element()
    element.markdown.body = body
    return element


def _progress(text: str) -> Element:
    element = Element()
    element.progress.value, element.progress.text = 10, text
    return element


def _feed(page: protocol.Page, *msgs: ForwardMsg) -> list[Element]:
    placed = []
    for msg in msgs:
        placed += page.apply(page.resolve(msg))
    return placed


LEARN_RUN = (_new_session("r1"), _delta((0, 0), _button("Play", "id-play")),
             _delta((0, 1), _button("Next task", "id-next")), _delta((0, 2), _markdown("Press Next task")),
             _finished())  # fmt: skip


# -- the page model ----------------------------------------------------------------------------------
def test_the_button_is_found_by_its_label_among_the_deltas():
    page = protocol.Page()
    _feed(page, *LEARN_RUN)
    assert protocol.find_button(page.shown(), "Next task").button.id == "id-next"
    assert protocol.find_button(page.shown(), "Play").button.id == "id-play"
    assert protocol.find_button(page.shown(), "Stop") is None


def test_a_later_delta_at_the_same_path_replaces_the_element():
    page = protocol.Page()
    _feed(page, *LEARN_RUN, _new_session("r2"), _delta((0, 1), _button("Next task", "id-next", disabled=True)))
    assert protocol.find_button(page.shown(), "Next task").button.disabled


def test_a_full_run_drops_what_it_did_not_draw_again():
    page = protocol.Page()
    _feed(page, *LEARN_RUN, _new_session("r2"), _delta((0, 0), _button("Play", "id-play")), _finished())
    assert protocol.find_button(page.shown(), "Next task") is None
    assert protocol.find_button(page.shown(), "Play") is not None
    assert page.finished_runs == 2


def test_a_fragment_run_drops_only_its_own_stale_elements():
    page = protocol.Page()
    _feed(page, _new_session("r1"), _delta((0, 0), _button("Next task", "id-next")),
          _delta((0, 1, 0), _progress("Task 1 · DEN: loading"), fragment_id="frag"), _finished())  # fmt: skip
    _feed(page, _new_session("r2", fragments=("frag",)), _delta((0, 1, 1), _alert("Learned task 1 of 3."), "frag"),
          _finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY))  # fmt: skip
    kinds = [e.WhichOneof("type") for e in page.shown()]
    assert kinds == ["button", "alert"]  # the button outside the fragment stays; the old progress bar goes
    assert page.finished_runs == 1  # a fragment run is not a full run


def test_a_cached_element_comes_back_by_reference_and_its_hash_is_offered_on_the_next_rerun():
    page = protocol.Page()
    big = _delta((0, 3), _markdown("a large figure"))
    big.hash, big.metadata.cacheable = "abc123", True
    _feed(page, _new_session("r1"), big, _finished())
    assert "abc123" in protocol.rerun_message(page).rerun_script.cached_message_hashes
    ref = ForwardMsg()
    ref.ref_hash = "abc123"
    ref.metadata.delta_path.extend((0, 3))
    _feed(page, _new_session("r2"), ref, _finished())
    assert protocol.element_text(page.shown()[0]) == "a large figure"


def test_auto_rerun_timers_last_until_a_full_run_or_a_stop():
    page = protocol.Page()
    ask = ForwardMsg()
    ask.auto_rerun.interval, ask.auto_rerun.fragment_id = 0.5, "frag"
    _feed(page, _new_session("r1"), ask)
    assert [(t.fragment_id, t.interval) for t in page.timers] == [("frag", 0.5)]
    _feed(page, _new_session("r2", fragments=("frag",)))
    assert len(page.timers) == 1  # a fragment's own rerun keeps its timer
    _feed(page, _new_session("r3"))
    assert page.timers == []  # the frontend drops every timer when a full run starts
    other = ForwardMsg()
    other.auto_rerun.interval, other.auto_rerun.fragment_id = 2.0, "other"
    stop = ForwardMsg()
    stop.stop_auto_rerun.fragment_ids.append("frag")
    _feed(page, ask, other, stop)
    assert [t.fragment_id for t in page.timers] == ["other"]


def test_a_fragment_asking_again_keeps_one_timer_and_a_new_interval_replaces_it():
    page = protocol.Page()
    ask = ForwardMsg()
    ask.auto_rerun.interval, ask.auto_rerun.fragment_id = 2.0, "frag"
    _feed(page, _new_session("r1"), ask)
    first = page.timers[0]
    _feed(page, _new_session("r2", fragments=("outer",)), ask)  # an enclosing fragment's rerun declares it again
    assert page.timers == [first]  # the frontend keeps its one timer: the poll does not double
    faster = ForwardMsg()
    faster.auto_rerun.interval, faster.auto_rerun.fragment_id = 0.5, "frag"
    _feed(page, faster)
    assert [(t.fragment_id, t.interval) for t in page.timers] == [("frag", 0.5)]


def test_a_press_of_a_button_drawn_in_a_fragment_reruns_that_fragment():
    page = protocol.Page()
    _feed(page, _new_session("r1"), _delta((0, 0), _button("Play", "id-play")),
          _delta((0, 1, 0), _button("Next task", "id-next"), fragment_id="controls"), _finished())  # fmt: skip
    assert page.fragment_of(protocol.find_button(page.shown(), "Next task")) == "controls"
    assert page.fragment_of(protocol.find_button(page.shown(), "Play")) == ""


# -- what the page says ------------------------------------------------------------------------------
def test_learned_task_1_is_read_from_the_page_text():
    assert protocol.shows_learned(["Learned task 1 of 3."], 1)
    assert protocol.shows_learned(["x", "Learned task 1 of 1. The sequence is complete"], 1)
    assert not protocol.shows_learned(["Learned task 10 of 12."], 1)
    assert not protocol.shows_learned(["Learned task 2 of 3."], 1)
    assert not protocol.shows_learned(["Press Next task to learn blobs"], 1)


def test_the_job_is_acknowledged_by_a_progress_bar_or_new_text_about_the_queue_or_the_task():
    assert protocol.shows_job(_progress("Task … · DEN: loading"), 1, set())
    assert protocol.shows_job(_alert("Waiting in the queue: 2 ahead", _alert("").alert.INFO), 1, set())
    assert protocol.shows_job(_markdown("Task 1 · DEN: retrain"), 1, set())
    assert not protocol.shows_job(_markdown("Task 1 · DEN"), 1, {"Task 1 · DEN"})  # on the page before the press
    assert not protocol.shows_job(_markdown("Press Next task to learn blobs"), 1, set())


def test_errors_are_exceptions_and_error_alerts_only():
    exception = Element()
    exception.exception.type, exception.exception.message = "ValueError", "bad"
    assert protocol.error_text(exception) == "exception ValueError: bad"
    assert "boom" in protocol.error_text(_alert("boom", _alert("").alert.ERROR))
    assert protocol.error_text(_alert("Learned task 1 of 3.")) is None
    assert protocol.error_text(_alert("careful", _alert("").alert.WARNING)) is None


# -- the messages the tab sends ----------------------------------------------------------------------
def test_the_first_rerun_names_the_page_by_its_url_path_and_later_ones_by_its_hash():
    page = protocol.Page()
    first = protocol.rerun_message(page, page_name="learn")
    assert (first.rerun_script.page_name, first.rerun_script.page_script_hash) == ("learn", "")
    _feed(page, *LEARN_RUN)
    later = protocol.rerun_message(page, page_name="learn", fragment_id="frag", auto=True)
    assert (later.rerun_script.page_name, later.rerun_script.page_script_hash) == ("", "h-learn")
    assert later.rerun_script.fragment_id == "frag" and later.rerun_script.is_auto_rerun


def test_a_press_sends_the_buttons_widget_id_with_a_trigger_value():
    msg = BackMsg()
    msg.ParseFromString(
        protocol.rerun_message(protocol.Page(), widgets=protocol.trigger("id-next")).SerializeToString()
    )
    (state,) = msg.rerun_script.widget_states.widgets
    assert (state.id, state.WhichOneof("value"), state.trigger_value) == ("id-next", "trigger_value", True)


# -- the numbers -------------------------------------------------------------------------------------
def test_summary_is_min_median_max_of_what_was_reached():
    assert summary([3.0, 1.0, None, 2.0]) == {"min": 1.0, "median": 2.0, "max": 3.0, "reached": 3, "of": 4}
    assert summary([4.0, 1.0])["median"] == 2.5
    assert summary([None]) == {"min": None, "median": None, "max": None, "reached": 0, "of": 1}


def test_durations_count_from_connect_and_from_the_press_and_errors_fail_the_run():
    a = Timings(started=10.0, ready=12.0, pressed=20.0, acknowledged=20.5, learned=25.0)
    b = Timings(started=10.0, ready=14.0, pressed=20.0, errors=["timed out before the page showed task 1 learned"])
    result = Result("http://x", [a, b], started=10.0)
    assert result.per_session() == {"ready": [2.0, 4.0], "acknowledged": [0.5, None], "learned": [5.0, None]}
    assert result.failed and result.session_errors() == ["session 1: timed out before the page showed task 1 learned"]
    assert "1 / 2" in table(result) and "errors: 1" in table(result)
    assert not Result("http://x", [a], started=10.0).failed


def test_idle_cpu_is_shown_per_session_and_second():
    a = Timings(started=0.0, ready=1.0)
    result = Result("http://x", [a, a], started=0.0, idle_s=30.0)
    result.server_cpu["idle"] = {"server": 0.6, "children": 0.0, "seconds": 30.0}
    result.client_cpu["idle"] = {"client": 0.03, "seconds": 30.0}
    row = next(line for line in table(result).splitlines() if "ms per session per second" in line)
    assert row.split()[-2:] == ["10.000", "0.500"]  # 600 ms / 2 tabs / 30 s; 30 ms / 2 / 30


# -- CPU from /proc ----------------------------------------------------------------------------------
def test_cpu_of_children_counts_a_worker_process_after_it_exits():
    before = server.cpu_of(os.getpid())
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    after = server.cpu_of(os.getpid()) - before
    assert after.children >= 0.25
    assert after.own < 0.25  # the parent only waited


def test_the_process_listening_on_a_port_is_found():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert server.listener_pid(sock.getsockname()[1]) == os.getpid()


# -- the command line --------------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "words"), [(["--sessions", "0"], "--sessions must be at least 1"),
                                              (["--url", "localhost:1"], "--url must look like"),
                                              (["--timeout", "-1"], "--timeout must be positive"),
                                              (["--workers", "lots"], "--workers must be a number or ray://"),
                                              (["--workers", "0", "--url", "http://127.0.0.1:1"], "has its own"),
                                              (["--page", "inspect"], "invalid choice")])  # fmt: skip
def test_bad_arguments_give_one_error_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len([x for x in err.splitlines() if "error:" in x]) == 1


@pytest.mark.browser
def test_two_sessions_on_a_real_server_each_learn_task_1_without_error(tmp_path, capsys):
    out = tmp_path / "numbers.json"
    status = main(["--sessions", "2", "--timeout", "300", "--json", str(out)])
    numbers = json.loads(out.read_text())
    assert status == 0, capsys.readouterr().out
    assert numbers["errors"] == []
    assert numbers["learned"]["reached"] == 2 and numbers["acknowledged"]["reached"] == 2
    for session in numbers["per_session"]:
        assert 0 < session["acknowledged"] <= session["learned"]
    training = numbers["server_cpu"]["press to all learned"]
    assert training["server"] + training["children"] > 0  # measured from /proc: the server worked while it trained
    assert "task 1 learned" in capsys.readouterr().out


def test_a_page_is_asked_for_with_its_settings_in_the_address():
    msg = protocol.rerun_message(
        protocol.Page(), page_name="", url="http://h/?benchmark=toy-2d", query="benchmark=toy-2d"
    )
    assert msg.rerun_script.query_string == "benchmark=toy-2d" and msg.rerun_script.page_name == ""


def test_the_alone_table_gives_the_pools_ratio_to_the_thread():
    from dashboard.loadtest.alone import table

    seen = {"pool": {"ready": [4.0, 3.0, 5.0], "learned": [9.0, 8.0, 10.0]},
            "thread in the server": {"ready": [4.0, 4.0, 4.0], "learned": [10.0, 12.0, 11.0]}}  # fmt: skip
    last = table(seen).splitlines()[-1].split()
    assert last[-2:] == ["1.00", "0.82"]  # medians 4/4 and 9/11


def test_a_later_click_is_timed_to_its_runs_first_element_not_to_a_polls():
    from dashboard.loadtest.client import Tab

    tab = Tab("http://127.0.0.1:1", "t")
    tab._handle(_new_session("run-1", ("frag",)))
    tab._clicked = 100.0  # a click sent at t = 100 s (monotonic)
    tab._handle(_delta((0, 0), _markdown("progress"), fragment_id="frag"))  # a poll's answer: not the click's
    assert tab.timings.clicks == [] and tab._clicked == 100.0
    tab._handle(_new_session("run-2"))
    tab._handle(_delta((0, 0), _markdown("the page again")))
    assert len(tab.timings.clicks) == 1 and tab._clicked is None
    result = Result("u", [tab.timings], 0.0)
    assert result.clicks() == tab.timings.clicks and "later clicks" in table(result)


def test_page_cpu_times_the_script_thread_of_a_learn_page_run(monkeypatch, capsys):
    import time

    from streamlit.runtime.scriptrunner import script_runner

    from dashboard.app_pages import learn_parts
    from dashboard.loadtest import page_cpu

    controls = learn_parts.controls_ui

    def costly_controls():  # 60 ms of CPU more on the thread that runs the page's script
        start = time.thread_time()
        while time.thread_time() - start < 0.06:
            pass
        return controls()

    monkeypatch.setattr(learn_parts, "controls_ui", costly_controls)
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")  # restored after the test (the command sets it)
    monkeypatch.setenv("DEN_RUNS_DIR", "unused")
    original = script_runner.ScriptRunner._run_script
    assert page_cpu.main(["--runs", "2"]) == 0
    out = capsys.readouterr().out
    ms = float(out.split(": ")[1].split(" ms")[0])
    assert 60 <= ms < 1000 and "(2 runs)" in out  # the script thread's CPU, the added 60 ms in it
    assert script_runner.ScriptRunner._run_script is original  # Streamlit is left as it was


def test_the_load_test_runs_where_an_event_loop_already_runs():
    """Playwright's sync API (a browser test earlier in the same pytest worker) or a notebook runs a loop here."""
    import asyncio

    from dashboard.loadtest.__main__ import run_coroutine

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def inside_a_loop() -> int:
        return run_coroutine(answer())  # called synchronously from code running in a loop

    assert run_coroutine(answer()) == 42
    assert asyncio.run(inside_a_loop()) == 42
