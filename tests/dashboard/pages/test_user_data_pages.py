"""AppTest of the pages on a run trained on a user's .npz: task names, inputs drawn, a missing or changed file named.

The data is tiny (sklearn's moons and 8x8 digit pairs, a few dozen examples per task) and
every run uses the fast preset with a few steps, so the whole file takes seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from streamlit.testing.v1 import AppTest

from den_engine import Trainer, preset

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
TIMEOUT = 60
TINY = dict(hidden_sizes=(8, 8), iterations=15, head_iterations=5, batch_size=32)
DIGIT_NAMES = ["zero or one", "two or three"]


def _split(x, y) -> dict:
    order = np.random.default_rng(0).permutation(len(x))
    n = int(0.7 * len(x))
    return {"x_train": x[order[:n]], "y_train": y[order[:n]], "x_test": x[order[n:]], "y_test": y[order[n:]]}


def write_digits(path: Path) -> Path:
    """Two tasks of 8x8 digit images, (n, 8, 8): 0 vs 1 and 2 vs 3, with their own names."""
    digits = load_digits()
    arrays = {}
    for t, (a, b) in enumerate([(0, 1), (2, 3)], start=1):
        keep = np.flatnonzero((digits.target == a) | (digits.target == b))[:80]
        task = _split((digits.images[keep] / 16).astype(np.float32), (digits.target[keep] == b).astype(int))
        arrays.update({f"{k}_{t}": v for k, v in task.items()})
    np.savez(path, task_names=np.array(DIGIT_NAMES), **arrays)
    return path


def write_moons(path: Path) -> Path:
    """Two tasks of 2-D points (moons at two noise levels), no names of their own."""
    arrays = {}
    for t, noise in enumerate([0.1, 0.3], start=1):
        task = _split(*make_moons(60, noise=noise, random_state=t))
        arrays.update({f"{k}_{t}": v for k, v in task.items()})
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A finished run on the digit pairs, trained from the .npz in its own data folder."""
    root = tmp_path_factory.mktemp("userdata")
    data = write_digits(root / "digits8.npz")
    Trainer(preset("fast", **TINY), str(data), out_dir=root / "runs" / "digits8-run").run()
    return root / "runs" / "digits8-run"


@pytest.fixture
def env(monkeypatch, tmp_path, digits_run) -> Path:
    """The app pointed at an empty examples folder and a runs folder holding a copy of the digits run."""
    monkeypatch.setenv("DEN_EXAMPLES_DIR", str(tmp_path / "examples"))
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DEN_SYNC_TRAINING", "1")
    shutil.copytree(digits_run, tmp_path / "runs" / digits_run.name)
    return tmp_path / "runs"


def _app(view: Path | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if view is not None:
        at.session_state["view_path"] = str(view)
    return at.run()


def _no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not any("Something went wrong" in e.value for e in at.error), [e.value for e in at.error]


def _data_chart(at: AppTest, key: str) -> dict:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)["layout"]["meta"]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


PAGES = {"train": "train_data", "inspector": "inspect_data", "runs": "runs_data"}


def test_every_page_loads_a_user_data_run_with_its_task_names_and_images(env):
    run = env / "digits8-run"
    at = _app(run)
    at.session_state["run_pick"] = str(run)
    for page in [*PAGES, "compare"]:
        at.switch_page(f"app_pages/{page}.py").run()
        _no_traceback(at)
        assert not at.error, (page, [e.value for e in at.error])
        if page == "compare":
            assert any("digits8-run" in str(o) for o in at.multiselect[0].options)
            continue
        assert "digits8.npz" in _markdown(at) and "zero or one, two or three" in _markdown(at), page
        meta = _data_chart(at, PAGES[page])
        assert meta["kind"] == "image" and meta["tasks"] == DIGIT_NAMES, page


