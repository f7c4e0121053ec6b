"""A search started from the Compare page's form, in headless Chromium: its trials become markers on the trade-off
chart, and Optuna's own plots of it open beside the chart."""

from __future__ import annotations

import re

import pytest
from widgets import pick, wait_idle

pytestmark = pytest.mark.browser

EXPECT_TIMEOUT_MS = 60_000  # a page's first script run imports torch: seconds on a busy 2-core machine
SEARCH_TIMEOUT_MS = 240_000  # three tiny trials, on the server's worker pool, beside other tests' processes
TINY = "hidden_sizes=8x8 iterations=20 head_iterations=5"


@pytest.fixture(autouse=True)
def _patient_expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def test_a_search_started_from_the_form_draws_its_trials_on_the_tradeoff_chart(app_url, page):
    from playwright.sync_api import expect

    page.goto(app_url + "/compare")
    expect(page.get_by_role("heading", name="Compare runs")).to_be_visible()
    wait_idle(page, SEARCH_TIMEOUT_MS)
    page.get_by_text("Search for the best trade-offs").click()
    form = page.locator('[data-testid="stForm"]').filter(has_text="Start search")
    pick(page, form.get_by_role("combobox", name="Benchmark"), "toy-2d")
    form.get_by_role("spinbutton", name="Tasks").fill("2")
    form.get_by_role("spinbutton", name="Trials").fill("3")
    form.get_by_role("textbox", name="Fixed values").fill(TINY)
    form.get_by_text("Stop clearly dominated trials early").click()  # every trial to its end: three markers
    expect(form.get_by_role("checkbox", name="Stop clearly dominated trials early")).not_to_be_checked()
    form.get_by_role("button", name="Start search").click()

    done = re.compile(r"Search search-toy-2d-\w+ finished: 3 trials \(3 finished, 0 stopped early, 0 running\)")
    expect(page.get_by_text(done)).to_be_visible(timeout=SEARCH_TIMEOUT_MS)
    wait_idle(page, SEARCH_TIMEOUT_MS)
    # the search is the pick of every tab: its three trials, each a marker (runs sharing a spot show their count)
    expect(page.get_by_role("combobox", name="Sweep")).to_have_value(re.compile(r"^search-toy-2d-\w+: 3 runs over "))
    chart = page.locator(".st-key-compare_tradeoff")
    markers = chart.locator(".scatterlayer path.point")
    expect(markers).not_to_have_count(0, timeout=SEARCH_TIMEOUT_MS)  # plotly draws after the script run ends
    counts = [int(t) for t in chart.locator(".annotation-text").all_text_contents() if t.strip().isdigit()]
    assert markers.count() - len(counts) + sum(counts) == 3, (markers.count(), counts)

    # Optuna's own Pareto front of the same search, beside ours
    page.get_by_text("Optuna's own plots of this search").click()
    pareto = page.locator(".st-key-search_pareto")
    expect(pareto.locator(".scatterlayer path.point")).not_to_have_count(0)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "Traceback" not in page.content()
