"""The Learn page on a projector, in headless Chromium: presenter mode fits 1024x768 and 1280x720, Play never
moves the network, and the downloaded lesson steps through every task offline without a single request.

One browser session trains once (tiny budget) and every check reuses it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.state import url_state

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LINK = url_state.LearnState(tasks=("blobs", "moons", "circles"), iterations=20, speed="fast", presenter=True)
TRAIN_TIMEOUT_MS = 180_000
SIZES = ((1024, 768), (1280, 720))

pytestmark = pytest.mark.browser

BOXES = """(selector) => [...document.querySelectorAll(selector)].map(e => {
  const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height,
  text: e.textContent || ''};
})"""


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])  # fmt: skip


def _inside(box: dict, width: int, height: int) -> bool:
    return box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width and box["y"] + box["height"] <= height


def _stable(page, selector: str, pictures: bool = False) -> list[dict]:
    """The boxes of ``selector`` once two reads a frame apart agree (plotly redraws after a resize);
    for ``pictures``, also once the last redraw has let go of the old figure's (zero-size) images."""
    before = None
    for _ in range(100):
        boxes = page.evaluate(BOXES, selector)
        if boxes and boxes == before and (not pictures or all(b["width"] > 0 for b in boxes)):
            return boxes
        before = boxes
        page.wait_for_timeout(100)  # one poll of a bounded wait for the redraw to settle
    raise AssertionError(f"{selector} never settled: {before}")


@pytest.fixture(scope="module")
def trained(browser, app_url):
    """A presenter-mode tab that has learned tasks 1 and 2 (Next twice)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1024, "height": 768}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url + "/learn" + url_state.query_string(LINK))
    next_task = page.get_by_role("button", name="Next task")
    for task in (1, 2):
        expect(next_task).to_be_enabled(timeout=TRAIN_TIMEOUT_MS)
        next_task.click()
        expect(page.get_by_text(f"Learned task {task} of 3")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator(".st-key-learn_network svg image").first).to_be_attached()
    yield page
    context.close()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_presenter_mode_fits_the_projector(trained, size):
    page, (width, height) = trained, size
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("window.scrollTo(0, 0)")
    assert not page.locator('section[data-testid="stSidebar"]').is_visible()  # the sidebar is out of the way
    network = _stable(page, ".st-key-learn_network")[0]
    region = _stable(page, ".st-key-learn_region")[0]
    assert _inside(network, width, height), network
    assert _inside(region, width, height), region
    pictures = _stable(page, ".st-key-learn_network svg image", pictures=True)
    neurons = pictures[2:-1]  # the two inputs first, the output region last
    assert len(neurons) >= 12
    for i, a in enumerate(pictures):
        for b in pictures[i + 1 :]:
            assert not _overlap(a, b), (a, b)
    if width == 1024:
        assert min(p["width"] for p in neurons) >= 48, [round(p["width"]) for p in neurons]
    for chart in (".st-key-learn_regions", ".st-key-learn_compare_chart", ".st-key-learn_region"):
        titles = [t for t in _stable(page, f"{chart} .annotation-text") if t["width"] > 0]
        assert titles, chart
        for i, a in enumerate(titles):
            for b in titles[i + 1 :]:
                assert not _overlap(a, b), (chart, a["text"], b["text"])
    ARTIFACTS.mkdir(exist_ok=True)
    targets = [ARTIFACTS / f"learn-presenter-{width}x{height}.png"]
    if width == 1024 and os.environ.get("DEN_UPDATE_SCREENSHOT") == "1":
        targets.append(ROOT / "assets" / "screenshot-presenter.png")
    for target in targets:
        page.screenshot(path=str(target))


def test_play_never_moves_the_network(trained):
    from playwright.sync_api import expect

    page = trained
    page.set_viewport_size({"width": 1024, "height": 768})
    page.evaluate("window.scrollTo(0, 0)")
    before = _stable(page, ".st-key-learn_network")[0]
    page.get_by_role("button", name="Play").click()
    seen, done = [], page.get_by_text("Learned task 3 of 3")
    while not done.is_visible():
        boxes = page.evaluate(BOXES, ".st-key-learn_network")
        seen += [{k: round(v) for k, v in b.items() if k != "text"} for b in boxes]
        page.wait_for_timeout(50)  # sampling interval while Play runs
    expect(done).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    seen.append({k: round(v) for k, v in _stable(page, ".st-key-learn_network")[0].items() if k != "text"})
    expected = {k: round(v) for k, v in before.items() if k != "text"}
    assert len(seen) > 3 and all(box == expected for box in seen), {str(b) for b in seen} - {str(expected)}


def test_the_lesson_opens_offline_and_steps_through_every_task(trained, browser, tmp_path):
    from playwright.sync_api import expect

    page = trained
    path = tmp_path / "lesson.html"
    for attempt in range(3):  # a click during a rerun (right after Play) can land on the outgoing button
        button = page.get_by_role("button", name="Download this lesson")
        button.scroll_into_view_if_needed()
        try:
            with page.expect_download(timeout=40_000) as info:
                button.click()
            info.value.save_as(path)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; retried, then re-raised
            if attempt == 2:
                raise
    offline = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    requests, aborted = [], []
    offline.on("request", lambda r: requests.append(r.url))

    def only_the_file(route):
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    offline.route("**/*", only_the_file)
    tab = offline.new_page()
    tab.goto(path.as_uri())
    slider = tab.locator("#step-slider")
    steps = tab.locator("section.step")
    learned = steps.count()
    assert learned >= 2  # tasks 1 and 2, and task 3 when Play ran first
    for step in range(learned):
        slider.fill(str(step))
        shown = tab.locator("section.step.shown")
        expect(shown).to_have_attribute("data-label", f"Task {step + 1}: {LINK.tasks[step]}")
        figures = shown.locator(".figure")
        expect(figures.nth(figures.count() - 1).locator(".main-svg").first).to_be_attached()
        assert shown.locator(".figure .main-svg").count() >= figures.count()  # every figure drawn
        expect(shown.locator(".figure").first.locator("svg image").first).to_be_attached()  # neuron pictures
    assert requests == [path.as_uri()] and not aborted, (requests, aborted)  # the file itself, nothing else
    offline.close()
