"""A run's own data on the pages: its file, its task names and a few inputs of every task.

Only runs trained on a user's data have this part. The data is read again through the
engine, which refuses a missing file or one whose hash differs; the page then shows the
engine's message, naming the file, and everything else of the run stays on screen.
"""

from __future__ import annotations

import streamlit as st

from dashboard import ui
from dashboard.figures.inputs import examples_figure, input_kind
from dashboard.state import user_data

KIND_WORDS = {"image": "images", "points": "points in the plane", "vectors": "plain vectors"}


def data_summary(record: dict) -> str | None:
    """One line naming the run's data file, its hash, input shape and task names; None for a built-in benchmark."""
    source = user_data.source_of(record)
    if source is None:
        return None
    bench = record["benchmark"]
    shape = [int(s) for s in bench.get("input_shape") or [bench.get("input_dim", 0)]]
    what = source.get("file") or "arrays given in Python"
    names = ", ".join(bench.get("task_names") or [])
    return (
        f"Trained on your data **{what}** (SHA-256 `{str(source.get('sha256', ''))[:12]}`), inputs of shape "
        f"{tuple(shape)} ({KIND_WORDS[input_kind(shape)]}). Tasks: {names}."
    )


def run_data_ui(record: dict, key: str) -> None:
    """The run's data: its summary line and a few test inputs per task (or the one message saying why not)."""
    summary = data_summary(record)
    if summary is None:
        return
    st.markdown(summary)
    try:
        examples = user_data.run_examples(record)
    except ui.USER_ERRORS as exc:
        ui.user_error_ui(exc, "The data's examples are not shown")
        where = (
            "put the very file it was trained on back at its recorded path"
            if (user_data.source_of(record) or {}).get("kind") == "npz"
            else "train it from a .npz file: arrays given in Python live only in that Python session"
        )
        st.caption(f"Everything else on this page comes from the run's record. To see the examples, {where}.")
        return
    except Exception as exc:  # noqa: BLE001 - a message on the page, the traceback in the server log
        ui.unexpected_error_ui(exc)
        return
    source = user_data.source_of(record) or {}
    st.plotly_chart(examples_figure(examples, record["benchmark"]["input_shape"], source.get("file", "")), key=key)
    st.caption("A few test inputs of every task, with each example's class; one row per task.")
