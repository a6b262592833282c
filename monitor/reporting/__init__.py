"""Indicator reports: the shared indicators per concession and coalition member, for a period.

``monitor report --state FILE --period 2024`` (or :func:`build_report` then
:func:`write_report`) reads an alert store **read-only** and writes ``report.html``,
``concessions.csv``, ``members.csv`` and ``report.json``: vegetation loss per zone, turbidity
exceedance days, tailings growth, alerts by severity, state and review, and data
availability, per concession, per coalition member and for the whole portfolio.

Counting rules
--------------
Period
    A finding counts when its ``observed`` date lies in the period (both ends included).
    For vegetation loss and tailings the observed date is the end of the checked period (or
    the composite's end); for turbidity episodes the first date of the episode.
Alerts
    An alert counts when at least one of its findings was observed in the period. Its
    severity, state and review are the alert's *current* values in the store.
No double counting
    Per (concession, indicator, zone_id, event_id), a change event counts once: its latest
    finding (latest observation date, then latest period end, then latest recorded).
    A finding without an event (a zone summary) counts unless a more recent finding of the
    same key covers an overlapping checked period: checks of disjoint periods add up, a
    re-check of an overlapping period supersedes the older one (a partly overlapping older
    check is then dropped whole: the report may undercount, never double count).
Vegetation loss (ha, confirmed)
    Per zone name (``permitted_footprint``, ``licence_outside_footprint``,
    ``exclusion_zone`` summed over exclusion zones, ``buffer_ring``): each counted confirmed
    event adds its own area (``details.event_value``); a zone summary adds the part of its
    value not already counted through the events it lists. Provisional events are summed
    apart. An indeterminate summary adds its lower bound when it has one and is noted;
    a zone with nothing known is "not available".
Turbidity exceedance days
    Distinct dates, inside the period, of the exceedance episodes observed in the period
    (``details.dates``); dates a standard dropped as isolated exceedances are listed
    apart. Summed over concessions they are concession-days.
Tailings growth
    Growth of the disturbed (bare or pond) area outside the permitted footprint, in ha,
    since each check's baseline composite (summed over zones like vegetation loss); and the
    largest facility growth as a fraction of its baseline area (latest per facility).
Data availability
    The fewest clear observations behind a counted finding, per indicator (turbidity
    episodes are left out: they count only their own dates), the share of counted findings
    that were indeterminate, and their reasons.

Anything the store cannot give is ``None`` (an empty CSV cell, "–" on the page) and the
row's ``not_available`` says why. A period without findings says so:
"no findings recorded for this period".
"""

from __future__ import annotations

from monitor.reporting.build import (
    NO_FINDINGS,
    ConcessionSummary,
    IndicatorReport,
    MemberSummary,
    build_report,
    summarise,
)
from monitor.reporting.data import ReportPeriod, counted_findings, parse_period, read_store
from monitor.reporting.indicators import Indicators
from monitor.reporting.render import FILES, ReportWriteError, write_report

__all__ = ["FILES", "NO_FINDINGS", "ConcessionSummary", "IndicatorReport", "Indicators",
           "MemberSummary", "ReportPeriod", "ReportWriteError", "build_report",
           "counted_findings", "parse_period", "read_store", "summarise", "write_report"]
