"""The report of ``den report`` in headless Chromium with the network off: it draws, steps, and asks for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.export.report import write_report

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "assets" / "runs" / "digits-den-fast"

pytestmark = pytest.mark.browser


def test_the_report_opens_offline_draws_and_steps_without_a_request(browser, tmp_path):
    report = write_report(RUN, tmp_path / "digits.html")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    requests, errors = [], []
    context.set_default_timeout(180_000)  # a 3.5 MB page on a crowded machine: wait on its state, generously
    context.on("request", lambda request: requests.append(request.url))
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(report.as_uri())
        page.wait_for_selector(".step.shown .figure .main-svg", timeout=180_000)
        assert page.inner_text("#step-label").startswith("task 10 of 10")
        assert page.locator(".step.shown .figure .main-svg").count() >= 6  # every figure of the step drawn
        assert "Task 10: digit 9 vs rest" in page.inner_text(".step.shown")
        page.keyboard.press("ArrowLeft")
        assert page.inner_text("#step-label").startswith("task 9 of 10")
        page.locator("#step-slider").fill("1")
        page.wait_for_selector(".step.shown .figure .main-svg", timeout=180_000)
        assert page.inner_text("#step-label").startswith("task 2 of 10")
        assert "Split (Eq. 6)" in page.inner_text(".step.shown")
    finally:
        context.close()
    assert requests == [report.as_uri()]
    assert errors == []
