"""Who trains a run: an advisory lock file held by the live trainer, so an abandoned run says so.

The lock and the reading of a run's state are den_engine/records/owner.py; this module
keeps the names the dashboard imports. A trainer (``den run``, a sweep job, a
browser session's, or a sweep launched from the Compare page) holds an
exclusive ``flock`` on ``<run dir>/OWNER_FILE`` (for a sweep, on the sweep folder's) for
as long as it may write the run. The operating system drops the lock when the holding
process ends, however it ends, so a run whose record says "running" while nobody holds
its lock was abandoned: the server stopped, the machine rebooted, the sweep was killed.
The file's text (pid, host, start time) is for people; only the lock counts.
"""

from __future__ import annotations

from den_engine.records.owner import (
    OWNER_FILE,
    OwnerLock,
    has_owner_file,
    is_held,
    is_interrupted,
    is_owned,
    run_state,
)

__all__ = ["OWNER_FILE", "OwnerLock", "has_owner_file", "is_held", "is_interrupted", "is_owned", "run_state"]
