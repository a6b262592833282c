"""The run ledger's SQLite schema, its records, and opening a ledger file safely.

The ledger is its own SQLite file (e.g. ``state/ledger.sqlite``), marked with
``PRAGMA application_id`` 0x434D524C ("CMRL") and versioned with ``PRAGMA user_version``.
Connections use ``journal_mode=WAL``, ``synchronous=FULL`` and a busy timeout
(RELIABILITY.md); the schema is created in one ``BEGIN IMMEDIATE`` transaction.

Tables: ``runs`` (one row per run: config digest, owner, status, times, ``--since`` mode,
summary JSON, resume count) and ``units`` (one row per run, concession and indicator:
status, lease owner and expiry, attempts, times, reason, scene ids, last acquisition
date, stats JSON). Times are fixed-width UTC ISO text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``),
so they compare as text; dates are ISO ``YYYY-MM-DD``.

Errors: :class:`~monitor.errors.LedgerError` (file, schema or SQLite failure),
:class:`~monitor.errors.LedgerBusyError` (lock held past the busy timeout; retryable) and
:class:`~monitor.errors.LeaseError` (a lease this owner does not hold). Bad arguments raise
:class:`~monitor.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from monitor.alerts.schema import APPLICATION_ID as ALERT_STORE_APPLICATION_ID
from monitor.errors import (
    ConfigError,
    LeaseError,
    LedgerBusyError,
    LedgerError,
)
from monitor.procs import pid_alive
from monitor.sqlitefile import open_sqlite, typed_error

__all__ = ["APPLICATION_ID", "INDICATORS", "RUN_STATUSES", "SCHEMA_VERSION", "UNIT_KINDS",
           "UNIT_STATUSES", "LeaseError", "LedgerBusyError", "LedgerError", "RunInfo",
           "UnitRecord", "check_scenes", "check_seconds", "check_unit", "connect_ledger",
           "ledger_error", "make_owner", "owner_alive", "parse_utc", "run_info", "to_json",
           "transaction", "unit_record", "utc_text"]

logger = logging.getLogger(__name__)

#: ``PRAGMA application_id`` of a run ledger ("CMRL").
APPLICATION_ID = 0x434D524C
#: Current schema version (``PRAGMA user_version``).
SCHEMA_VERSION = 1
#: The indicators a unit of work can compute.
INDICATORS = ("vegetation_loss", "turbidity", "tailings")
#: What a unit's ``indicator`` may be: an indicator, or ``registry`` for a concession that
#: fails as a whole before any indicator runs (e.g. its registry entry is unusable).
UNIT_KINDS = (*INDICATORS, "registry")
#: Statuses of a run.
RUN_STATUSES = ("running", "ok", "failed", "partial", "interrupted")
#: Statuses of a unit of work.
UNIT_STATUSES = ("pending", "leased", "ok", "failed", "skipped")


_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_DDL = (
    f"""CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    config_digest TEXT NOT NULL,
    owner         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ({_in(RUN_STATUSES)})),
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    since_mode    TEXT NOT NULL,
    summary_json  TEXT,
    resumes       INTEGER NOT NULL DEFAULT 0 CHECK (resumes >= 0),
    CHECK ((status = 'running') = (finished_at IS NULL))
)""",
    "CREATE INDEX runs_digest ON runs(config_digest, started_at)",
    f"""CREATE TABLE units (
    run_id           TEXT NOT NULL REFERENCES runs(run_id),
    concession_id    TEXT NOT NULL CHECK (length(concession_id) > 0),
    indicator        TEXT NOT NULL CHECK (indicator IN ({_in(UNIT_KINDS)})),
    status           TEXT NOT NULL CHECK (status IN ({_in(UNIT_STATUSES)})),
    lease_owner      TEXT,
    lease_expires    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    started_at       TEXT,
    finished_at      TEXT,
    seconds          REAL CHECK (seconds IS NULL OR seconds >= 0),
    reason           TEXT,
    scenes_json      TEXT,
    last_acquisition TEXT,
    stats_json       TEXT,
    PRIMARY KEY (run_id, concession_id, indicator),
    CHECK (status != 'leased' OR (lease_owner IS NOT NULL AND lease_expires IS NOT NULL)),
    CHECK (status != 'pending' OR (lease_owner IS NULL AND lease_expires IS NULL)),
    CHECK (status != 'ok' OR (finished_at IS NOT NULL AND scenes_json IS NOT NULL)),
    CHECK (status NOT IN ('failed', 'skipped') OR reason IS NOT NULL)
)""",
    "CREATE INDEX units_key ON units(concession_id, indicator, status)",
)


def utc_text(moment: datetime) -> str:
    """A timezone-aware time as fixed-width UTC ISO text (sorts as it compares)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the ledger's clock must return UTC times")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`utc_text`."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def ledger_error(path: Path, action: str, exc: sqlite3.Error) -> LedgerError:
    """A typed error for an SQLite failure on the ledger: busy (retryable) or permanent."""
    return typed_error(path, action, exc, what="run ledger", busy=LedgerBusyError,
                      error=LedgerError, other_file="point the ledger at another file")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, path: Path, action: str) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rollback on any error; SQLite errors typed."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise ledger_error(path, action, exc) from exc
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error is what matters
                conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise ledger_error(path, action, exc) from exc
        raise


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    def ids() -> tuple[int, int]:
        return (int(conn.execute("PRAGMA application_id").fetchone()[0]),
                int(conn.execute("PRAGMA user_version").fetchone()[0]))

    if ids() == (APPLICATION_ID, SCHEMA_VERSION):  # the common case needs no write lock
        return
    with transaction(conn, path, "create the schema"):
        app_id, version = ids()
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        if app_id == APPLICATION_ID:
            raise LedgerError(
                f"run ledger {path} has schema version {version}, not {SCHEMA_VERSION} "
                f"(this monitor's); upgrade concession-monitor to open it")
        n_objects = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        if app_id == ALERT_STORE_APPLICATION_ID:
            raise LedgerError(
                f"{path} is an alert store, not a run ledger; keep the ledger in its own "
                f"file (e.g. state/ledger.sqlite)")
        if app_id != 0 or n_objects:
            raise LedgerError(
                f"{path} is an SQLite database but not a run ledger (application_id "
                f"{app_id:#x}, {n_objects} schema objects); point the ledger at another "
                f"file (e.g. state/ledger.sqlite) or move this one away")
        for statement in _DDL:
            conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        logger.info("created run ledger %s (schema %d)", path, SCHEMA_VERSION)


