"""The lead store: community leads in the state store, protected details sealed.

Leads live in the ``leads`` table of the state store (the alert store's SQLite file,
schema version 2, :mod:`monitor.alerts.schema`). Each row keeps in clear only what is
not protected (lead id, concession, date seen, date received, origin, status, checked
package); the protected fields are sealed together with AES-256-GCM bound to the lead id
(:meth:`monitor.secret.DisclosureSecret.seal`), padded to a multiple of
:data:`SEAL_BLOCK` bytes so that the ciphertext's length says little about a name or a
claim, and committed to one by one with HMAC-SHA256. A copied state file therefore
reveals no protected value in any byte, and a sealed blob moved to another row does not
open.

Adding is idempotent (the lead id is a keyed digest of the lead's identity) and
all-or-nothing for a batch (one ``BEGIN IMMEDIATE`` transaction). Every lead of a store is
sealed under one disclosure secret: adding with another secret is refused rather than
creating leads that the first secret could not open.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date
from typing import Any, cast

from monitor.alerts.schema import StateFile, store_error, transaction
from monitor.errors import DisclosureKeyError, LeadError
from monitor.leads.model import (
    LEAD_ID_PATTERN,
    LEAD_ORIGINS,
    PROTECTED_FIELDS,
    Lead,
    LeadInput,
    LeadSummary,
    commitments_for,
    lead_id_for,
    protected_values,
)
from monitor.leads.validation import FILE_NAMES, RawLead, check_leads
from monitor.secret import SECRET_ENV, DisclosureSecret

__all__ = ["SEAL_BLOCK", "LeadStore"]

logger = logging.getLogger(__name__)

#: Sealed details are padded with spaces to a multiple of this many bytes.
SEAL_BLOCK = 512
_LEAD_ID = re.compile(LEAD_ID_PATTERN)
_PACKAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_IDENTITY = ("lon", "lat", "claim")


def _sealed_text(values: dict[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text + " " * (-len(text.encode("utf-8")) % SEAL_BLOCK)


def _normalised(lead: LeadInput) -> dict[str, Any]:
    values = protected_values(lead)
    values["lon"] = round(float(lead.lon), 7) + 0.0
    values["lat"] = round(float(lead.lat), 7) + 0.0
    return values


class LeadStore(StateFile):
    """Community leads in the state store (the alert store's SQLite file).

    Parameters
    ----------
    path
        The state store file (created with its schema when missing, unless
        ``create=False``; a version-1 alert store is migrated in place).
    busy_timeout_s
        How long a write waits for another process's lock.
    create
        Create a missing file; when False a missing file raises AlertStoreError.
    clock
        Returns the current time (UTC); for tests. Defaults to ``datetime.now(UTC)``.

    Examples
    --------
    >>> secret = DisclosureSecret.from_env()                      # doctest: +SKIP
    >>> with LeadStore("monitor-state.sqlite") as store:           # doctest: +SKIP
    ...     lead, new = store.add(lead_input, secret)
    ...     store.list("demo-clearing")                            # public summaries
    ...     store.get(lead.lead_id, secret).claim                  # unsealed
    """

    # ------------------------------------------------------------------------ reading rows

    def _read(self, action: str, sql: str,
              params: Sequence[Any] = ()) -> builtins.list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise store_error(self.path, action, exc) from exc

    def _row(self, lead_id: str) -> sqlite3.Row:
        if not isinstance(lead_id, str) or not _LEAD_ID.fullmatch(lead_id):
            raise LeadError("that is not a lead id (`lead-` and 12 hex digits); "
                            "`monitor leads list` shows the leads")
        rows = self._read(f"read lead {lead_id}", "SELECT * FROM leads WHERE lead_id = ?",
                          (lead_id,))
        if not rows:
            raise LeadError(f"no lead {lead_id} in the state store {self.path}; "
                            f"`monitor leads list` shows the leads")
        return rows[0]

    @staticmethod
    def _summary(row: sqlite3.Row) -> LeadSummary:
        return LeadSummary(
            lead_id=row["lead_id"], concession_id=row["concession_id"],
            seen_on=date.fromisoformat(row["seen_on"]),
            received_at=date.fromisoformat(row["received_at"]), origin=row["origin"],
            status=row["status"], checked_package=row["checked_package"],
            commitments=json.loads(row["commitments_json"]), key_id=row["key_id"])

    def _check_key(self, secret: DisclosureSecret) -> None:
        rows = self._read("read the leads' key ids", "SELECT DISTINCT key_id FROM leads")
        others = sorted(r["key_id"] for r in rows if r["key_id"] != secret.key_id)
        if others:
            raise DisclosureKeyError(
                f"the leads in {self.path} were sealed with disclosure secret "
                f"{', '.join(others)}, but {SECRET_ENV} is secret {secret.key_id}; use the "
                f"secret the leads were stored with")

    def _unseal(self, row: sqlite3.Row, secret: DisclosureSecret) -> Lead:
        summary = self._summary(row)
        if summary.key_id != secret.key_id:
            raise DisclosureKeyError(
                f"lead {summary.lead_id} was sealed with disclosure secret {summary.key_id}, "
                f"but {SECRET_ENV} is secret {secret.key_id}; use the secret it was stored "
                f"with")
        values = json.loads(secret.unseal(bytes(row["sealed"]), summary.lead_id))
        lead = Lead(**{**summary.__dict__, **{k: values.get(k) for k in PROTECTED_FIELDS}})
        expected_id = lead_id_for(lead.concession_id, lead.lon, lead.lat, lead.seen_on,
                                  lead.claim, secret)
        if (expected_id != lead.lead_id
                or commitments_for(lead.lead_id, values, secret) != summary.commitments):
            raise LeadError(f"lead {summary.lead_id} in {self.path} is inconsistent: its "
                            f"stored concession, date or commitments do not match its sealed "
                            f"details (the record was altered); restore it from a backup")
        return lead

    # ------------------------------------------------------------------------ writing

    def _insert(self, lead: LeadInput, secret: DisclosureSecret, origin: str,
                received: str) -> tuple[Lead, bool]:
        """Add one lead inside the caller's transaction."""
        lead_id = lead.lead_id(secret)
        values = _normalised(lead)
        commitments = commitments_for(lead_id, values, secret)
        rows = self._conn.execute("SELECT * FROM leads WHERE lead_id = ?",
                                  (lead_id,)).fetchall()
        if rows:
            known = self._summary(rows[0])
            if (known.concession_id, known.seen_on) != (lead.concession_id, lead.seen_on) or \
                    any(known.commitments.get(k) != commitments[k] for k in _IDENTITY):
                raise LeadError(f"lead id {lead_id} is already used by a different lead "
                                f"(a digest collision); nothing was stored")
            return self._unseal(rows[0], secret), False
        self._conn.execute(
            "INSERT INTO leads (lead_id, concession_id, seen_on, received_at, origin, status, "
            "checked_package, sealed, commitments_json, key_id) "
            "VALUES (?, ?, ?, ?, ?, 'open', NULL, ?, ?, ?)",
            (lead_id, lead.concession_id, lead.seen_on.isoformat(), received, origin,
             secret.seal(_sealed_text(values), lead_id),
             json.dumps(commitments, sort_keys=True), secret.key_id))
        stored = Lead(lead_id=lead_id, concession_id=lead.concession_id, seen_on=lead.seen_on,
                      received_at=date.fromisoformat(received), origin=origin, status="open",
                      checked_package=None, commitments=commitments, key_id=secret.key_id,
                      **values)
        return stored, True

    def add(self, lead: LeadInput, secret: DisclosureSecret, *,
            origin: str = "cli") -> tuple[Lead, bool]:
        """Store one lead (idempotent).

        Parameters
        ----------
        lead
            A checked lead (:func:`~monitor.leads.validation.check_leads`).
        secret
            The disclosure secret: it keys the lead id, seals and commits.
        origin
            ``cli`` or ``import``.

        Returns
        -------
        tuple of (Lead, bool)
            The stored lead, and whether it was new (False: it was already stored and
            the stored one is returned unchanged).

        Raises
        ------
        DisclosureKeyError
            The store's leads were sealed with another secret.
        AlertStoreError
            The store cannot be written (AlertStoreBusyError when locked: retryable).
        """
        return self.add_many([lead], secret, origin=origin)[0]

    def add_many(self, leads: Sequence[LeadInput], secret: DisclosureSecret, *,
                 origin: str = "import") -> builtins.list[tuple[Lead, bool]]:
        """Store several leads in one transaction: all of them or none.

        A lead given twice, or already stored, comes back with ``False``. Each lead is
        checked again (:func:`~monitor.leads.validation.check_leads`, without a registry)
        so that nothing malformed is stored. Raises as :meth:`add`, and LeadError
        listing every invalid lead.
        """
        if origin not in LEAD_ORIGINS:
            raise LeadError(f"unknown lead origin {origin!r}; use one of "
                            f"{', '.join(LEAD_ORIGINS)}")
        leads = check_leads([RawLead(f"lead #{i}", vars(lead), FILE_NAMES)
                             for i, lead in enumerate(leads)], "the leads given")
        received = self._clock().astimezone(UTC).date().isoformat()
        with transaction(self._conn, self.path, "store leads"):
            self._check_key(secret)
            out = [self._insert(lead, secret, origin, received) for lead in leads]
        new = sum(1 for _, is_new in out if is_new)
        for lead, is_new in out:
            logger.debug("lead %s %s", lead.lead_id, "added" if is_new else "already known")
        logger.info("stored %d lead(s): %d new, %d already known", len(out), new,
                    len(out) - new)
        return out

    def mark_checked(self, lead_id: str, package_id: str) -> LeadSummary:
        """Record that a targeted check, whose package is ``package_id``, cited the lead.

        Raises
        ------
        LeadError
            Unknown lead, a closed lead, or a package id that is not a safe id.
        """
        if not isinstance(package_id, str) or not _PACKAGE_ID.fullmatch(package_id):
            raise LeadError(f"cannot mark lead {lead_id} checked: the package id is not a "
                            f"safe id (letters, digits, '.', '-', '_')")
        with transaction(self._conn, self.path, f"mark lead {lead_id} checked"):
            status = self._row(lead_id)["status"]
            if status == "closed":
                raise LeadError(f"lead {lead_id} is closed; it cannot be marked checked")
            self._conn.execute("UPDATE leads SET status = 'checked', checked_package = ? "
                               "WHERE lead_id = ?", (package_id, lead_id))
        logger.info("lead %s checked by package %s", lead_id, package_id)
        return self.summary(lead_id)

    # ------------------------------------------------------------------------ queries

    def get(self, lead_id: str, secret: DisclosureSecret) -> Lead:
        """The lead with its protected details unsealed.

        Raises
        ------
        LeadError
            Unknown lead id, or a record altered since it was stored.
        DisclosureKeyError
            ``secret`` is not the one the lead was sealed with, or the sealed details do
            not open for this lead id (moved from another row, or altered).
        """
        return self._unseal(self._row(lead_id), secret)

    def summary(self, lead_id: str) -> LeadSummary:
        """The public part of one lead (no secret needed). LeadError when unknown."""
        return self._summary(self._row(lead_id))

    def list(self, concession_id: str | None = None) -> builtins.list[LeadSummary]:
        """Public summaries of the leads (of one concession), by concession, date and id.

        Nothing is unsealed and no secret is needed.
        """
        sql, params = "SELECT * FROM leads", []
        if concession_id is not None:
            sql, params = sql + " WHERE concession_id = ?", [concession_id]
        rows = self._read("list leads", sql + " ORDER BY concession_id, seen_on, lead_id",
                          params)
        return [self._summary(r) for r in rows]

    def count(self) -> int:
        """How many leads the store holds."""
        return cast(int, self._read("count leads", "SELECT count(*) FROM leads")[0][0])
