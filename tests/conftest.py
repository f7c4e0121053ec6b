"""Settings for the whole suite.

``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``). Tests that
should not run beside their own kind share one worker through an ``xdist_group``:
- the browser tests: each worker would otherwise start its own app server and Chromium;
- the Ray tests: a local Ray instance or test cluster at a time keeps their start-up (and
  their time limits) what they were written for.
Without xdist the groups mean nothing and the suite runs as before.
"""

from __future__ import annotations

import pytest

RAY_FILES = frozenset(
    {"test_sweep_ray.py", "test_sweep_ray_cluster.py", "test_ray_slots.py", "test_ray_folders.py",
     "test_command_errors.py", "test_search_ray.py"}
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """Put the browser tests on one worker and the Ray tests on one worker."""
    for item in items:
        if item.get_closest_marker("browser") is not None or item.path.parent.name == "e2e":
            item.add_marker(pytest.mark.xdist_group("browser"))
        elif item.path.name in RAY_FILES:
            item.add_marker(pytest.mark.xdist_group("ray"))
