"""Compare page: 2 to 6 runs side by side, a whole sweep at a glance, and where two runs first decided differently.

Runs come from the shipped examples, the runs folder and its sweeps; a sweep launched
here runs in a subprocess (dashboard.state.sweep_launcher) and its runs appear as they finish.
Every chart has plotly's "download as PNG" button in its toolbar; every table and the
data behind every chart download as CSV.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.figures import compare as cf
from dashboard.figures.layout import hidden_base_sizes
from dashboard.state import liveness, loaders, train_query
from dashboard.state.ownership import run_state
from dashboard.state.session import examples_dir, runs_root
from dashboard.state.sweep_launcher import SweepLauncher, SweepRequest, new_sweep_dir, sweep_dirs
from den_engine.core import budget
from den_engine.core.config import PRESETS
from den_engine.data.benchmarks import BENCHMARKS
from den_engine.experiments.diff import describe_first

POLL_SECONDS = 2.0
MAX_RUNS = 6
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def _csv(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def _chart(fig, key: str, rows: list[dict] | None = None, name: str | None = None) -> None:
    """A chart (PNG from its toolbar) and, when given, its data as a CSV download."""
    config = {**CHART_CONFIG, "toImageButtonOptions": {**CHART_CONFIG["toImageButtonOptions"], "filename": key}}
    st.plotly_chart(fig, key=key, config=config)
    if rows is not None:
        st.download_button(f"{name or key} (CSV)", _csv(rows), f"{key}.csv", key=f"dl_{key}")


# --- which runs ----------------------------------------------------------------------------------


def _done(row: dict) -> int:
    done = str(row.get("tasks", "0")).split("/")[0].strip()
    return int(done) if done.isdigit() else 0


def _rows(folder: Path, source: str) -> list[dict]:
    rows = loaders.list_runs(str(folder), loaders.folder_mtime(folder))
    return [
        {"source": source, **row, "status": run_state(row.get("status", "?"), _done(row), row["path"])}
        for row in rows
        if row.get("benchmark")
    ]


def candidates(runs_dir: Path) -> tuple[list[dict], dict[str, list[str]]]:
    """Every run that can be compared, and the runs of each sweep folder (by folder path), shipped sweeps first."""
    rows = _rows(examples_dir(), "shipped") + _rows(runs_dir, "saved")
    sweeps = {}
    shipped = [(folder, "shipped sweep") for folder in sweep_dirs(examples_dir())]
    for folder, source in [*shipped, *((f, "sweep") for f in sweep_dirs(runs_dir))]:
        mine = _rows(folder, f"{source} {folder.name}")
        sweeps[str(folder)] = [r["path"] for r in mine]
        rows += mine
    return rows, sweeps


def default_pick(rows: list[dict], sweeps: dict[str, list[str]]) -> list[str]:
    """What the page opens on: the first shipped sweep's runs (one benchmark), else the first two runs."""
    first = next(iter(sweeps.values()), [])
    return first[:MAX_RUNS] if len(first) >= 2 else [r["path"] for r in rows[:2]]


def mismatch(runs: list[tuple[str, dict]]) -> str | None:
    """A sentence when the compared runs differ in benchmark, task count or starting sizes, else None."""
    kinds = {
        "benchmark": [r["benchmark"]["name"] for _, r in runs],
        "number of tasks": [r["benchmark"]["n_tasks"] for _, r in runs],
        "starting hidden sizes": ["-".join(map(str, hidden_base_sizes(r))) for _, r in runs],  # conv filters too
    }
    differ = [(what, values) for what, values in kinds.items() if len(set(map(str, values))) > 1]
    if not differ:
        return None
    parts = "; ".join(f"{what}: " + ", ".join(dict.fromkeys(map(str, values))) for what, values in differ)
    return (
        f"These runs differ in more than their hyperparameters ({parts}). Their numbers are not directly "
        "comparable, and the decision diff compares task i of one with task i of the other."
    )


def picker_ui(rows: list[dict], default: list[str]) -> list[str]:
    """The multiselect of runs (2 to 6); a shipped sweep of one benchmark to begin with."""
    paths = [r["path"] for r in rows]
    labels = {r["path"]: f"{r['name']} — {r['source']}, {r['benchmark']}, {r.get('status', '?')}" for r in rows}
    picked = [p for p in st.session_state.get("cmp_runs", default) if p in paths]
    st.session_state["cmp_runs"] = picked
    return st.multiselect(
        f"Runs to compare (2 to {MAX_RUNS})", paths, key="cmp_runs", format_func=labels.get,
        max_selections=MAX_RUNS, help="Shipped examples, runs in the runs folder and the runs of every sweep.",
    )  # fmt: skip


