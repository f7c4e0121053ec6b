"""How the browser tests work Streamlit's widgets: one way, shared by every test file."""

from __future__ import annotations

import re


def wait_idle(page, timeout: int) -> None:
    """The script run has finished (Streamlit's running indicator is gone)."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=timeout)


def pick(page, combobox, option: str | re.Pattern, search: str | None = None) -> None:
    """Choose ``option`` in a Streamlit selectbox or multiselect, given its combobox (the text input).

    The list is first narrowed by typing ``search`` (``option`` itself when it is a string). A long
    list scrolls inside a virtualised box whose rows are re-created as it scrolls: clicking a row
    below the fold can chase a detached element until the timeout on a busy machine.
    """
    from playwright.sync_api import expect

    combobox.click()
    text = option if isinstance(option, str) else search
    if text:
        combobox.press_sequentially(text)
    choice = page.get_by_role("option", name=option, exact=isinstance(option, str))
    expect(choice).to_have_count(1)
    if text and page.get_by_role("option").count() == 1 and choice.get_attribute("data-focused") == "true":
        # the only row left, and the list's focus is on it: Enter takes it, wherever the page has scrolled the
        # list to (a rerun that shifts the page can leave the popup outside the viewport, and a click then waits)
        combobox.press("Enter")
        return
    choice.click()


LIVE = '[data-testid="stElementContainer"]:not([data-stale="true"])'
"""An element the current script run has drawn. During a rerun Streamlit keeps the previous run's
elements (data-stale="true", faded) until the run ends: when the page's layout shifts (a message
above appears or goes), the previous run's metric and the new one are both in the page for as long
as the rest of the script takes, seconds on a busy machine."""


def metric(page, label: str):
    """The value of the metric ``label`` drawn by the current script run (never a stale copy)."""
    box = page.locator(f'{LIVE} [data-testid="stMetric"]').filter(has_text=label)
    return box.locator('[data-testid="stMetricValue"]')


DRAWN_RUNS = """() => {
  const chart = document.querySelector('.st-key-compare_tradeoff');
  if (!chart) return 0;
  const markers = chart.querySelectorAll('.scatterlayer path.point').length;
  const counts = [...chart.querySelectorAll('.annotation-text')].map(t => t.textContent.trim())
    .filter(t => /^[0-9]+$/.test(t)).map(Number);
  return counts.reduce((a, b) => a + b, 0) + markers - counts.length;
}"""


def tradeoff_drawn(page, runs: int, timeout_ms: int) -> tuple[int, list[str], list[int]]:
    """The trade-off chart as drawn: markers, labels, counts in shared markers; read once it draws ``runs`` runs
    (or after the wait, for the assertion to show what it drew instead)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    wait_idle(page, timeout_ms)
    chart = page.locator(".st-key-compare_tradeoff")
    markers = chart.locator(".scatterlayer path.point")
    # plotly draws after the script run ends, and redraws a changed figure after that: on a busy machine a read
    # right after the run can still see the figure before (a sweep's last run missing). Wait on what it draws.
    try:
        page.wait_for_function(f"() => ({DRAWN_RUNS})() === {runs}", timeout=timeout_ms)
    except PlaywrightTimeout:
        pass  # the assertion after the read says what is drawn
    read = [t.strip() for t in chart.locator(".annotation-text").all_text_contents()]
    # what the container holds, for a failure's message: its plotly graphs and the runs each one's figure has
    plots = chart.evaluate("c => [...c.querySelectorAll('.js-plotly-plot')].map(g => g.layout && g.layout.meta)")
    labels = [t for t in read if not t.isdigit()] + ([f"(graphs: {plots})"] if len(plots) != 1 else [])
    return markers.count(), labels, [int(t) for t in read if t.isdigit()]
