"""SQLite schema of the alert store, and opening a store file safely.

Every connection runs with ``journal_mode=WAL``, ``synchronous=FULL``, a busy timeout and
foreign keys on (RELIABILITY.md). The schema is versioned with ``PRAGMA user_version`` and
the file is marked as an alert store with ``PRAGMA application_id``; it is created in one
``BEGIN IMMEDIATE`` transaction, so two processes opening a new file at once are safe.

Tables
------
``findings``
    One row per :class:`~monitor.findings.Finding` (``finding_id`` primary key; immutable).
``alerts``
    One row per alert (``alert_id`` = ``Finding.alert_key``; the natural key
    concession, indicator, zone_id, onset, standard id and version is also unique).
``transitions``
    Append-only log of every lifecycle, review and severity change: who, when, why.
    A change caused by a finding is unique per (alert, kind, from, to, finding).
``leads`` (schema 2)
    Community grievance leads (:mod:`monitor.leads`): public columns (id, concession,
    dates, origin, status, checked package), the protected details sealed (AES-GCM) in
    ``sealed`` and one HMAC commitment per protected field; no protected value in clear.

A version-1 store is migrated in place when opened (``BEGIN IMMEDIATE``, the new tables
created if absent, then ``PRAGMA user_version`` raised), keeping every alert.

Dates are ISO ``YYYY-MM-DD`` text; times UTC ISO 8601 text; geometries WKB with their CRS
as WKT beside them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from monitor.errors import AlertStoreBusyError, AlertStoreError
from monitor.sqlitefile import is_busy, open_sqlite, typed_error

__all__ = ["APPLICATION_ID", "DEFAULT_BUSY_TIMEOUT_S", "SCHEMA_VERSION", "StateFile", "connect",
           "is_busy", "store_error", "transaction"]

logger = logging.getLogger(__name__)

#: ``PRAGMA application_id`` of an alert store ("CMAS").
APPLICATION_ID = 0x434D4153
#: How long a connection waits for another writer, by default.
DEFAULT_BUSY_TIMEOUT_S = 30.0
#: Current schema version (``PRAGMA user_version``).
SCHEMA_VERSION = 2

_OUTCOMES = "'compliant', 'exceedance', 'indeterminate'"
_SEVERITIES = "'notice', 'warning', 'violation'"

_DDL = f"""
CREATE TABLE findings (
    finding_id       TEXT PRIMARY KEY,
    alert_id         TEXT REFERENCES alerts(alert_id) DEFERRABLE INITIALLY DEFERRED,
    concession_id    TEXT NOT NULL,
    indicator        TEXT NOT NULL,
    zone             TEXT NOT NULL,
    zone_id          TEXT NOT NULL,
    period_start     TEXT NOT NULL,
    period_end       TEXT NOT NULL,
    observed         TEXT NOT NULL,
    value            REAL,
    limit_value      REAL,
    unit             TEXT NOT NULL,
    outcome          TEXT NOT NULL CHECK (outcome IN ({_OUTCOMES})),
    reason           TEXT NOT NULL,
    severity         TEXT CHECK (severity IS NULL OR severity IN ({_SEVERITIES})),
    confidence       TEXT NOT NULL,
    n_clear_obs      INTEGER NOT NULL,
    n_clear_px       INTEGER NOT NULL,
    standard_id      TEXT NOT NULL,
    standard_version TEXT NOT NULL,
    event_id         TEXT,
    onset            TEXT,
    event_status     TEXT,
    geometry_wkb     BLOB,
    crs_wkt          TEXT,
    details_json     TEXT NOT NULL,
    content_sha256   TEXT NOT NULL,
    run_id           TEXT,
    created_at       TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    CHECK (geometry_wkb IS NULL OR crs_wkt IS NOT NULL)
);
CREATE INDEX findings_alert ON findings(alert_id);
CREATE INDEX findings_scope ON findings(concession_id, indicator, zone_id, outcome);

CREATE TABLE alerts (
    alert_id         TEXT PRIMARY KEY,
    concession_id    TEXT NOT NULL,
    indicator        TEXT NOT NULL,
    zone             TEXT NOT NULL,
    zone_id          TEXT NOT NULL,
    onset            TEXT NOT NULL,
    standard_id      TEXT NOT NULL,
    standard_version TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('provisional', 'confirmed', 'resolved')),
    review           TEXT NOT NULL DEFAULT 'unreviewed' CHECK (review IN
                     ('unreviewed', 'analyst_confirmed', 'dismissed', 'field_verified')),
    severity         TEXT NOT NULL CHECK (severity IN ({_SEVERITIES})),
    first_seen       TEXT NOT NULL,
    last_seen        TEXT NOT NULL,
    confirmed_at     TEXT,
    resolved_at      TEXT,
    finding_id       TEXT NOT NULL
                     REFERENCES findings(finding_id) DEFERRABLE INITIALLY DEFERRED,
    n_findings       INTEGER NOT NULL CHECK (n_findings >= 1),
    value            REAL,
    limit_value      REAL,
    unit             TEXT NOT NULL,
    geometry_wkb     BLOB,
    crs_wkt          TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (concession_id, indicator, zone_id, onset, standard_id, standard_version),
    CHECK (geometry_wkb IS NULL OR crs_wkt IS NOT NULL)
);
CREATE INDEX alerts_list ON alerts(concession_id, state, severity, review);

