"""What a report reads: the period, and the findings and alerts of a store, read-only.

:func:`parse_period` reads ``2024`` or ``2024-01-01..2024-06-30``. :func:`read_store` opens
an alert store with ``mode=ro`` (a report never writes to the state), checks that it is an
alert store of a schema this monitor knows, and returns every finding *observed* in the
period and every alert with at least one such finding. :func:`counted_findings` applies
the de-duplication rule of :mod:`monitor.reporting`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from monitor.alerts.schema import APPLICATION_ID, SCHEMA_VERSION, store_error
from monitor.errors import AlertStoreError, ConfigError

__all__ = ["ReportPeriod", "StoreExtract", "StoredAlert", "StoredFinding", "counted_findings",
           "listed_events", "parse_period", "read_store"]

#: Oldest store schema with the ``findings`` and ``alerts`` columns a report reads (a
#: read-only report never migrates a store, and never reads any other table).
_OLDEST_SCHEMA = 1
_YEAR = re.compile(r"^\d{4}$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_FINDING_COLUMNS = ("finding_id", "alert_id", "concession_id", "indicator", "zone", "zone_id",
                    "period_start", "period_end", "observed", "value", "limit_value", "unit",
                    "outcome", "reason", "severity", "n_clear_obs", "standard_id",
                    "standard_version", "event_id", "event_status", "details_json",
                    "created_at")


@dataclass(frozen=True)
class ReportPeriod:
    """An inclusive range of observation dates (``label``: ``2024`` or ``start..end``)."""

    start: date
    end: date

    @property
    def label(self) -> str:
        """``2024`` for a calendar year, else ``2024-01-01..2024-06-30``."""
        if (self.start.month, self.start.day, self.end.month, self.end.day) == (1, 1, 12, 31) \
                and self.start.year == self.end.year:
            return str(self.start.year)
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def contains(self, day: date) -> bool:
        """Whether ``day`` lies in the period (both ends included)."""
        return self.start <= day <= self.end


def parse_period(text: str) -> ReportPeriod:
    """Read a period: a year (``2024``) or ``YYYY-MM-DD..YYYY-MM-DD`` (inclusive).

    Raises
    ------
    ConfigError
        Another form, an impossible date, or an end before the start.
    """
    text = text.strip()
    try:
        if _YEAR.match(text):
            year = int(text)
            return ReportPeriod(date(year, 1, 1), date(year, 12, 31))
        match = _RANGE.match(text)
        if match:
            start, end = (date.fromisoformat(g) for g in match.groups())
            if end < start:
                raise ConfigError(f"period {text!r} ends before it starts; give START..END")
            return ReportPeriod(start, end)
    except ValueError as exc:
        raise ConfigError(f"period {text!r} holds an impossible date ({exc})") from None
    raise ConfigError(f"period {text!r} is neither a year (2024) nor a date range "
                      "(2024-01-01..2024-06-30)")


@dataclass(frozen=True)
class StoredFinding:
    """One ``findings`` row, as the report needs it (``details`` parsed from JSON)."""

    finding_id: str
    alert_id: str | None
    concession_id: str
    indicator: str
    zone: str
    zone_id: str
    period_start: date
    period_end: date
    observed: date
    value: float | None
    limit: float | None
    unit: str
    outcome: str
    reason: str
    severity: str | None
    n_clear_obs: int
    standard: str
    event_id: str | None
    event_status: str | None
    details: Mapping[str, Any]
    created_at: str

    @property
    def recency(self) -> tuple[date, date, str, date, str]:
        """Sort key: later observation, then period end, recording time, period start."""
        return (self.observed, self.period_end, self.created_at, self.period_start,
                self.finding_id)


@dataclass(frozen=True)
class StoredAlert:
    """One ``alerts`` row: where, and its current state, review and severity."""

    alert_id: str
    concession_id: str
    indicator: str
    zone: str
    zone_id: str
    onset: date
    state: str
    review: str
    severity: str


@dataclass(frozen=True)
class StoreExtract:
    """The store's content for one period.

    Attributes
    ----------
    store
        The store file's name.
    period
        The period read.
    findings
        Every finding observed in the period (before de-duplication).
    alerts
        Every alert with at least one finding observed in the period.
    """

    store: str
    period: ReportPeriod
    findings: tuple[StoredFinding, ...]
    alerts: tuple[StoredAlert, ...]


def _finding(row: sqlite3.Row) -> StoredFinding:
    try:
        details = json.loads(row["details_json"])
    except ValueError:
        details = {}
    return StoredFinding(
        finding_id=row["finding_id"], alert_id=row["alert_id"],
        concession_id=row["concession_id"], indicator=row["indicator"], zone=row["zone"],
        zone_id=row["zone_id"], period_start=date.fromisoformat(row["period_start"]),
        period_end=date.fromisoformat(row["period_end"]),
        observed=date.fromisoformat(row["observed"]), value=row["value"],
        limit=row["limit_value"], unit=row["unit"], outcome=row["outcome"],
        reason=row["reason"], severity=row["severity"], n_clear_obs=int(row["n_clear_obs"]),
        standard=f"{row['standard_id']}@{row['standard_version']}", event_id=row["event_id"],
        event_status=row["event_status"],
        details=details if isinstance(details, dict) else {}, created_at=row["created_at"])


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing alert store of the current schema."""
    if not path.exists():
        raise AlertStoreError(
            f"no alert store at {path}: record findings first (monitor check ... --state "
            f"{path.name}) or pass the store file with --state")
    if path.is_dir():
        raise AlertStoreError(f"{path} is a folder, not an alert store file; pass the SQLite "
                              "file with --state")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise store_error(path, "open the file read-only", exc) from exc
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        conn.close()
        raise store_error(path, "read the store", exc) from exc
    if app_id != APPLICATION_ID:
        conn.close()
        raise AlertStoreError(f"{path} is not an alert store (application_id {app_id:#x}); "
                              "pass the --state file that `monitor check --state` wrote")
    if not _OLDEST_SCHEMA <= version <= SCHEMA_VERSION:
        conn.close()
        raise AlertStoreError(
            f"alert store {path} has schema version {version}; this monitor reads versions "
            f"{_OLDEST_SCHEMA} to {SCHEMA_VERSION}: upgrade concession-monitor to report on it")
    conn.row_factory = sqlite3.Row
    return conn


