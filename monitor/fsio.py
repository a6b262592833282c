"""Durable file writes (RELIABILITY.md rule 1), shared by every module that writes.

Write to a temporary file in the target's folder, fsync it, ``os.replace`` it over the
target; on failure the temporary file is removed and the target is untouched. Callers turn
``OSError`` into their own typed errors.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (its entries: renames, creations) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, fsync, rename.

    Parameters
    ----------
    path
        Target file; its folder must exist.
    data
        The complete new content.
    mode
        File mode to set before the rename (default: the temporary file's, 0600).

    Raises
    ------
    OSError
        When writing or renaming fails (nothing is left behind).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