CREATE TABLE transitions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   TEXT NOT NULL REFERENCES alerts(alert_id) DEFERRABLE INITIALLY DEFERRED,
    kind       TEXT NOT NULL CHECK (kind IN ('lifecycle', 'review', 'severity')),
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL CHECK (length(trim(actor)) > 0),
    at         TEXT NOT NULL,
    reason     TEXT,
    note       TEXT,
    finding_id TEXT,
    run_id     TEXT
);
CREATE INDEX transitions_alert ON transitions(alert_id, seq);
CREATE UNIQUE INDEX transitions_by_finding
    ON transitions(alert_id, kind, coalesce(from_state, ''), to_state, finding_id)
    WHERE finding_id IS NOT NULL;

CREATE TRIGGER transitions_no_update BEFORE UPDATE ON transitions
BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;
CREATE TRIGGER transitions_no_delete BEFORE DELETE ON transitions
BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;
CREATE TRIGGER findings_no_update BEFORE UPDATE ON findings
BEGIN SELECT RAISE(ABORT, 'findings are immutable'); END;
"""

#: Tables added by schema version 2 (also run, idempotently, to migrate a version-1 store).
_DDL_V2 = """
CREATE TABLE IF NOT EXISTS leads (
    lead_id          TEXT PRIMARY KEY,
    concession_id    TEXT NOT NULL,
    seen_on          TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    origin           TEXT NOT NULL CHECK (origin IN ('cli', 'import')),
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'checked', 'closed')),
    checked_package  TEXT,
    sealed           BLOB NOT NULL,
    commitments_json TEXT NOT NULL,
    key_id           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leads_concession ON leads(concession_id, seen_on);
"""


def _statements(ddl: str) -> list[str]:
    """Split the DDL into statements (triggers keep their ``; END``)."""
    out: list[str] = []
    buffer = ""
    for piece in ddl.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                out.append(buffer.strip())
            buffer = ""
    return out


def store_error(path: Path, action: str, exc: sqlite3.Error) -> AlertStoreError:
    """A typed error for an SQLite failure: busy (retryable) or permanent."""
    return typed_error(path, action, exc, what="alert store", busy=AlertStoreBusyError,
                      error=AlertStoreError, other_file="pass another --state file")


@contextmanager
def transaction(conn: sqlite3.Connection, path: Path, action: str) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rollback on any error; SQLite errors typed."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise store_error(path, action, exc) from exc
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise store_error(path, action, exc) from exc
        raise


def _is_current(conn: sqlite3.Connection) -> bool:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return bool(app_id == APPLICATION_ID and version == SCHEMA_VERSION)


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    if _is_current(conn):  # the common case needs no write lock
        return
    with transaction(conn, path, "create the schema"):
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
            raise AlertStoreError(
                f"alert store {path} has schema version {version}, newer than this monitor "
                f"({SCHEMA_VERSION}); upgrade concession-monitor to open it")
        if app_id == APPLICATION_ID and version == 1:
            for statement in _statements(_DDL_V2):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            logger.info("migrated alert store %s from schema 1 to %d", path, SCHEMA_VERSION)
            return
        n_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != 0 or n_objects:
            raise AlertStoreError(
                f"{path} is an SQLite database but not an alert store (application_id "
                f"{app_id:#x}, {n_objects} schema objects); pass another --state file")
        for statement in _statements(_DDL) + _statements(_DDL_V2):
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        logger.info("created alert store %s (schema %d)", path, SCHEMA_VERSION)


def connect(path: Path, busy_timeout_s: float, create: bool) -> sqlite3.Connection:
    """Open (and if needed create) an alert store file; return a configured connection.

    Parameters
    ----------
    path
        The SQLite file.
    busy_timeout_s
        How long a statement waits for another writer's lock before failing.
    create
        Create the file when missing; when False a missing file is an error.

    Raises
    ------
    AlertStoreError
        Missing file (``create=False``), missing folder, a file that is not an SQLite
        database or not an alert store, or a newer schema.
    """
    return open_sqlite(path, busy_timeout_s, create, what="alert store",
                       missing_fix="record findings first (monitor run) or point --state / "
                       "MONITOR_STATE at the store file", ensure_schema=_ensure_schema,
                       error=store_error, missing=AlertStoreError)


class StateFile:
    """One open connection to a state store file (alerts and leads share the file).

    Parameters
    ----------
    path
        The SQLite file.
    busy_timeout_s
        How long to wait for another writer.
    create
        Create the file when missing.
    clock
        Current UTC time (tests pass a fixed clock).
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, create: bool = True,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conn = self._connect(self.path, busy_timeout_s, create)
        self._conn.row_factory = sqlite3.Row

    def _connect(self, path: Path, busy_timeout_s: float, create: bool) -> sqlite3.Connection:
        """Open the file (subclasses for other kinds of state file override this)."""
        return connect(path, busy_timeout_s, create)

    def close(self) -> None:
        """Close the connection (the store is unusable afterwards)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
