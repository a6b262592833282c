"""The alert store: findings in, alerts with an audited lifecycle out (one SQLite file).

Writes are idempotent and serialised: each :meth:`AlertStore.record`, :meth:`review` and
:meth:`resolve` call is one ``BEGIN IMMEDIATE`` transaction, findings and alerts are keyed
by their stable ids, and a finding already stored is never applied twice. Several
processes may share one store file (WAL, busy timeout); a lock held past the timeout
raises :class:`~monitor.errors.AlertStoreBusyError`, which is retryable.

Automatic resolution (opt-in, ``record(..., auto_resolve=True)``): a *new* ``compliant``
finding for the same concession, indicator, zone and standard version, observed after an
open alert's last exceedance, resolves that alert (actor and finding recorded). It is off
by default because a loss of vegetation does not undo itself: whether a compliant period
ends an event depends on the indicator, and the caller knows which.
"""

from __future__ import annotations

import builtins
import logging
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date
from typing import Any, cast

import pyproj
import shapely

from monitor.alerts.lifecycle import ALERT_STATES, REVIEW_STATES, check_resolution, check_review
from monitor.alerts.model import Alert, RecordSummary, Transition
from monitor.alerts.recording import Recorder, add_transition, prepare, update_alert
from monitor.alerts.schema import DEFAULT_BUSY_TIMEOUT_S, StateFile, store_error, transaction
from monitor.errors import AlertError, AlertNotFoundError
from monitor.findings import SEVERITIES, Finding

__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "AlertStore"]

logger = logging.getLogger(__name__)

#: Seconds a write waits for another process's lock before AlertStoreBusyError.
_HEX = re.compile(r"^[0-9a-f]+$")


def _text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _date(text: str) -> date:
    return date.fromisoformat(text)


