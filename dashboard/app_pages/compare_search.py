"""The Compare page's search form: ``den search`` in the background, its trials followed as they finish.

A search started here (dashboard.state.search_launcher) trains its trials through the server's
worker pool, as a sweep launched here does; its finished trials become the picked runs of every
tab (sweep_picks.start_following), so the trade-off chart draws them and its Pareto front as they
come. Optuna's own Pareto-front and parameter-importance plots of a search folder are offered
beside our chart (``optuna_plots_ui``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.state import liveness, search_launcher, sweep_picks
from dashboard.state.search_launcher import SearchLauncher, SearchRequest
from den_engine.core import budget
from den_engine.core.config import PRESETS
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.experiments.search import DEFAULT_SPACE, JOURNAL

KEY = "cmp_search"
POLL_SECONDS = 2.0
SCORE_NAMES = {"auroc": "AUROC", "accuracy": "accuracy"}


def busy(state) -> str | None:
    """The folder of this session's search or sweep still running, else None (one at a time per session)."""
    for key in (KEY, "cmp_sweep"):
        launcher = state.get(key)
        if launcher is not None and launcher.running:
            return str(launcher.out)
    return None


def search_ui(runs_dir: Path) -> None:
    """A form that starts (or resumes) a search in the background, into the runs folder's sweeps/."""
    with st.expander("Search for the best trade-offs", expanded=False), st.form("cmp_search_form"):
        st.caption(
            "Optuna picks DEN's knobs trial after trial to find the settings with the best validation score for "
            "their size; a trial clearly behind an earlier one at the same task stops early. Started again with "
            "the same settings, a search resumes (and a larger number of trials extends it)."
        )
        cols = st.columns([1.6, 1, 1, 1, 1])  # the benchmark's name reads whole at 1024 px
        names = list(BENCHMARKS)
        benchmark = cols[0].selectbox("Benchmark", names, index=names.index("digits-one-vs-rest"), key=f"{KEY}_bench")
        n_tasks = cols[1].number_input("Tasks", value=3, step=1, key=f"{KEY}_tasks")  # checked on Start
        preset_name = cols[2].selectbox("Preset", list(PRESETS), index=list(PRESETS).index("fast"),
                                        key=f"{KEY}_preset")  # fmt: skip
        trials = cols[3].number_input("Trials", value=8, step=1, key=f"{KEY}_trials",
                                      help="How many trials the search ends with")  # fmt: skip
        workers = cols[4].number_input("Parallel runs", value=os.cpu_count() or 1, step=1, key=f"{KEY}_jobs")
        space = st.text_input(
            "Search space", DEFAULT_SPACE, key=f"{KEY}_space",
            help="knob=low:high[:log|linear|int], comma-separated, as `den search --space`; knobs: tau, sigma, k, "
            "mu, gamma or any number-valued config field",
        )  # fmt: skip
        cols = st.columns([1, 1, 3, 2])
        seed = cols[0].number_input("Seed", value=0, step=1, key=f"{KEY}_seed", help="The runs' and the sampler's")
        score = cols[1].selectbox(
            "Score", list(SCORE_NAMES), format_func=SCORE_NAMES.get, key=f"{KEY}_score",
            help="The mean validation score to maximise; the size to minimise is % of STL",
        )  # fmt: skip
        fixed = cols[2].text_input("Fixed values", "hidden_sizes=32x16", key=f"{KEY}_fixed", help="name=value ...")
        folder = cols[3].text_input(
            "Folder name", "", key=f"{KEY}_folder", placeholder="named by the settings",
            help="Under the runs folder's sweeps/; empty: named by the search's settings",
        )  # fmt: skip
        early = st.checkbox("Stop clearly dominated trials early", value=True, key=f"{KEY}_early")
        left, right = st.columns([1, 4])
        start = left.form_submit_button("Start search", type="primary")
        ask = right.form_submit_button("Estimate the time", key=f"{KEY}_estimate",
                                       help="The longest this search can take; starts nothing")  # fmt: skip
    request = SearchRequest(benchmark, int(n_tasks), int(trials), space, int(seed), score, preset_name, fixed,
                            int(workers), bool(early), folder.strip())  # fmt: skip
    if ask:
        try:  # the same checks as Start
            estimate = request.estimate(runs_dir)
        except ui.USER_ERRORS as exc:
            ui.user_error_ui(exc, "Cannot estimate the search")
            return
        st.info(f"This search would take at most {estimate.words()}; trials stopped early make it shorter.",
                icon=":material/schedule:")  # fmt: skip
    if not start:
        return
    if busy(st.session_state):
        st.warning("A search or sweep of yours is already running; stop it first.")
        return
    try:
        watchdog = liveness.Watchdog(liveness.connection_check())  # the search stops once its tab has gone
        # looked up when called, not bound at import: tests swap the launcher module's names
        launcher = search_launcher.SearchLauncher(request, runs_dir, gone=watchdog.check)
    except ui.USER_ERRORS as exc:
        ui.user_error_ui(exc, "Cannot start the search")
        return
    st.session_state[KEY] = launcher
    st.session_state["cmp_score"] = score  # the chart scores the trials as the search does (drawn below: allowed)
    sweep_picks.start_following(st.session_state, str(launcher.out))


