"""End to end in headless Chromium: open the Learn page from a classroom link, train two tasks, see the neurons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.state import url_state

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LINK = url_state.LearnState(tasks=("moons", "circles", "xor"), seed=1)
TRAIN_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.browser


def _pictures(page):
    """The neuron pictures: PNG images inside the network chart's SVG."""
    return page.locator('[data-testid="stPlotlyChart"]').first.locator("svg image")


def test_classroom_link_trains_two_tasks_and_draws_every_neuron(app_url, page):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page.set_viewport_size({"width": 1440, "height": 1300})
    page.goto(app_url + "/learn" + url_state.query_string(LINK))
    tasks = page.locator('[data-testid="stMultiSelect"]').first
    expect(tasks).to_contain_text("moons")
    expect(tasks).to_contain_text("xor")
    next_task = page.get_by_role("button", name="Next task")
    for task in (1, 2):
        expect(next_task).to_be_enabled(timeout=TRAIN_TIMEOUT_MS)
        next_task.click()
        expect(page.get_by_text(f"Learned task {task} of 3")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(page.get_by_text("Task 2: circles").first).to_be_visible()
    expect(_pictures(page).first).to_be_attached()
    count = _pictures(page).count()
    assert count >= 2 + 12 + 1, count  # two inputs, at least the 6 + 6 base neurons, the output region
    box = _pictures(page).nth(3).bounding_box()
    assert box is not None and box["width"] > 8 and box["height"] > 8  # drawn at a visible size
    source = _pictures(page).nth(3).get_attribute("href") or _pictures(page).nth(3).get_attribute("xlink:href")
    assert source.startswith("data:image/png;base64,")
    assert "tau=0.15" in page.url and "seed=1" in page.url  # the page keeps its state in its address
    ARTIFACTS.mkdir(exist_ok=True)
    targets = [ARTIFACTS / "screenshot-learn.png"]
    if os.environ.get("DEN_UPDATE_SCREENSHOT") == "1":
        targets.append(ROOT / "assets" / "screenshot-learn.png")
    for target in targets:
        page.screenshot(path=str(target), full_page=False)
