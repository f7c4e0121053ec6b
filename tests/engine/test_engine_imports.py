"""The engine stays UI-free: importing it must not load any dashboard library."""

import subprocess
import sys


def test_engine_imports_no_ui_library():
    code = (
        "import sys, den_engine, den_engine.cli, den_engine.experiments.bench, den_engine.records.evaluate;"
        "bad = [m for m in ('streamlit', 'plotly', 'pandas', 'networkx', 'dashboard') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
