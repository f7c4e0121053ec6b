"""The Learn page's windows and modes that the issue names, and the script that finds text cut on screen.

Shared by the Learn page's browser tests (test_learn_browser.py, test_learn_presenter_browser.py).
"""

from __future__ import annotations

VIEWS = (
    (1024, 768, True),
    (1280, 720, True),
    (1440, 900, True),
    (1920, 1080, True),
    (1440, 900, False),
    (1920, 1080, False),
)
"""(window width, height, presenter mode): a projector's sizes in presenter mode, the wide ones in both modes."""
VIEW_IDS = [f"{w}x{h}-{'presenter' if p else 'normal'}" for w, h, p in VIEWS]

# Every box of text on the page that cuts what it holds: a scroll box (scroll height over client height), a
# clipped line, an ellipsis.
CLIPPED = """() => [...document.querySelectorAll('[data-testid="stMainBlockContainer"] *')].filter(e => {
  if (e.closest('svg, .js-plotly-plot, [data-testid="stSidebar"], [data-stale="true"]')) return false;
  if (!e.textContent.trim() || e.clientHeight === 0) return false;
  const style = getComputedStyle(e);
  return (style.overflowY !== 'visible' && e.scrollHeight > e.clientHeight + 1)
      || (style.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1);
}).map(e => `${e.getAttribute('data-testid') || e.className}: ${e.textContent.slice(0, 60)}`)"""

# The network chart is drawn for the page as it is now: the content's width and the window's height, as the page
# reports them (rounded to 8 px). Presenter mode changes the width, a resize both; each report comes a moment later.
DRAWN_FOR = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (!main) return false;
  const style = getComputedStyle(main);
  const width = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const want = [Math.round(width / 8) * 8, Math.round(window.innerHeight / 8) * 8];
  return [...document.querySelectorAll('.st-key-learn_network .js-plotly-plot')].some(gd => {
    const view = ((gd.layout || {}).meta || {}).view || [];
    return view[0] === want[0] && view[1] === want[1];
  });
}"""

# No element of the last run is left on the page (Streamlit marks them stale until the run that replaces them ends).
SETTLED = """() => !document.querySelector('[data-stale="true"]')"""


def click_presenter_switch(page) -> None:
    """Click the presenter switch once.

    A resize moves the switch (a narrow window gives it a row of its own): until the run that moves it ends, the
    old row's copy is on the page too, and a click then matches two switches. Wait for one, then click it; a click
    refused for matching two clicked nothing, so it is tried again once the page has settled.
    """
    from playwright.sync_api import Error, expect

    switch = page.get_by_text("Presenter mode", exact=True)  # the switch's label, not a message naming it
    for attempt in range(5):
        page.wait_for_function(SETTLED)
        expect(switch).to_have_count(1)
        try:
            switch.click()
            return
        except Error as error:
            if "strict mode violation" not in str(error) or attempt == 4:
                raise


def show(page, width: int, height: int, presenter: bool, network: bool = True) -> None:
    """Put ``page`` in a ``width`` x ``height`` window in presenter mode or not; with a ``network`` on the page,
    wait until it is drawn for that window."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": height})
    sidebar = page.locator('section[data-testid="stSidebar"]')
    if sidebar.is_visible() == presenter:  # the switch is on the page in both modes
        click_presenter_switch(page)
    if presenter:
        expect(sidebar).to_be_hidden()
    else:
        expect(sidebar).to_be_visible()
    if network:
        page.wait_for_function(DRAWN_FOR)
    page.wait_for_function(SETTLED)  # the last layout's copies (a story moved to another column) are gone
    page.evaluate(
        "window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()"
    )  # keys reach the page
