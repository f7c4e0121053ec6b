"""End to end in headless Chromium: open the app, train two tasks with the Next task button, see the network grow."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from widgets import metric, wait_idle

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser

TINY = "?benchmark=toy-2d&tasks=3&hidden_sizes=8,8&head_iterations=10&group_lasso=0"
TRAIN_TIMEOUT_MS = 120_000
EXPECT_TIMEOUT_MS = 60_000  # the first script run imports torch: seconds on a busy 2-core machine


@pytest.fixture(autouse=True)
def _patient_expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def _hidden_units(page):
    return metric(page, "Hidden units")


def _wait_idle(page) -> None:
    wait_idle(page, TRAIN_TIMEOUT_MS)


def test_two_tasks_grow_the_network(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url + "/" + TINY)
    next_task = page.get_by_role("button", name="Next task")
    expect(next_task).to_be_enabled()
    iterations = page.get_by_role("textbox", name="Iterations per stage")
    iterations.fill("20")  # one control set through the UI, the rest through the shared link
    iterations.press("Enter")
    expect(iterations).to_have_value("20")
    _wait_idle(page)

    next_task.click()
    expect(page.get_by_text("Learned task 1 of 3")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(_hidden_units(page)).to_have_text("16", timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()

    expect(next_task).to_be_enabled()
    next_task.click()
    expect(page.get_by_text("Learned task 2 of 3")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(_hidden_units(page)).not_to_have_text("16", timeout=TRAIN_TIMEOUT_MS)
    grown = int(re.sub(r"\D", "", _hidden_units(page).inner_text()))
    assert grown > 16, grown
    expect(page.get_by_text(re.compile(r"Task 2: moons"))).to_be_visible()


def test_first_screen_screenshot(app_url, page):
    """The default first screen renders its network; saved for the README with DEN_UPDATE_SCREENSHOT=1."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(app_url + "/")
    expect(page.get_by_role("button", name="Next task")).to_be_visible()
    _wait_idle(page)
    shown = page.locator('[data-testid="stPlotlyChart"] .main-svg').first
    cta = page.get_by_text("No network to show yet")
    expect(shown.or_(cta)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    targets = [ARTIFACTS / "screenshot-train.png"]
    if os.environ.get("DEN_UPDATE_SCREENSHOT") == "1":
        targets.append(ROOT / "assets" / "screenshot-train.png")
    for target in targets:
        page.screenshot(path=str(target))
    assert targets[0].stat().st_size > 10_000
