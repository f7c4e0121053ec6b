"""Train page: step through the task sequence and watch the network grow."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import data_ui, figures, graph_ui, run_checks, ui
from dashboard.figures.encoding import legend_markdown
from dashboard.narrate import narrate_task
from dashboard.state import loaders
from dashboard.state.session import STAGE_WORDS, examples_dir, poll_seconds, preset_config, queue_words

PLAY_SECONDS = 1.2
# The first screen's job is the network: a shorter top margin and tighter title bring it above the fold.
TOP_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 3.6rem;}
[data-testid="stMainBlockContainer"] h3 {padding-top: 0.25rem; padding-bottom: 0.1rem;}
@media (max-width: 1100px) {  /* a projector at 1024x768: the title on one line, the network higher up */
  [data-testid="stMainBlockContainer"] h3 {font-size: 1.3rem;}
  .st-key-den_intro p {font-size: 0.9rem; line-height: 1.35;}
  section[data-testid="stSidebar"][data-collapsed="false"] {width: 272px !important; min-width: 272px !important;}
}
</style>"""


def _quiet_record(run_dir: str | None) -> dict | None:
    try:
        return loaders.load_record(run_dir, loaders.run_mtime(run_dir)) if run_dir else None
    except ui.USER_ERRORS:
        return None


@ui.guarded
def _progress_body() -> None:
    status = ui.get_session().status()
    if status.version != st.session_state.get("seen_version"):
        st.session_state["seen_version"] = status.version
        st.rerun()  # a task was committed (or the job ended): redraw every view
    if status.queued is not None:  # the same bar, empty: nothing on the page moves when training starts
        st.progress(0.0, text=queue_words(status.queued))
    elif status.busy:
        words = STAGE_WORDS.get(status.stage, status.stage.replace("_", " "))
        fraction = min(status.iteration / status.total, 1.0) if status.total else 0.0
        loss = f", loss {status.loss:.4g}" if status.loss is not None else ""
        steps = f" — step {status.iteration} of {status.total}" if status.total else ""
        st.progress(fraction, text=f"Task {status.task or '…'}: {words}{steps}{loss}")
    elif status.message:
        kind, text = status.message
        getattr(st, kind)(text)


def progress_panel() -> None:
    """Live progress of the background job; polls while a job runs, idles otherwise."""
    st.fragment(_progress_body, run_every=poll_seconds(ui.get_session().status()))()


def _tick_drew_its_task(redraws: int = 2) -> bool:
    """Whether the last play tick sent its task's finished picture, so the play may go on to the next task.

    A tick sends the new units coming in, then the finished picture. On a busy server that can take longer than
    the play timer's interval, and the next tick then cuts it short before the finished picture: the play went on
    with that task never shown whole. Such a task is drawn again (at most ``redraws`` times, so a server too slow
    for even one picture a tick still moves on).
    """
    at = st.session_state.get("play_at")
    drawn, tries = st.session_state.get("play_drawn", (None, 0))
    if drawn == at or tries >= redraws:
        return True
    st.session_state["play_drawn"] = (drawn, tries + 1)
    return False


def _set_play(n_tasks: int, playing: bool) -> None:
    """Play (``playing``) or Pause, as the button read when it was pressed.

    Not a toggle: a press that reaches the server twice (a busy browser, a replayed trigger) would turn a Pause
    back into Play, and the play would go on after the user stopped it.
    """
    if bool(st.session_state.get("playing", False)) == playing:
        return  # the same press again: already done
    st.session_state["playing"] = playing
    st.session_state["play_hold"] = playing  # show the first frame for a whole tick
    st.session_state["play_toggled"] = True  # the play timer belongs to the whole page: rerun it
    if playing:  # from the end, play starts again at task 1
        at = int(st.session_state.get("timeline", n_tasks))
        st.session_state["play_at"] = 1 if at >= n_tasks else at
    else:  # paused: the timeline stays where the play was (the server's count, never the browser's last slider)
        st.session_state["timeline"] = int(st.session_state.get("play_at", n_tasks))


def _play_button(n_tasks: int) -> None:
    """Play / Pause, beside the timeline."""
    playing = bool(st.session_state.get("playing"))
    label, icon = ("Pause", ":material/pause:") if playing else ("Play", ":material/play_arrow:")
    st.button(
        label,
        key="pause" if playing else "play",  # two buttons: a press names what it asks for
        icon=icon,
        on_click=_set_play,
        args=(n_tasks, not playing),
        help="Play the growth: step through the tasks, each task's new units coming in",
        width="stretch",
    )


