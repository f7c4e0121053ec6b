"""The installable package: what ``pip install .`` carries, and how ``den-dashboard`` starts the app.

A fresh virtualenv that installs the package is tests/e2e/test_package_install.py.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from dashboard import launch

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_dirs() -> set[str]:
    """Every folder of Python files in the two packages, as a dotted name."""
    dirs = {p.parent for pkg in ("den_engine", "dashboard") for p in (ROOT / pkg).rglob("*.py")}
    return {".".join(d.relative_to(ROOT).parts) for d in dirs if "__pycache__" not in d.parts}


def test_the_wheel_lists_every_package_folder():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert _package_dirs() <= listed, f"add to pyproject.toml's packages: {sorted(_package_dirs() - listed)}"
    for data_package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        assert data_package in listed and (ROOT / folder).is_dir()


def test_the_base_install_is_the_engine_only():
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip() for dep in PYPROJECT["project"]["dependencies"]}
    assert names == {"torch", "numpy", "safetensors", "scikit-learn", "mlxtend"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "streamlit" in " ".join(extras["dashboard"]) and "ray" in " ".join(extras["ray"])
    assert PYPROJECT["project"]["scripts"] == {"den": "den_engine.cli:main", "den-dashboard": "dashboard.launch:main"}


def test_no_pages_folder_beside_the_entry_script():
    # Streamlit runs any dashboard/pages/*.py as a page of its own (bypassing app.py's navigation and
    # error guard) when that folder exists beside the entry script: the pages live in app_pages/.
    assert not (ROOT / "dashboard" / "pages").exists()


def test_the_launcher_serves_the_app_with_the_projects_settings(tmp_path, monkeypatch):
    args = launch.argparse.Namespace(port=8123, address="127.0.0.1", headless=True)
    cmd = launch.command(args, ["--server.fileWatcherType", "none"])
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py")]
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags["--theme.primaryColor"] == "#2a9d8f" and flags["--browser.gatherUsageStats"] == "false"
    assert cmd[-6:] == [
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
    ]
    assert launch.environment({}, tmp_path) == {}  # in a checkout the app's own defaults hold
    monkeypatch.setattr(launch, "in_checkout", lambda: False)
    env = launch.environment({"DEN_RUNS_DIR": "/mine"}, tmp_path)
    assert env == {"DEN_RUNS_DIR": "/mine", "DEN_EXAMPLES_DIR": str(ROOT / "dashboard" / "shipped" / "runs")}
    assert launch.environment({}, tmp_path)["DEN_RUNS_DIR"] == str(tmp_path / "runs")