def read_store(path: str | Path, period: ReportPeriod) -> StoreExtract:
    """The findings observed in ``period`` and their alerts, read without writing.

    Raises
    ------
    AlertStoreError
        Missing file, not an SQLite database, not an alert store, another schema version,
        or a read failure; the message names the file and the fix.
    """
    path = Path(path)
    bounds = (period.start.isoformat(), period.end.isoformat())
    conn = _connect(path)
    try:
        rows = conn.execute(
            f"SELECT {', '.join(_FINDING_COLUMNS)} FROM findings WHERE observed BETWEEN ? "
            "AND ? ORDER BY concession_id, indicator, zone_id, observed, finding_id",
            bounds).fetchall()
        alert_rows = conn.execute(
            "SELECT alert_id, concession_id, indicator, zone, zone_id, onset, state, review, "
            "severity FROM alerts WHERE alert_id IN (SELECT alert_id FROM findings WHERE "
            "alert_id IS NOT NULL AND observed BETWEEN ? AND ?) ORDER BY concession_id, "
            "onset, alert_id", bounds).fetchall()
    except sqlite3.Error as exc:
        raise store_error(path, "read findings and alerts", exc) from exc
    finally:
        conn.close()
    alerts = tuple(StoredAlert(
        alert_id=r["alert_id"], concession_id=r["concession_id"], indicator=r["indicator"],
        zone=r["zone"], zone_id=r["zone_id"], onset=date.fromisoformat(r["onset"]),
        state=r["state"], review=r["review"], severity=r["severity"]) for r in alert_rows)
    return StoreExtract(path.name, period, tuple(_finding(r) for r in rows), alerts)


def listed_events(f: StoredFinding) -> frozenset[str]:
    """The change events a zone summary lists (``details.events``)."""
    events = f.details.get("events")
    return frozenset(e for e in events if isinstance(e, str)) if isinstance(events, list) \
        else frozenset()


def _supersedes(newer: StoredFinding, older: StoredFinding) -> bool:
    """A newer zone summary replaces an older one: overlapping periods, same events or more."""
    return (newer.period_start <= older.period_end and older.period_start <= newer.period_end
            and listed_events(older) <= listed_events(newer))


def counted_findings(findings: Iterable[StoredFinding]) -> tuple[StoredFinding, ...]:
    """The findings a report counts (the rule of :mod:`monitor.reporting`).

    Per (concession, indicator, zone_id, event_id): a finding of a change event keeps only
    its latest finding (by observation date, period end, then recording time). A
    finding without an event (a zone summary) is kept unless a more recent summary of the
    same key covers an overlapping checked period and lists every event it lists: checks
    of disjoint periods add up, a re-check of the same change supersedes the older one.
    """
    groups: dict[tuple[str, str, str, str | None], list[StoredFinding]] = {}
    for f in findings:
        groups.setdefault((f.concession_id, f.indicator, f.zone_id, f.event_id), []).append(f)
    kept: list[StoredFinding] = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3] or "")):
        newest_first = sorted(groups[key], key=lambda f: f.recency, reverse=True)
        if key[3] is not None:
            kept.append(newest_first[0])
            continue
        chosen: list[StoredFinding] = []
        for f in newest_first:
            if not any(_supersedes(c, f) for c in chosen):
                chosen.append(f)
        kept += sorted(chosen, key=lambda f: f.recency)
    return tuple(kept)
