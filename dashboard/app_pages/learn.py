"""Learn page: a small network learns 2-D tasks one after another; every neuron drawn as a picture.

Teaching defaults (url_state.LearnState plus learn_session.TEACHING_OVERRIDES on the fast
preset): 2 inputs and 6-6 hidden units, k = 3, 300 steps per stage, batch 64, learning
rate 1e-2. The fast preset's sparsity steps are sized for 784-input layers: on 2-input
layers its group lasso (1e-2) prunes every new unit at once and its L1 (1e-3) starves the
selected units, so the teaching config uses γ = 1e-3 and μ = 1e-4. τ = 0.15 lets an easy
task (xor after circles) pass without growth, and σ = 0.1 splits a few units per task
instead of most of them (σ = 0.05 splits ~9 of 12 at this learning rate).

Layout: the first screen is drawn for the window it is in (learn_keys reports the content's
width and the window's height): the network takes the height left under the buttons and
the status line, and its wide layers wrap onto rows so every neuron picture stays large.
With room beside it (content at least ``learn_figures.WIDE_PX`` wide) the current region and the story
stand right of the network; otherwise under it. The network's box depends on the window
only, so nothing moves while Play runs; the story grows with its text (never a scroll box).
Presenter mode hides the sidebar and enlarges the text.
"""

from __future__ import annotations

import streamlit as st

from dashboard import narrate, ui
from dashboard.app_pages import learn_figures as lf
from dashboard.app_pages import learn_keys
from dashboard.app_pages import learn_parts as parts
from dashboard.app_pages import learn_timeline as timeline_state
from dashboard.figures import regions as rf
from dashboard.state import liveness, url_state
from dashboard.state.learn_session import PAUSES, LearnSession, spec_from_state
from dashboard.state.session import STAGE_WORDS, poll_seconds, queue_words

# (comments, not docstrings: a bare string in a page script is drawn on the page)
NARROW_PX = 800  # narrower content: the presenter switch goes under the buttons
PRESENTER_CSS = """<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"]
  {display: none !important;}
[data-testid="stMainBlockContainer"] {padding: 3.9rem 0.9rem 1rem 0.9rem !important; max-width: 100% !important;}
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] li {font-size: 1.15rem; line-height: 1.35;}
[data-testid="stMainBlockContainer"] button p {font-size: 1.15rem; font-weight: 600;}
.st-key-learn_story [data-testid="stMarkdownContainer"] p,
.st-key-learn_story [data-testid="stMarkdownContainer"] li {font-size: 1.02rem; line-height: 1.3;}
</style>"""
# The key listener takes no room; the status line and the timeline's place (the slider, or its caption while a
# task trains) have a least height, never a scroll box; normal mode's padding is smaller than Streamlit's so the
# network gets the room.
PAGE_CSS = """<style>.st-key-learn_keys {display: none !important;} .st-key-learn_status {min-height: 66px;}
.st-key-learn_timeline {min-height: 73px;}
[data-testid="stMainBlockContainer"] {padding: 4rem 1.5rem 2rem 1.5rem;}</style>"""


def get_session() -> LearnSession:
    """This browser session's Learn trainer (never shared)."""
    if "learn_session" not in st.session_state:
        st.session_state["learn_session"] = LearnSession()
    session = st.session_state["learn_session"]
    if session.connected is None:  # its jobs stop once this tab has gone
        session.connected = liveness.connection_check()
    return session


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
    if status.queued is not None:  # the same bar, empty: nothing on the page moves when training starts
        st.progress(0.0, text=queue_words(status.queued))
        return
    stage = status.stage.removeprefix("compare:")
    who = "side-by-side method" if status.stage.startswith("compare:") else "DEN"
    words = STAGE_WORDS.get(stage, stage.replace("_", " "))
    fraction = min(status.iteration / status.total, 1.0) if status.total else 0.0
    st.progress(fraction, text=f"Task {status.task or '…'} · {who}: {words}")


