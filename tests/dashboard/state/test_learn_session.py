"""Learn runs: the same classroom link and seed train the same network; the task order is the one chosen."""

from __future__ import annotations

import numpy as np
import torch

from dashboard.state import url_state
from dashboard.state.learn_session import LearnSession, PairTrainer, comparison_config, spec_from_state
from den_engine import Callbacks
from den_engine.records.store import strip_timings

LINK = url_state.LearnState(tasks=("circles", "moons"), hidden_sizes=(4, 4), iterations=40, expand_units=2,
                            split_threshold=0.05, seed=7)  # fmt: skip


def _train_from_link(query: str) -> PairTrainer:
    params = {k: v for k, v in (pair.split("=", 1) for pair in query.lstrip("?").split("&"))}
    state, warnings = url_state.decode(params)
    assert warnings == []
    pair = PairTrainer(spec_from_state(state), Callbacks(), Callbacks())
    while not pair.finished:
        pair.train_next()
    return pair


def test_same_link_and_seed_train_the_same_network():
    link = url_state.query_string(LINK)
    a, b = _train_from_link(link), _train_from_link(link)
    assert strip_timings(a.den.record) == strip_timings(b.den.record)
    assert strip_timings(a.other.record) == strip_timings(b.other.record)
    for x, y in ((a.den.net, b.den.net), (a.other.net, b.other.net)):
        tx, ty = x.state_tensors(), y.state_tensors()
        assert tx.keys() == ty.keys() and all(torch.equal(tx[k], ty[k]) for k in tx)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert fa["pictures"].keys() == fb["pictures"].keys()
        assert all(np.array_equal(fa["pictures"][k], fb["pictures"][k]) for k in fa["pictures"])
    changed = _train_from_link(url_state.query_string(url_state.LearnState(**{**LINK.__dict__, "seed": 8})))
    assert strip_timings(changed.den.record) != strip_timings(a.den.record)  # the seed matters


def test_tasks_come_in_the_chosen_order_for_both_methods():
    pair = _train_from_link(url_state.query_string(LINK))
    assert [t["name"] for t in pair.den.record["tasks"]] == ["circles", "moons"]
    assert pair.den.record["benchmark"]["task_names"] == ["circles", "moons"]
    assert [t["name"] for t in pair.other.record["tasks"]] == ["circles", "moons"]
    assert pair.other.record["method"] == "finetune" and len(pair.other_regions) == 2


def test_comparison_gets_the_same_budget_and_seed():
    spec = spec_from_state(LINK)
    other = comparison_config(spec.config, "finetune")
    assert (other.iterations, other.seed, other.hidden_sizes) == (40, 7, (4, 4))
    assert spec_from_state(url_state.LearnState(compare="none")).compare is None


def test_background_session_narrates_live_and_a_stop_keeps_finished_tasks():
    threads = torch.get_num_threads()
    session = LearnSession(sync=False)
    spec = spec_from_state(LINK)
    assert session.submit(spec, 1, pause_s=0.0)
    assert session.wait(60)
    status = session.status()
    assert status.tasks_done == 1 and status.message[0] == "success"
    task, events = session.live_events()
    assert task == 1 and any(e["type"] == "stage_end" and e["stage"] == "sparse_training" for e in events)
    assert torch.get_num_threads() == threads  # one thread only inside the worker
    assert session.submit(spec, None, pause_s=0.0)
    session.stop()  # task 2 is dropped whole, for DEN and for the comparison alike
    assert session.wait(60)
    pair = session.trainer
    assert pair.tasks_done == 1 and len(pair.den.record["tasks"]) == 1 and len(pair.other_regions) == 1
    assert session.status().message[0] == "warning"


def test_your_own_task_takes_its_place_in_the_sequence():
    from dashboard.state import custom_task

    own = "0.50~0.50~1_-0.50~-0.50~1_0.50~-0.50~0_-0.50~0.50~0"
    state = url_state.LearnState(tasks=("moons", "yours"), hidden_sizes=(3,), iterations=20, custom=own, seed=2)
    spec = spec_from_state(state)
    pair = PairTrainer(spec, Callbacks(), Callbacks())
    assert [t.name for t in pair.benchmark.tasks] == ["moons", "yours"]
    expected = custom_task.task_data(custom_task.from_text(own), 2)
    assert torch.equal(pair.benchmark.tasks[1].x_train, expected.x_train)
    assert [t.name for t in pair.other.benchmark.tasks] == ["moons", "yours"]  # the comparison learns it too
    try:
        spec_from_state(url_state.LearnState(tasks=("yours",)))
    except ValueError as exc:
        assert "has no points yet" in str(exc)
    else:
        raise AssertionError("a custom task without points was accepted")
