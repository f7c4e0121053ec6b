"""The Learn page's controls and panels: settings with their errors beside them, your own task, predict-then-reveal,
the neuron card and the lesson download. Imported by app_pages/learn.py (not a page itself).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboard import classroom
from dashboard.export import lesson
from dashboard.figures import teaching as tf
from dashboard.figures.sent import sent
from dashboard.state import custom_task, url_state
from dashboard.state.learn_session import available_compare
from den_engine.data.toy2d import TOY_2D_EXTENT, TOY_2D_TASKS

LABELS = {"finetune": "fine-tuning", "l2": "L2-transfer", "ewc": "EWC", "none": "nothing (DEN alone)"}
HELP = {
    "loss_threshold": "τ (tau): after retraining only the units a new task needs, DEN compares the loss with τ. "
    "Above τ the network grows by k units per layer; at or below, it keeps its size. Smaller τ = grows more often.",
    "split_threshold": "σ (sigma): how far a unit's incoming weights may move during a new task. A unit that moved "
    "more than σ is split: old tasks keep the original, the new task gets a copy. Smaller σ = more splits.",
}
NAMES = {"tasks": "Task sequence", "hidden_sizes": "Hidden units per layer", "expand_units": "k",
         "loss_threshold": "τ", "split_threshold": "σ", "group_lasso": "γ", "iterations": "Steps per stage",
         "seed": "Seed"}  # fmt: skip
GRID = 31
"""Clickable points per side of the drawing plane (a click lands on the nearest one)."""


def _widget_values(state: url_state.LearnState) -> dict:
    values = dataclasses.asdict(state)
    values["tasks"] = list(state.tasks)
    values["hidden_sizes"] = ",".join(str(s) for s in state.hidden_sizes)
    return values


def _check(field: str, where) -> str | None:
    """Parse one widget's value now and, when it is unusable, say so in plain words right under the widget."""
    raw = st.session_state.get(f"learn_{field}")
    text = ",".join(raw) if isinstance(raw, list) else str(int(raw) if isinstance(raw, bool) else raw)
    try:
        url_state.parse_field(field, text)
    except ValueError as exc:
        where.error(f"{NAMES.get(field, field)}: {exc}. Nothing trains until this is fixed.")
        return f"{NAMES.get(field, field)}: {exc}"
    return None


def controls_ui() -> tuple[url_state.LearnState, list[str]]:
    """The sidebar controls (seeded from the URL once): (state, problems); a bad field keeps its last good value."""
    if "learn_state" not in st.session_state:
        st.session_state["learn_state"], st.session_state["learn_warnings"] = url_state.decode(st.query_params)
    stored: url_state.LearnState = st.session_state["learn_state"]
    for field, value in _widget_values(stored).items():
        st.session_state.setdefault(f"learn_{field}", value)
    # Presenter mode hides the sidebar with CSS but still draws it: a widget left out of a run loses its value
    # (after a few quick reruns, a resize or a key, the settings came back empty).
    side, problems = st.sidebar, []
    side.multiselect("Task sequence, in the order picked", (*TOY_2D_TASKS, custom_task.NAME), key="learn_tasks")
    problems.append(_check("tasks", side))
    side.text_input("Hidden units per layer at task 1", key="learn_hidden_sizes", help="e.g. 6,6 (1 to 3 layers)")
    problems.append(_check("hidden_sizes", side))
    side.slider("k: units added per layer when the network grows", 1, 8, key="learn_expand_units")
    # number fields without bounds: an out-of-range value is named under its field, never silently replaced
    side.number_input("τ: loss threshold for growing", step=0.05, key="learn_loss_threshold", format="%g")
    problems.append(_check("loss_threshold", side))
    side.caption(HELP["loss_threshold"])
    side.number_input("σ: drift threshold for splitting", step=0.05, key="learn_split_threshold", format="%g")
    problems.append(_check("split_threshold", side))
    side.caption(HELP["split_threshold"])
    side.toggle("Ask the class before each task", key="learn_ask", help="Before each task: will the network grow? "
                "will a neuron split? After it: the answer, with the numbers.")  # fmt: skip
    with side.expander("More settings"):
        more = st.container()
        more.number_input("γ: group sparsity on new units", step=5e-4, key="learn_group_lasso", format="%g")
        problems.append(_check("group_lasso", more))
        more.number_input("Steps per stage", step=50, key="learn_iterations")
        problems.append(_check("iterations", more))
        more.number_input("Seed", step=1, key="learn_seed")
        problems.append(_check("seed", more))
        st.selectbox("Method", url_state.METHODS, key="learn_method")
        compare = available_compare(url_state.COMPARE)
        if st.session_state["learn_compare"] not in compare:
            st.session_state["learn_compare"] = compare[0]
        st.selectbox("Side by side with", compare, key="learn_compare", format_func=lambda m: LABELS.get(m, m))
    side.select_slider("Speed of Play", url_state.SPEEDS, key="learn_speed", help="Pause between tasks")
    with side.expander(f"Your own task (“{custom_task.NAME}”)"):
        own_task_ui()
    problems = [p for p in problems if p]
    values = {}
    for field in dataclasses.fields(stored):
        raw = st.session_state.get(f"learn_{field.name}")
        text = ",".join(raw) if isinstance(raw, list) else str(int(raw) if isinstance(raw, bool) else raw)
        try:
            values[field.name] = url_state.parse_field(field.name, text)
        except ValueError:
            pass  # already shown beside its field
    state = dataclasses.replace(stored, **values)
    st.session_state["learn_state"], st.session_state["learn_problems"] = state, problems
    with side.expander("Classroom link"):
        link_state = state
        why = custom_task.link_problem(_own_points(state))
        if why:
            link_state = dataclasses.replace(
                state, custom="", tasks=tuple(t for t in state.tasks if t != custom_task.NAME) or state.tasks
            )
            st.warning(f"The link leaves out your own task: {why}")  # fmt: skip
        st.code(url_state.query_string(link_state), language="text")
        st.caption("Add this to the Learn page's address: the same link and seed train the same network anywhere.")
    st.session_state["learn_link_state"] = link_state
    return state, problems


