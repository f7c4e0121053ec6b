"""AppTest of the Compare page's search form: its checks, a tiny search whose trials the page shows, resume, Stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from den_engine.experiments.search import JOURNAL
from den_engine.records.store import RUN_FILE, load_run
from tests.dashboard.pages.test_compare_page import SHIPPED, _compare_page, _ok, runs_box, sweep_box

pytest.importorskip("optuna", reason="den search needs Optuna: pip install -r requirements.txt")

TIMEOUT = 120
TINY = "hidden_sizes=8x8 iterations=10 head_iterations=5"


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(SHIPPED))
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _start(at: AppTest, button: str = "Start search", **fields) -> AppTest:
    """Fill the search form (toy-2d, 2 tasks, tiny runs unless ``fields`` say otherwise) and press Start."""
    values = {"bench": "toy-2d", "tasks": 2, "trials": 3, "jobs": 2, "fixed": TINY, **fields}
    for name, value in values.items():
        key = f"cmp_search_{name}"
        if name in ("bench", "score", "preset"):
            at.selectbox(key=key).set_value(value)
        elif name in ("tasks", "trials", "jobs", "seed"):
            at.number_input(key=key).set_value(value)
        elif name == "early":
            at.checkbox(key=key).set_value(value)
        else:
            at.text_input(key=key).input(value)
    if button != "Start search":  # the sweep form has a button of the same label
        return at.button(key=button).click().run()
    return next(b for b in at.button if b.label == button).click().run()


def _wait_for(check, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.2)  # poll interval of a bounded wait on the search's thread


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"tasks": 0}, "tasks: 0 tasks is not possible; toy-2d has 1 to"),
     ({"trials": 0}, "trials: 0 is not possible"),
     ({"jobs": 0}, "parallel runs: 0 is not possible"),
     ({"seed": -1}, "seed: -1 is not possible"),
     ({"space": "tau=1:0.1:log"}, "space: 'tau=1:0.1:log': needs finite bounds with low < high"),
     ({"space": "tua=1e-3:1:log"}, "space: unknown knob 'tua'"),
     ({"space": "tau=1e-3:1:cubic"}, "space: 'tau=1e-3:1:cubic': the scale is one of"),
     ({"space": "k=0:20"}, "space: expand_units from 0 to 20: expand_units: must be an integer >= 1"),
     ({"fixed": "hidden_sizes"}, "fixed values: 'hidden_sizes' is not name=value"),
     ({"fixed": "loss_threshold=0.1"}, "fixed values: loss_threshold is searched"),
     ({"fixed": "hiden_sizes=8x8"}, "hiden_sizes"),
     ({"folder": "../elsewhere"}, "folder: '../elsewhere' is not a folder name")],
)  # fmt: skip
def test_a_bad_field_is_named_once_and_starts_nothing(env, fields, named):
    at = _start(_compare_page(), **fields)
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and named in errors[0] and errors[0].startswith("Cannot start the search: "), errors
    assert "cmp_search" not in at.session_state and not (env / "sweeps").exists()
    name, value = next(iter(fields.items()))  # what was typed stays for the user to correct
    widget = at.number_input(key=f"cmp_search_{name}") if name in ("tasks", "trials", "jobs", "seed") else \
        at.text_input(key=f"cmp_search_{name}")  # fmt: skip
    assert widget.value == value


def test_estimate_the_time_gives_the_longest_the_search_can_take_and_starts_nothing(env):
    at = _start(_compare_page(), "cmp_search_estimate", trials=6, jobs=2)
    assert not at.exception and not at.error, [e.value for e in at.error]
    told = [i.value for i in at.info if "This search would take" in i.value]
    assert len(told) == 1 and "at most about" in told[0] and "for 6 runs, 2 at a time" in told[0], told
    assert "cmp_search" not in at.session_state and not (env / "sweeps").exists()
    more = _start(_compare_page(), "cmp_search_estimate", trials=60, jobs=2)  # ten times the trials: longer
    seconds = [float(i.value.split("about ")[1].split(" s")[0]) for i in (*at.info, *more.info)
               if "This search" in i.value and " min" not in i.value and " h " not in i.value]  # fmt: skip
    assert len(seconds) < 2 or seconds[1] > seconds[0]
    bad = _start(_compare_page(), "cmp_search_estimate", trials=0)
    assert [e.value for e in bad.error] == ["Cannot estimate the search: trials: 0 is not possible; use 1 or more"]


def test_a_folder_that_holds_other_runs_is_refused(env):
    other = env / "sweeps" / "mine"
    (other / "den-0123456789").mkdir(parents=True)
    (other / "den-0123456789" / RUN_FILE).write_text("{}")
    at = _start(_compare_page(), folder="mine")
    assert [e.value for e in at.error] == ["Cannot start the search: folder: mine holds other runs, not a search; "
                                           "give another name"]  # fmt: skip
    assert sorted(p.name for p in other.iterdir()) == ["den-0123456789"] and "cmp_search" not in at.session_state


def test_a_search_started_on_the_page_lands_its_trials_as_runs_the_page_shows_and_resumes(env):
    at = _start(_compare_page(), early=False)
    _ok(at)
    launcher = at.session_state["cmp_search"]
    assert launcher.wait(TIMEOUT), launcher.log_tail()
    assert launcher.returncode == 0, launcher.log_tail()
    out = launcher.out
    assert out.parent == env / "sweeps" and out.name.startswith("search-toy-2d-") and (out / JOURNAL).is_file()
    trials = sorted(out.glob(f"trial-*/{RUN_FILE}"))
    assert len(trials) == 3 and all(load_run(t.parent).data["status"] == "complete" for t in trials)
    assert launcher.progress() == {"complete": 3, "stopped early": 0, "failed": 0, "running": 0, "trials": 3}
    at.run()
    _ok(at)
    # the search is the pick of every tab: its three trials, on the trade-off chart with Optuna's plots beside it
    assert sweep_box(at).value == str(out) and at.session_state["cmp_score"] == "auroc"  # scored as searched
    assert sorted(runs_box(at).value) == sorted(str(t.parent) for t in trials)
    keys = {c.key for c in at.get("plotly_chart")}
    assert {"compare_tradeoff", "search_pareto", "search_importance-score", "search_importance-size"} <= keys
    assert any(f"Search {out.name} finished: 3 trials (3 finished, 0 stopped early, 0 running)" in s.value
               for s in at.success)  # fmt: skip
    assert (out / "search.md").is_file() and len(launcher.rows) == 3 and any(r["front"] for r in launcher.rows)

    # the same settings again, one trial more: the same folder, its three trials untouched, one new one
    stamps = {t: t.stat().st_mtime_ns for t in trials}
    at = _start(at, early=False, trials=4)
    _ok(at)
    again = at.session_state["cmp_search"]
    assert again is not launcher and again.out == out
    assert again.wait(TIMEOUT) and again.returncode == 0, again.log_tail()
    assert {t: t.stat().st_mtime_ns for t in trials} == stamps
    assert len(list(out.glob(f"trial-*/{RUN_FILE}"))) == 4 and again.progress()["complete"] == 4

    # the folder named by hand, with other settings: refused, the search in it untouched
    at = _start(at, early=False, trials=4, seed=1, folder=out.name)
    assert [e.value for e in at.error] == [f"Cannot start the search: folder: {out.name} holds a search with other "
                                           "settings (seed differ); give another name, or leave it empty to name it "
                                           "by the settings"]  # fmt: skip
    assert at.session_state["cmp_search"] is again and len(list(out.glob(f"trial-*/{RUN_FILE}"))) == 4


def test_stop_ends_the_search_keeps_its_tasks_and_the_same_search_resumes_the_trial(env):
    slow = "hidden_sizes=8x8 iterations=15000 head_iterations=5"  # task 2 (three long stages) is still training
    at = _start(_compare_page(), trials=2, jobs=1, tasks=3, fixed=slow)
    _ok(at)
    launcher = at.session_state["cmp_search"]
    _wait_for(lambda: "trial 0: task 1 of 3 learned" in launcher.log_tail(), "trial 0's first task", 300)
    at.button(key="cmp_search_stop").click().run()
    assert launcher.wait(60), launcher.log_tail()
    assert launcher.stopped and launcher.returncode == 1
    (run,) = [p.parent for p in launcher.out.glob(f"trial-*/{RUN_FILE}")]
    record = load_run(run).data
    assert run.name.startswith("trial-000-") and len(record["tasks"]) == 1, launcher.log_tail()  # task 1 kept
    assert "task 2 of 3 learned" not in launcher.log_tail()  # task 2 was cut short, not trained to its end
    # both trials stay open in the study (trial 1 was asked, waiting for the one worker): neither is lost
    assert launcher.progress() == {"complete": 0, "stopped early": 0, "failed": 0, "running": 2, "trials": 2}
    at.run()
    assert any(f"Search {launcher.out.name} stopped" in w.value for w in at.warning), [w.value for w in at.warning]

    # started again with the same settings: the stopped trial is taken up again, not left behind
    at = _start(at, trials=2, jobs=1, tasks=3, fixed=slow)
    _ok(at)
    again = at.session_state["cmp_search"]
    assert again.out == launcher.out
    _wait_for(lambda: f"trial 0: resumed from {run.name}" in again.log_tail(), "the trial's resume", 60)
    again.stop()
    assert again.wait(60) and again.stopped, again.log_tail()
    assert len(list(launcher.out.glob(f"trial-*/{RUN_FILE}"))) == 1


def test_one_search_or_sweep_at_a_time_per_session(env):
    at = _start(_compare_page(), trials=2, jobs=1, tasks=3, fixed="hidden_sizes=8x8 iterations=4000")
    launcher = at.session_state["cmp_search"]
    try:
        at = _start(at, trials=3)
        assert any("already running" in w.value for w in at.warning)
        assert at.session_state["cmp_search"] is launcher
        next(b for b in at.button if b.label == "Start sweep").click().run()
        assert any("already running" in w.value for w in at.warning) and "cmp_sweep" not in at.session_state
    finally:
        launcher.stop()
        assert launcher.wait(60)
    # and the other way round: a sweep of this session runs, a search waits
    at.number_input(key="cmp_tasks").set_value(3)
    at.text_input(key="cmp_fixed").input("hidden_sizes=8x8 iterations=4000")
    next(b for b in at.button if b.label == "Start sweep").click().run()
    sweep = at.session_state["cmp_sweep"]
    try:
        at = _start(at, trials=3)
        assert any("already running" in w.value for w in at.warning)
        assert at.session_state["cmp_search"] is launcher
    finally:
        sweep.stop()
        assert sweep.wait(60)


def test_a_search_folder_is_picked_as_its_finished_trials_and_a_broken_journal_is_a_message(env):
    import shutil

    folder = env / "sweeps" / "search-made-elsewhere"
    shutil.copytree(SHIPPED / "sweeps" / "digits-tau-sigma", folder)
    runs = sorted(p.parent for p in folder.glob(f"*/{RUN_FILE}"))
    stopped = runs[0] / RUN_FILE  # as den search leaves a trial it stopped early: no final point to draw
    stopped.write_text(stopped.read_text().replace('"status": "complete"', '"status": "stopped"', 1))
    (folder / JOURNAL).write_text('{"op_code": 0, "worker_id": "cut short')
    at = _compare_page()
    sweep_box(at).set_value(str(folder)).run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert sorted(runs_box(at).value) == [str(r) for r in runs[1:]]
    assert any("Optuna could not draw this search" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "compare_tradeoff" in {c.key for c in at.get("plotly_chart")}
