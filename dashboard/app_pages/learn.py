"""Learn page: a small network learns 2-D tasks one after another; every neuron drawn as a picture.

Teaching defaults (url_state.LearnState plus learn_session.TEACHING_OVERRIDES on the fast
preset): 2 inputs and 6-6 hidden units, k = 3, 300 steps per stage, batch 64, learning
rate 1e-2. The fast preset's sparsity steps are sized for 784-input layers: on 2-input
layers its group lasso (1e-2) prunes every new unit at once and its L1 (1e-3) starves the
selected units, so the teaching config uses γ = 1e-3 and μ = 1e-4. τ = 0.15 lets an easy
task (xor after circles) pass without growth, and σ = 0.1 splits a few units per task
instead of most of them (σ = 0.05 splits ~9 of 12 at this learning rate).
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from dashboard import narrate, ui
from dashboard.figures import teaching as tf
from dashboard.state import url_state
from dashboard.state.learn_session import PAUSES, LearnSession, available_compare, spec_from_state
from dashboard.state.session import STAGE_WORDS
from den_engine.data.toy2d import TOY_2D_TASKS

POLL_SECONDS = 0.5
LABELS = {"finetune": "fine-tuning", "l2": "L2-transfer", "ewc": "EWC", "none": "nothing (DEN alone)"}
HELP = {
    "loss_threshold": "τ (tau): after retraining only the units a new task needs, DEN compares the loss with τ. "
    "Above τ the network grows by k units per layer; at or below, it keeps its size. Smaller τ = grows more often.",
    "split_threshold": "σ (sigma): how far a unit's incoming weights may move during a new task. A unit that moved "
    "more than σ is split: old tasks keep the original, the new task gets a copy. Smaller σ = more splits.",
}


def get_session() -> LearnSession:
    """This browser session's Learn trainer (never shared)."""
    if "learn_session" not in st.session_state:
        st.session_state["learn_session"] = LearnSession()
    return st.session_state["learn_session"]


def _widget_values(state: url_state.LearnState) -> dict:
    values = dataclasses.asdict(state)
    values["tasks"] = list(state.tasks)
    values["hidden_sizes"] = ",".join(str(s) for s in state.hidden_sizes)
    return values


def controls_ui() -> url_state.LearnState:
    """The sidebar controls (seeded from the URL once); in presenter mode only the presenter switch."""
    if "learn_state" not in st.session_state:
        st.session_state["learn_state"], st.session_state["learn_warnings"] = url_state.decode(st.query_params)
    stored: url_state.LearnState = st.session_state["learn_state"]
    for field, value in _widget_values(stored).items():  # widgets hidden in presenter mode lose their state
        st.session_state.setdefault(f"learn_{field}", value)
    side = st.sidebar
    presenter = side.toggle("Presenter mode", key="learn_presenter", help="Hide the settings: only the network, "
                            "the buttons and the story stay on screen.")  # fmt: skip
    if presenter:
        return dataclasses.replace(stored, presenter=True)
    side.multiselect("Task sequence, in the order picked", TOY_2D_TASKS, key="learn_tasks")
    side.text_input("Hidden units per layer at task 1", key="learn_hidden_sizes", help="e.g. 6,6 (1 to 3 layers)")
    side.slider("k: units added per layer when the network grows", 1, 8, key="learn_expand_units")
    side.number_input("τ: loss threshold for growing", 0.0, 10.0, step=0.05, key="learn_loss_threshold", format="%g")
    side.caption(HELP["loss_threshold"])
    side.number_input("σ: drift threshold for splitting", 0.0, 10.0, step=0.05, key="learn_split_threshold",
                      format="%g")  # fmt: skip
    side.caption(HELP["split_threshold"])
    with side.expander("More settings"):
        st.number_input("γ: group sparsity on new units", 0.0, 1.0, step=5e-4, key="learn_group_lasso", format="%g")
        st.number_input("Steps per stage", 20, 2000, step=50, key="learn_iterations")
        st.number_input("Seed", 0, 2**31 - 1, key="learn_seed")
        st.selectbox("Method", url_state.METHODS, key="learn_method")
        compare = available_compare(url_state.COMPARE)
        if st.session_state["learn_compare"] not in compare:
            st.session_state["learn_compare"] = compare[0]
        st.selectbox("Side by side with", compare, key="learn_compare", format_func=lambda m: LABELS.get(m, m))
    side.select_slider("Speed of Play", url_state.SPEEDS, key="learn_speed", help="Pause between tasks")
    values, problems = {}, []
    for field in dataclasses.fields(stored):
        raw = st.session_state.get(f"learn_{field.name}")
        text = ",".join(raw) if isinstance(raw, list) else str(int(raw) if isinstance(raw, bool) else raw)
        try:
            values[field.name] = url_state.parse_field(field.name, text)
        except ValueError as exc:
            problems.append(f"{field.name}: {exc}")
    for problem in problems:
        side.error(f"Not used — {problem}")
    state = dataclasses.replace(stored, **values)
    st.session_state["learn_state"] = state
    with side.expander("Classroom link"):
        st.code(url_state.query_string(state), language="text")
        st.caption("Add this to the Learn page's address: the same link and seed train the same network anywhere.")
    return state


def _sync_url(state: url_state.LearnState) -> None:
    wanted = url_state.encode(state)
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


