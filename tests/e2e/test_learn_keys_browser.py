"""A presenter's keys on the Learn page, in headless Chromium: every key acts once, in the order pressed, whenever it
is pressed — while Play trains, while a rerun is under way, several in quick succession — never lost, never twice.

The keys are pressed without waiting for the page to be idle. The page's key queue (learn_keys) numbers every key;
once Python has taken in every number and the run that did has ended, the page must stand where the keys say.
"""

from __future__ import annotations

import re

import pytest

from dashboard.state import url_state
from tests.e2e.learn_views import SETTLED

TASKS = ("blobs", "moons", "circles", "xor", "spirals", "checkerboard")
# Normal speed: Play waits 1.5 s between tasks (busy all the while), so Play is still running when the pause key
# comes even if the tasks themselves train fast.
LINK = url_state.LearnState(tasks=TASKS, iterations=20, speed="normal", presenter=True)
TRAIN_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.browser

# The task the network shows (its title), the timeline's value, and the page's key queue: the numbers it has
# given out and the last one Python has acted on.
READ = """() => {
  const seen = e => e.getBoundingClientRect().width > 1;
  const title = [...document.querySelectorAll('.st-key-learn_network .gtitle')].filter(seen).pop();
  const match = title && title.textContent.match(/After task ([0-9]+)/);
  const slider = [...document.querySelectorAll('[class*="st-key-learn_view"] input[type="range"]')].filter(seen).pop();
  const queue = window.__denLearnQueue || {};
  return {title: match ? Number(match[1]) : null, slider: slider ? Number(slider.value) : null,
          given: (queue.next || 1) - 1, acted: queue.acted, waiting: (queue.keys || []).length};
}"""
AFTER_TWO = """() => [...document.querySelectorAll('.st-key-learn_network .gtitle')]
  .some(g => /After task [2-9]/.test(g.textContent))"""


def _press(page, *keys: str) -> None:
    """Press ``keys`` one right after another (each lands while the rerun of the one before is under way)."""
    for key in keys:
        page.keyboard.press(key)


def _acted(page, count: int) -> None:
    """Wait until Python has acted on the ``count`` keys pressed so far and the run that did so has ended."""
    page.wait_for_function(
        """n => { const q = window.__denLearnQueue;
                  return q && q.next === n + 1 && q.acted === n && q.keys.length === 0; }""",
        arg=count,
    )
    page.wait_for_function(SETTLED)


def _ends_at(page, task: int, count: int) -> None:
    """Once the page shows ``task``, and once every one of the ``count`` keys is acted on, it shows ``task``."""
    from playwright.sync_api import TimeoutError as Timeout

    try:
        page.wait_for_function("t => { const s = (" + READ + ")(); return s.title === t && s.slider === t; }", arg=task)
        _acted(page, count)
    except Timeout:
        raise AssertionError(f"expected task {task}: {page.evaluate(READ)}") from None
    shown = page.evaluate(READ)
    assert shown["title"] == shown["slider"] == task and shown["given"] == count, shown


def _learned(page) -> int:
    """The tasks the page says are learned ("Learned task N of 6", or "tasks 1–N are kept" after a stop)."""
    texts = page.locator('[data-testid="stAlertContainer"]').all_text_contents()
    for text in texts:
        match = re.search(r"Learned task ([0-9]+) of|tasks 1–([0-9]+) are kept|task (1) is kept", text)
        if match:
            return int(next(g for g in match.groups() if g))
    raise AssertionError(texts)


def test_every_key_acts_once_in_order_whenever_it_is_pressed(browser, app_url):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # a busy machine: a rerun can take seconds
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app_url + "/learn" + url_state.query_string(LINK))
        expect(page.locator('.st-key-learn_coming:not([data-stale="true"])')).to_contain_text("Next: task 1, blobs")
        page.wait_for_function("window.__denLearnKeys")  # the page hears keys
        next_button, pressed = page.get_by_role("button", name="Next task"), 0

        # Space plays; pressed again while Play trains (a task, or the pause between two), it pauses Play.
        _press(page, " ")
        page.wait_for_function(AFTER_TWO, timeout=TRAIN_TIMEOUT_MS)
        _press(page, " ")
        pressed += 2
        ended = page.get_by_text(re.compile("^Stopped|^Learned task 6 of 6"))  # paused, or Play ran to the end
        expect(ended).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        expect(next_button).to_be_enabled()
        stopped = _learned(page)
        assert "Stopped" in ended.text_content() and 2 <= stopped < 6, ended.text_content()
        _acted(page, pressed)  # nothing more to act on: a pause acted on twice would have played again
        expect(next_button).to_be_enabled()
        assert _learned(page) == stopped

        # Space goes on; a second pause would never let it reach the last task.
        _press(page, " ")
        pressed += 1
        expect(page.get_by_text("Learned task 6 of 6")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
        _acted(page, pressed)

        # Five keys at once, each while the rerun of the one before runs: 6 - 3 + 2 = task 5. A key lost or acted
        # on twice ends elsewhere.
        _press(page, "ArrowLeft", "PageUp", "ArrowLeft", "ArrowRight", "PageDown")
        pressed += 5
        _ends_at(page, 5, pressed)
        assert _learned(page) == 6

        # Two → in quick succession from task 3 of 6: task 5, not 4 (one lost) and not 6 (one taken twice).
        _press(page, "PageUp", "PageUp")
        pressed += 2
        _ends_at(page, 3, pressed)
        _press(page, "ArrowRight", "ArrowRight")
        pressed += 2
        _ends_at(page, 5, pressed)
    finally:
        context.close()
