"""A run trained on a user's .npz of 8x8 digit images, in headless Chromium: its task names and its pictures."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits
from widgets import pick, wait_idle

from den_engine import Trainer, preset

pytestmark = pytest.mark.browser

NAMES = ["zero or one", "two or three"]


def _write_digits(path) -> None:
    """Two tasks of 8x8 digit images, (n, 8, 8), named by the user."""
    digits = load_digits()
    arrays = {}
    for t, (a, b) in enumerate([(0, 1), (2, 3)], start=1):
        keep = np.flatnonzero((digits.target == a) | (digits.target == b))[:80]
        x, y = (digits.images[keep] / 16).astype(np.float32), (digits.target[keep] == b).astype(int)
        arrays.update({f"x_train_{t}": x[:56], f"y_train_{t}": y[:56], f"x_test_{t}": x[56:], f"y_test_{t}": y[56:]})
    np.savez(path, task_names=np.array(NAMES), **arrays)


def test_a_user_data_run_shows_its_task_names_and_digit_pictures(app_url, e2e_runs_dir, page):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    data = e2e_runs_dir / "digits8.npz"
    _write_digits(data)
    config = preset("fast", hidden_sizes=(8, 8), iterations=15, head_iterations=5, batch_size=32)
    Trainer(config, str(data), out_dir=e2e_runs_dir / "digits8-user-run").run()

    page.goto(app_url + "/runs")
    picker = page.get_by_role("combobox", name="Run", exact=True)
    expect(picker).to_be_visible(timeout=120_000)  # the first script run imports torch: slow on a busy machine
    wait_idle(page, 120_000)
    pick(page, picker, re.compile(r"^digits8-user-run \(saved"), search="digits8-user")
    expect(page.get_by_text(re.compile(r"Trained on your data digits8\.npz"))).to_be_visible()
    expect(page.get_by_text("Tasks: zero or one, two or three.")).to_be_visible()
    chart = page.locator(".st-key-runs_data")  # the data's chart: one row of digit pictures per task
    for name in NAMES:
        expect(chart.locator(".annotation-text").filter(has_text=name)).to_have_count(1)
    expect(chart.locator(".heatmaplayer image")).to_have_count(2)  # drawn as images, one strip per task

    page.get_by_role("button", name="Load into every view").click()
    expect(page).to_have_url(re.compile(r"/(\?.*)?$"))  # the Train page: the network, then the run's data
    expect(page.get_by_role("heading", name="The run's data")).to_be_visible()
    expect(page.locator(".st-key-train_data .heatmaplayer image")).to_have_count(2)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "Traceback" not in page.content()
