"""A fresh virtualenv installs the package: the engine alone first, then the dashboard extra.

It installs a copy of the tree with ``-c requirements.txt`` (the pinned versions, so the CPU
build of torch lying on disk is used, never a multi-gigabyte CUDA build), trains with ``den``
while no dashboard library is installed, then adds ``[dashboard]`` and opens in Chromium what
``den-dashboard`` serves. Several minutes on a busy machine: it is marked slow, and runs in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 900
TOP_LEVEL_LEFT_OUT = {".git", ".venv", "runs", "test-artifacts", "build", "tests", ".pytest_cache", ".ruff_cache"}


def _left_out(folder: str, names: list[str]) -> set[str]:
    """What a copy of the tree leaves out: local state at the top, caches and build leftovers anywhere."""
    top = TOP_LEVEL_LEFT_OUT if Path(folder) == ROOT else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".egg-info")}


pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _run(cmd: list, cwd: Path, timeout: float = INSTALL_TIMEOUT_S) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"den-dashboard exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)  # poll interval of a bounded wait
    raise TimeoutError(f"den-dashboard was not healthy after 120 s:\n{log.read_text()[-3000:]}")


def test_a_fresh_venv_installs_the_engine_then_the_dashboard(tmp_path, browser):
    # (networkx and pandas come with torch and mlxtend: streamlit, plotly and ray are what the base install lacks)
    src, venv, work = tmp_path / "src", tmp_path / "venv", tmp_path / "work"
    shutil.copytree(ROOT, src, ignore=_left_out)
    work.mkdir()
    bin_ = venv / "bin"
    assert _run([sys.executable, "-m", "venv", venv], work).returncode == 0
    pip = [bin_ / "python", "-m", "pip", "install", "--quiet", "--no-compile", "-c", src / "requirements.txt"]
    done = _run([*pip, src], work)
    assert done.returncode == 0, done.stderr[-3000:]

    done = _run([bin_ / "den", "run", "--benchmark", "digits-one-vs-rest", "--tasks", "2", "--preset", "fast",
                 "--out", work / "X", "--quiet"], work)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"status": "complete"' in (work / "X" / "run.json").read_text()
    probe = "import importlib.util as u; print([m for m in ('streamlit', 'plotly', 'ray') if u.find_spec(m)])"
    assert _run([bin_ / "python", "-c", probe], work).stdout.strip() == "[]"
    done = _run([bin_ / "den", "report", work / "X", "-o", work / "X.html"], work)
    assert done.returncode == 2 and "den-engine[dashboard]" in done.stderr, done.stderr
    done = _run([bin_ / "den-dashboard"], work)
    assert done.returncode == 2 and "den-engine[dashboard]" in done.stderr, done.stderr

    done = _run([*pip, f"{src}[dashboard]"], work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _run([bin_ / "den", "report", work / "X", "-o", work / "X.html"], work).returncode == 0
    port, log = _free_port(), tmp_path / "dashboard.log"
    with log.open("w") as out:
        proc = subprocess.Popen([bin_ / "den-dashboard", "--port", str(port), "--headless", "--server.fileWatcherType",
                                 "none"], cwd=work, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/runs")
        page.get_by_text("digits-den-fast").first.wait_for()  # the example runs shipped inside the package
        page.goto(url)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
        proc.terminate()
        proc.wait(30)
