"""Runs page: pick any saved or shipped run (sweeps' runs listed by sweep), load it into every view, download it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data_ui, ui
from dashboard.state import loaders, sweep_picks, train_query
from dashboard.state.ownership import is_resumable, live_state
from dashboard.state.session import examples_dir, resolve_runs_dir, runs_root
from dashboard.state.sweep_launcher import sweep_dirs
from den_engine.records.store import RUN_FILE


def runs_folder_ui() -> Path | None:
    """The runs folder text input; None (with an st.error) when it points outside the allowed root."""
    if "cfg_runs_folder" not in st.session_state:
        st.session_state["cfg_runs_folder"] = str(runs_root())
    text = st.text_input(
        "Runs folder", key="cfg_runs_folder", persist_state="session",
        help=f"Where the Train page saves runs; must be inside {runs_root()} (set DEN_RUNS_DIR to move it).",
    )  # fmt: skip
    try:
        return resolve_runs_dir(text)
    except ValueError as exc:
        ui.user_error_ui(exc)
        return None


def _rows(folder: Path, source: str) -> list[dict]:
    rows = loaders.list_runs(str(folder), loaders.runs_mtime(folder))  # a new run.json shows at once
    return [{"source": source, **row, "status": _state(row)} for row in rows]


def _sweeps(folder: Path, source: str) -> dict[str, list[dict]]:
    """Sweep folder -> its runs' rows (each with ``sweep``), in a stable order."""
    out = {}
    for sweep in sweep_dirs(folder):
        rows = [{**r, "sweep": str(sweep)} for r in _rows(sweep, f"{source} {sweep.name}")]
        if rows:
            out[str(sweep)] = sorted(rows, key=lambda r: r["name"])
    return out


def sweeps_ui(sweeps: dict[str, list[dict]]) -> None:
    """Each sweep's runs as one table, named by the settings that differ between them."""
    if not sweeps:
        return
    st.subheader("Sweeps")
    for i, (folder, rows) in enumerate(sweeps.items()):
        with st.expander(sweep_picks.sweep_title(folder, rows), expanded=i == 0):
            st.dataframe(pd.DataFrame(sweep_picks.sweep_table(rows)), hide_index=True, width="stretch")
            st.caption(f"In {folder}. Compare them together on the Compare page (its Sweep box).")


def _state(row: dict) -> str:
    done = str(row.get("tasks", "0")).split("/")[0].strip()
    state = live_state(row.get("status", "?"), int(done) if done.isdigit() else 0, row["path"])
    return ui.own_state(row["path"], state)


def resume_ui(choice: str, state: str, tasks: str) -> None:
    """For a run nobody trains any more: say so, and take it over to train its remaining tasks."""
    if not is_resumable(state):
        return
    st.warning(
        f"{Path(choice).name} was {state} with {tasks} tasks learned: nobody is training it any more (its tab "
        "closed, or the app or its machine stopped). Resume it to train its remaining tasks with its own settings; "
        "Stop pauses it again."
    )
    if st.button("Resume this run", key="resume_run", icon=":material/play_arrow:"):
        session = ui.get_session()
        try:
            done = session.resume(choice)
        except (*ui.USER_ERRORS, OSError) as exc:
            ui.user_error_ui(exc, "Cannot resume this run")
            return
        session.submit(session.status().spec, None)  # every remaining task, as the run was going to
        loaders.list_runs.clear()
        st.session_state["view_path"] = None if done or session.status().tasks_done else choice
        st.session_state["resumed"] = choice
        st.switch_page("app_pages/train.py")


def picker_ui(rows: list[dict]) -> str | None:
    """Choose a run and load it into every view (switches to the Train page)."""
    paths = [r["path"] for r in rows]
    labels = {r["path"]: f"{r['name']} ({r['source']}, {r.get('status', '?')})" for r in rows}
    labels.update(sweep_picks.picker_labels([r for r in rows if r.get("sweep")]))
    current = ui.current_run_dir()
    if st.session_state.get("run_pick") not in paths:
        st.session_state["run_pick"] = current if current in paths else paths[0]
    choice = st.selectbox("Run", paths, key="run_pick", format_func=labels.get)
    row = next(r for r in rows if r["path"] == choice)
    resume_ui(choice, row.get("status", "?"), str(row.get("tasks", "?")))
    left, right = st.columns(2)
    if left.button("Load into every view", key="load_run", type="primary"):
        try:
            loaders.load_record(choice, loaders.run_mtime(choice))  # validate before switching
        except ui.USER_ERRORS as exc:
            ui.user_error_ui(exc, "Cannot load this run")
            return None
        st.session_state["view_path"] = choice
        st.switch_page("app_pages/train.py")
    status = ui.get_session().status()
    if status.run_dir and status.tasks_done and right.button("Back to my live run", key="show_live"):
        st.session_state["view_path"] = None
        st.switch_page("app_pages/train.py")
    return choice


def _csv(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def downloads_ui(run_dir: str, record: dict) -> None:
    """Download buttons for the picked run: run.json and its tables as CSV."""
    name = Path(run_dir).name
    last = len(record["tasks"])
    cols = st.columns(5)
    cols[0].download_button(
        "run.json", (Path(run_dir) / RUN_FILE).read_bytes(), f"{name}.json", "application/json", key="dl_json"
    )
    cols[1].download_button("Tasks (CSV)", _csv(loaders.tasks_table(record)), f"{name}-tasks.csv", key="dl_tasks")
    units = loaders.units_table(record, last) if last else []
    cols[2].download_button("Units (CSV)", _csv(units), f"{name}-units.csv", key="dl_units")
    auroc = loaders.matrix_table(record, "auroc")
    cols[3].download_button("AUROC matrix (CSV)", _csv(auroc), f"{name}-auroc.csv", key="dl_auroc")
    accuracy = loaders.matrix_table(record, "accuracy")
    cols[4].download_button("Accuracy matrix (CSV)", _csv(accuracy), f"{name}-accuracy.csv", key="dl_accuracy")


def main() -> None:
    """Draw the Runs page."""
    st.title("Runs")
    ui.query_warnings_ui(train_query.unused(st.query_params))
    folder = runs_folder_ui()
    rows = _rows(examples_dir(), "shipped example")
    sweeps = _sweeps(examples_dir(), "shipped sweep")
    if folder is not None:
        rows += _rows(folder, "saved")
        sweeps.update(_sweeps(folder, "sweep"))
    if not rows and not sweeps:
        st.info("No runs yet. Train a task on the Train page; every run is saved here as it goes.")
        return
    if rows:
        table = pd.DataFrame(rows).drop(columns=["path", "config"], errors="ignore")
        st.dataframe(table, hide_index=True, width="stretch")
    sweeps_ui(sweeps)
    choice = picker_ui(rows + [r for members in sweeps.values() for r in members])
    if choice is None:
        return
    try:
        record = loaders.load_record(choice, loaders.run_mtime(choice))
    except ui.USER_ERRORS as exc:
        ui.user_error_ui(exc, f"Cannot read {Path(choice).name}")
        return
    st.subheader(f"Download the picked run: {Path(choice).name}")
    downloads_ui(choice, record)
    data_ui.run_data_ui(record, "runs_data")
    st.dataframe(pd.DataFrame(loaders.tasks_table(record)), hide_index=True, width="stretch")


main()
