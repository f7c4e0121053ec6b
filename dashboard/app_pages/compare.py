"""Compare page: which setting is best for its size, a whole sweep at a glance, and where two runs first differed.

Runs come from the shipped examples, the runs folder and its sweeps; a sweep is picked as
a unit (its runs on every tab), and one launched here (compare_sweep) is followed as its
runs arrive; so is a search started here (compare_search), whose finished trials are picked.
Every chart has plotly's "download as PNG" button in its toolbar; every table and the data
behind every chart download as CSV.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.app_pages.compare_search import busy, is_search, optuna_plots_ui, search_status_ui, search_ui
from dashboard.app_pages.compare_sweep import launch_ui, sweep_status_ui
from dashboard.figures import compare as cf
from dashboard.figures import tradeoff as tf
from dashboard.figures.layout import hidden_base_sizes
from dashboard.state import loaders, sweep_picks, train_query
from dashboard.state.ownership import run_state
from dashboard.state.session import examples_dir, runs_root
from dashboard.state.sweep_launcher import sweep_dirs
from den_engine.experiments.diff import describe_first

MAX_RUNS = 16
"""The most runs picked by hand."""
SWEEP_RUNS = 64
"""The most runs a picked sweep or search brings (every trial of a 64-trial search: one marker each)."""
NETWORKS = 6  # drawn large, two a row: more would make a page of networks
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
    rows = loaders.list_runs(str(folder), loaders.runs_mtime(folder))  # a new run.json shows at once
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
        mine = [{**r, "sweep": str(folder)} for r in _rows(folder, f"{source} {folder.name}")]
        mine.sort(key=lambda r: r["name"])  # a stable order, whichever run finished last
        # a search's pick is its finished trials: one stopped early or still training has no final point
        search = is_search(folder)
        sweeps[str(folder)] = [r["path"] for r in mine if not search or r["status"] == "complete"]
        rows += mine
    return rows, sweeps


def open_on(rows: list[dict], sweeps: dict[str, list[str]]) -> None:
    """What the page opens on: the first shipped sweep (one benchmark), else the first two runs."""
    state = st.session_state
    if sweep_picks.RUNS_KEY in state:
        return
    first = next(iter(sweeps), None)
    if first is not None and len(sweeps[first]) >= 2:
        state[sweep_picks.SWEEP_KEY] = first
        sweep_picks.pick_sweep(state, sweeps, SWEEP_RUNS)
    else:
        state[sweep_picks.RUNS_KEY] = [r["path"] for r in rows[:2]]


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


def sweep_ui(rows: list[dict], sweeps: dict[str, list[str]]) -> str:
    """The sweep box: picking a sweep picks its runs on every tab; "" once runs are picked by hand."""
    by_path = {r["path"]: r for r in rows}
    titles = {p: sweep_picks.sweep_title(p, [by_path[r] for r in runs]) for p, runs in sweeps.items()}
    options = ["", *sweeps]
    state = st.session_state
    if state.get(sweep_picks.SWEEP_KEY) not in options:
        state[sweep_picks.SWEEP_KEY] = ""
    # The pick lives in SWEEP_KEY; the box's own key names its titles. A keyed box keeps its
    # identity when only its labels change, and the browser then went on showing a sweep's old
    # title ("2 runs") after its last runs arrived; a box with new titles is a new box.
    box = f"{sweep_picks.SWEEP_KEY}_box_{zlib.crc32(repr(sorted(titles.items())).encode()):08x}"
    state[box] = state[sweep_picks.SWEEP_KEY]

    def picked() -> None:
        state[sweep_picks.SWEEP_KEY] = state[box]
        sweep_picks.pick_sweep(state, sweeps, SWEEP_RUNS)

    st.selectbox(
        "Sweep", options, key=box, format_func=lambda p: titles.get(p) or "(runs picked by hand)", on_change=picked,
        help="A sweep's runs, picked together: every tab shows them. A sweep launched above is followed as it runs.",
    )  # fmt: skip
    return state[sweep_picks.SWEEP_KEY]


def picker_ui(rows: list[dict], sweeps: dict[str, list[str]]) -> list[str]:
    """The multiselect of runs: a sweep's runs named by the settings that differ in it, other runs by name."""
    paths = [r["path"] for r in rows]
    labels = sweep_picks.picker_labels(rows)
    running = busy(st.session_state)
    state = st.session_state
    state[sweep_picks.RUNS_KEY] = [p for p in state.get(sweep_picks.RUNS_KEY, []) if p in paths]
    # As the Sweep box: the pick lives in RUNS_KEY and the picker's key names its options and
    # labels, so a picker drawn before runs arrived (or finished) is never the one drawn now.
    box = f"{sweep_picks.RUNS_KEY}_box_{zlib.crc32(repr([(p, labels.get(p)) for p in paths]).encode()):08x}"
    state[box] = list(state[sweep_picks.RUNS_KEY])

    def picked() -> None:
        state[sweep_picks.RUNS_KEY] = list(state[box])
        sweep_picks.picked_by_hand(state, sweeps, running)

    st.multiselect(
        f"Runs to compare (2 to {MAX_RUNS} by hand)", paths, key=box, format_func=labels.get,
        max_selections=max(MAX_RUNS, len(state[box])), on_change=picked,
        help=f"Shipped examples, runs in the runs folder and the runs of every sweep. Up to {MAX_RUNS} picked by "
        f"hand; a sweep or search picked in the Sweep box brings all its runs (up to {SWEEP_RUNS}).",
    )  # fmt: skip
    return list(state[sweep_picks.RUNS_KEY])


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