def connect_ledger(path: Path, busy_timeout_s: float, create: bool) -> sqlite3.Connection:
    """Open (and if needed create) a run ledger; return an autocommit connection.

    ``busy_timeout_s``: how long a statement waits for another writer's lock; ``create``:
    create a missing file. LedgerError for a missing file (``create=False``) or folder, a
    file that is not an SQLite database or not a run ledger, or another schema version.
    """
    return open_sqlite(path, busy_timeout_s, create, what="run ledger",
                       missing_fix="run `monitor run` first or point the ledger option at "
                       "the ledger file", ensure_schema=_ensure_schema, error=ledger_error,
                       missing=LedgerError)


# ---------------------------------------------------------------------- records


def _time(text: str | None) -> datetime | None:
    return parse_utc(text) if text else None


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class RunInfo:
    """One run (``counts``: its units per status; ``resumed``: resumed by this call)."""

    run_id: str
    config_digest: str
    owner: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    since_mode: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    resumes: int = 0
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as UTC ISO text)."""
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class UnitRecord:
    """One unit of work (concession, indicator) of one run."""

    run_id: str
    concession_id: str
    indicator: str
    status: str
    lease_owner: str | None
    lease_expires: datetime | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None
    reason: str | None
    scenes: tuple[str, ...]
    last_acquisition: date | None
    stats: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as UTC ISO text, dates as ISO dates)."""
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


def run_info(row: sqlite3.Row) -> RunInfo:
    """A :class:`RunInfo` from a ``runs`` row with ``n_<status>`` unit counts."""
    return RunInfo(run_id=row["run_id"], config_digest=row["config_digest"],
                   owner=row["owner"], status=row["status"],
                   started_at=parse_utc(row["started_at"]),
                   finished_at=_time(row["finished_at"]), since_mode=row["since_mode"],
                   summary=json.loads(row["summary_json"] or "{}"),
                   counts={s: int(row[f"n_{s}"]) for s in UNIT_STATUSES},
                   resumes=int(row["resumes"]))


def unit_record(row: sqlite3.Row) -> UnitRecord:
    """A :class:`UnitRecord` from a ``units`` row."""
    last = row["last_acquisition"]
    return UnitRecord(
        run_id=row["run_id"], concession_id=row["concession_id"], indicator=row["indicator"],
        status=row["status"], lease_owner=row["lease_owner"],
        lease_expires=_time(row["lease_expires"]), attempts=int(row["attempts"]),
        started_at=_time(row["started_at"]), finished_at=_time(row["finished_at"]),
        seconds=row["seconds"], reason=row["reason"],
        scenes=tuple(json.loads(row["scenes_json"] or "[]")),
        last_acquisition=date.fromisoformat(last) if last else None,
        stats=json.loads(row["stats_json"] or "{}"))


# ---------------------------------------------------------------------- arguments


def check_unit(concession_id: object, indicator: object) -> tuple[str, str]:
    """A valid (concession_id, indicator) pair, else ConfigError."""
    if not isinstance(concession_id, str) or not concession_id.strip():
        raise ConfigError(f"unit ({concession_id!r}, {indicator!r}): the concession id must "
                          f"be a non-empty string")
    if indicator not in UNIT_KINDS:
        raise ConfigError(f"unit ({concession_id!r}, {indicator!r}): unknown indicator; use "
                          f"one of {', '.join(UNIT_KINDS)}")
    return concession_id, str(indicator)


def _json_default(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: object, what: str) -> str:
    """Strict JSON text (no NaN; dates as ISO text), else ConfigError naming ``what``."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} cannot be stored in the run ledger ({exc}); pass plain "
                          f"JSON values (None instead of NaN)") from exc


def check_scenes(scenes: Sequence[str], last_acquisition: date | None) -> None:
    """Scene ids as a sequence of strings and a date (or None), else ConfigError."""
    if isinstance(scenes, str) or not all(isinstance(s, str) for s in scenes):
        raise ConfigError("scenes must be a sequence of scene id strings")
    if last_acquisition is not None and (isinstance(last_acquisition, datetime)
                                         or not isinstance(last_acquisition, date)):
        raise ConfigError(f"last_acquisition must be a date or None, not {last_acquisition!r}")


def check_seconds(seconds: float | None) -> float | None:
    """A finite duration >= 0 (or None), else ConfigError."""
    if seconds is not None and not (isinstance(seconds, int | float) and math.isfinite(seconds)
                                    and seconds >= 0):
        raise ConfigError(f"seconds must be a finite number >= 0, not {seconds!r}")
    return None if seconds is None else float(seconds)


# ---------------------------------------------------------------------- owners


def make_owner() -> str:
    """A new owner id for this process: ``hostname:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_alive(owner: str) -> bool | None:
    """Whether an owner's process runs: True/False on this host, None when unknowable."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) <= 0:
        return None
    return pid_alive(int(pid_text))