def _counts(progress: dict) -> str:
    return (f"{progress['complete']} finished, {progress['stopped early']} stopped early, {progress['running']} "
            f"running" + (f", {progress['failed']} failed" if progress["failed"] else ""))  # fmt: skip


def _state(launcher: SearchLauncher) -> tuple:
    progress = launcher.progress()
    return progress["complete"], progress["stopped early"], progress["failed"], launcher.running


@ui.guarded
def _search_status_body() -> None:
    launcher: SearchLauncher | None = st.session_state.get(KEY)
    if launcher is None:
        return
    progress = launcher.progress()
    state = _state(launcher)
    if state != st.session_state.get(f"{KEY}_state"):
        st.session_state[f"{KEY}_state"] = state
        st.rerun(scope="app")  # a trial ended (or the search did): show it in every view
    name, told = launcher.out.name, progress["complete"] + progress["stopped early"] + progress["failed"]
    if launcher.running:
        text = f"Search {name}: trials {_counts(progress)} (of {progress['trials']})"
        text += f" · at most {budget.human_seconds(launcher.seconds_left())} left"
        st.progress(min(1.0, told / max(1, progress["trials"])), text=text)
        st.caption(f"Estimated before it started, every trial run to its end: {launcher.estimate.words()}.")
        if st.button("Stop the search", key=f"{KEY}_stop"):
            launcher.stop()
            st.rerun(scope="app")
    elif launcher.stopped:
        st.warning(f"Search {name} stopped; trials {_counts(progress)}. Finished tasks are kept: start the same "
                   "search again to resume it.")  # fmt: skip
    elif launcher.error:
        st.error(f"Search {name} ended on an error: {launcher.error}. Its finished trials are kept.")
    else:
        took = budget.human_seconds(launcher.ended - launcher.started)
        st.success(f"Search {name} finished: {told} trials ({_counts(progress)}) in {took}, saved in "
                   f"{launcher.out}.")  # fmt: skip
    if launcher.rows:
        with st.expander("Trials of the search (its Pareto front: column front)"):
            st.dataframe(pd.DataFrame(launcher.rows), hide_index=True, width="stretch")
    with st.expander("Search log"):
        st.code(launcher.log_tail() or "(nothing yet)", language="text")


def search_status_ui() -> None:
    """Progress of the launched search; polls while it runs, idles otherwise."""
    launcher = st.session_state.get(KEY)
    running = launcher is not None and launcher.running
    if launcher is not None:  # this whole-page run shows the search as it is: only a poll that sees a change reruns
        st.session_state[f"{KEY}_state"] = _state(launcher)  # (a rerun now would wipe this run's messages)
    st.fragment(_search_status_body, run_every=POLL_SECONDS if running else None)()


def is_search(folder: str | Path | None) -> bool:
    """True when ``folder`` holds a search (its Optuna journal)."""
    return bool(folder) and (Path(folder) / JOURNAL).is_file()


@st.cache_data(show_spinner=False, max_entries=8)
def _optuna_figures(folder: str, stamp: tuple[int, int]) -> dict:
    """Optuna's figures of a search folder (cached per version of its journal: ``stamp``)."""
    from den_engine.experiments.search_plots import figures  # Optuna draws with plotly: imported when drawn

    return figures(folder)


def optuna_plots_ui(folder: str | None, chart) -> None:
    """Beside our trade-off chart: Optuna's own Pareto-front and parameter-importance plots of a picked search."""
    if not is_search(folder):
        return
    with st.expander("Optuna's own plots of this search: its Pareto front and the knobs' importance"):
        st.caption(
            "Drawn by Optuna from the search's study, on the validation score it optimised (our chart shows the "
            "final test score). Importances need two finished trials and two knobs."
        )
        info = (Path(folder) / JOURNAL).stat()
        try:
            found = _optuna_figures(str(folder), (info.st_mtime_ns, info.st_size))
        except Exception as exc:  # noqa: BLE001 - a journal of another Optuna version, or cut short: our chart stays
            ui.log.warning("Optuna's plots of %s: %s: %s", folder, type(exc).__name__, exc)
            st.warning(f"Optuna could not draw this search ({type(exc).__name__}: {exc}); the chart above is ours.")
            return
        for name, figure in found.items():  # each titled by Optuna, its target named on its axis
            chart(figure, f"search_{name}")