def _metrics_row(record: dict, task: int) -> None:
    tasks = record["tasks"]
    snap = tasks[task - 1]
    units = sum(snap["layer_sizes"][1:])
    before = sum(tasks[task - 2]["layer_sizes"][1:]) if task > 1 else None
    cols = st.columns(4)
    cols[0].metric("Hidden units", units, delta=None if before is None else units - before)
    cols[1].metric("Layer sizes", " · ".join(str(n) for n in snap["layer_sizes"]))
    params = snap.get("params", {})
    cols[2].metric("Parameters (non-zero)", f"{params.get('nonzero', 0):,}")
    avg = snap.get("metrics", {}).get("average_auroc")
    label = "AUROC on task 1" if task == 1 else f"Average AUROC, tasks 1–{task}"  # never "tasks 1–1"
    cols[3].metric(label, "n/a" if avg is None else f"{avg:.3f}")


@ui.guarded
def _network_body(run_dir: str, record: dict, about: str) -> None:
    n = len(record["tasks"])
    if st.session_state.pop("play_toggled", False):
        st.rerun()  # Play or Pause was pressed in this fragment: start or drop the page's play timer
    playing = bool(st.session_state.get("playing"))
    if playing and st.session_state.get("graph_view") == "film":  # the film plays itself: the page's play stops
        st.session_state["playing"], st.session_state["timeline"] = False, st.session_state.get("play_at", n)
        st.rerun()
    dragged = st.session_state.get(f"timeline_at_{st.session_state.get('play_at')}")
    if playing and dragged is not None and dragged != st.session_state.get("play_at"):
        # the timeline was dragged during the play: pause at that task
        st.session_state["playing"], st.session_state["timeline"] = False, int(dragged)
        st.rerun()
    if playing and not st.session_state.pop("play_hold", False) and _tick_drew_its_task():
        if st.session_state.get("play_at", n) >= n:
            st.session_state["playing"], st.session_state["timeline"] = False, n
            st.rerun()  # the end: a full run drops the play timer
        st.session_state["play_at"] = st.session_state.get("play_at", 0) + 1
    # the timeline (with Play beside it), then the view and the edges
    at = st.session_state.get("play_at", n) if playing else None
    controls = graph_ui.graph_controls_ui("graph", n, beside=lambda: _play_button(n), playing_at=at)
    task = controls["task"]
    graph_ui.network_chart_ui(run_dir, record, task, controls, "network")
    st.session_state["play_drawn"] = (task, 0)  # its finished picture is sent (a tick cut short never gets here)
    _metrics_row(record, task)  # under the picture: the network is what the first screen shows
    st.caption(about)
    with st.expander("How to read the drawing"):
        st.markdown(legend_markdown())
    with st.expander(f"What happened at task {task}", expanded=True):
        st.markdown("\n".join(f"- {line}" for line in narrate_task(record, task)))


def network_panel(run_dir: str, record: dict) -> None:
    """The growing network with its task timeline, play button and graph controls."""
    n = len(record["tasks"])
    seen = st.session_state.get("timeline_seen")
    if seen != (run_dir, n):  # a new run, or a new task: jump to the latest if we were there
        if seen is None or seen[0] != run_dir or st.session_state.get("timeline") in (None, seen[1]):
            st.session_state["timeline"] = n
        st.session_state["timeline_seen"] = (run_dir, n)
    at = st.session_state.get("timeline", st.session_state.get("graph_film_from", n))  # not drawn with the film
    st.session_state["timeline"] = max(1, min(int(at), n))
    st.session_state["play_at"] = max(1, min(int(st.session_state.get("play_at", n)), n))
    playing = bool(st.session_state.get("playing")) and n > 1
    body = st.fragment(_network_body, run_every=PLAY_SECONDS if playing else None)
    body(run_dir, record, _about_run(run_dir, record))


def charts_panel(record: dict) -> None:
    """Growth, sparsity, capacity and accuracy charts over the whole run."""
    tabs = st.tabs(["Units per layer", "Sparsity", "Parameters", "AUROC matrix", "Accuracy matrix", "Average AUROC"])
    charts = [
        (figures.units_chart, "Bars split by how units were born: base (task 1), expanded, duplicated by a split."),
        (figures.sparsity_chart, "Fraction of exactly-zero weights among those each task uses, per layer."),
        (
            figures.params_chart,
            "DEN's parameters after each task against one network per task (STL) and one shared network (MTL).",
        ),  # fmt: skip
        (lambda r: figures.matrix_heatmap(r, metric="auroc"), "R[i][j]: AUROC on task j after learning task i."),
        (lambda r: figures.matrix_heatmap(r, metric="accuracy"), "R[i][j]: accuracy on task j after task i."),
        (figures.average_metric_chart, "Mean AUROC over every task learned so far."),
    ]
    for i, (tab, (build, caption)) in enumerate(zip(tabs, charts, strict=True)):
        with tab:
            ui.guarded(lambda b=build, k=i: st.plotly_chart(b(record), key=f"chart_{k}"))()
            st.caption(caption)


def _act(session, action: str | None, spec) -> None:
    """Carry out a clicked training button before anything is drawn (so the buttons show its effect)."""
    if action in ("next_task", "run_all"):
        if spec is None:
            return  # the buttons were disabled; the settings message below says why
        st.session_state["view_path"] = None  # show the live run from now on
        st.session_state["url_warnings"] = []
        session.submit(spec, 1 if action == "next_task" else None)
    elif action == "stop":
        session.stop()
    elif action == "reset" and session.reset():
        st.session_state["view_path"] = ""
        st.session_state["playing"] = False


def _about_run(run_dir: str, record: dict) -> str:
    """One line naming the shown run, with what sets it apart from the defaults."""
    bench = record["benchmark"]
    shipped = examples_dir() in Path(run_dir).resolve().parents
    sizes = "-".join(str(n) for n in record.get("base_sizes") or record["config"].get("hidden_sizes", []))
    try:
        default = "-".join(str(n) for n in preset_config("fast", bench["name"]).hidden_sizes)
    except ui.USER_ERRORS:  # a record of a benchmark this version does not know: nothing to compare with
        default = sizes
    hidden = f"starts with {sizes} hidden units"
    if sizes != default:  # say so when a run is not at the scale a new run gets
        hidden += f" (a new fast run: {default}" + ("; kept small to ship)" if shipped else ")")
    return (
        f"{'Shipped example' if shipped else 'Run'} **{Path(run_dir).name}** — "
        f"{bench['name']}, {len(record['tasks'])} of {bench['n_tasks']} tasks learned, "
        f"status {ui.shown_state(run_dir, record)}, method {record['method'].upper()}, preset {record['preset']}, "
        f"{hidden}." + (" **Next task** trains your own with the settings on the left." if shipped else "")
    )


def main() -> None:
    """Draw the Train page."""
    session = ui.get_session()
    ui.init_controls(_quiet_record(ui.current_run_dir()), dict(st.query_params))
    values = ui.settings_ui()
    checked = run_checks.check_settings(values)
    spec = None if checked.why_blocked else checked.spec
    with st.sidebar.expander("Share these settings"):
        st.code(ui.share_link(values), language="text")
        st.caption("Add this to the app's address to open it with the same settings.")

    _act(session, ui.take_action(), spec)
    st.html(TOP_CSS)  # a style element only: it takes no room on the page
    st.subheader("Dynamically Expandable Networks: watch a network grow", anchor=False)
    about_den, learn = st.container(key="den_intro").columns([3, 1.5], vertical_alignment="center")
    about_den.markdown(
        "DEN learns tasks one after another and grows its own network: it retrains only what a new task needs, "
        "adds units when that is not enough, and splits units that drifted so old tasks keep theirs."
    )
    learn.page_link("app_pages/learn.py", label="Learn DEN first", icon=":material/school:", width="stretch")
    ui.query_warnings_ui(st.session_state.get("url_warnings", []))
    status = session.status()
    finished = session.trainer is not None and session.trainer.finished
    ui.buttons_ui(status.busy, finished, stopping=session.stopping, blocked=checked.why_blocked)
    st.session_state["seen_version"] = status.version
    progress_panel()
    run_checks.problems_ui(checked)
    run_checks.long_run_ui(checked)  # drawn while training too, so the box keeps its tick
    if status.spec is not None and status.tasks_done and checked.spec is not None and checked.spec != status.spec:
        st.info("The settings differ from the run in progress: Next task continues that run with its own settings; "
                "Reset starts a new run with the new ones.")  # fmt: skip

    run_dir, record = ui.current_run_ui()
    if record is None or not record.get("tasks"):
        st.info("No network to show yet. Pick a benchmark on the left (toy-2d and the 8×8 digits train in about "
                "a second per task) and press **Next task** to learn task 1.")  # fmt: skip
        return
    network_panel(run_dir, record)
    if data_ui.data_summary(record) is not None:
        st.subheader("The run's data")
        data_ui.run_data_ui(record, "train_data")
    st.subheader("The whole run")
    charts_panel(record)


main()
