"""Every ```python block of docs/python-api.md runs as written, in order, in one session, from an empty folder."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_page_has_the_fifteen_line_example_first():
    blocks = python_blocks()
    assert len(blocks) >= 5
    first = [line for line in blocks[0].splitlines() if line.strip()]
    assert "TaskSequence" in blocks[0] and "evaluate_run" in blocks[0] and len(first) <= 15


def test_every_python_block_runs(tmp_path, monkeypatch, capsys):
    import den_engine.methods.user as user
    from den_engine.methods import registry

    monkeypatch.chdir(tmp_path)
    # the page registers a method of its own: keep it out of the registry the other tests see
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    monkeypatch.setattr(user, "METHODS", registry.METHODS)
    monkeypatch.setattr(user, "_USER_NAMES", set())
    namespace: dict = {"__name__": "__main__"}
    for number, block in enumerate(python_blocks(), start=1):
        try:
            exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
        except Exception as exc:  # name the block that broke
            pytest.fail(f"block {number} of {DOC.name} raised {type(exc).__name__}: {exc}\n{block}")
    printed = capsys.readouterr().out.splitlines()
    assert "True" in printed  # the first block's evaluate_run agrees with the record
    assert (tmp_path / "pairs.npz").is_file() and (tmp_path / "runs" / "shapes" / "run.json").is_file()
