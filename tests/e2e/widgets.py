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
    choice.click()
