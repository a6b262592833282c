"""Applying findings to alerts, inside one write transaction of :meth:`AlertStore.record`.

:func:`prepare` validates a batch before anything is written (a bad finding rejects the
batch); :class:`Recorder` then stores each *new* finding and creates, updates, confirms,
escalates, reopens or (opt-in) resolves the alert it points at, logging every change in
``transitions``. A finding already stored is never applied twice, which is what makes
recording idempotent.

Rules (see also :mod:`monitor.alerts.lifecycle`)
------------------------------------------------
- Findings are applied in observation order, whatever the order given.
- ``first_seen`` / ``last_seen``: earliest / latest observation date of the alert's
  exceedances. ``severity``: the highest seen (an escalation is a ``severity`` transition).
- The latest finding (by observation date, period end, id) gives value, limit, unit and,
  when it has any, the change polygons; an alert keeps older polygons otherwise.
- Reopening: a resolved alert reopens when an exceedance is observed after both its last
  exceedance and the compliant finding that resolved it (a backfill does not reopen).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

import pyproj
import shapely

from monitor.alerts.lifecycle import finding_severity, finding_state, higher_severity
from monitor.alerts.model import RecordSummary, TransitionKind
from monitor.errors import AlertStoreError
from monitor.findings import OUTCOMES, SEVERITIES, Finding

__all__ = ["Prepared", "Recorder", "add_transition", "prepare", "update_alert"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A validated finding with everything the store writes for it."""

    finding: Finding
    finding_id: str
    alert_key: str | None
    wkb: bytes | None
    crs_wkt: str | None
    details_json: str
    sha256: str

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """Observation date, period end, id: the order findings are applied in."""
        f = self.finding
        return f.observed.isoformat(), f.period[1].isoformat(), self.finding_id


def _crs_wkt(given: Any, cache: dict[str, str]) -> str:
    """WKT of a CRS given as anything pyproj accepts (cached by its text)."""
    if isinstance(given, pyproj.CRS):
        return str(given.to_wkt())
    text = str(given)
    if text not in cache:
        cache[text] = pyproj.CRS.from_user_input(given).to_wkt()
    return cache[text]


def prepare(findings: Sequence[Finding], crs: Any, path: Path) -> list[Prepared]:
    """Validate a batch and compute what is stored; duplicates by id are dropped.

    Parameters
    ----------
    findings
        The batch.
    crs
        CRS of geometries whose finding has no ``details['crs']`` (None: none given).
    path
        The store file (named in errors).

    Returns
    -------
    list of Prepared
        In the order they are applied (observation order).

    Raises
    ------
    AlertStoreError
        Listing every finding that cannot be stored (bad outcome or severity, polygons
        without a usable CRS).
    """
    problems: list[str] = []
    cache: dict[str, str] = {}
    out: dict[str, Prepared] = {}
    for i, f in enumerate(findings):
        where = f"finding {i} ({f.concession_id}/{f.indicator}/{f.zone_id})"
        if f.outcome not in OUTCOMES:
            problems.append(f"{where}: outcome {f.outcome!r} is not one of {OUTCOMES}")
        if f.severity is not None and f.severity not in SEVERITIES:
            problems.append(f"{where}: severity {f.severity!r} is not one of {SEVERITIES}")
        geom = None if f.geometry is None or f.geometry.is_empty else f.geometry
        crs_wkt = None
        if geom is not None:
            given = f.details.get("crs", crs)
            if given is None:
                problems.append(f"{where}: has change polygons but no CRS; put it in "
                                f"Finding.details['crs'] or pass record(crs=...)")
            else:
                try:
                    crs_wkt = _crs_wkt(given, cache)
                except pyproj.exceptions.CRSError as exc:
                    problems.append(f"{where}: CRS {given!r} is not usable ({exc})")
        wkb = None if geom is None else shapely.to_wkb(geom)
        details = json.dumps(dict(f.details), sort_keys=True, default=str)
        content = json.dumps([f.to_dict(), details, None if wkb is None else wkb.hex(),
                              crs_wkt], sort_keys=True, default=str)
        out.setdefault(f.finding_id, Prepared(
            f, f.finding_id, f.alert_key, wkb, crs_wkt, details,
            hashlib.sha256(content.encode()).hexdigest()))
    if problems:
        raise AlertStoreError(
            f"alert store {path}: {len(problems)} finding(s) cannot be recorded, nothing was "
            f"written" + "".join(f"\n  - {p}" for p in problems))
    return sorted(out.values(), key=lambda p: p.sort_key)


