"""The Train page's MNIST tasks, the classroom link's Learn tasks, Compare-page sweeps and searches train in the pool.

Each test runs the real page (AppTest, no DEN_SYNC_TRAINING) against a pool of one real
worker process that records what it was sent, and makes training in the test's own process
(the web server's stand-in) fail: a page that trained in the server would error or hang.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.state import url_state
from dashboard.workers import pool as pool_module
from dashboard.workers.pool import JobPool
from dashboard.workers.process import ProcessSlot
from den_engine import Trainer
from tests.dashboard.pages.test_compare_page import start_small_sweep

APP = str(Path(__file__).resolve().parents[3] / "dashboard" / "app.py")
TIMEOUT = 90
WAIT_S = 240


class RecordingSlot(ProcessSlot):
    """A real worker process that also notes each unit's kind and what it trains."""

    sent: list[tuple[str, str]] = []

    def run(self, kind, payload, cores):
        what = payload.get("spec")
        name = getattr(what, "benchmark", None) or ("toy-2d" if kind == "learn" else kind)
        RecordingSlot.sent.append((kind, name))
        super().run(kind, payload, cores)


@pytest.fixture
def recording_pool(monkeypatch, tmp_path):
    monkeypatch.delenv("DEN_SYNC_TRAINING", raising=False)
    monkeypatch.setenv("DEN_RUNS_DIR", str(tmp_path / "runs"))
    RecordingSlot.sent = []
    pool = JobPool(1, RecordingSlot)
    monkeypatch.setattr(pool_module, "_POOL", [pool])

    def no_training_here(self):
        raise AssertionError("a page trained inside the web server")

    monkeypatch.setattr(Trainer, "train_next", no_training_here)  # the worker process is not patched
    yield pool
    pool.close()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_a_train_page_mnist_task_trains_in_a_worker(recording_pool):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in {"benchmark": "mnist-one-vs-rest", "tasks": "2", "hidden_sizes": "16,8", "iterations": "5",
                       "head_iterations": "5"}.items():  # fmt: skip
        at.query_params[key] = value
    at.run()
    _ok(at)
    at.button(key="next_task").click().run()
    _ok(at)
    session = at.session_state["den_session"]
    assert session.wait(WAIT_S)
    at.run()
    _ok(at)
    assert any("Learned task 1 of 2" in s.value for s in at.success), [s.value for s in at.success]
    assert RecordingSlot.sent == [("train", "mnist-one-vs-rest")]


def test_the_classroom_link_trains_in_a_worker(recording_pool):
    link = url_state.LearnState(tasks=("moons", "blobs"), hidden_sizes=(4, 4), iterations=40, expand_units=2, seed=3)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in url_state.encode(link).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("app_pages/learn.py").run()
    _ok(at)
    at.button(key="learn_next").click().run()
    _ok(at)
    assert at.session_state["learn_session"].wait(WAIT_S)
    at.run()
    _ok(at)
    assert any("Learned task 1 of 2" in s.value for s in at.success), [s.value for s in at.success]
    assert RecordingSlot.sent == [("learn", "toy-2d")]


def test_a_compare_page_sweep_trains_in_a_worker(recording_pool):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/compare.py").run()
    start_small_sweep(at)
    _ok(at)
    launcher = at.session_state["cmp_sweep"]
    assert launcher.wait(WAIT_S) and launcher.returncode == 0, launcher.log_tail()
    assert [kind for kind, _ in RecordingSlot.sent].count("sweep") >= 2
    assert launcher.done() == 2


def test_a_compare_page_search_trains_in_a_worker(recording_pool):
    from tests.dashboard.pages.test_compare_search import _start

    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/compare.py").run()
    _start(at, trials=2, jobs=1)  # toy-2d, 2 tasks, tiny runs; a step is one task of one trial
    _ok(at)
    launcher = at.session_state["cmp_search"]
    assert launcher.wait(WAIT_S) and launcher.returncode == 0, launcher.log_tail()
    steps = sum(row["tasks_done"] for row in launcher.rows)
    assert [kind for kind, _ in RecordingSlot.sent].count("sweep") >= steps >= 3  # a trial stopped early: 1 task
