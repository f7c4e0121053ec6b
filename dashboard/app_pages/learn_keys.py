"""The Learn page's keys and screen size: a small component that listens on the page for a presenter's keys
(what a clicker sends) and reports the width the page's content has, so the network can be drawn for it.

Streamlit has no key API. The component's script runs in the app's own page (components v2,
no iframe), listens on the document, and sends each key as a one-shot trigger to Python,
which acts on it before the page is drawn: the same code paths as the buttons, so a key
never clicks a button that a rerun is replacing. Keys typed into a field, a slider or a
list are left to that widget. Imported by app_pages/learn.py (not a page itself).
"""

from __future__ import annotations

import streamlit as st

KEYS = {"ArrowRight": "next", "PageDown": "next", "ArrowLeft": "back", "PageUp": "back", " ": "play"}
"""Key -> action: → and PageDown step forward, ← and PageUp back, Space plays or pauses."""
DEFAULT_VIEW = (1280, 720)
"""Content width and window height (px) assumed until the page has reported its own."""

JS = """
export default function (component) {
  const { setStateValue, setTriggerValue } = component;
  const keys = %KEYS%;
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
    event.preventDefault();  // no page scroll, and a focused button is not pressed by Space as well
    setTriggerValue('key', action);
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
  window.__denLearnKeys = { down, up, resize, watch };
  document.addEventListener('keydown', down, true);
  document.addEventListener('keyup', up, true);
  window.addEventListener('resize', resize);
  resize();
}
"""
_COMPONENT = None


def _component():
    global _COMPONENT  # registered once per process: a name registered twice logs a warning
    if _COMPONENT is None:
        import json

        _COMPONENT = st.components.v2.component("den_learn_keys", js=JS.replace("%KEYS%", json.dumps(KEYS)))
    return _COMPONENT


def _view_changed() -> None:
    """Callback: the page's size changed (nothing to do here: the rerun draws for the new size)."""


def _key_pressed() -> None:
    """Callback: a key arrived (read from the result in the same run)."""


def keys_ui() -> tuple[str | None, tuple[int, int]]:
    """(the key action pressed since the last run or None, (content width, window height) in px)."""
    result = _component()(key="learn_keys", on_view_change=_view_changed, on_key_change=_key_pressed)
    reported = getattr(result, "view", None)
    try:
        width, height = (int(v) for v in str(reported).split("x"))
    except ValueError:
        width, height = DEFAULT_VIEW
    return getattr(result, "key", None), (width, height)