def _own_points(state: url_state.LearnState) -> custom_task.CustomPoints | None:
    try:
        return custom_task.from_text(state.custom) if state.custom else None
    except ValueError:
        return None


@st.cache_resource(max_entries=64, show_spinner=False)
def _drawing_figure(drawn: tuple[tuple[float, float, int], ...]) -> go.Figure:
    """The plane to draw a task on, with the points drawn so far: built once per set of points and shared by
    every tab (read only), as the sidebar is drawn on every run of the page, in presenter mode too."""
    low, high = TOY_2D_EXTENT
    axis = np.linspace(low, high, GRID)
    gx, gy = np.meshgrid(axis, axis)
    fig = go.Figure(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", hoverinfo="none",
                               marker={"size": 9, "color": "rgba(0,0,0,0.03)"}))  # fmt: skip
    for label in (0, 1):
        pts = np.array([(x, y) for x, y, lab in drawn if lab == label]).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", hoverinfo="skip",
                                 marker={"size": 10, "color": tf.CLASS_COLORS[label],
                                         "line": {"width": 1, "color": "#ffffff"}}))  # fmt: skip
    fig.update_layout(height=260, margin={"l": 2, "r": 2, "t": 2, "b": 2}, showlegend=False, dragmode=False,
                      xaxis={"range": [low, high], "visible": False, "fixedrange": True, "constrain": "domain"},
                      yaxis={"range": [low, high], "visible": False, "fixedrange": True, "scaleanchor": "x",
                             "constrain": "domain"},
                      plot_bgcolor="#f7f7f7", clickmode="event+select")  # fmt: skip
    return sent(fig)


def own_task_ui() -> None:
    """Draw points by clicking (the class picked below), or upload a CSV x1,x2,label; valid points become a task."""
    drawn = st.session_state.setdefault("learn_drawn", [])
    label = st.radio("Class of the next click", (0, 1), horizontal=True, key="learn_draw_label",
                     format_func=lambda c: f"{c} ({'amber' if c == 0 else 'teal'})")  # fmt: skip
    event = st.plotly_chart(_drawing_figure(tuple(map(tuple, drawn))), key="learn_draw", on_select="rerun",
                            selection_mode="points", config={"displayModeBar": False})  # fmt: skip
    picked = [(round(p["x"], 2), round(p["y"], 2)) for p in (event.selection.points if event else []) if p.get(
        "curve_number", 0) == 0]  # fmt: skip
    if picked and picked != st.session_state.get("learn_draw_last"):
        st.session_state["learn_draw_last"] = picked
        drawn.extend((x, y, int(label)) for x, y in picked)
        st.rerun()
    upload = st.file_uploader("…or upload a CSV (x1,x2,label; at most 200 rows)", type=["csv"], key="learn_upload")
    if upload is not None and upload.file_id != st.session_state.get("learn_upload_seen"):
        st.session_state["learn_upload_seen"] = upload.file_id
        try:
            custom = custom_task.parse_csv(upload.getvalue())
            drawn[:] = [(float(x), float(y), int(c)) for (x, y), c in zip(custom.points, custom.labels, strict=True)]
        except custom_task.CustomTaskError as exc:
            st.session_state["learn_upload_error"] = str(exc)
        else:
            st.session_state.pop("learn_upload_error", None)
            st.rerun()  # the plane above is already drawn: draw it again with the file's points
    if st.session_state.get("learn_upload_error"):
        st.error(f"The CSV was not used. {st.session_state['learn_upload_error']}")
    # one under the other: side by side in the sidebar, the labels were cut ("Use as a t…")
    st.button("Use as a task", key="learn_draw_use", width="stretch", disabled=not drawn, on_click=_use_points)
    st.button("Clear points", key="learn_draw_clear", width="stretch", on_click=_clear_points)
    if st.session_state.get("learn_draw_error"):
        st.error(st.session_state["learn_draw_error"])
    st.caption(f"{len(drawn)} point(s) drawn. Each becomes a small cloud of training points; “{custom_task.NAME}” "
               "joins the task sequence (pick its place there).")  # fmt: skip


