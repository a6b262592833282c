"""Opening an SQLite file of the project (alert store, run ledger) the one safe way.

WAL journal, ``synchronous=FULL``, a busy timeout and foreign keys on every connection
(RELIABILITY.md: SQLite survived hard kills mid-transaction; concurrent writers only
behave with a busy timeout), autocommit mode so transactions are explicit
(``BEGIN IMMEDIATE``), and the caller's schema check on the open connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from monitor.errors import MonitorError

__all__ = ["is_busy", "open_sqlite", "typed_error"]

logger = logging.getLogger(__name__)

ErrorFactory = Callable[[Path, str, sqlite3.Error], MonitorError]
E = TypeVar("E", bound=MonitorError)


def is_busy(exc: BaseException) -> bool:
    """Whether an error is an SQLite lock conflict (``database is locked`` / busy).

    Also true for a typed error raised *from* such an SQLite error.
    """
    if not isinstance(exc, sqlite3.Error):
        cause = exc.__cause__
        return isinstance(cause, sqlite3.Error) and is_busy(cause)
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def typed_error(path: Path, action: str, exc: sqlite3.Error, *, what: str,
                busy: Callable[[str], E], error: Callable[[str], E], other_file: str) -> E:
    """The typed error of an SQLite failure: ``busy`` (retryable) or ``error`` (permanent).

    ``what`` names the file's kind (``alert store``), ``other_file`` says how to point at
    another file when this one is not an SQLite database.
    """
    if is_busy(exc):
        return busy(f"{what} {path}: could not {action}: another process kept the {what} "
                    f"locked past the busy timeout ({exc}); retry later or raise "
                    "busy_timeout_s")
    if "not a database" in str(exc):
        article = "an" if what[:1] in "aeiou" else "a"
        return error(f"{path} is not an SQLite database, so not {article} {what}; "
                     f"{other_file} (or move this one away)")
    return error(f"{what} {path}: could not {action} ({exc})")


def open_sqlite(path: Path, busy_timeout_s: float, create: bool, *, what: str,
                missing_fix: str, ensure_schema: Callable[[sqlite3.Connection, Path], None],
                error: ErrorFactory, missing: Callable[[str], MonitorError]
                ) -> sqlite3.Connection:
    """Open (and if needed create) ``path``; return a configured autocommit connection.

    Parameters
    ----------
    path
        The SQLite file.
    busy_timeout_s
        How long a statement waits for another writer's lock before failing.
    create
        Create the file when missing; when False a missing file is an error.
    what
        What the file is, for messages (``alert store``, ``run ledger``).
    missing_fix
        How to fix a missing file (appended to the message).
    ensure_schema
        Checks (or creates) the schema on the open connection; raises on a wrong file.
    error
        Makes the typed error of an SQLite failure: ``error(path, action, exc)``.
    missing
        Makes the typed error of a missing file or folder from its message.
    """
    if not path.exists():
        if not create:
            raise missing(f"no {what} at {path}: {missing_fix}")
        if not path.parent.is_dir():
            raise missing(f"cannot create {what} {path}: folder {path.parent} does not "
                          "exist; create it first")
    # SQLite returns "busy" at once, without waiting, where waiting could deadlock: e.g.
    # when two processes create the same new file and one must switch it to WAL while the
    # other writes the schema. Opening is therefore retried, for the busy timeout at most.
    deadline = time.monotonic() + busy_timeout_s
    pause = 0.01
    while True:
        try:
            return _open_once(path, busy_timeout_s, what, ensure_schema, error)
        except (sqlite3.Error, MonitorError) as exc:
            if not is_busy(exc) or time.monotonic() + pause > deadline:
                raise
            logger.debug("%s %s busy while opening; retrying in %.2f s", what, path, pause)
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _open_once(path: Path, busy_timeout_s: float, what: str,
               ensure_schema: Callable[[sqlite3.Connection, Path], None],
               error: ErrorFactory) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise error(path, "open the file", exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("%s %s: journal_mode is %s, not WAL (file system without shared "
                           "memory?); concurrent readers may block", what, path, mode)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        ensure_schema(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise error(path, f"open the {what}", exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn
