"""``den report``: one self-contained HTML page, a slider position per task, every task's decision log.

The page opening offline in Chromium is tests/e2e/test_report_browser.py; here the page's content,
bad input, and how the engine finds the report writer (by name at run time, with a clear message
when the dashboard extra is missing).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.export.report import build_report, write_report
from dashboard.narrate import narrate_task
from den_engine.cli import main
from den_engine.core.errors import RunFileError
from den_engine.records.store import load_run

ROOT = Path(__file__).resolve().parents[3]
RUN = ROOT / "assets" / "runs" / "toy2d-den-fast"


@pytest.fixture(scope="module")
def page() -> str:
    return build_report(load_run(RUN))


def _specs(text: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="(spec-\d+-\d+)">(.*?)</script>', text, re.S)
    return {spec_id: json.loads(body) for spec_id, body in found}


def test_one_step_per_task_with_its_decision_log_and_figures(page):
    record = load_run(RUN).data
    n = len(record["tasks"])
    assert page.count('<section class="step"') == n
    assert f'max="{n - 1}"' in page and f'value="{n - 1}"' in page  # opens on the last task
    for task in range(1, n + 1):
        for line in narrate_task(record, task):
            assert html.escape(line) in page
    specs = _specs(page)
    assert len(specs) == 6 * n  # network, units, sparsity, parameters, R matrix, average scores
    assert "After task 1" in json.dumps(specs["spec-0-0"]["layout"]["title"])
    assert f"After task {n}" in json.dumps(specs[f"spec-{n - 1}-0"]["layout"]["title"])


def test_charts_show_the_run_as_it_stood_after_each_task(page):
    specs = _specs(page)
    heatmap_first = next(t for t in specs["spec-0-4"]["data"] if t["type"] == "heatmap")
    heatmap_last = next(t for t in specs["spec-5-4"]["data"] if t["type"] == "heatmap")
    assert (heatmap_first["z"]["shape"], heatmap_last["z"]["shape"]) == ("1, 1", "6, 6")  # plotly's typed array


def test_the_page_needs_nothing_from_outside(page):
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js is inside
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page)
    assert "@import" not in page and "url(http" not in page


def test_a_missing_weights_file_costs_the_edges_only(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(RUN, run_dir)
    (run_dir / "weights" / "task-002.safetensors").unlink()
    out = write_report(run_dir, tmp_path / "report.html")
    text = out.read_text()
    assert "Task 2: edges not drawn" in text and text.count('<section class="step"') == 6


def test_bad_input_names_what_is_wrong(tmp_path, capsys):
    with pytest.raises(RunFileError, match="is a directory"):
        write_report(RUN, tmp_path)
    empty = tmp_path / "empty"
    shutil.copytree(RUN, empty)
    record = json.loads((empty / "run.json").read_text())
    (empty / "run.json").write_text(json.dumps({**record, "tasks": [], "status": "running"}))
    with pytest.raises(RunFileError, match="no finished task"):
        write_report(empty, tmp_path / "x.html")
    assert main(["report", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.html")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_den_report_writes_the_page(tmp_path, capsys):
    out = tmp_path / "run.html"
    assert main(["report", str(RUN / "run.json"), "-o", str(out), "--max-edges", "0"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text().count('<section class="step"') == 6


def test_without_the_dashboard_extra_den_report_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['plotly'] = None\n"  # as if plotly were not installed
        "from den_engine.cli import main\n"
        f"sys.exit(main(['report', {str(RUN)!r}, '-o', {str(tmp_path / 'r.html')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'den-engine[dashboard]'" in done.stderr and "plotly is missing" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r.html").exists()
