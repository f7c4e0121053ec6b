"""Which task the Learn page shows: one value per number of tasks learned, stepped by the presenter's keys and set
by the timeline slider.

The shown task is kept in session state of its own, not in the slider's: a rerun that a key starts can be cut short
by the next key before the slider is drawn again, and the next run then brings the slider's old value back from
the browser, undoing the step. A key's step gives the slider a new key (a new widget, drawn at the shown task),
so an old slider value never comes back (the browser may send a replaced slider's value once more: ignored).
Imported by app_pages/learn.py (not a page itself).
"""

from __future__ import annotations

import streamlit as st


def _state(n: int) -> tuple[int, int]:
    """(the task shown, how many times a key has set it) when ``n`` tasks are learned."""
    return st.session_state.get(f"learn_shown_{n}", (n, 0))


def shown_task(n: int) -> int:
    """The task whose network is shown when ``n`` tasks are learned: the last, unless a key or the timeline chose."""
    return min(max(_state(n)[0], 1), n) if n > 1 else n


def show_task(n: int, task: int) -> None:
    """A key's step: show ``task`` (the timeline is drawn anew at it)."""
    st.session_state[f"learn_shown_{n}"] = (min(max(task, 1), n), _state(n)[1] + 1)


def _slider_key(n: int) -> str:
    serial = _state(n)[1]
    return f"learn_view_{n}" if serial == 0 else f"learn_view_{n}_{serial}"


def _moved(n: int, key: str) -> None:
    """Callback: the timeline was moved by hand."""
    if key != _slider_key(n):  # a slider a key has replaced, its value sent once more by the browser: stale
        return
    st.session_state[f"learn_shown_{n}"] = (int(st.session_state[key]), _state(n)[1])


def timeline_ui(container, n: int) -> None:
    """The slider that picks the task shown (none before two tasks are learned)."""
    if n > 1:
        key = _slider_key(n)
        container.slider("Show the network after task", 1, n, value=shown_task(n), key=key, on_change=_moved,
                         args=(n, key))  # fmt: skip
