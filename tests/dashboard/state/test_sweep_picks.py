"""Sweeps as a unit: runs named by what differs in their sweep, a picked sweep followed until the user picks by hand."""

from __future__ import annotations

from pathlib import Path

from dashboard.state import loaders, sweep_picks

SWEEP = Path(__file__).resolve().parents[3] / "assets" / "runs" / "sweeps" / "digits-tau-sigma"


def _sweep_rows() -> list[dict]:
    rows = loaders.list_runs.__wrapped__(str(SWEEP), 0.0)  # the loader's own rows, without Streamlit's cache
    return [{**r, "source": "shipped sweep digits-tau-sigma", "sweep": str(SWEEP)} for r in rows]


def test_picker_names_sweep_runs_by_their_differing_settings_and_other_runs_by_name():
    rows = _sweep_rows()
    lone = {"name": "digits-den-fast", "source": "shipped", "benchmark": "digits-one-vs-rest", "status": "complete",
            "config": rows[0]["config"], "path": "/x/digits-den-fast"}  # fmt: skip
    labels = sweep_picks.picker_labels([lone, *rows])
    assert labels["/x/digits-den-fast"] == "digits-den-fast — shipped, digits-one-vs-rest, complete"
    settings = sorted(labels[r["path"]] for r in rows)
    assert settings == [
        f"τ={t} σ={s} — shipped sweep digits-tau-sigma" for t in ("0.01", "0.1") for s in ("0.002", "0.05")
    ]
    assert not any("den-" in label for label in settings)  # no hash names
    assert sweep_picks.sweep_title(str(SWEEP), rows) == "digits-tau-sigma: 4 runs over τ × σ"
    table = sweep_picks.sweep_table(rows)
    assert {row["τ (loss_threshold)"] for row in table} == {"0.01", "0.1"} and "settings" in table[0]


def test_a_picked_sweep_is_followed_as_its_runs_arrive_until_runs_are_picked_by_hand():
    state: dict = {}
    sweep_picks.start_following(state, "/s")
    assert state == {"cmp_sweep_pick": "/s", "cmp_runs": []}
    sweep_picks.follow_sweep(state, {"/s": ["/s/a"]}, limit=16)
    assert state["cmp_runs"] == ["/s/a"]
    sweep_picks.follow_sweep(state, {"/s": ["/s/a", "/s/b"]}, limit=16)
    assert state["cmp_runs"] == ["/s/a", "/s/b"]  # the second run joins every tab
    sweep_picks.picked_by_hand(state, {"/s": ["/s/a", "/s/b"]}, running="/s")
    assert state["cmp_sweep_pick"] == "/s"  # a pick the page made itself, sent back while the sweep runs
    state["cmp_runs"] = ["/s/a", "/other"]  # the user changed the pick: the picker's callback says so
    sweep_picks.picked_by_hand(state, {"/s": ["/s/a", "/s/b"]}, running="/s")
    sweep_picks.follow_sweep(state, {"/s": ["/s/a", "/s/b", "/s/c"]}, limit=16)
    assert state["cmp_runs"] == ["/s/a", "/other"] and state["cmp_sweep_pick"] == ""  # left alone, sweep un-picked
    state["cmp_sweep_pick"] = "/s"
    sweep_picks.pick_sweep(state, {"/s": ["/s/a", "/s/b", "/s/c"]}, limit=2)
    assert state["cmp_runs"] == ["/s/a", "/s/b"]  # picking the sweep again picks its runs (up to the limit)


def test_an_echo_of_an_earlier_pick_after_the_sweep_ended_keeps_the_sweep_picked():
    """The browser sends back a pick the page made while the sweep ran; the sweep has ended since."""
    state: dict = {}
    sweep_picks.start_following(state, "/s")
    for arrived in (["/s/a"], ["/s/a", "/s/b"], ["/s/a", "/s/b", "/s/c"]):
        sweep_picks.follow_sweep(state, {"/s": arrived}, limit=16)
    done = {"/s": ["/s/a", "/s/b", "/s/c"]}
    state["cmp_runs"] = ["/s/a", "/s/b"]  # what the page picked two arrivals ago
    sweep_picks.picked_by_hand(state, done, running=None)
    assert state["cmp_sweep_pick"] == "/s" and state["cmp_runs"] == ["/s/a", "/s/b", "/s/c"]
    state["cmp_runs"] = ["/s/a", "/s/c"]  # a pick the page never made: the user's
    sweep_picks.picked_by_hand(state, done, running=None)
    assert state["cmp_sweep_pick"] == "" and state["cmp_runs"] == ["/s/a", "/s/c"]