def tradeoff_ui(runs: list[tuple[str, dict]], score: str) -> None:
    """Final score against size, one labelled marker per setting, the Pareto front, seeds as error bars."""
    size = st.segmented_control(
        "Size as", ["stl", "params"], default="stl", key="cmp_size", required=True,
        format_func={"stl": "% of STL", "params": "parameters"}.get,
        help="STL: one separate network per task, the paper's reference size.",
    )  # fmt: skip
    _chart(tf.tradeoff_figure(runs, score, size or "stl"), "compare_tradeoff", cf.outcomes_table(runs), "Trade-off")
    st.caption(
        "One marker per setting, labelled by the settings that differ. Runs that land on (nearly) the same spot share "
        "a marker, with their count inside and every run listed on hover. Stars: no other setting is both leaner and "
        "better. A setting run on several seeds is drawn at its mean, with ± 1 sd bars."
    )
    optuna_plots_ui(st.session_state.get(sweep_picks.SWEEP_KEY), _chart)


def knobs_ui(runs: list[tuple[str, dict]], score: str) -> None:
    """The chosen score over two knobs (a heatmap), and every knob against every outcome (parallel coordinates)."""
    knobs = tf.knob_choices(runs)
    if len(knobs) >= 2:
        left, right = st.columns(2)
        x = left.selectbox("Across", knobs, index=0, key="cmp_knob_x", format_func=_knob_name)
        y = right.selectbox("Down", knobs, index=1, key="cmp_knob_y", format_func=_knob_name)
        _chart(tf.knob_heatmap(runs, x, y, score), "compare_heatmap")
    else:
        st.info("The heatmap needs two knobs that differ between these runs; the trade-off chart shows one.")
    rows = cf.outcomes_table(runs)
    _chart(tf.parallel_coordinates(runs, score), "compare_parcoords", rows, "Knobs and outcomes")


def _knob_name(field: str) -> str:
    symbol = cf.SYMBOLS.get(field)
    return f"{symbol} ({field})" if symbol else field


def networks_ui(runs: list[tuple[str, dict]], paths: list[str]) -> None:
    """The final networks, two a row, large enough to read, each with its legend."""
    if len(runs) > NETWORKS:
        st.caption(f"The first {NETWORKS} of the {len(runs)} runs; pick fewer runs to see others.")
    cols = st.columns(2)
    for i, ((label, record), path) in enumerate(list(zip(runs, paths, strict=True))[:NETWORKS]):
        weights = None
        tasks = record.get("tasks") or []
        if tasks:
            try:
                weights = loaders.load_weights(path, loaders.run_mtime(path), tasks[-1]["weights"])
            except ui.USER_ERRORS as exc:
                ui.log.warning("compare: %s drawn without edges: %s", path, exc)
                weights = None  # drawn without edges
        with cols[i % 2]:
            _chart(cf.compared_network(record, label, weights), f"compare_network_{i}")


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
        "Which setting is best for its size, growth and accuracy side by side, and the task where two runs first "
        "decided differently. Charts download as PNG from their toolbar (camera icon); tables and chart data as CSV."
    )
    try:
        runs_dir = ui.runs_folder()
    except ValueError as exc:  # no sweep is launched into a folder the user did not mean
        ui.user_error_ui(exc, "No sweep can start")
        runs_dir = None
    if runs_dir is not None:
        launch_ui(runs_dir)
        search_ui(runs_dir)
    runs_dir = runs_dir or runs_root()
    sweep_status_ui()
    search_status_ui()
    rows, sweeps = candidates(runs_dir)
    if not rows:
        st.info("No runs yet: train one on the Train page, or launch a sweep or a search above.")
        return
    open_on(rows, sweeps)
    sweep_picks.follow_sweep(st.session_state, sweeps, SWEEP_RUNS)
    pick = sweep_ui(rows, sweeps)
    if pick and len(sweeps.get(pick, [])) > SWEEP_RUNS:
        st.caption(f"The first {SWEEP_RUNS} of the sweep's {len(sweeps[pick])} finished runs are compared.")
    loaded = load_runs(picker_ui(rows, sweeps))
    runs = labelled(loaded)
    if len(runs) < 2:
        following = st.session_state.get(sweep_picks.SWEEP_KEY)
        st.info(f"{Path(following).name} is running: its runs appear here as they are written." if following and
                not runs else "Pick at least two runs to compare them.")  # fmt: skip
        return
    if (text := mismatch(runs)) is not None:
        st.warning(text)
    score = st.segmented_control(
        "Score", ["accuracy", "auroc"], default="accuracy", key="cmp_score", required=True,
        format_func={"accuracy": "accuracy", "auroc": "AUROC"}.get,
        help="The final average over every task learned: accuracy, or AUROC (threshold-free).",
    ) or "accuracy"  # fmt: skip
    tabs = st.tabs(["Trade-off", "Knobs", "Outcomes", "Growth", "Networks", "Decision diff"])
    with tabs[0]:
        tradeoff_ui(runs, score)
    with tabs[1]:
        knobs_ui(runs, score)
    with tabs[2]:
        summary_ui(runs)
    with tabs[3]:
        growth_ui(runs)
    with tabs[4]:
        networks_ui(runs, [path for path, _ in loaded])
    with tabs[5]:
        diff_ui(runs)


main()
