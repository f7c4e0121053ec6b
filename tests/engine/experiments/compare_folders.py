"""Finding compare's run folders, ``<method>-seed<k>-<hash>``, in the tests."""

from __future__ import annotations

from pathlib import Path


def folders(out: Path, stem: str) -> list[Path]:
    """The run folders ``<stem>-<10-hex hash>`` in ``out``."""
    return sorted(p for p in Path(out).glob(f"{stem}-*") if len(p.name) == len(stem) + 11)


def one(out: Path, stem: str) -> Path:
    """The only run folder of ``stem`` in ``out``."""
    found = folders(out, stem)
    assert len(found) == 1, found
    return found[0]
