"""The network picture's controls and chart, shared by the Train and Inspect pages.

``graph_controls_ui`` draws the view (growth / what changed / compare two tasks / growth
film), the edge mode (bundles / strongest / none) and their options, and returns them.
``network_chart_ui`` draws the figure; clicking a unit puts it in focus (its own edges and,
in layer 1, its incoming weights as an image of the input) until another click or Clear.
"""

from __future__ import annotations

import time

import streamlit as st

from dashboard import figures
from dashboard.figures import arrival, conv
from dashboard.figures.animation import growth_animation
from dashboard.figures.filters import filter_figure
from dashboard.state import filter_maps, loaders

VIEWS = {"growth": "Growth", "changes": "Changes", "diff": "Two tasks", "film": "Film"}
EDGES = {"auto": "Automatic", "bundled": "Bundled", "strongest": "Strongest", "none": "None"}
_VIEW_HELP = (
    "Growth: colour = the task a unit was born in. Changes: the units this task added, selected, split, "
    "and how far every older unit drifted (shade). Compare two tasks: what differs between two tasks you pick. "
    "Growth film: every task in turn, new units fading in (press ▶ in the chart)."
)


def graph_controls_ui(
    prefix: str,
    n_tasks: int,
    task: int | None = None,
    default_view: str = "growth",
    beside=None,
    playing_at: int | None = None,
) -> dict:
    """The task timeline (when ``task`` is None; ``beside`` draws into a narrow column at its right),
    then the view, the edge mode and its option; returns them.

    ``playing_at``: a play is showing that task. The timeline is then a slider of that position alone
    (a new one each step, keyed by it): the browser never holds a step's value into the next one, so
    the timeline, the title and the picture always name the same task, and a drag is the user's own.
    """
    if st.session_state.get(f"{prefix}_view") not in VIEWS:
        st.session_state[f"{prefix}_view"] = default_view
    if st.session_state.get(f"{prefix}_edges") not in EDGES:
        st.session_state[f"{prefix}_edges"] = "auto"
    if task is None and n_tasks > 1 and st.session_state[f"{prefix}_view"] == "film":
        # the film has its own slider and Play under its picture: a second timeline would fight it
        task = int(st.session_state.get(f"{prefix}_film_from", n_tasks))
    elif task is None and n_tasks > 1:
        left, right = st.columns([6, 1.25], vertical_alignment="bottom") if beside else (st, None)
        if playing_at is None:
            task = left.slider("Task timeline", 1, n_tasks, key="timeline")
            st.session_state[f"{prefix}_film_from"] = task  # where a switch to the film starts it
        else:
            task = left.slider("Task timeline", 1, n_tasks, value=playing_at, key=f"timeline_at_{playing_at}")
        if right is not None:
            with right:
                beside()
    task = int(task or 1)
    view_now, edges_now = st.session_state[f"{prefix}_view"], st.session_state[f"{prefix}_edges"]
    option = view_now == "diff" or (edges_now == "strongest" and view_now != "film")
    # the edge box gets the option's room when there is none, so "Automatic" reads whole at 1024 px
    cols = st.columns([6.2, 2.0, 1.6] if option else [6.2, 2.6, 1.0], vertical_alignment="bottom")
    view = (
        cols[0].segmented_control("View", list(VIEWS), format_func=VIEWS.get, key=f"{prefix}_view", help=_VIEW_HELP)
        or default_view
    )
    edges = cols[1].selectbox(
        "Edges",
        list(EDGES),
        format_func=EDGES.get,
        key=f"{prefix}_edges",
        help="Automatic: bundles once a layer is a block of cells, single edges for a small network. Bundled: one "
        "line per pair of birth-task groups, width = Σ|w| (hover its middle for the numbers). Strongest: the "
        "largest single weights.",
    )
    out = {"task": task, "view": view, "edges": edges, "max_edges": 0 if edges == "none" else 300, "since": None}
    with cols[2]:
        if view == "diff":
            options = list(range(1, n_tasks + 1))
            if st.session_state.get(f"{prefix}_since") not in options:
                st.session_state[f"{prefix}_since"] = max(1, task - 1)
            out["since"] = st.selectbox(
                "Compare with task", options, key=f"{prefix}_since", help="Units added since it are coloured."
            )
        elif edges == "strongest" and view != "film":
            out["max_edges"] = st.select_slider(
                "Edges drawn", options=[50, 100, 300, 1000, 3000], value=300, key=f"{prefix}_max_edges"
            )
    return out


def _focus(key: str) -> int | None:
    """The unit id last clicked in chart ``key`` (from its selection state), or None."""
    state = st.session_state.get(key)
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, (int, float)):
            return int(data)
        if isinstance(data, list) and data and isinstance(data[0], (int, float)):
            return int(data[0])
    return None