@ui.guarded
def _progress_body() -> None:
    session = get_session()
    status = session.status()
    if status.version != st.session_state.get("learn_seen"):
        st.session_state["learn_seen"] = status.version
        st.rerun()
    if not status.busy:
        if status.message:
            getattr(st, status.message[0])(status.message[1])
        return
    stage = status.stage.removeprefix("compare:")
    who = "side-by-side method" if status.stage.startswith("compare:") else "DEN"
    words = STAGE_WORDS.get(stage, stage.replace("_", " "))
    fraction = min(status.iteration / status.total, 1.0) if status.total else 0.0
    st.progress(fraction, text=f"Task {status.task or '…'} · {who}: {words}")
    task, events = session.live_events()
    if events:
        k = status.spec.config.expand_units if status.spec else "k"
        st.markdown("\n".join(f"- {line}" for line in narrate.narrate_events(events, k)))


def _train(count: int | None) -> None:
    state = st.session_state["learn_state"]
    try:
        spec = spec_from_state(state)
    except ui.USER_ERRORS:
        return  # the page says what is wrong with the settings
    get_session().submit(spec, count, PAUSES.get(state.speed, 0.0))


def buttons_ui(busy: bool, finished: bool) -> None:
    """Next / Play / Stop / Reset; callbacks act before the page is drawn, so it shows their result."""
    session, cols = get_session(), st.columns(4)
    cols[0].button(
        "Next task",
        key="learn_next",
        type="primary",
        disabled=busy or finished,
        width="stretch",
        on_click=_train,
        args=(1,),
    )
    cols[1].button(
        "Play",
        key="learn_play",
        icon=":material/play_arrow:",
        disabled=busy or finished,
        width="stretch",
        help="Train every remaining task, narrating as it goes",
        on_click=_train,
        args=(None,),
    )
    cols[2].button("Stop", key="learn_stop", disabled=not busy, width="stretch", on_click=session.stop)
    cols[3].button("Reset", key="learn_reset", disabled=busy, width="stretch", on_click=session.reset)


def _points(pair, task: int) -> dict:
    data = pair.benchmark.tasks[task - 1]
    return {"points": data.x_test.numpy(), "labels": data.y_test.numpy()}


def results_ui(pair) -> None:
    """The neuron network, every task's region, the story and the side-by-side comparison."""
    record, n = pair.den.record, pair.tasks_done
    task = st.slider("Show the network after task", 1, n, value=n, key=f"learn_view_{n}") if n > 1 else 1
    left, right = st.columns([3, 2])
    fig = tf.neuron_network_figure(record, task, pair.frames[task - 1], max_edges=80)
    left.plotly_chart(fig, key="learn_network", config={"displaylogo": False})
    left.caption("Each square is one neuron: where in the plane it fires (white = 0, colour = its task of birth). "
                 "Thick border = born at this task, dotted = retired original, ◇ = split copy, "
                 "× = pruned, black ring = retrained. The big square is the task's answer.")  # fmt: skip
    accuracy = record["tasks"][task - 1]["metrics"]["accuracy"]
    panels = [
        {"title": f"{t}: {record['tasks'][t - 1]['name']} · acc {narrate.fmt(accuracy[t - 1], 2)}",
         "region": pair.frames[task - 1]["regions"][t - 1], **_points(pair, t)}
        for t in range(1, task + 1)
    ]  # fmt: skip
    with right:
        st.markdown(f"**Every task so far, through its own head (after task {task})**")
        st.plotly_chart(tf.regions_figure(panels, columns=3, height=190), key="learn_regions")
        st.markdown("\n".join(f"- {line}" for line in narrate.narrate_task(record, task)))
    if pair.other is not None:
        label = LABELS.get(pair.spec.compare, pair.spec.compare)
        st.subheader(f"Task 1 after every task: DEN and {label}", anchor=False)
        rows = [("DEN", record, [f["regions"][0] for f in pair.frames])]
        rows.append((label, pair.other.record, [r[0] for r in pair.other_regions[:n]]))
        panels = [
            {"title": f"{name} after {t} · acc {narrate.fmt(rec['tasks'][t - 1]['metrics']['accuracy'][0], 2)}",
             "region": regions[t - 1], **_points(pair, 1)}
            for name, rec, regions in rows for t in range(1, n + 1)
        ]  # fmt: skip
        st.plotly_chart(tf.regions_figure(panels, columns=max(n, 3), height=230), key="learn_compare_chart")
        st.markdown(narrate.compare_first_task(record, pair.other.record, label))


def main() -> None:
    """Draw the Learn page."""
    session = get_session()
    state = controls_ui()
    _sync_url(state)
    for warning in st.session_state.get("learn_warnings", []):
        st.warning(f"Classroom link: {warning}")
    if not state.presenter:
        st.header("Learn: watch a network learn one 2-D task after another", anchor=False)
    spec, problem = None, None
    try:
        spec = spec_from_state(state)
    except ui.USER_ERRORS as exc:
        problem = str(exc)
    status = session.status()
    pair = session.trainer
    buttons_ui(status.busy, pair is not None and pair.finished)
    if problem:
        st.error(f"Check the settings: {problem}")
    status = session.status()
    st.session_state["learn_seen"] = status.version
    st.fragment(_progress_body, run_every=POLL_SECONDS if status.busy else None)()
    pair = session.trainer
    if status.spec is not None and pair is not None and pair.tasks_done and spec is not None and spec != status.spec:
        st.info("The settings differ from this run: Next continues it with its own settings; Reset starts anew.")
    if pair is None or not pair.tasks_done:
        st.info(f"Press **Next task** to learn {state.tasks[0]}, the first of {len(state.tasks)} tasks "
                f"({', '.join(state.tasks)}), or **Play** to learn them all.")  # fmt: skip
        return
    results_ui(pair)


main()
