"""The Compare page's search launcher without the page: its folder's name, and nothing trains for a closed tab."""

from __future__ import annotations

import pytest

from dashboard.state.search_launcher import SearchLauncher, SearchRequest
from dashboard.workers.inprocess import ThreadSlot
from dashboard.workers.pool import JobPool
from den_engine.records.store import RUN_FILE

pytest.importorskip("optuna", reason="den search needs Optuna: pip install -r requirements.txt")

TINY = "hidden_sizes=8x8 iterations=10 head_iterations=5"


def _request(**fields) -> SearchRequest:
    return SearchRequest(**{"benchmark": "toy-2d", "n_tasks": 2, "trials": 2, "fixed": TINY, **fields})


def _name(request: SearchRequest) -> str:
    _, space, fixed = request.check()
    return request.folder_name(space, fixed)


def test_the_folder_is_named_by_what_the_search_is_not_by_how_long_or_how_wide_it_runs():
    base = _name(_request())
    assert base.startswith("search-toy-2d-")
    assert _name(_request(trials=9, workers=3)) == base  # more trials extend the same search; lanes change nothing
    assert _name(_request(space="sigma=1e-3:1:log, tau=1e-3:1:log")) == base  # the same space, written otherwise
    for other in ({"seed": 1}, {"n_tasks": 3}, {"space": "tau=1e-2:1:log,sigma=1e-3:1:log"}, {"score": "accuracy"},
                  {"early_stop": False}, {"fixed": TINY.replace("8x8", "8x4")}, {"preset": "paper"}):  # fmt: skip
        assert _name(_request(**other)) != base, other
    assert _name(_request(folder="mine")) == "mine"


def test_a_search_whose_tab_has_gone_trains_nothing_and_says_why(tmp_path):
    pool = JobPool(1, ThreadSlot)
    try:
        launcher = SearchLauncher(_request(), tmp_path, owner="tab", gone=lambda: True, pool=pool, sync=False)
        assert launcher.wait(60), launcher.log_tail()
        assert launcher.stopped and launcher.returncode == 1
        assert "stopped (the browser tab closed)" in launcher.log_tail()
        assert not list(launcher.out.glob(f"*/{RUN_FILE}"))  # no step of any trial ran
    finally:
        pool.close()