@ui.guarded
def _live_body() -> None:
    """What DEN has done so far at the task in flight, in the story's place (it grows; the status line never does)."""
    session = get_session()
    status = session.status()
    task, events = session.live_events()
    if not status.busy or not events:
        return
    k = status.spec.config.expand_units if status.spec else "k"
    lines = narrate.narrate_events(events, k)
    st.markdown(f"**Now learning task {task}:**\n" + "\n".join(f"- {line}" for line in lines))


def live_ui() -> None:
    """The task in flight, narrated stage by stage while it trains (polled; nothing when idle)."""
    st.fragment(_live_body, run_every=poll_seconds(get_session().status()))()


def _train(count: int | None) -> None:
    state = st.session_state["learn_state"]
    if st.session_state.get("learn_problems"):
        return  # the sidebar says what to fix; nothing trains on a value the field does not show
    try:
        spec = spec_from_state(state)
    except ui.USER_ERRORS:
        return  # the page says what is wrong with the settings
    get_session().submit(spec, count, PAUSES.get(state.speed, 0.0))


def buttons_ui(busy: bool, finished: bool, blocked: bool, narrow: bool = False) -> None:
    """Next / Play / Stop / Reset and the presenter switch (on a row of its own when the page is narrow, so its
    label is never cut); callbacks act before the page is drawn."""
    session = get_session()
    cols = st.columns([3, 3, 2, 2] if narrow else [3, 3, 2, 2, 3], vertical_alignment="center")
    cols.append(st.container() if narrow else cols.pop())
    idle = busy or finished or blocked
    cols[0].button("Next task", key="learn_next", type="primary", disabled=idle, width="stretch", on_click=_train,
                   args=(1,))  # fmt: skip
    cols[1].button("Play", key="learn_play", icon=":material/play_arrow:", disabled=idle, width="stretch",
                   help="Train every remaining task, narrating as it goes (with “Ask the class” on, it stops "
                   "before each task for the guess: a key goes on). Keys: → next, ← back, Space play/pause.",
                   on_click=_play)  # fmt: skip
    cols[2].button("Stop", key="learn_stop", disabled=not busy, width="stretch", on_click=session.stop)
    cols[3].button("Reset", key="learn_reset", disabled=busy, width="stretch", on_click=session.reset)
    cols[4].toggle("Presenter mode", key="learn_presenter", help="For a projector: hide the settings, "
                   "enlarge the text; the network and the current task fit one screen.")  # fmt: skip


def story_ui(pair, task: int) -> None:
    """The reveal and the narration: a box that grows with its text (never scrolls, never cuts a line)."""
    with st.container(border=True, key="learn_story"):
        live_ui()
        parts.predict_reveal_ui(pair, task)
        st.markdown("\n".join(f"- {line}" for line in narrate.narrate_task(pair.den.record, task)[1:]))


def stage_ui(pair, task: int, presenter: bool, view: tuple[int, int], fig, timeline=None) -> None:
    """The first screen: the network ``fig`` after ``task`` beside (or above) its decision region and its story;
    ``timeline()`` draws the timeline (in its own place) right after the network is sent."""
    sizes = lf.stage_sizes(presenter, view)
    font = 17 if presenter else 15
    if sizes["wide"]:
        left, right = st.columns([1 - lf.SIDE_SHARE, lf.SIDE_SHARE], gap="small")
    else:
        left = st.container()
    with left:
        event = st.plotly_chart(fig, key="learn_network", config={"displaylogo": False, "displayModeBar": False},
                                on_select="rerun", selection_mode="points")  # fmt: skip
    if timeline is not None:  # nothing slow between the two: the page never shows them on different tasks
        timeline()
    parts.remember_click(event)
    if not sizes["wide"]:
        right, story = st.columns([1, 2], gap="small")
    coming = task == pair.tasks_done and not pair.finished  # the next task's data, before it trains

    def build():
        panels = [lf.task_panel(pair, task)] + ([lf.coming_panel(pair.benchmark, task + 1)] if coming else [])
        return [rf.regions_figure([panel], height=sizes["region_h"], font_size=font) for panel in panels]

    figs = lf.memo("regions", pair, (pair.tasks_done, task, coming, sizes["region_h"], font), build)
    with right:
        for i, region in enumerate(figs):
            st.plotly_chart(region, key="learn_region" if i == 0 else "learn_coming",
                            config={"displaylogo": False, "displayModeBar": False})  # fmt: skip
    with right if sizes["wide"] else story:
        story_ui(pair, task)


