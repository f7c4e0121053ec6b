"""Fixtures for the browser tests: a real `streamlit run` server and headless Chromium (Playwright)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
SERVER_LOGS: list[Path] = []  # the app server's log (the page fixture keeps a copy beside a failure's screenshot)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STARTUP_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)  # poll interval of a bounded wait
    raise TimeoutError(f"streamlit was not healthy after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def e2e_runs_dir(tmp_path_factory) -> Path:
    """The runs folder (DEN_RUNS_DIR) of the session's app: a test may place runs and data files in it."""
    return tmp_path_factory.mktemp("e2e-runs")


@pytest.fixture(scope="session")
def app_url(e2e_runs_dir):
    """URL of the app served by `streamlit run dashboard/app.py` on a free local port."""
    runs = e2e_runs_dir
    log = runs.parent / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if k != "DEN_SYNC_TRAINING"}  # the real background thread
    env["DEN_RUNS_DIR"] = str(runs)
    env["DEN_TAB_GRACE_S"] = "1"  # a closed tab's job stops within seconds (test_resume_browser.py)
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    SERVER_LOGS.append(log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from the system package."""
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's outcome on the test item (the page fixture screenshots failures)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser, request):
    """A fresh browser tab; on failure a screenshot goes to test-artifacts/."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        _keep_server_log(request.node.name)
    context.close()


def _keep_server_log(name: str) -> None:
    """The server's log up to a failure, beside its screenshot (what the pool and the pages said)."""
    if SERVER_LOGS and SERVER_LOGS[-1].is_file():
        (ARTIFACTS / f"{name}.server.log").write_text(SERVER_LOGS[-1].read_text(errors="replace")[-20_000:])


@pytest.fixture
def new_page(browser, request):
    """Factory of fresh tabs, each in its own browser context (a separate user); screenshots all on failure."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        return tab

    yield make
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for i, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for j, tab in enumerate(context.pages):
                tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-user{i + 1}-{j}.png"), full_page=True)
        context.close()
    if failed:
        _keep_server_log(request.node.name)
