"""Settings for the whole suite.

``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``). Tests that
should not run beside their own kind share one worker:
- the browser tests (tests/e2e): each worker would otherwise start its own app server and Chromium;
- the Ray tests: one local Ray instance or test cluster at a time keeps their start-up (and
  their time limits) what they were written for.
Every other test goes to whichever worker is free. The groups are made here, in the scheduler,
from the test ids: xdist's own ``xdist_group`` marks do not reach the ids under pytest 9 (xdist
3.8 sets an attribute pytest no longer reads), so the tests would be spread regardless.
Without xdist's ``-n`` the suite runs serially, as before.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

RAY_FILES = frozenset(
    {"test_sweep_ray.py", "test_sweep_ray_cluster.py", "test_ray_slots.py", "test_ray_folders.py",
     "test_command_errors.py"}
)  # fmt: skip


def group_of(nodeid: str) -> str | None:
    """The worker group of a test id: "browser", "ray", or None (any worker)."""
    path = PurePosixPath(nodeid.split("::", 1)[0])
    if "e2e" in path.parts:
        return "browser"
    if path.name in RAY_FILES:
        return "ray"
    return None


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadgroup``: one scope per group, every other test a scope of its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return Grouped(config, log)


def pytest_collection_modifyitems(config, items):
    """The longest group first (browser, then Ray), so no worker waits for it at the end."""
    order = {"browser": 0, "ray": 1, None: 2}
    items.sort(key=lambda item: order[group_of(item.nodeid)])
