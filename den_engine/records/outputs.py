"""Output paths of the commands: checked before any work, so a bad one costs one line, not a traceback.

``output_dir`` and ``output_file`` create (or find) where a command will write and prove it can
write there; every failure is a ``DENError`` that names the flag, the path and the reason the
operating system gave (a file in the way, a read-only disk, a name too long, a NUL byte).
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from den_engine.core.errors import DENError
from den_engine.records.store import RUN_FILE


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOTDIR:
        return "a part of this path is a file, not a folder"
    if exc.errno == errno.EEXIST:
        return "a file of this name is in the way"
    return exc.strerror or str(exc)


def check_path(text: str, flag: str, what: str) -> Path:
    """``text`` as a path, or a DENError naming ``flag`` when it is empty, holds a NUL byte or is too long."""
    if not text.strip():
        raise DENError(f"{flag}: the output {what} is empty; give a {what} name")
    if "\0" in text:
        raise DENError(f"{flag} {text!r}: not a valid path (it holds a NUL byte)")
    path = Path(text)
    try:
        path.exists()  # a name too long, a loop of links: the operating system says so here
    except OSError as exc:
        raise DENError(f"{flag} {path}: cannot write here ({_reason(exc)})") from None
    return path


def _make_writable(folder: Path) -> str | None:
    """Create ``folder`` when missing and write a probe file in it; the reason it failed, or None."""
    try:
        if folder.exists() and not folder.is_dir():
            return "a part of this path is a file, not a folder"
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".den-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return _reason(exc)
    return None


def output_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder this process can write into (created when missing); a DENError naming ``flag``."""
    folder = check_path(str(path), flag, "folder")
    if folder.exists() and not folder.is_dir():
        raise DENError(f"{flag} {folder}: is a file, not a folder")
    reason = _make_writable(folder)
    if reason:
        raise DENError(f"{flag} {folder}: cannot write here ({reason})")
    return folder


def output_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a file this process can write (its folder created when missing); a DENError naming ``flag``."""
    file = check_path(str(path), flag, "file")
    if file.is_dir():
        raise DENError(f"{flag} {file}: is a folder; give a file name, e.g. {flag} report.html")
    if file.name == RUN_FILE and file.exists():
        raise DENError(f"{flag} {file}: is a run's record; give another file name")  # never write over a run
    reason = "file name too long" if len(file.name.encode()) > 250 else _make_writable(file.parent)
    if reason:  # 250: the writer's temporary name adds a few characters to the 255 a name may have
        raise DENError(f"{flag} {file}: cannot write here ({reason})")
    return file
