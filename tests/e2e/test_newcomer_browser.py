"""A newcomer's walk in headless Chromium: every page stays on the app's own host without console errors,
and the training buttons follow a click at once."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from widgets import wait_idle

pytestmark = pytest.mark.browser

EXPECT_TIMEOUT_MS = 60_000  # a page's first script run imports torch: seconds on a busy 2-core machine
PAGES = ("", "inspect", "runs", "compare", "learn")
DEEP_LINK_PROBES = ("/_stcore/health", "/_stcore/host-config")
"""Streamlit's frontend, opened at /<page>, first asks /<page>/_stcore/... (404) before the root: its own
probes, the only failed requests and console errors allowed."""


@pytest.fixture(autouse=True)
def _patient_expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


WATCH_STALE_BUTTONS = """() => {
  window.__staleButtons = 0;
  window.__trainingSeen = 0;
  window.__stopEnabledWhileTraining = 0;
  const check = () => {
    const bar = document.querySelector('[data-testid="stProgress"]');
    const stop = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Stop');
    if (!bar) return;
    window.__trainingSeen += 1;
    if (stop && stop.disabled) window.__staleButtons += 1;
    if (stop && !stop.disabled) window.__stopEnabledWhileTraining += 1;
  };
  const what = {subtree: true, childList: true, attributes: true, characterData: true};
  new MutationObserver(check).observe(document.body, what);
}"""


def _wait_idle(page, timeout: int = 120_000) -> None:
    wait_idle(page, timeout)


def _host(url: str) -> str:
    """The host a request goes to; a ``blob:`` URL is the page's own memory, named after the page's origin."""
    return urlparse(url.removeprefix("blob:")).netloc


def _is_probe(url: str, path: str) -> bool:
    return bool(path) and any(urlparse(url).path == f"/{path}{probe}" for probe in DEEP_LINK_PROBES)


def test_every_page_asks_only_its_own_host_and_logs_no_console_error(app_url, new_page):
    from playwright.sync_api import expect

    host = urlparse(app_url).netloc
    for path in PAGES:
        page = new_page()
        foreign, failed, errors = [], [], []
        page.on("request", lambda r, f=foreign: f.append(r.url) if _host(r.url) != host else None)
        page.on("response", lambda r, f=failed: f.append(r.url) if r.status >= 400 else None)
        page.on(
            "console", lambda m, e=errors: e.append((m.text, m.location.get("url", ""))) if m.type == "error" else None
        )
        page.on("pageerror", lambda exc, e=errors: e.append((str(exc), "")))
        page.goto(f"{app_url}/{path}")
        expect(page.locator('[data-testid="stMain"]')).to_be_visible()
        _wait_idle(page)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.wait_for_timeout(1500)  # late requests: fonts, the favicon, chart assets
        assert foreign == [], f"/{path} asked another host: {foreign}"
        assert [u for u in failed if not _is_probe(u, path)] == [], f"/{path}: failed requests {failed}"
        own = [(text, url) for text, url in errors if not _is_probe(url, path)]
        assert own == [], f"/{path}: console errors {own}"
        page.context.close()


def test_stop_is_enabled_at_once_after_next_task_and_a_new_run_is_announced(app_url, page):
    from playwright.sync_api import expect

    # The first screen (digits, whose data takes a moment to load), with task 1 trained long enough to be
    # seen training on a quiet machine: 150 steps can end before the click's own script run draws.
    page.goto(app_url + "/?iterations=3000")
    next_task = page.get_by_role("button", name="Next task")
    stop = page.get_by_role("button", name="Stop")
    expect(next_task).to_be_enabled()
    _wait_idle(page)
    expect(stop).to_be_disabled()
    page.evaluate(WATCH_STALE_BUTTONS)
    start = time.monotonic()
    next_task.click()
    page.wait_for_function("window.__trainingSeen > 0", timeout=30_000)
    expect(stop).to_be_enabled(timeout=30_000)
    lag = time.monotonic() - start
    expect(page.get_by_text("A new run is in progress: task 1 is training")).to_be_visible()
    # The click's own script run draws the buttons before the first progress bar, so the page is never
    # seen training with Stop disabled (a page that handled the click after drawing the buttons waited
    # for the progress poll's next full rerun). Every DOM change is checked: this holds at any load.
    assert page.evaluate("window.__staleButtons") == 0
    assert page.evaluate("window.__stopEnabledWhileTraining") > 0
    stop.click()
    expect(page.get_by_text(r"Stopped")).to_be_visible(timeout=120_000)
    expect(next_task).to_be_enabled()
    print(f"Stop enabled {lag:.2f} s after the click")  # for the record; the machine's load decides it


def test_a_rerun_sends_every_element_whole_never_a_reference_to_the_browsers_cache(app_url, page):
    """Streamlit may send a large unchanged element as a reference into the browser's message cache. A rerun
    the app asks for itself (``st.rerun``, as the progress poll does when a task ends) reuses the cache list of
    an earlier request, after the browser may have dropped entries: the page then froze behind "Connection
    error: Cached ForwardMsg MISS" (seen in CI right after Stop). The app turns that cache off."""
    from playwright.sync_api import expect
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(data)))
    page.goto(app_url)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    expect(chart.locator(".gtitle")).to_contain_text("After task")
    _wait_idle(page)
    first = len(frames)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("r")  # Streamlit's rerun key: the same page, drawn again unchanged

    def received() -> list:
        return [ForwardMsg.FromString(f) for f in frames[first:] if isinstance(f, bytes)]

    deadline = time.monotonic() + EXPECT_TIMEOUT_MS / 1000
    while not any(m.WhichOneof("type") == "script_finished" for m in received()) and time.monotonic() < deadline:
        page.wait_for_timeout(200)  # frames arrive while the page waits
    messages = received()
    kinds = [m.WhichOneof("type") for m in messages]
    assert "script_finished" in kinds, kinds  # the rerun did run
    charts = [m for m in messages if m.WhichOneof("type") == "delta" and m.delta.new_element.HasField("plotly_chart")]
    assert charts, kinds  # the network figure came again ...
    assert "ref_hash" not in kinds, kinds  # ... whole, as did every other element
    assert not any(m.metadata.cacheable for m in messages)