def test_a_missing_or_changed_data_file_is_named_and_the_rest_is_shown(env, tmp_path):
    run = env / "digits8-run"
    data = Path(json.loads((run / "run.json").read_text())["benchmark"]["data"]["path"])
    moved = data.with_suffix(".moved")
    data.rename(moved)
    try:
        at = _app(run)
        at.session_state["run_pick"] = str(run)
        for page in PAGES:
            at.switch_page(f"app_pages/{page}.py").run()
            _no_traceback(at)
            errors = [e.value for e in at.error]
            assert len(errors) == 1 and "digits8.npz" in errors[0] and "no longer at" in errors[0], errors
            assert "zero or one, two or three" in _markdown(at)  # the record's own numbers and names stay
            if page == "train":
                assert at.metric and len(at.get("plotly_chart")) >= 7  # the network and the charts
        other = dict(np.load(write_digits(tmp_path / "other.npz")))
        np.savez(data, **{**other, "x_test_2": other["x_test_2"] * 2})  # the same name, other bytes: refused
        at = _app(run).switch_page("app_pages/inspector.py").run()
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "differs from the one the run was trained on" in errors[0], errors
    finally:
        data.unlink(missing_ok=True)
        moved.rename(data)


def test_train_page_offers_runs_folder_npz_and_trains_on_it(env):
    write_moons(env / "moons3.npz")
    (env / "sub").mkdir()
    write_moons(env / "sub" / "hidden.npz")  # only files directly in the runs folder are offered
    at = _app()
    box = at.selectbox(key="cfg_benchmark")
    assert box.options[-1] == "your data: moons3.npz"  # AppTest lists the labels the picker shows
    assert not any("hidden" in str(o) for o in box.options)
    box.set_value("moons3.npz").run()
    assert at.number_input(key="cfg_n_tasks").value == 2
    at.text_input(key="cfg_iterations").input("15")
    at.text_input(key="cfg_head_iterations").input("5")
    at.text_input(key="cfg_hidden_sizes").input("8,8").run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="run_all").click().run()
    _no_traceback(at)
    runs = [p for p in env.iterdir() if p.name.startswith("moons3-den-") and (p / "run.json").is_file()]
    assert len(runs) == 1
    assert "moons3.npz" in _markdown(at) and "task 1, task 2" in _markdown(at)
    assert _data_chart(at, "train_data")["kind"] == "points"


def test_a_bad_runs_folder_npz_gets_the_engines_message_and_no_training(env):
    bad = np.load(write_moons(env / "tmp.npz"))
    np.savez(env / "broken.npz", **{k: v for k, v in bad.items() if k != "y_test_2"})
    at = _app()
    at.selectbox(key="cfg_benchmark").set_value("broken.npz").run()
    _no_traceback(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "broken.npz" in errors[0] and "y_test_2 is missing" in errors[0], errors
    assert at.button(key="run_all").disabled and at.button(key="next_task").disabled
    assert [p.name for p in env.iterdir() if p.is_dir()] == ["digits8-run"]


def test_a_path_outside_the_runs_folder_is_refused(env, tmp_path):
    from dashboard.state.run_settings import field_errors

    outside = write_moons(tmp_path / "outside.npz")
    for name in (str(outside), "../outside.npz"):
        values = {"benchmark": name, "data_folder": str(env), "n_tasks": 2, "hidden_sizes": "8,8"}
        errors = [str(e) for e in field_errors(values)]
        assert errors == [f"data file {name!r}: choose a .npz file from the runs folder {env} by its name"], errors


def test_an_interrupted_user_data_run_resumes_from_the_runs_page_and_a_moved_file_is_named(env):
    data = write_moons(env / "moons3.npz")
    run_dir = env / "moons-interrupted"
    trainer = Trainer(preset("fast", **TINY), str(data), 2, run_dir)
    trainer.train_next()
    trainer.close()  # its process is gone; run.json still says "running"
    moved = data.rename(env / "moons3.moved")
    at = _app().switch_page("app_pages/runs.py").run()
    at.selectbox(key="run_pick").set_value(str(run_dir)).run()
    at.button(key="resume_run").click().run()
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and all("moons3.npz" in e and "no longer at" in e for e in errors), errors  # data, resume
    assert sorted(e.split(":")[0] for e in errors) == ["Cannot resume this run", "The data's examples are not shown"]
    moved.rename(data)
    at.button(key="resume_run").click().run()
    _no_traceback(at)
    record = json.loads((run_dir / "run.json").read_text())
    assert len(record["tasks"]) == 2 and record["status"] == "complete"