def load_runs(paths: list[str]) -> list[tuple[str, dict]]:
    """(path, record) per path; a broken run is named in a warning and left out."""
    out = []
    for path in paths:
        try:
            out.append((path, loaders.load_record(path, loaders.run_mtime(path))))
        except ui.USER_ERRORS as exc:
            ui.log.warning("compare: left out %s: %s", path, exc)
            st.warning(f"Left out {Path(path).name}: {exc}")
    return out


def labelled(loaded: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """(label, record) per run: short labels made of the hyperparameters that differ."""
    labels = cf.run_labels([r for _, r in loaded], [Path(p).name for p, _ in loaded])
    return list(zip(labels, [r for _, r in loaded], strict=True))


# --- launching a sweep ----------------------------------------------------------------------------


def launch_ui(runs_dir: Path) -> None:
    """A form that starts a sweep in the background (a subprocess) into the runs folder's sweeps/."""
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
        start = st.form_submit_button("Start sweep", type="primary")
    if start:
        current = st.session_state.get("cmp_sweep")
        if current is not None and current.running:
            st.warning("A sweep is already running; stop it first.")
            return
        request = SweepRequest(benchmark, int(n_tasks), grid, seeds, preset_name, fixed, int(workers))
        try:
            seconds = request.estimate_seconds(runs_dir)  # checks every field first
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
    st.warning(f"This sweep would take about {budget.human_seconds(seconds)} on a CPU ({request.workers or 'all'} "
               "runs at a time). Fewer runs, tasks or iterations make it shorter.")  # fmt: skip
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
        launcher = SweepLauncher(request, new_sweep_dir(runs_dir), gone=watchdog.check)
    except ui.USER_ERRORS as exc:
        ui.user_error_ui(exc, "Cannot start the sweep")
        return
    st.session_state["cmp_sweep"] = launcher
    st.session_state["cmp_sweep_pick"] = str(launcher.out)


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
        st.progress(done / max(launcher.n_runs, 1), text=f"Sweep {name}: {done} of {launcher.n_runs} runs finished")
        if st.button("Stop the sweep", key="cmp_stop"):
            launcher.stop()
            st.rerun(scope="app")
    elif launcher.stopped:
        st.warning(f"Sweep {name} stopped with {done} of {launcher.n_runs} runs finished; they are kept.")
    elif launcher.returncode == 0:
        st.success(f"Sweep {name} finished: {launcher.n_runs} runs in {launcher.out}.")
    else:
        st.error(f"Sweep {name} ended with status {launcher.returncode}; see its log below.")
    with st.expander("Sweep log"):
        st.code(launcher.log_tail() or "(nothing yet)", language="text")


def sweep_status_ui() -> None:
    """Progress of the launched sweep; polls while it runs, idles otherwise."""
    launcher = st.session_state.get("cmp_sweep")
    running = launcher is not None and launcher.running
    st.fragment(_sweep_status_body, run_every=POLL_SECONDS if running else None)()


# --- views ------------------------------------------------------------------------------------------


def summary_ui(runs: list[tuple[str, dict]]) -> None:
    """The outcome table of the compared runs."""
    rows = cf.outcomes_table(runs)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.download_button("Outcomes (CSV)", _csv(rows), "compare-outcomes.csv", key="dl_outcomes")


def growth_ui(runs: list[tuple[str, dict]]) -> None:
    """Overlaid per-task curves: units per layer, parameters, average AUROC."""
    data = cf.curves_table(runs)
    _chart(cf.units_overlay(runs), "compare_units")
    left, right = st.columns(2)
    with left:
        _chart(cf.params_overlay(runs), "compare_params")
    with right:
        _chart(cf.auroc_overlay(runs), "compare_auroc")
    st.download_button("Per-task curves (CSV)", _csv(data), "compare-curves.csv", key="dl_curves")


def sweep_views_ui(runs: list[tuple[str, dict]], title: str) -> None:
    """Capacity against AUROC with the Pareto front, and the parallel coordinates."""
    st.caption(title)
    rows = cf.outcomes_table(runs)
    _chart(cf.capacity_scatter(runs), "compare_capacity", rows, "Capacity and AUROC")
    _chart(cf.parallel_coordinates(runs), "compare_parcoords", rows, "Hyperparameters and outcomes")


def networks_ui(runs: list[tuple[str, dict]], paths: list[str]) -> None:
    """The final networks side by side, drawn small."""
    cols = st.columns(min(len(runs), 3))
    for i, ((label, record), path) in enumerate(zip(runs, paths, strict=True)):
        weights = None
        tasks = record.get("tasks") or []
        if tasks:
            try:
                weights = loaders.load_weights(path, loaders.run_mtime(path), tasks[-1]["weights"])
            except ui.USER_ERRORS as exc:
                ui.log.warning("compare: %s drawn without edges: %s", path, exc)
                weights = None  # drawn without edges
        with cols[i % len(cols)]:
            _chart(cf.small_network(record, label, weights), f"compare_network_{i}")


def _highlight(row: pd.Series) -> list[str]:
    if row["first"]:
        return ["background-color: #ffd6ec; font-weight: bold"] * len(row)
    return ["background-color: #fff1e0"] * len(row) if row["differs"] else [""] * len(row)


def diff_ui(runs: list[tuple[str, dict]]) -> None:
    """The decision diff of two of the compared runs, the first difference highlighted."""
    labels = [label for label, _ in runs]
    left, right = st.columns(2)
    a = left.selectbox("Run A", range(len(runs)), index=0, key="cmp_diff_a", format_func=labels.__getitem__)
    b = right.selectbox("Run B", range(len(runs)), index=1, key="cmp_diff_b", format_func=labels.__getitem__)
    if a != b and (text := mismatch([runs[a], runs[b]])) is not None:
        st.warning(text)
    rows, diff = cf.decision_table(runs[a][1], runs[b][1])
    (st.info if diff["first"] is None else st.warning)(describe_first(diff))
    _chart(cf.decision_diff_figure(runs[a][1], runs[b][1], (labels[a], labels[b])), "compare_diff")
    only = st.toggle("Only the tasks where they differ", key="cmp_diff_only")
    shown = [r for r in rows if r["differs"]] if only else rows
    if shown:
        st.dataframe(pd.DataFrame(shown).style.apply(_highlight, axis=1), hide_index=True, width="stretch")
    st.download_button("Decision diff (CSV)", _csv(rows), "decision-diff.csv", key="dl_diff")


def main() -> None:
    """Draw the Compare page."""
    st.title("Compare runs")
    ui.query_warnings_ui(train_query.unused(st.query_params))
    st.caption(
        "Growth, capacity and accuracy side by side, and the task where two runs first decided differently. "
        "Charts download as PNG from their toolbar (camera icon); tables and chart data as CSV."
    )
    try:
        runs_dir = ui.runs_folder()
    except ValueError as exc:  # no sweep is launched into a folder the user did not mean
        ui.user_error_ui(exc, "No sweep can start")
        runs_dir = None
    if runs_dir is not None:
        launch_ui(runs_dir)
    runs_dir = runs_dir or runs_root()
    sweep_status_ui()
    rows, sweeps = candidates(runs_dir)
    if not rows:
        st.info("No runs yet: train one on the Train page or launch a sweep above.")
        return
    loaded = load_runs(picker_ui(rows, default_pick(rows, sweeps)))
    runs = labelled(loaded)
    if len(runs) < 2:
        st.info("Pick at least two runs to compare them.")
    elif (text := mismatch(runs)) is not None:
        st.warning(text)
    options = ["", *sweeps]
    if st.session_state.get("cmp_sweep_pick") not in options:
        st.session_state["cmp_sweep_pick"] = next(iter(sweeps), "") if "cmp_sweep_pick" not in st.session_state else ""
    sweep = st.selectbox(
        "Sweep for the capacity and hyperparameter views", options, key="cmp_sweep_pick",
        format_func=lambda p: "(the runs picked above)" if not p else f"all runs of {Path(p).name}",
    )  # fmt: skip
    if len(runs) < 2 and not sweep:
        return
    tabs = st.tabs(["Outcomes", "Growth", "Capacity & hyperparameters", "Networks", "Decision diff"])
    if len(runs) >= 2:
        with tabs[0]:
            summary_ui(runs)
        with tabs[1]:
            growth_ui(runs)
        with tabs[3]:
            networks_ui(runs, [path for path, _ in loaded])
        with tabs[4]:
            diff_ui(runs)
    with tabs[2]:
        if sweep:
            sweep_runs = labelled([r for r in load_runs(sweeps[sweep]) if r[1].get("tasks")])
            sweep_views_ui(sweep_runs, f"All {len(sweep_runs)} runs of {Path(sweep).name} with a finished task.")
        else:
            sweep_views_ui(runs, "The runs picked above; choose a sweep to see all of its runs.")


main()