def _clear_points() -> None:
    """Button callback: forget the drawn points and the task made from them."""
    st.session_state["learn_drawn"] = []
    st.session_state["learn_custom"] = ""
    st.session_state.pop("learn_draw_error", None)
    if custom_task.NAME in st.session_state.get("learn_tasks", []):
        st.session_state["learn_tasks"] = [t for t in st.session_state["learn_tasks"] if t != custom_task.NAME]


def _use_points() -> None:
    """Button callback (runs before the widgets are drawn, so it may change the task list)."""
    try:
        custom = custom_task.validate(st.session_state.get("learn_drawn", []))
    except custom_task.CustomTaskError as exc:
        st.session_state["learn_draw_error"] = str(exc)
        return
    st.session_state.pop("learn_draw_error", None)
    st.session_state["learn_custom"] = custom_task.to_text(custom)
    if custom_task.NAME not in st.session_state["learn_tasks"]:
        st.session_state["learn_tasks"] = [*st.session_state["learn_tasks"], custom_task.NAME]


def asking() -> bool:
    """Whether “Ask the class” is on."""
    return bool(st.session_state.get("learn_ask"))


def guesses(task: int) -> dict[str, str]:
    """The class's answers before ``task`` (kept apart from the radios: a radio not drawn in a run loses its value)."""
    kept = st.session_state.get("learn_guesses", {})
    return {k: kept[f"{task}_{k}"] for k in classroom.QUESTIONS if kept.get(f"{task}_{k}")}


def predict_ui(task: int, name: str) -> None:
    """Before ``task``: the class's guesses (kept per task), when asking is on."""
    if not asking():
        return
    st.markdown(f"**Before task {task} ({name}), ask the class:**")
    if st.session_state.get("learn_playing") and task > 1:
        st.markdown(f"*Play waits for the class: press → or Space (or Play) to learn task {task}.*")
    kept = st.session_state.setdefault("learn_guesses", {})
    for key, question in classroom.QUESTIONS.items():
        if kept.get(f"{task}_{key}"):
            st.session_state.setdefault(f"learn_guess_{task}_{key}", kept[f"{task}_{key}"])
        st.radio(question, ("yes", "no"), index=None, horizontal=True, key=f"learn_guess_{task}_{key}")
        kept[f"{task}_{key}"] = st.session_state.get(f"learn_guess_{task}_{key}")


def predict_reveal_ui(pair, task: int) -> None:
    """Did it grow, did a neuron split (and was the class right), then the question about the next task."""
    lines = classroom.reveal(pair.den.record["tasks"][task - 1], guesses(task))
    st.markdown("\n".join(f"- {line}" for line in lines))
    if asking() and task == pair.tasks_done and not pair.finished:
        predict_ui(task + 1, pair.spec.order[task])


def remember_click(event) -> None:
    """A click on a neuron of the network chart picks it for the neuron card."""
    points = event.selection.points if event else []
    ids = [p.get("customdata") for p in points if p.get("customdata") is not None]
    if ids and ids != st.session_state.get("learn_click_last"):
        st.session_state["learn_click_last"] = ids
        st.session_state["learn_neuron"] = int(ids[0] if not isinstance(ids[0], list) else ids[0][0])


def neuron_card_ui(pair, task: int) -> None:
    """Pick a neuron (or click it on the network): its picture, large, and its story with the numbers."""
    record = pair.den.record
    units = {int(u["id"]): u for u in record["tasks"][task - 1]["units"]}
    options = [None, *sorted(units)]
    if st.session_state.get("learn_neuron") not in options:
        st.session_state["learn_neuron"] = None
    uid = st.selectbox("Explain this neuron", options, key="learn_neuron", placeholder="click a neuron, or pick",
                       format_func=lambda i: "—" if i is None else classroom.unit_label(units[i]))  # fmt: skip
    if uid is None:
        return
    st.subheader(f"Neuron {uid} after task {task}", anchor="neuron-card")  # the network's cue links here
    left, right = st.columns([2, 3])
    field = (pair.frames[task - 1].get("fields") or pair.frames[task - 1]["pictures"])[uid]
    left.plotly_chart(tf.field_figure(field, TOY_2D_EXTENT, f"Neuron {uid} after task {task}"), key="learn_card")
    right.markdown("\n".join(f"- {line}" for line in classroom.neuron_story(record, uid, task)))
    right.caption("Blue: the neuron fires there; red: silent (its ReLU outputs 0); the black line is its boundary.")


def lesson_ui(pair) -> None:
    """“Download this lesson”: one HTML file, made when clicked, that steps through every task offline."""
    st.download_button("Download this lesson", data=lambda: lesson.lesson_html(pair), key="learn_lesson",
                       file_name="den-lesson.html", mime="text/html", icon=":material/download:",
                       help="One self-contained page (no internet needed): every task's network, regions, story "
                       "and the DEN / comparison rows, stepped with a slider.")  # fmt: skip