def more_ui(pair, task: int) -> None:
    """Below the first screen: every task's region, DEN against the comparison, the legend."""
    record, n = pair.den.record, pair.tasks_done
    st.caption("Each square is one neuron: its input before the ReLU over the plane — **blue where it fires, red "
               "where it is silent**, white on its boundary. Border colour = task it was born in (thicker = born "
               "now); **R** = retrained at this task; ◇ = a split copy, the dashed arc leads to its original; faded "
               "with a dotted border = a retired original; × = pruned. The big square on top is the task's answer "
               "(amber = class 0, teal = class 1). Click a neuron to explain it.")  # fmt: skip
    regions = pair.frames[task - 1]["regions"]

    def every_task():
        panels = [{"title": f"{t}: {record['tasks'][t - 1]['name']}", "region": regions[t - 1],
                   "note": f"acc {lf.accuracy(record, task, t)}", **lf.points(pair, t)}
                  for t in range(1, task + 1)]  # fmt: skip
        return rf.regions_figure(panels, height=230)

    st.markdown(f"**Every task so far, through its own head, after task {task}**")
    st.plotly_chart(lf.memo("every_task", pair, (n, task), every_task), key="learn_regions",
                    config={"displayModeBar": False})  # fmt: skip
    if pair.other is not None:
        label = parts.LABELS.get(pair.spec.compare, pair.spec.compare)
        st.subheader(f"Task 1 after every task: DEN and {label}", anchor=False)

        def side_by_side():
            rows = []
            for name, rec, regions in (("DEN", record, [f["regions"][0] for f in pair.frames]),
                                       (label, pair.other.record, [r[0] for r in pair.other_regions[:n]])):  # fmt: skip
                rows.append((name, [{"region": regions[t - 1], "note": f"acc {lf.accuracy(rec, t, 1)}",
                                     **lf.points(pair, 1)} for t in range(1, n + 1)]))  # fmt: skip
            return rf.comparison_figure(rows, [f"after task {t}" for t in range(1, n + 1)])

        st.plotly_chart(lf.memo("side_by_side", pair, (n, label), side_by_side), key="learn_compare_chart",
                        config={"displayModeBar": False})  # fmt: skip
        st.markdown(narrate.compare_first_task(record, pair.other.record, label))


def empty_ui(state: url_state.LearnState, presenter: bool, view: tuple[int, int]) -> None:
    """Before task 1: what Next and Play do, the class's question, and the first task's data over the plane."""
    sizes = lf.stage_sizes(presenter, view)
    left, right = st.columns([1 - lf.SIDE_SHARE, lf.SIDE_SHARE] if sizes["wide"] else [2, 1], gap="small")
    with left.container(key="learn_empty"):
        st.info(f"Press **Next task** to learn {state.tasks[0]}, the first of {len(state.tasks)} tasks "
                f"({', '.join(state.tasks)}), or **Play** to learn them all.")  # fmt: skip
        parts.predict_ui(1, state.tasks[0])
        live_ui()
    try:
        fig = lf.coming_figure(state.seed, tuple(state.tasks), state.custom, sizes["region_h"], 17 if presenter else 15)
    except (ValueError, KeyError):
        return  # a task without its points: the status line already says what to fix
    with right:
        st.plotly_chart(fig, key="learn_coming", config={"displaylogo": False, "displayModeBar": False})


