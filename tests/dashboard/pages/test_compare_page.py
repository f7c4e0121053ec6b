"""AppTest of the Compare page on the shipped runs: every view, the decision diff, a sweep launched from the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state.sweep_launcher import finished_runs

ROOT = Path(__file__).resolve().parents[3]
APP = str(ROOT / "dashboard" / "app.py")
SHIPPED = ROOT / "assets" / "runs"
TIMEOUT = 90


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(SHIPPED))
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _compare_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    return at.switch_page("app_pages/compare.py").run()


def runs_box(at: AppTest):
    """The run picker (its key changes with its options: found by its label)."""
    return next(box for box in at.multiselect if box.label.startswith("Runs to compare"))


def sweep_box(at: AppTest):
    """The Sweep box (its key changes with its titles: found by its label)."""
    return next(box for box in at.selectbox if box.label == "Sweep")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _downloads(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


SWEEP = SHIPPED / "sweeps" / "digits-tau-sigma"


def test_the_page_opens_on_the_shipped_threshold_sweep(env):
    at = _compare_page()
    _ok(at)
    picked = runs_box(at).value
    assert len(picked) == 4 and all(Path(p).parent == SWEEP for p in picked)  # one benchmark, tau x sigma
    assert sweep_box(at).value == str(SWEEP)
    # trade-off; heatmap, parallel coordinates; units, parameters, AUROC; four networks; the diff grid
    keys = [c.key for c in at.get("plotly_chart")]
    assert len(keys) == 11 and {"compare_tradeoff", "compare_heatmap", "compare_network_3"} <= set(keys)
    labels = _downloads(at)
    for name in ("Outcomes (CSV)", "Per-task curves (CSV)", "Trade-off (CSV)", "Decision diff (CSV)"):
        assert name in labels
    # the picker names the sweep's runs by the settings that differ, not by their hash names
    shown = [o.split(" — ")[0] for o in runs_box(at).options if "digits-tau-sigma" in o]
    assert sorted(shown) == ["τ=0.01 σ=0.002", "τ=0.01 σ=0.05", "τ=0.1 σ=0.002", "τ=0.1 σ=0.05"]
    assert at.selectbox(key="cmp_knob_x").value == "loss_threshold"
    assert at.selectbox(key="cmp_knob_y").value == "split_threshold"
    outcomes = at.dataframe[0].value
    assert len(outcomes) == 4
    assert {"average_auroc", "relative_to_stl"} <= set(outcomes.columns)
    assert not any("differ in more than" in w.value for w in at.warning)


def test_runs_of_different_benchmarks_are_named_as_such(env):
    at = _compare_page()
    runs_box(at).set_value([str(SHIPPED / "toy2d-den-fast"), str(SHIPPED / "mnist-den-fast")])
    at.run()
    _ok(at)
    notes = [w.value for w in at.warning if "differ in more than" in w.value]
    assert len(notes) == 2  # above the views, and again above the decision diff of the two
    assert "benchmark: toy-2d, mnist-one-vs-rest" in notes[0] and "starting hidden sizes: 8-8, 100-50" in notes[0]


def test_decision_diff_of_a_run_with_itself_is_empty_and_the_first_difference_is_marked(env):
    at = _compare_page()
    at.selectbox(key="cmp_diff_b").set_value(0).run()
    _ok(at)
    assert any("same decisions on every task" in i.value for i in at.info)
    at.selectbox(key="cmp_diff_b").set_value(1).run()
    table = at.dataframe[-1].value
    first = table[table["first"]]
    assert len(first) == 1 and bool(first["differs"].iloc[0])
    warning = next(w.value for w in at.warning if "First difference" in w.value)
    assert f"task {int(first['task'].iloc[0])}," in warning


def test_fewer_than_two_runs_asks_for_more_and_picking_the_sweep_again_picks_all_its_runs(env):
    at = _compare_page()
    runs_box(at).set_value([str(SHIPPED / "toy2d-den-fast")]).run()
    _ok(at)
    assert any("at least two runs" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 0
    assert sweep_box(at).value == ""  # runs picked by hand: no sweep is "the" pick
    sweep_box(at).set_value(str(SWEEP)).run()
    _ok(at)
    picked = runs_box(at).value
    assert len(picked) == 4 and all(Path(p).parent == SWEEP for p in picked)
    assert len(at.get("plotly_chart")) == 11


def test_a_bad_grid_names_the_field_and_starts_nothing(env):
    at = _compare_page()
    at.text_area(key="cmp_grid").input("loss_treshold=0.1,0.2")
    next(b for b in at.button if b.label == "Start sweep").click().run()
    assert any("loss_treshold" in e.value for e in at.error)
    assert "cmp_sweep" not in at.session_state


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [("cmp_tasks", 0, "tasks: 0 tasks is not possible; digits-one-vs-rest has 1 to 10"),
     ("cmp_tasks", 11, "tasks: 11 tasks"), ("cmp_jobs", 0, "parallel runs: 0 is not possible")],
)  # fmt: skip
def test_an_out_of_range_number_is_named_on_start_not_clamped(env, key, value, named):
    at = _compare_page()
    at.number_input(key=key).set_value(value)
    next(b for b in at.button if b.label == "Start sweep").click().run()
    assert not at.exception
    assert any(named in e.value for e in at.error), [e.value for e in at.error]
    assert "cmp_sweep" not in at.session_state and at.number_input(key=key).value == value


def test_a_sweep_of_over_an_hour_shows_its_estimate_and_starts_only_when_confirmed(env, monkeypatch):
    from dashboard.state import sweep_launcher

    started = []

    class Captured:  # a launcher that starts nothing
        def __init__(self, request, out, **_):
            started.append(request)
            self.out, self.running, self.stopped, self.returncode, self.n_runs = out, False, True, None, 0

        def done(self) -> int:
            return 0

        def log_tail(self) -> str:
            return ""

    monkeypatch.setattr(sweep_launcher, "SweepLauncher", Captured)  # the page script imports it from there
    at = _compare_page()
    at.number_input(key="cmp_jobs").set_value(2)
    at.text_input(key="cmp_fixed").input("hidden_sizes=32x16 iterations=1000000")
    next(b for b in at.button if b.label == "Start sweep").click().run()
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning if "would take" in w.value]
    assert " h" in warning or "days" in warning
    assert started == []  # nothing runs before the yes
    at.button(key="cmp_confirm_long").click().run()
    assert len(started) == 1 and "iterations=1000000" in started[0].fixed
    assert not [w for w in at.warning if "would take" in w.value] and not at.error


def start_small_sweep(at: AppTest) -> None:
    """On the Compare page: a 2-run toy-2d sweep of 2 tasks, 2 at a time, started."""
    at.selectbox(key="cmp_bench").set_value("toy-2d")
    at.number_input(key="cmp_tasks").set_value(2)
    at.number_input(key="cmp_jobs").set_value(2)
    at.text_area(key="cmp_grid").input("loss_threshold=0.01,inf")
    at.text_input(key="cmp_fixed").input("hidden_sizes=8x8 iterations=10 head_iterations=5")
    next(b for b in at.button if b.label == "Start sweep").click().run()


def test_a_sweep_launched_from_the_page_shows_its_runs(env):
    at = _compare_page()
    start_small_sweep(at)
    _ok(at)
    launcher = at.session_state["cmp_sweep"]
    assert launcher.n_runs == 2 and launcher.wait(TIMEOUT), launcher.log_tail()
    assert launcher.returncode == 0, launcher.log_tail()
    at.run()
    _ok(at)
    runs = finished_runs(launcher.out)
    assert len(runs) == 2 and launcher.out.parent == env / "sweeps"
    options = runs_box(at).options  # labels: "<differing settings> — sweep <folder>"
    assert {o for o in options if launcher.out.name in o} == {
        f"τ={t} — sweep {launcher.out.name}" for t in ("0.01", "inf")
    }
    assert sweep_box(at).value == str(launcher.out)
    # the new sweep carries over to every tab: its two runs are the picked runs
    assert sorted(runs_box(at).value) == sorted(str(p) for p in runs)
    assert {"compare_tradeoff", "compare_units", "compare_network_1", "compare_diff"} <= {
        c.key for c in at.get("plotly_chart")
    }
    assert any("finished: 2 runs in" in s.value and "(estimated" in s.value for s in at.success)
    assert (launcher.out / "sweep.csv").is_file()


def test_estimate_the_time_names_it_and_starts_nothing(env):
    at = _compare_page()
    next(b for b in at.button if b.label == "Estimate the time").click().run()
    _ok(at)
    (line,) = [i.value for i in at.info if "would take" in i.value]
    assert "about" in line and "4 runs" in line and "at a time" in line  # the form's default 2 x 2 grid
    assert "cmp_sweep" not in at.session_state and not (env / "sweeps").exists()


def test_a_picked_sweep_of_more_runs_than_a_hand_pick_brings_every_run_to_the_tradeoff_chart(env):
    """20 runs (τ = 20 values): picked in the Sweep box, all 20 are compared, one marker each; by hand, 16 at most."""
    import json
    import shutil

    big = env / "sweeps" / "tau-20"
    big.mkdir(parents=True)
    shutil.copy(SWEEP / "sweep.json", big / "sweep.json")
    sources = sorted(p for p in SWEEP.iterdir() if (p / "run.json").is_file())
    for i in range(20):
        run = big / f"den-tau{i:02d}"
        shutil.copytree(sources[i % len(sources)], run)
        record = json.loads((run / "run.json").read_text())
        record["config"]["loss_threshold"] = round(0.001 * (i + 1), 3)  # a setting of its own
        record["run_id"] = f"tau{i:02d}"
        (run / "run.json").write_text(json.dumps(record))
    at = _compare_page()
    sweep_box(at).set_value(str(big)).run()
    _ok(at)
    picked = runs_box(at).value
    assert len(picked) == 20 and all(Path(p).parent == big for p in picked)
    chart = next(c for c in at.get("plotly_chart") if "compare_tradeoff" in c.proto.id)
    assert json.loads(chart.proto.spec)["layout"]["meta"]["runs"] == 20  # every run on the trade-off chart
    assert len(at.dataframe[0].value) == 20  # and in the outcomes
    assert runs_box(at).proto.max_selections == 20  # the picker holds them (a sweep's pick may be narrowed)
    runs_box(at).set_value(picked[:2]).run()
    _ok(at)
    assert sweep_box(at).value == "" and runs_box(at).proto.max_selections == 16  # by hand: 16 at most
