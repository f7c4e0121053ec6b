"""``den-dashboard --workers``: the training pool's setting, checked before the server starts."""

from __future__ import annotations

import pytest

from dashboard import launch


@pytest.fixture
def served(monkeypatch):
    """The environment the server would have been started with (nothing is started)."""
    seen = {}
    monkeypatch.setattr(launch.os, "execve", lambda path, cmd, env: seen.update(env=env, cmd=cmd))
    return seen


def test_a_number_of_workers_reaches_the_server_as_den_workers(served, monkeypatch):
    monkeypatch.delenv("DEN_WORKERS", raising=False)
    assert launch.main(["--headless", "--workers", "3"]) == 0
    assert served["env"]["DEN_WORKERS"] == "3" and "--workers" not in served["cmd"]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("-1", "--workers must be a number of worker processes or ray://HOST:PORT, got '-1'"),
        ("many", "--workers must be a number of worker processes or ray://HOST:PORT, got 'many'"),
        ("ray://nowhere", "--workers ray://nowhere: 'nowhere' is not a Ray cluster's HOST:PORT"),
        ("ray://127.0.0.1:1", "--workers ray://127.0.0.1:1: no Ray cluster there"),
    ],
)
def test_a_bad_workers_setting_is_one_line_and_no_server(served, capsys, value, said):
    pytest.importorskip("ray")
    assert launch.main(["--headless", "--workers", value]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {said}"), lines
    assert not served  # the server never started
