"""Targeted checks: a community lead triggers a check of its concession and dates.

A lead says something was seen on ``seen_on`` at a place in a concession. The check it
triggers covers the concession from ``days_before`` before that date (so that a change
shortly before it is seen) to ``days_after`` after it (so that it can be confirmed by the
next clear observations), and :func:`monitor.evidence.citations.cite` measures whether a
change over a limit lies within ``radius_m`` of the reported place. The packages built
from it cite the lead, showing what their disclosure tier allows.

Only the lead's id, concession and dates are logged; its location, claim and reporter
never leave the lead and the citation (see :mod:`monitor.leads`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from monitor.checking import CheckResult, check
from monitor.evidence.citations import DEFAULT_RADIUS_M, LeadCitation, cite
from monitor.leads import Lead, LeadStore
from monitor.secret import DisclosureSecret

__all__ = ["DAYS_AFTER", "DAYS_BEFORE", "LeadCheck", "check_lead", "lead_period",
           "mark_checked"]

log = logging.getLogger(__name__)

DAYS_BEFORE = 90
DAYS_AFTER = 45


@dataclass(frozen=True)
class LeadCheck:
    """A lead, the check it triggered, and the check's answer to it."""

    lead: Lead = field(repr=False)
    result: CheckResult = field(repr=False)
    citation: LeadCitation

    @property
    def lead_id(self) -> str:
        """The lead's id."""
        return self.lead.lead_id


def lead_period(seen_on: date, days_before: int = DAYS_BEFORE, days_after: int = DAYS_AFTER,
                today: date | None = None) -> tuple[date, date]:
    """The period a lead's check covers: around ``seen_on``, never past today."""
    now = today or datetime.now(UTC).date()
    return seen_on - timedelta(days=days_before), min(seen_on + timedelta(days=days_after),
                                                     now)


def check_lead(lead_id: str, *, state: str | Path, aoi: str | Path, source: str,
               secret: DisclosureSecret, standard: Sequence[str | Path] | None = None,
               days_before: int = DAYS_BEFORE, days_after: int = DAYS_AFTER,
               radius_m: float = DEFAULT_RADIUS_M,
               progress: Callable[[str], None] | None = None) -> LeadCheck:
    """Run the check a lead calls for, record its findings, and answer the lead.

    Parameters
    ----------
    lead_id
        A lead in the state store ``state``.
    state
        State store: holds the lead, and receives the check's findings and alerts.
    aoi, source, standard
        As for :func:`monitor.check`.
    secret
        The disclosure secret (opens the lead's sealed details).
    days_before, days_after
        The period around the date the lead reports.
    radius_m
        A change over a limit within this distance corroborates the lead.

    Raises
    ------
    LeadError
        If the lead is unknown.
    DisclosureKeyError
        If ``secret`` does not open the lead.
    MonitorError
        Whatever the check raises (registry, imagery, standard).
    """
    with LeadStore(state) as store:
        lead = store.get(lead_id, secret)
    start, end = lead_period(lead.seen_on, days_before, days_after)
    log.info("lead %s: checking %s from %s to %s", lead.lead_id, lead.concession_id, start,
             end)
    result = check(lead.concession_id, aoi=aoi, source=source, start=start, end=end,
                   standard=list(standard) if standard else None, state=state,
                   progress=progress)
    result = _cites(result, lead.lead_id)
    citation = cite(lead, result, radius_m)
    log.info("lead %s: %s", lead.lead_id,
             "corroborated" if citation.corroborated else "not corroborated")
    return LeadCheck(lead=lead, result=result, citation=citation)


def _cites(result: CheckResult, lead_id: str) -> CheckResult:
    return replace(result, request={**dict(result.request), "lead_id": lead_id})


def mark_checked(state: str | Path, lead_id: str, package_id: str) -> None:
    """Record in the state store that the lead was answered by package ``package_id``."""
    with LeadStore(state) as store:
        store.mark_checked(lead_id, package_id)