def network_chart_ui(run_dir: str, record: dict, task: int, controls: dict, key: str) -> None:
    """The network chart for ``task`` with ``controls``; a click on a unit shows its own edges."""
    if controls["view"] == "film":
        fig = film(run_dir, record, task)
        st.plotly_chart(fig, key=f"{key}_film", config={"displaylogo": False})
        st.caption(
            "Press ▶ Play in the chart: each task's new units fade in, a split's copy leaves its original, "
            "pruned units show as a grey x and fade. The task slider under the chart jumps to a task."
        )
        return
    focus = _focus(key)
    snapshot = record["tasks"][task - 1]
    need = controls["max_edges"] or focus is not None
    weights = loaders.edge_weights(run_dir, snapshot, 1) if need else None
    mode = controls["view"]
    options = dict(
        max_edges=controls["max_edges"],
        edges=controls["edges"] if controls["edges"] != "none" else "auto",
        mode=mode,
        since=controls["since"],
        focus=focus,
    )
    slot = st.empty()
    if _arrives(key, run_dir, task, mode, focus):  # one step on: the new units come in over a few pictures
        for k, amount in enumerate(arrival.amounts()):
            step = figures.network_figure(record, task, weights, arrive=amount, **options)
            slot.plotly_chart(step, key=f"{key}_arrive{k}", config={"displaylogo": False})
            time.sleep(arrival.FRAME_SECONDS)
    fig = figures.network_figure(record, task, weights, **options)
    slot.plotly_chart(fig, key=key, config={"displaylogo": False}, on_select="rerun", selection_mode="points")
    shown = (fig.layout.meta or {}).get("focus")
    if shown is not None and filter_panel_ui(run_dir, record, task, shown, weights):
        return
    if shown is not None:
        image = any(
            isinstance(t.meta, dict) and t.meta.get("kind") == "input" and t.meta.get("focus") == shown
            for t in fig.data
        )
        st.caption(
            f"Unit {shown} in focus: its own incoming and outgoing weights are drawn"
            + (", and the input image shows its incoming weights (what it looks for)." if image else ".")
            + " Click another unit to move the focus; double-click an empty spot to clear it."
        )
    else:
        st.caption("Hover a unit for its story; click it to see its own weights.")


def _arrives(key: str, run_dir: str, task: int, view: str, focus: int | None) -> bool:
    """Whether this drawing is one step on from the last one of chart ``key`` (growth or changes, no focus)."""
    shown = st.session_state.get(f"{key}_shown")
    st.session_state[f"{key}_shown"] = (run_dir, task)
    return view in ("growth", "changes") and focus is None and shown == (run_dir, task - 1)


@st.cache_data(max_entries=4, show_spinner=False)
def _cached_film(run_dir: str, mtime: float, start: int, _record: dict):
    del run_dir, mtime  # the cache key: the run file and its modification time
    return growth_animation(_record, start)


def film(run_dir: str, record: dict, task: int):
    """The growth film of the run (cached per run file and start task)."""
    return _cached_film(run_dir, loaders.run_mtime(run_dir), task, record)


def filter_panel_ui(run_dir: str, record: dict, task: int, uid: int, weights: dict | None) -> bool:
    """'Explain this filter' under the chart when unit ``uid`` is a conv filter; False for a dense unit."""
    n_conv = conv.conv_layers(record)
    units = record["tasks"][task - 1].get("units") or []
    rows = {}
    for u in units:  # weight-row order within each layer
        rows.setdefault(int(u["layer"]), []).append(u)
    for layer, lu in rows.items():
        row = next((i for i, u in enumerate(lu) if int(u["id"]) == int(uid)), None)
        if row is None:
            continue
        if layer > n_conv:
            return False
        w = (weights or {}).get(f"hidden.{layer}.weight")
        if w is None or w.ndim != 4 or row >= w.shape[0]:
            return False
        unit = lu[row]
        retired = unit.get("retired")
        # a retired filter is shown on the last task that still uses it
        test_task = task if retired is None or int(retired) > task else int(retired) - 1
        activation, why = filter_maps.filter_map(run_dir, task, test_task, layer, row)
        st.subheader(f"Explain filter {uid}")
        st.plotly_chart(
            filter_figure(w[row], activation, uid=int(uid), layer=layer, task=test_task, note=why),
            key=f"filter_{uid}",
            config={"displaylogo": False},
        )
        story = f"born at task {unit['born']} ({unit.get('origin', 'base')})"
        if retired is not None and int(retired) <= task:
            story += f"; retired by a split at task {retired}, so its map is over task {test_task}'s test images"
        st.caption(
            f"Filter {uid} of conv layer {layer}, {story}. Left: its kernel (blue +, red −"
            + (", averaged over its input channels" if w.shape[1] > 1 else "")
            + "); right: where in the image it responds, averaged over the test images (darker = stronger). "
            "Click another filter to explain it; double-click an empty spot to clear."
        )
        return True
    return False
