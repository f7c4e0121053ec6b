"""The Compare page's sweep launcher: the form, the time estimate before it starts, progress and time left.

A sweep launched here is trained by the server's worker pool (dashboard.state.sweep_launcher);
its runs become the picked runs of every tab as they are written (sweep_picks.start_following).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard import ui
from dashboard.state import liveness, sweep_launcher, sweep_picks
from dashboard.state.sweep_launcher import SweepLauncher, SweepRequest, new_sweep_dir
from den_engine.core import budget
from den_engine.core.config import PRESETS
from den_engine.data.benchmarks import BENCHMARKS

POLL_SECONDS = 2.0


def launch_ui(runs_dir: Path) -> None:
    """A form that estimates a sweep's time or starts it in the background, into the runs folder's sweeps/."""
    with st.expander("Launch a sweep in the background", expanded=False), st.form("cmp_sweep_form"):
        cols = st.columns(4)
        names = list(BENCHMARKS)
        benchmark = cols[0].selectbox("Benchmark", names, index=names.index("digits-one-vs-rest"), key="cmp_bench")
        n_tasks = cols[1].number_input("Tasks", value=3, step=1, key="cmp_tasks")  # checked on Start, not clamped
        preset_name = cols[2].selectbox("Preset", list(PRESETS), index=list(PRESETS).index("fast"), key="cmp_preset")
        workers = cols[3].number_input("Parallel runs", value=os.cpu_count() or 1, step=1, key="cmp_jobs")
        grid = st.text_area(
            "Grid: one axis per line, any config field", "loss_threshold=0.01,0.1\nsplit_threshold=0.002,0.05",
            key="cmp_grid", help="name=v1,v2,... ; tuples with x, e.g. hidden_sizes=16x8,32x16; inf = never",
        )  # fmt: skip
        left, right = st.columns(2)
        seeds = left.text_input("Seeds", "0", key="cmp_seeds", help="comma-separated, e.g. 0,1")
        fixed = right.text_input("Fixed values", "hidden_sizes=32x16", key="cmp_fixed", help="name=value ...")
        left, right = st.columns([1, 4])
        start = left.form_submit_button("Start sweep", type="primary")
        ask = right.form_submit_button("Estimate the time", help="How long this sweep would take; starts nothing")
    if ask:
        try:  # the same checks as Start
            estimate = SweepRequest(benchmark, int(n_tasks), grid, seeds, preset_name, fixed, int(workers)).estimate(
                runs_dir
            )
        except ui.USER_ERRORS as exc:
            ui.user_error_ui(exc, "Cannot estimate the sweep")
            return
        st.info(f"This sweep would take {estimate.words()}.", icon=":material/schedule:")
    if start:
        from dashboard.app_pages.compare_search import busy  # one search or sweep at a time per session

        if busy(st.session_state):
            st.warning("A search or sweep of yours is already running; stop it first.")
            return
        request = SweepRequest(benchmark, int(n_tasks), grid, seeds, preset_name, fixed, int(workers))
        try:
            seconds = request.estimate(runs_dir).seconds  # checks every field first
        except ui.USER_ERRORS as exc:
            ui.user_error_ui(exc, "Cannot start the sweep")
            return
        if seconds <= budget.LONG_RUN_S:
            _start_sweep(request, runs_dir)
            return
        st.session_state["cmp_pending"] = (request, seconds)
    _confirm_long_sweep_ui(runs_dir)


def _confirm_long_sweep_ui(runs_dir: Path) -> None:
    """A sweep estimated to take over an hour: the estimate, then Start it anyway or Cancel."""
    confirmed = st.session_state.pop("cmp_confirmed", None)
    if confirmed is not None:
        _start_sweep(confirmed, runs_dir)
    pending = st.session_state.get("cmp_pending")
    if pending is None:
        return
    request, seconds = pending
    lanes = request.workers or "all"
    st.warning(f"This sweep would take about {budget.human_seconds(seconds)} on this machine ({lanes} runs at a "
               "time). Fewer runs, tasks or iterations make it shorter.")  # fmt: skip
    go, cancel = st.columns(2)
    go.button("Start it anyway", key="cmp_confirm_long", on_click=_answer_long_sweep, args=(True,))
    cancel.button("Cancel", key="cmp_cancel_long", on_click=_answer_long_sweep, args=(False,))


def _answer_long_sweep(start: bool) -> None:
    """Button callback (before the page is drawn): the question goes away at once, the sweep starts if asked."""
    request, _ = st.session_state.pop("cmp_pending")
    if start:
        st.session_state["cmp_confirmed"] = request


def _start_sweep(request: SweepRequest, runs_dir: Path) -> None:
    try:
        watchdog = liveness.Watchdog(liveness.connection_check())  # a sweep stops once its tab has gone
        # looked up when called, not bound at import: this module outlives the page's reruns (and tests swap it)
        launcher = sweep_launcher.SweepLauncher(request, new_sweep_dir(runs_dir), gone=watchdog.check)
    except ui.USER_ERRORS as exc:
        ui.user_error_ui(exc, "Cannot start the sweep")
        return
    st.session_state["cmp_sweep"] = launcher
    sweep_picks.start_following(st.session_state, str(launcher.out))


@ui.guarded
def _sweep_status_body() -> None:
    launcher: SweepLauncher | None = st.session_state.get("cmp_sweep")
    if launcher is None:
        return
    done = launcher.done()
    state = (done, launcher.running)
    if state != st.session_state.get("cmp_sweep_state"):
        st.session_state["cmp_sweep_state"] = state
        st.rerun(scope="app")  # a run finished (or the sweep ended): show it in every view
    name = launcher.out.name
    if launcher.running:
        learned, total = launcher.tasks()
        text = f"Sweep {name}: {done} of {launcher.n_runs} runs finished, {learned} of {total} tasks learned"
        text += f" · about {budget.human_seconds(launcher.seconds_left())} left"
        st.progress(learned / max(total, 1), text=text)
        st.caption(f"Estimated before it started: {launcher.estimate.words()}.")
        if st.button("Stop the sweep", key="cmp_stop"):
            launcher.stop()
            st.rerun(scope="app")
    elif launcher.stopped:
        st.warning(f"Sweep {name} stopped with {done} of {launcher.n_runs} runs finished; they are kept.")
    elif launcher.returncode == 0:
        took = launcher.ended - launcher.started
        st.success(f"Sweep {name} finished: {launcher.n_runs} runs in {budget.human_seconds(took)} (estimated "
                   f"{budget.human_seconds(launcher.estimate.seconds)}), saved in {launcher.out}.")  # fmt: skip
    else:
        st.error(f"Sweep {name} ended with status {launcher.returncode}; see its log below.")
    with st.expander("Sweep log"):
        st.code(launcher.log_tail() or "(nothing yet)", language="text")


def sweep_status_ui() -> None:
    """Progress of the launched sweep; polls while it runs, idles otherwise."""
    launcher = st.session_state.get("cmp_sweep")
    running = launcher is not None and launcher.running
    if launcher is not None:  # this whole-page run shows the sweep as it is: only a poll that sees a change reruns
        st.session_state["cmp_sweep_state"] = (launcher.done(), launcher.running)  # (a rerun would wipe messages)
    st.fragment(_sweep_status_body, run_every=POLL_SECONDS if running else None)()
