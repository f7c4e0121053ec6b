"""The Learn page's keys and screen size: a small component that listens on the page for a presenter's keys
(what a clicker sends) and reports the width the page's content has, so the network can be drawn for it.

Streamlit has no key API. The component's script runs in the app's own page (components v2, no iframe) and
listens on the document. Each rerun mounts the component again, and a key pressed during a rerun (or while the
old instance is replaced) must still count once: so every key joins a queue kept on the window (it outlives the
component), numbered in the order pressed. The whole queue of keys Python has not acted on yet is the
component's state value (a value, not a one-shot trigger: it rides with every rerun request until Python has
seen it). Python acts on each number once, in order, and sends back the last number it acted on; the page then
drops those keys and sends again whatever is left. A key sent twice, or a value replayed, is never acted on
twice. Keys typed into a field, a slider or a list are left to that widget. Imported by app_pages/learn.py
(not a page itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import streamlit as st

KEYS = {"ArrowRight": "next", "PageDown": "next", "ArrowLeft": "back", "PageUp": "back", " ": "play"}
"""Key -> action: → and PageDown step forward, ← and PageUp back, Space plays or pauses."""
DEFAULT_VIEW = (1280, 720)
"""Content width and window height (px) assumed until the page has reported its own."""
SEEN = "learn_keys_seen"
"""Session state: (the page's id, the last key number acted on) of this tab."""
QUEUE = "learn_keys_queue"
"""Session state: the actions Python has taken in but not acted on yet, oldest first."""

JS = """
export default function (component) {
  const { data, setStateValue } = component;
  const keys = %KEYS%;
  // The keys not acted on yet, numbered from 1; ``page`` tells this page's numbers from an earlier page's.
  const queue = window.__denLearnQueue ||
    (window.__denLearnQueue = { page: Math.random().toString(36).slice(2), next: 1, keys: [] });
  if (data && data.page === queue.page) queue.keys = queue.keys.filter((k) => k[0] > data.done);
  queue.acted = data && data.page === queue.page ? data.done : 0;  // the last number acted on (tests read it)
  const send = () => setStateValue('pressed', { page: queue.page, keys: queue.keys });
  const report = () => {
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    if (!main) return;
    const style = getComputedStyle(main);
    const width = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const view = [Math.round(width / 8) * 8, Math.round(window.innerHeight / 8) * 8];
    if (view.join('x') === window.__denLearnView) return;  // sent once per size: a rerun mounts this again
    window.__denLearnView = view.join('x');
    setStateValue('view', view.join('x'));
  };
  const skip = (target) => target && target.closest &&
    target.closest('input, textarea, select, [contenteditable="true"], [role="slider"], [role="combobox"], ' +
                   '[role="listbox"], [role="radio"], [role="switch"]');
  const down = (event) => {
    const action = keys[event.key];
    if (!action || event.altKey || event.ctrlKey || event.metaKey || event.repeat || skip(event.target)) return;
    if (!document.querySelector('.st-key-learn_keys')) return;  // another page of the app is shown
    event.preventDefault();  // no page scroll, and a focused button is not pressed by Space as well
    queue.keys.push([queue.next++, action]);
    window.__denLearnKeys.send();  // the newest mount's: the one whose component is on the page
  };
  const up = (event) => { if (event.key === ' ' && !skip(event.target)) event.preventDefault(); };
  const old = window.__denLearnKeys;  // a rerun mounts the script again: one listener at a time
  if (old) {
    document.removeEventListener('keydown', old.down, true);
    document.removeEventListener('keyup', old.up, true);
    window.removeEventListener('resize', old.resize);
    old.watch.disconnect();
  }
  let timer = null;
  const resize = () => { clearTimeout(timer); timer = setTimeout(report, 150); };
  const watch = new ResizeObserver(resize);  // the window, or the content (presenter mode changes its padding)
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (main) watch.observe(main);
  window.__denLearnKeys = { down, up, resize, watch, send };
  document.addEventListener('keydown', down, true);
  document.addEventListener('keyup', up, true);
  window.addEventListener('resize', resize);
  resize();
  if (queue.keys.length) send();  // keys this run had not taken in (pressed during it, or a send lost): again
}
"""
_COMPONENT = None


def _component():
    global _COMPONENT  # registered once per process: a name registered twice logs a warning
    if _COMPONENT is None:
        import json

        _COMPONENT = st.components.v2.component("den_learn_keys", js=JS.replace("%KEYS%", json.dumps(KEYS)))
    return _COMPONENT


def fresh_keys(value, seen: tuple[str | None, int]) -> tuple[list[str], tuple[str | None, int]]:
    """(the actions of ``value``'s keys numbered after ``seen``, in order; the new ``seen``).

    ``value`` is the page's queue ({"page": id, "keys": [[number, action], ...]}); ``seen`` is (page id, last
    number acted on). A number at or below the last one is a key already acted on (sent again, or replayed);
    a new page id (a reload) starts its numbers afresh. Anything malformed is no key.
    """
    if not isinstance(value, dict) or not isinstance(value.get("page"), str) or not isinstance(value.get("keys"), list):
        return [], seen
    page, done = seen
    if value["page"] != page:
        page, done = value["page"], 0
    actions = []
    for entry in value["keys"]:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
            continue
        number, action = entry
        if number > done and action in KEYS.values():
            actions.append(action)
            done = number
    return actions, (page, done)


def _view_changed() -> None:
    """Callback: the page's size changed (nothing to do here: the rerun draws for the new size)."""


def _keys_changed() -> None:
    """Callback, before the page is drawn: take in the keys not acted on yet (each number once)."""
    state = st.session_state.get("learn_keys")
    value = state.get("pressed") if isinstance(state, Mapping) else getattr(state, "pressed", None)
    actions, seen = fresh_keys(value, st.session_state.get(SEEN, (None, 0)))
    st.session_state[SEEN] = seen
    st.session_state.setdefault(QUEUE, []).extend(actions)


def take_keys() -> Iterator[str]:
    """Each key action taken in and not acted on yet, oldest first; each leaves the queue as it is handed out."""
    queue = st.session_state.get(QUEUE, [])
    while queue:
        yield queue.pop(0)


def keys_ui() -> tuple[int, int]:
    """(content width, window height) in px; the keys pressed wait in ``take_keys()``."""
    page, done = st.session_state.get(SEEN, (None, 0))
    result = _component()(key="learn_keys", data={"page": page, "done": done}, on_view_change=_view_changed,
                          on_pressed_change=_keys_changed)  # fmt: skip
    reported = getattr(result, "view", None)
    try:
        width, height = (int(v) for v in str(reported).split("x"))
    except ValueError:
        width, height = DEFAULT_VIEW
    return width, height