def add_transition(conn: sqlite3.Connection, alert_id: str, kind: TransitionKind,
                   from_state: str | None, to_state: str, actor: str, at: str,
                   reason: str | None, note: str | None = None,
                   finding_id: str | None = None, run_id: str | None = None) -> None:
    """Append one row to the ``transitions`` log."""
    conn.execute(
        "INSERT INTO transitions (alert_id, kind, from_state, to_state, actor, at, reason, "
        "note, finding_id, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (alert_id, kind, from_state, to_state, actor, at, reason, note, finding_id, run_id))


def update_alert(conn: sqlite3.Connection, alert_id: str, changes: dict[str, Any]) -> None:
    """``UPDATE alerts SET ...`` for the given columns (names are ours, never user input)."""
    columns = ", ".join(f"{name} = ?" for name in changes)
    conn.execute(f"UPDATE alerts SET {columns} WHERE alert_id = ?",
                 (*changes.values(), alert_id))


@dataclass
class Recorder:
    """Applies prepared findings on an open write transaction and tallies what changed."""

    conn: sqlite3.Connection
    path: Path
    actor: str
    run_id: str | None
    now: str
    auto_resolve: bool
    new: set[str] = field(default_factory=set)
    confirmed: set[str] = field(default_factory=set)
    reopened: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    referenced: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("new", "known", "conflicting", "no_alert"), 0))

    def apply(self, prepared: Sequence[Prepared]) -> RecordSummary:
        """Apply every finding; return the summary."""
        for p in prepared:
            stored = self.conn.execute(
                "SELECT content_sha256, alert_id FROM findings WHERE finding_id = ?",
                (p.finding_id,)).fetchone()
            if stored is not None:
                self._known(p, stored)
                continue
            self.counts["new"] += 1
            self._insert_finding(p)
            if p.alert_key is not None:
                self._exceedance(p, p.alert_key)
            elif p.finding.outcome == "exceedance":
                self.counts["no_alert"] += 1
                logger.warning("finding %s (%s/%s/%s) is an exceedance without an event onset:"
                               " stored, but it raises no alert", p.finding_id,
                               p.finding.concession_id, p.finding.indicator, p.finding.zone_id)
            elif self.auto_resolve and p.finding.outcome == "compliant":
                self._resolve_on(p)
        return self.summary()

    def summary(self) -> RecordSummary:
        """Counts of what :meth:`apply` did."""
        changed = self.new | self.confirmed | self.reopened | self.resolved | self.updated
        return RecordSummary(
            findings_new=self.counts["new"], findings_known=self.counts["known"],
            findings_conflicting=self.counts["conflicting"],
            exceedances_without_alert=self.counts["no_alert"],
            alerts_new=len(self.new), alerts_confirmed=len(self.confirmed),
            alerts_reopened=len(self.reopened), alerts_resolved=len(self.resolved),
            alerts_updated=len(self.updated - self.new - self.confirmed - self.reopened),
            alerts_unchanged=len(self.referenced - changed),
            changed_alert_ids=tuple(sorted(changed)),
        )

    def _known(self, p: Prepared, stored: sqlite3.Row) -> None:
        same = stored["content_sha256"] == p.sha256
        self.counts["known" if same else "conflicting"] += 1
        if not same:
            logger.warning("alert store %s: finding %s is already stored with different "
                           "content; the stored version is kept", self.path, p.finding_id)
        if stored["alert_id"] is not None:
            self.referenced.add(stored["alert_id"])

    def _insert_finding(self, p: Prepared) -> None:
        f = p.finding
        self.conn.execute(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.finding_id, p.alert_key, f.concession_id, f.indicator, f.zone, f.zone_id,
             f.period[0].isoformat(), f.period[1].isoformat(), f.observed.isoformat(),
             f.value, f.limit, f.unit, f.outcome, f.reason, f.severity, f.confidence,
             f.n_clear_obs, f.n_clear_px, f.standard_id, f.standard_version, f.event_id,
             None if f.onset is None else f.onset.isoformat(), f.event_status, p.wkb,
             p.crs_wkt, p.details_json, p.sha256, self.run_id, self.now, self.actor))

    def _log(self, key: str, kind: TransitionKind, old: str | None, new: str, reason: str,
             p: Prepared) -> None:
        add_transition(self.conn, key, kind, old, new, self.actor, self.now, reason,
                       finding_id=p.finding_id, run_id=self.run_id)

    def _exceedance(self, p: Prepared, key: str) -> None:
        f, now = p.finding, self.now
        self.referenced.add(key)
        state, severity, observed = finding_state(f), finding_severity(f), f.observed.isoformat()
        row = self.conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (key,)).fetchone()
        if row is None:
            self.conn.execute(
                "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'unreviewed', ?, ?, ?, "
                "?, NULL, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
                (key, f.concession_id, f.indicator, f.zone, f.zone_id,
                 cast(date, f.onset).isoformat(), f.standard_id, f.standard_version, state,
                 severity, observed, observed, now if state == "confirmed" else None,
                 p.finding_id, f.value, f.limit, f.unit, p.wkb, p.crs_wkt, now, now))
            self._log(key, "lifecycle", None, state, f"{severity} exceedance first recorded: "
                      f"finding {p.finding_id} observed {observed}", p)
            self.new.add(key)
            return
        changes: dict[str, Any] = {"n_findings": row["n_findings"] + 1, "updated_at": now,
                                   "first_seen": min(row["first_seen"], observed),
                                   "last_seen": max(row["last_seen"], observed)}
        latest = self.conn.execute(
            "SELECT observed, period_end FROM findings WHERE finding_id = ?",
            (row["finding_id"],)).fetchone()
        if p.sort_key > (latest["observed"], latest["period_end"], row["finding_id"]):
            changes.update(finding_id=p.finding_id, value=f.value, limit_value=f.limit,
                           unit=f.unit)
            if p.wkb is not None:
                changes.update(geometry_wkb=p.wkb, crs_wkt=p.crs_wkt)
        elif row["geometry_wkb"] is None and p.wkb is not None:
            changes.update(geometry_wkb=p.wkb, crs_wkt=p.crs_wkt)
        current = row["state"]
        if current == "provisional" and state == "confirmed":
            changes.update(state="confirmed", confirmed_at=row["confirmed_at"] or now)
            self._log(key, "lifecycle", current, "confirmed", f"confirmed by finding "
                      f"{p.finding_id} observed {observed} (event {f.event_status or '-'}, "
                      f"severity {severity})", p)
            self.confirmed.add(key)
        elif current == "resolved" and observed > self._resolution_floor(key, row):
            changes.update(state=state, resolved_at=None)
            if state == "confirmed":
                changes["confirmed_at"] = row["confirmed_at"] or now
            self._log(key, "lifecycle", current, state, f"reopened: exceedance observed "
                      f"{observed} (finding {p.finding_id}) after the evidence the alert was "
                      f"resolved on", p)
            self.reopened.add(key)
        else:
            self.updated.add(key)
        higher = higher_severity(row["severity"], severity)
        if higher != row["severity"]:
            changes["severity"] = higher
            self._log(key, "severity", row["severity"], higher,
                      f"finding {p.finding_id} observed {observed} is {severity}", p)
        update_alert(self.conn, key, changes)

    def _resolution_floor(self, alert_id: str, row: sqlite3.Row) -> str:
        """Latest observation date a resolution rests on.

        The alert's last exceedance, or the compliant finding that resolved it
        automatically, whichever is later.
        """
        resolving = self.conn.execute(
            "SELECT f.observed FROM transitions t JOIN findings f USING (finding_id) "
            "WHERE t.alert_id = ? AND t.to_state = 'resolved' ORDER BY t.seq DESC LIMIT 1",
            (alert_id,)).fetchone()
        floor: str = row["last_seen"]
        return max(floor, resolving["observed"]) if resolving is not None else floor

    def _resolve_on(self, p: Prepared) -> None:
        """Resolve the open alerts a newer compliant finding ends (``auto_resolve``)."""
        f = p.finding
        observed = f.observed.isoformat()
        rows = self.conn.execute(
            "SELECT alert_id, state, last_seen FROM alerts WHERE concession_id = ? AND "
            "indicator = ? AND zone_id = ? AND standard_id = ? AND standard_version = ? AND "
            "state IN ('provisional', 'confirmed') AND last_seen < ?",
            (f.concession_id, f.indicator, f.zone_id, f.standard_id, f.standard_version,
             observed)).fetchall()
        for row in rows:
            update_alert(self.conn, row["alert_id"], {"state": "resolved",
                                                      "resolved_at": self.now,
                                                      "updated_at": self.now})
            self._log(row["alert_id"], "lifecycle", row["state"], "resolved",
                      f"auto-resolved: compliant finding {p.finding_id} observed {observed}, "
                      f"after the last exceedance on {row['last_seen']}", p)
            self.resolved.add(row["alert_id"])