def test_other_pages_do_not_inherit_the_train_address(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url + "/?benchmark=toy-2d&tasks=2")
    _wait_idle(page)
    page.get_by_role("link", name="Runs").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    _wait_idle(page)
    expect(page.get_by_text("From the address")).to_have_count(0)


# The drawing's box (plot area) of the network chart, in page pixels.
PLOT_BOX = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(g => g.layout && g.layout.meta && g.layout.meta.mode);
  const ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {top: box.top + ya._offset, bottom: box.top + ya._offset + ya._length};
}"""


def test_the_first_screen_shows_the_network_on_a_projector_and_the_sidebar_still_collapses(app_url, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(app_url)
    expect(page.get_by_role("button", name="Next task")).to_be_enabled()
    _wait_idle(page)
    page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].some(g => g.layout && g.layout.meta)")
    # plotly settles its equal-axes domain after the first draw: read the box once it stops moving
    box, before = page.evaluate(PLOT_BOX), None
    for _ in range(40):
        if box == before:
            break
        page.wait_for_timeout(250)
        before, box = box, page.evaluate(PLOT_BOX)
    assert box["top"] + 150 <= 768, f"the network starts at y = {box['top']:.0f}: not on the first screen"
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.bounding_box()["width"] < 300  # narrower at projector widths, to give the network room
    sidebar.hover()
    page.locator('button[aria-label="Collapse sidebar"]').click()
    expect(sidebar).to_have_attribute("data-collapsed", "true")
    page.wait_for_timeout(600)  # the slide-out
    assert sidebar.bounding_box() is None or sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"] <= 1