def _play() -> None:
    """Button callback: Play every remaining task; with asking on, one task at a time (a key goes on)."""
    asking = parts.asking()
    st.session_state["learn_playing"] = asking
    _train(1 if asking else None)


def _on_key(action: str, blocked: bool) -> None:
    """A presenter's key: → / PageDown the next task (or the next learned one), ← / PageUp back, Space play/pause."""
    session = get_session()
    pair, busy = session.trainer, session.status().busy
    n = pair.tasks_done if pair is not None else 0
    view = timeline_state.shown_task(n)
    finished = pair is not None and pair.finished
    if action == "back" and n > 1:
        timeline_state.show_task(n, view - 1)
    elif action == "next" and view < n:
        timeline_state.show_task(n, view + 1)
    elif action == "next" and not (busy or blocked or finished):
        _train(1)
    elif action == "play" and busy:
        st.session_state["learn_playing"] = False
        session.stop()
    elif action == "play" and not (blocked or finished):
        if st.session_state.get("learn_playing") and n > 1:  # going on after the class's guess
            timeline_state.show_task(n, n)
        _play()


def main() -> None:
    """Draw the Learn page."""
    session = get_session()
    state, problems = parts.controls_ui()  # first: every run draws the settings (a run cut short keeps them)
    presenter = state.presenter
    st.html(PAGE_CSS + (PRESENTER_CSS if presenter else ""))
    view = learn_keys.keys_ui()
    _sync_url(state)
    for warning in st.session_state.get("learn_warnings", []):
        st.warning("Classroom link: " + warning.replace("~", "\\~"))  # a bare ~ would strike the text through
    if not presenter:
        st.header("Learn: watch a network learn task after task", anchor=False)
    spec, problem = None, None
    try:
        spec = spec_from_state(state)
    except ui.USER_ERRORS as exc:
        problem = str(exc)
    for key in learn_keys.take_keys():  # every key pressed, once each, in order
        _on_key(key, bool(problems or problem))
    status = session.status()
    pair = session.trainer
    buttons_ui(status.busy, pair is not None and pair.finished, bool(problems or problem), view[0] < NARROW_PX)
    status = session.status()
    st.session_state["learn_seen"] = status.version
    with st.container(border=False, key="learn_status"):  # a least height (CSS), never a scroll box
        if problems or problem:
            where = "turn presenter mode off to see" if presenter else "see"
            st.error(f"Fix the settings before training: {problem or where + ' the highlighted fields (sidebar)'}.")
        st.fragment(_progress_body, run_every=poll_seconds(status))()
    pair = session.trainer
    if pair is None or not pair.tasks_done:
        empty_ui(state, presenter, view)
        return
    n = pair.tasks_done
    if pair.finished:
        st.session_state["learn_playing"] = False
    task = timeline_state.shown_task(n) if n > 1 else 1
    # While a task trains (Play above all) the timeline is drawn on the network's title line, not as the slider:
    # two elements can be drawn in two browser frames, and the slider then named one task, the picture the next.
    # At rest the slider is back, sent right after the network (the figure built first, nothing slow between).
    training = status.busy
    stage, timeline = st.container(), st.container(key="learn_timeline")  # its place keeps its height (CSS)
    fig = lf.network_figure(pair, task, presenter, view, timeline=training)

    def draw_timeline() -> None:
        if not training:
            timeline_state.timeline_ui(timeline, n)
        elif n > 1:  # the slider's place keeps its height: nothing below it jumps when training starts or stops
            timeline.caption("While the network learns, its timeline is on the picture's title line "
                             "(● learned, ○ to come, the task shown in its colour); the slider is back when it "
                             "stops.")  # fmt: skip

    with stage:
        stage_ui(pair, task, presenter, view, fig, draw_timeline)
    if status.spec is not None and spec is not None and spec != status.spec:
        st.info("The settings differ from this run: Next continues it with its own settings; Reset starts anew.")
    parts.neuron_card_ui(pair, task)
    more_ui(pair, task)
    parts.lesson_ui(pair)


main()