class AlertStore(StateFile):
    """Alerts and their findings in one SQLite file.

    Parameters
    ----------
    path
        The store file (created with its schema when missing, unless ``create=False``).
    busy_timeout_s
        How long a write waits for another process's lock.
    create
        Create a missing file; when False a missing file raises AlertStoreError.
    clock
        Returns the current time (UTC); for tests. Defaults to ``datetime.now(UTC)``.

    Examples
    --------
    >>> with AlertStore("monitor-state.sqlite") as store:  # doctest: +SKIP
    ...     summary = store.record(findings, run_id="2024-06")
    ...     store.review(summary.changed_alert_ids[0], "dismissed", "ana",
    ...                  reason="cloud_or_shadow_artefact")
    """

    def _now(self) -> str:
        now = self._clock().astimezone(UTC)
        return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _read(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise store_error(self.path, action, exc) from exc

    # ------------------------------------------------------------------ record

    def record(self, findings: Sequence[Finding], *, actor: str = "monitor",
               run_id: str | None = None, crs: str | pyproj.CRS | None = None,
               auto_resolve: bool = False) -> RecordSummary:
        """Store findings and create or advance the alerts they raise (one transaction).

        Parameters
        ----------
        findings
            Findings of any outcome; exceedances with an ``alert_key`` raise alerts.
            Processed in observation order whatever the order given.
        actor
            Who records (appears in transitions), e.g. ``monitor`` or a pipeline name.
        run_id
            The run that produced the findings (stored with findings and transitions).
        crs
            CRS of the findings' geometries when ``Finding.details['crs']`` is absent.
        auto_resolve
            Resolve open alerts on a newer compliant finding (see the module notes).

        Returns
        -------
        RecordSummary
            Counts of new / known findings and of new, confirmed, reopened, resolved,
            updated and unchanged alerts. Recording the same findings again gives
            ``findings_known == len(findings)`` and changes nothing.

        Raises
        ------
        AlertStoreError
            A finding cannot be stored (e.g. polygons without a CRS); nothing is written.
        AlertStoreBusyError
            Another writer held the lock past the busy timeout (retryable).
        """
        actor = self._actor(actor)
        prepared = prepare(findings, crs, self.path)
        with transaction(self._conn, self.path, "record findings"):
            summary = Recorder(self._conn, self.path, actor, run_id, self._now(),
                               auto_resolve).apply(prepared)
        logger.info("alert store %s: recorded %d finding(s): %s", self.path, len(prepared),
                    summary.to_dict())
        return summary

    # ------------------------------------------------------------------ people

    @staticmethod
    def _actor(actor: str) -> str:
        if not isinstance(actor, str) or not actor.strip():
            raise AlertError("every change needs an actor (who made it): pass a non-empty "
                             "name, e.g. --by NAME")
        return actor.strip()

    def _row(self, alert_id: str) -> sqlite3.Row:
        row = self._conn.execute("SELECT * FROM alerts WHERE alert_id = ?",
                                 (alert_id,)).fetchone()
        if row is None:
            raise AlertNotFoundError(f"no alert {alert_id!r} in the alert store {self.path}; "
                                     f"`monitor alerts list` shows the alerts")
        return cast(sqlite3.Row, row)

    def review(self, alert_id: str, state: str, actor: str, reason: str | None = None,
               note: str | None = None) -> Alert:
        """Record an analyst's review of an alert.

        Parameters
        ----------
        alert_id
            The alert.
        state
            ``analyst_confirmed``, ``dismissed`` or ``field_verified``.
        actor
            Who reviews.
        reason
            Required for ``dismissed``: one of ``DISMISS_REASONS``; free text otherwise.
        note
            Free note (required with reason ``other``).

        Returns
        -------
        Alert
            The alert after the review. Repeating the latest review exactly (same state,
            reason and note) is a no-op, so a retried command does not log twice.

        Raises
        ------
        AlertNotFoundError, InvalidReviewError, InvalidTransitionError
        """
        actor, reason, note = self._actor(actor), _text(reason), _text(note)
        with transaction(self._conn, self.path, f"review alert {alert_id}"):
            current = self._row(alert_id)["review"]
            if state == current:
                last = self._conn.execute(
                    "SELECT reason, note FROM transitions WHERE alert_id = ? AND kind = "
                    "'review' ORDER BY seq DESC LIMIT 1", (alert_id,)).fetchone()
                if last is not None and (last["reason"], last["note"]) == (reason, note):
                    return self.get(alert_id)
            target = check_review(alert_id, current, state, reason, note)
            now = self._now()
            update_alert(self._conn, alert_id, {"review": target, "updated_at": now})
            add_transition(self._conn, alert_id, "review", current, target, actor, now, reason,
                           note)
        return self.get(alert_id)

    def resolve(self, alert_id: str, actor: str, reason: str,
                note: str | None = None) -> Alert:
        """Resolve an open alert by hand (``provisional`` or ``confirmed`` -> ``resolved``).

        Raises
        ------
        AlertNotFoundError
            No such alert.
        InvalidTransitionError
            Already resolved.
        AlertError
            No reason given.
        """
        actor, reason_text, note = self._actor(actor), _text(reason), _text(note)
        if reason_text is None:
            raise AlertError(f"resolving alert {alert_id} needs a reason (why it is resolved)")
        with transaction(self._conn, self.path, f"resolve alert {alert_id}"):
            current = self._row(alert_id)["state"]
            check_resolution(alert_id, current)
            now = self._now()
            update_alert(self._conn, alert_id, {"state": "resolved", "resolved_at": now,
                                    "updated_at": now})
            add_transition(self._conn, alert_id, "lifecycle", current, "resolved", actor, now,
                             reason_text, note)
        return self.get(alert_id)

    # ------------------------------------------------------------------ queries

    @staticmethod
    def _alert(row: sqlite3.Row) -> Alert:
        wkb = row["geometry_wkb"]
        return Alert(
            alert_id=row["alert_id"], concession_id=row["concession_id"],
            indicator=row["indicator"], zone=row["zone"], zone_id=row["zone_id"],
            onset=_date(row["onset"]), standard_id=row["standard_id"],
            standard_version=row["standard_version"], state=row["state"],
            review=row["review"], severity=row["severity"],
            first_seen=_date(row["first_seen"]), last_seen=_date(row["last_seen"]),
            confirmed_at=row["confirmed_at"], resolved_at=row["resolved_at"],
            finding_id=row["finding_id"], n_findings=row["n_findings"], value=row["value"],
            limit=row["limit_value"], unit=row["unit"],
            geometry=None if wkb is None else shapely.from_wkb(wkb), crs=row["crs_wkt"],
            created_at=row["created_at"], updated_at=row["updated_at"])

    def get(self, alert_id: str) -> Alert:
        """The alert with this id; :class:`AlertNotFoundError` when absent."""
        rows = self._read(f"read alert {alert_id}", "SELECT * FROM alerts WHERE alert_id = ?",
                          (alert_id,))
        if not rows:
            raise AlertNotFoundError(f"no alert {alert_id!r} in the alert store {self.path}; "
                                     f"`monitor alerts list` shows the alerts")
        return self._alert(rows[0])

    def expand_id(self, prefix: str) -> str:
        """The one alert id starting with ``prefix`` (like a short git hash).

        Raises
        ------
        AlertNotFoundError
            No alert, or several, match.
        """
        prefix = prefix.strip().lower()
        if not _HEX.match(prefix):
            return self.get(prefix).alert_id
        rows = self._read("look up an alert id",
                          "SELECT alert_id FROM alerts WHERE alert_id LIKE ? ORDER BY alert_id"
                          " LIMIT 6", (prefix + "%",))
        if len(rows) == 1:
            return str(rows[0]["alert_id"])
        if not rows:
            return self.get(prefix).alert_id
        ids = ", ".join(r["alert_id"] for r in rows[:5])
        raise AlertNotFoundError(f"alert id prefix {prefix!r} matches several alerts ({ids}"
                                 f"{', ...' if len(rows) > 5 else ''}); give more characters")

    def history(self, alert_id: str) -> builtins.list[Transition]:
        """Every recorded change of an alert, oldest first (who, when, why)."""
        self.get(alert_id)
        rows = self._read(f"read the history of alert {alert_id}",
                          "SELECT * FROM transitions WHERE alert_id = ? ORDER BY seq",
                          (alert_id,))
        return [Transition(seq=r["seq"], alert_id=r["alert_id"], kind=r["kind"],
                           from_state=r["from_state"], to_state=r["to_state"],
                           actor=r["actor"], at=r["at"], reason=r["reason"], note=r["note"],
                           finding_id=r["finding_id"], run_id=r["run_id"]) for r in rows]

    def list(self, concession_id: str | None = None, state: str | None = None,
             severity: str | None = None, review: str | None = None) -> builtins.list[Alert]:
        """Alerts matching every filter given, by concession, onset and id.

        Raises
        ------
        AlertError
            A filter value that is not a known state, severity or review state.
        """
        filters: builtins.list[tuple[str, str | None, tuple[str, ...] | None]] = [
            ("concession_id", concession_id, None), ("state", state, ALERT_STATES),
            ("severity", severity, SEVERITIES), ("review", review, REVIEW_STATES)]
        where, params = [], []
        for column, value, allowed in filters:
            if value is None:
                continue
            if allowed is not None and value not in allowed:
                raise AlertError(f"unknown {column} {value!r}; use one of {', '.join(allowed)}")
            where.append(f"{column} = ?")
            params.append(value)
        sql = "SELECT * FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._read("list alerts", sql + " ORDER BY concession_id, onset, indicator, "
                          "zone_id, alert_id", params)
        return [self._alert(r) for r in rows]
