"""``den search``: trials are ordinary run records, a dominated trial stops early, a killed search resumes.

Tiny toy-2d runs (3 tasks, 8-8 units, a few dozen steps) keep every search here to seconds of training.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from den_engine.cli import main
from den_engine.core.config import preset
from den_engine.experiments import search as search_module
from den_engine.experiments.search import parse_space, search
from den_engine.experiments.sweep_jobs import SweepJob, outcome_row, run_job, stopped_early
from den_engine.records.store import load_run, strip_timings

pytest.importorskip("optuna", reason="den search needs Optuna: pip install -r requirements.txt")

ROOT = Path(__file__).resolve().parents[3]
BENCH, TASKS = "toy-2d", 3
FIXED = {"hidden_sizes": (8, 8), "iterations": 15, "head_iterations": 10, "device": "cpu"}
SPACE = "tau=1e-3:1:log,sigma=1e-3:1:log"
SETS = ["--set", "hidden_sizes=8x8", "--set", "iterations=15", "--set", "head_iterations=10", "--set", "device=cpu"]


def _job(tmp_path: Path, stop: dict | None) -> SweepJob:
    config = preset("fast", benchmark=BENCH, seed=0, **FIXED)
    return SweepJob(0, "den", BENCH, TASKS, config, str(tmp_path / "trial"), {}, stop)


def _stop(point: list[float]) -> dict:
    return {"references": {"7": [point] * TASKS}, "margin_score": 0.01, "margin_size": 0.1,
            "score": "auroc", "size": "stl"}  # fmt: skip


def test_a_dominated_trial_stops_after_its_first_task_and_its_record_says_why(tmp_path):
    row = run_job(_job(tmp_path, _stop([1.0, 0.0])))  # a reference no run can match
    record = load_run(tmp_path / "trial").data
    assert row["how"] == "stopped early" and row["tasks_done"] == 1
    assert record["status"] == "stopped" and len(record["tasks"]) == 1
    note = record["notes"][-1]
    assert note["by"] == "search" and note["task"] == 1 and "clearly dominated by trial 7's" in note["message"]
    assert stopped_early(record) == note["message"]
    assert outcome_row(_job(tmp_path, None), record, "reused")["status"] == "stopped"  # the sweep table reads it


def test_a_trial_nothing_dominates_runs_every_task(tmp_path):
    row = run_job(_job(tmp_path, _stop([0.0, 100.0])))  # a reference worse on both sides
    record = load_run(tmp_path / "trial").data
    assert row["how"] == "trained" and record["status"] == "complete" and len(record["tasks"]) == TASKS
    assert stopped_early(record) is None


def _records(out: Path) -> dict[str, tuple]:
    found = {}
    for run in sorted(out.glob("trial-*")):
        data = strip_timings(load_run(run).data)
        data["notes"] = [{k: v for k, v in n.items() if k != "time"} for n in data["notes"]]
        found[run.name] = data
    return found


@pytest.fixture(scope="module")
def serial_search(tmp_path_factory) -> Path:
    """Four trials, one at a time in this process, asked as ``--jobs 2`` asks them (trial n after n - 4 is told)."""
    out = tmp_path_factory.mktemp("serial")
    search(BENCH, TASKS, 4, out, jobs=1, space=SPACE, fixed=FIXED, backend="serial", margins=(0.0, 0.0), lag=4)
    return out


def test_a_search_writes_ordinary_records_and_two_workers_give_the_serial_records(serial_search, tmp_path):
    rows = search(BENCH, TASKS, 4, tmp_path, jobs=2, space=SPACE, fixed=FIXED, margins=(0.0, 0.0))
    assert [r["trial"] for r in rows] == [0, 1, 2, 3] and {r["state"] for r in rows} <= {"complete", "pruned"}
    assert _records(tmp_path) == _records(serial_search)  # same values, same stops, same records
    for row in rows:
        record = load_run(tmp_path / row["run"]).data  # an ordinary run record, read as every view reads it
        assert record["config"]["loss_threshold"] == row["loss_threshold"]
        assert record["config"]["split_threshold"] == row["split_threshold"]
        assert len(record["tasks"]) == row["tasks_done"]
        assert (record["status"] == "stopped") == (row["state"] == "pruned") == (row["why"] is not None)
        assert record["status"] in ("complete", "stopped")
    complete = [r for r in rows if r["state"] == "complete"]
    assert complete and any(r["front"] for r in complete)
    more = search(BENCH, TASKS, 5, tmp_path, jobs=2, space=SPACE, fixed=FIXED, margins=(0.0, 0.0))
    assert len(more) == 5 and _records(tmp_path).keys() > _records(serial_search).keys()  # one more, none redone


def test_early_stopping_prunes_a_trial_among_the_first_ones_against_an_earlier_unfinished_trial(serial_search):
    # The first 2J trials are asked before any trial is told: judged only against finished trials,
    # none of them could ever stop, and the costly settings sampled first always ran to the end.
    from den_engine.experiments.search_front import summary
    from den_engine.experiments.search_rule import clearly_dominates, record_points

    rows = search(BENCH, TASKS, 4, serial_search, jobs=1, space=SPACE, fixed=FIXED, backend="serial",
                  margins=(0.0, 0.0), lag=4)  # fmt: skip
    pruned = [r for r in rows if r["state"] == "pruned"]
    assert pruned, rows
    records = {r["trial"]: load_run(serial_search / r["run"]).data for r in rows}
    for row in pruned:
        record = records[row["trial"]]
        stopped_at = record["notes"][-1]["task"]
        assert record["status"] == "stopped" and len(record["tasks"]) == stopped_at == row["tasks_done"] < TASKS
        assert not row["front"] and row["run"] not in {r["run"] for r in summary(serial_search)["front"]}
        by = int(row["why"].split("dominated by trial ")[1].split("'")[0])
        assert by < row["trial"]  # an earlier trial, judged at the same task
        ours, theirs = record_points(record)[stopped_at - 1], record_points(records[by])[stopped_at - 1]
        assert clearly_dominates(theirs, ours, 0.0, 0.0)


def test_a_stop_waits_for_every_earlier_trial_to_reach_the_task_and_skips_ended_ones():
    from types import SimpleNamespace

    from den_engine.experiments.search_steps import TrialSteps, references

    state = SimpleNamespace(trials=lambda: [SimpleNamespace(number=i) for i in range(3)])
    mine = {
        0: TrialSteps([[0.9, 0.5]]),
        1: TrialSteps([[0.8, 0.4], [0.85, 0.6]]),
        2: TrialSteps([[0.7, 0.3], [0.7, 1]]),
    }
    assert references(state, 2, 2, mine) is None  # trial 0 is still at task 1: the decision waits for it
    assert references(state, 1, 1, mine) == {"0": [[0.9, 0.5]]}  # only earlier trials judge a trial
    mine[0].row = {"how": "stopped early"}  # trial 0 ended after task 1: nothing to wait for, no point at task 2
    assert references(state, 2, 2, mine) == {"1": [[0.8, 0.4], [0.85, 0.6]]}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_search_resumes_without_redoing_finished_trials(tmp_path, capsys):
    out = tmp_path / "search"
    argv = ["search", "--benchmark", BENCH, "--tasks", str(TASKS), "--trials", "3", "--jobs", "1", "--space", SPACE,
            *SETS, "--out", str(out), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "den_engine", *argv], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    second = []
    while not second and proc.poll() is None and time.monotonic() < deadline:  # trial 1 has finished a task
        second = list(out.glob("trial-001-*/weights/task-001.safetensors"))
        time.sleep(0.01)  # poll interval of a bounded wait
    os.killpg(proc.pid, signal.SIGKILL)  # the search and its worker, mid-trial
    proc.wait()
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval of a bounded wait
    assert second, f"trial 1 never finished a task: {proc.stderr.read()[-2000:]}"
    first = next(out.glob("trial-000-*"))
    assert load_run(first).data["status"] in ("complete", "stopped")
    kept = {p: p.stat().st_ino for p in [*first.rglob("*.json"), *first.rglob("*.safetensors"), second[0]]}
    assert main(argv) == 0, capsys.readouterr().err  # the same command again
    assert {p: p.stat().st_ino for p in kept} == kept  # trial 0 untouched, trial 1 resumed after its first task
    rows = list(out.glob("trial-*"))
    assert len(rows) == 3
    table = (out / "search.md").read_text()
    assert all(run.name in table for run in rows) and "running" not in table
    assert all(load_run(run).data["status"] in ("complete", "stopped") for run in rows)


def test_the_trial_table_and_optunas_plots(serial_search, tmp_path):
    from den_engine.experiments.search_plots import figures, write_plots

    names = set(figures(serial_search))
    assert {"pareto", "importance-score", "importance-size"} <= names
    lines = write_plots(serial_search, tmp_path / "plots")
    assert len(lines) == len(names) and all((tmp_path / "plots" / f"{n}.html").is_file() for n in names)
    assert (tmp_path / "plots" / "plotly.min.js").stat().st_size > 100_000  # opens offline: the script lies beside


def one_error(capsys, argv: list[str]) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--trials", "0"], "trials: must be a whole number >= 1, got 0"),
        (["--trials", "2", "--jobs", "0"], "jobs: must be a whole number >= 1"),
        (["--trials", "2", "--space", "tau=1e-3"], "space: 'tau=1e-3' is not name=low:high"),
        (["--trials", "2", "--space", "tau=1:1e-3:log"], "needs finite bounds with low < high"),
        (["--trials", "2", "--space", "tau=0:1:log"], "a log scale needs low > 0"),
        (["--trials", "2", "--space", "tau=1e-3:1:cubic"], "the scale is one of log, linear, int"),
        (["--trials", "2", "--space", "omega=1:2"], "space: unknown knob 'omega'; known: gamma, k, mu, sigma, tau"),
        (["--trials", "2", "--space", "k=2.5:9"], "expand_units takes whole numbers"),
        (["--trials", "2", "--space", "tau=1e-3:1,loss_threshold=0.1:1"], "knob 'loss_threshold' is given twice"),
        (["--trials", "2", "--set", "loss_threshold=0.1"], "loss_threshold: is searched"),
        (
            ["--trials", "2", "--space", "tau=-1:1"],
            "space: loss_threshold from -1 to 1: loss_threshold: must be a number >= 0",
        ),  # a range whose trials would all fail
        (["--trials", "2", "--address", "127.0.0.1:1"], "--address: is a Ray cluster's address: add --backend ray"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(flags, words, capsys, tmp_path):
    line = one_error(capsys, ["search", "--benchmark", BENCH, "--tasks", "2", *flags, "--out", str(tmp_path / "s")])
    assert words in line
    assert not (tmp_path / "s").exists()


def test_a_search_with_other_settings_in_the_folder_is_refused(serial_search, capsys):
    argv = ["search", "--benchmark", BENCH, "--tasks", str(TASKS), "--trials", "4", "--space", "tau=1e-2:1:log",
            *SETS, "--out", str(serial_search)]  # fmt: skip
    line = one_error(capsys, argv)
    assert "holds a search with other settings (" in line and "space" in line and "give another --out" in line


def test_without_optuna_den_search_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    line = one_error(capsys, ["search", "--benchmark", BENCH, "--trials", "2", "--out", str(tmp_path / "s")])
    assert line == "error: den search needs Optuna: pip install optuna (pinned in requirements.txt)"


def test_the_space_reads_the_papers_names():
    assert parse_space("tau=1e-3:1:log, k=5:20") == {
        "loss_threshold": (1e-3, 1.0, "log", False),
        "expand_units": (5, 20, "int", True),
    }
    assert search_module.ALIASES["sigma"] == "split_threshold"


def test_the_engine_core_does_not_import_optuna():
    code = "import sys, den_engine.cli, den_engine.experiments.search; print('optuna' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.stdout.strip() == "False"


def test_the_front_of_a_folder_counts_finished_runs_only(serial_search):
    from den_engine.experiments.search_front import summary

    rows = search(BENCH, TASKS, 4, serial_search, jobs=1, space=SPACE, fixed=FIXED, backend="serial",
                  margins=(0.0, 0.0), lag=4)  # fmt: skip
    info = summary(serial_search)
    complete = [r for r in rows if r["state"] == "complete"]
    assert info["finished"] == len(complete)  # a trial stopped early is no point of the front
    assert {r["run"] for r in info["front"]} == {r["run"] for r in complete if r["front"]}
    assert info["hypervolume_val"] > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_the_random_startup_trials_spread_over_the_space(seed, tmp_path):
    # seeds counted up per trial once made numpy's first draws, and so the startup trials, near copies
    space = parse_space(SPACE)
    state = search_module.Search(tmp_path, BENCH, TASKS, space, "fast", seed, "auroc", "stl", (0.01, 0.1), FIXED, True)
    points = []
    for _ in range(search_module.STARTUP_TRIALS):
        number = state.ask()
        values = state.trials()[number].user_attrs["values"]
        points.append((math.log10(values["loss_threshold"]), math.log10(values["split_threshold"])))
    nearest = min(math.dist(a, b) for i, a in enumerate(points) for b in points[:i])
    assert nearest > 0.03, points  # the copies were 0.02 decades apart, in a space 3 decades wide each way
