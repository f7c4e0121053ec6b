"""Inspect page: pick a task and see why each of DEN's decisions was made, with the numbers behind it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data_ui, figures, graph_ui, ui
from dashboard.narrate import fmt, narrate_task
from dashboard.state import loaders, train_query


def _table(rows: list[dict], empty: str) -> None:
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption(empty)


def decision_panel(record: dict, task: int) -> None:
    """Loss after selective retraining against τ: did expansion fire, and by how much."""
    snapshot = record["tasks"][task - 1]
    decision = loaders.event_of(snapshot, "expansion_decision")
    st.subheader("Expand or not: loss against τ")
    if decision is None:
        st.caption("Task 1 trains the whole network; expansion decisions start at task 2.")
    else:
        verdict = "expanded" if decision["expand"] else "did not expand"
        sign = ">" if decision["expand"] else "≤"
        st.markdown(
            f"**Task {task} {verdict}**: loss {fmt(decision['loss'])} {sign} τ = {fmt(decision['loss_threshold'])}."
        )
    st.plotly_chart(figures.loss_threshold_chart(record, task), key="loss_tau")
    st.caption(
        f"Bars: data loss after selective retraining per task; the black dash on each bar is that task's τ. "
        f"A bar past its dash means DEN added k units. Task {task} is outlined."
    )


def drift_panel(record: dict, task: int) -> None:
    """Drift of every old unit against σ, one histogram per hidden layer, with the split units named."""
    snapshot = record["tasks"][task - 1]
    st.subheader("Split or not: drift against σ")
    if loaders.event_of(snapshot, "drift") is None:
        st.caption("No drift at task 1: there are no earlier tasks whose units could drift.")
        return
    n_layers = len(snapshot["layer_sizes"]) - 1
    cols = st.columns(min(n_layers, 3))
    for layer in range(1, n_layers + 1):
        with cols[(layer - 1) % len(cols)]:
            st.plotly_chart(figures.drift_histogram(record, task, layer), key=f"drift_{layer}")
    st.markdown(
        "**Units split at this task** (the original keeps serving earlier tasks; the duplicate serves this one)"
    )
    _table(loaders.split_table(snapshot), "No unit drifted past σ, so nothing was split.")


def subnetwork_panel(run_dir: str, record: dict, task: int) -> None:
    """The network after ``task`` in the change view: added, selected (outlined), split, drift shades."""
    snapshot = record["tasks"][task - 1]
    selected = snapshot.get("selected")
    st.subheader("What this task changed in the network")
    if not selected:
        st.caption("Task 1 trains every unit, so nothing is singled out.")
    else:
        n = sum(len(ids) for ids in selected)
        st.caption(f"{n} units selected for retraining (Eq. 4) have a black outline; the grey shade of every older "
                   "unit is its drift against σ; units added here are in the task's colour.")  # fmt: skip
    controls = graph_ui.graph_controls_ui("inspect_graph", len(record["tasks"]), task, default_view="changes")
    graph_ui.network_chart_ui(run_dir, record, task, controls, "inspect_network")
    _table(loaders.selection_table(snapshot), "No selection at task 1.")


def main() -> None:
    """Draw the Inspect page."""
    st.title("Inspect a task")
    ui.query_warnings_ui(train_query.unused(st.query_params))
    run_dir, record = ui.current_run_ui()
    if record is None or not record.get("tasks"):
        st.info("No run to inspect yet: train a task on the Train page, or load a run on the Runs page.")
        return
    n = len(record["tasks"])
    st.caption(f"Run **{record['benchmark']['name']}** · {n} tasks · `{run_dir}`")
    if data_ui.data_summary(record) is not None:
        with st.expander("The run's data", expanded=False):
            data_ui.run_data_ui(record, "inspect_data")
    if st.session_state.get("inspect_task", 0) not in range(1, n + 1):
        st.session_state["inspect_task"] = n
    task = st.selectbox(
        "Task", list(range(1, n + 1)), key="inspect_task", format_func=lambda t: ui.task_label(record, t)
    )
    st.subheader("What happened, in plain words")
    st.markdown("\n".join(f"- {line}" for line in narrate_task(record, task)))
    left, right = st.columns(2)
    with left:
        decision_panel(record, task)
    with right:
        st.subheader("Units added at this task")
        _table(loaders.expansion_table(record["tasks"][task - 1]), "No units were added at this task.")
    drift_panel(record, task)
    subnetwork_panel(run_dir, record, task)
    with st.expander(f"Every unit after task {task}"):
        _table(loaders.units_table(record, task), "No units.")


main()
