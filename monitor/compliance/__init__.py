"""Compliance: indicator results against the limits of a versioned standard -> findings.

Pure: no file, no network. The standard comes in as a :class:`~monitor.config.StandardSet`
and every finding records the ``standard_id`` and ``version`` it was made under; the
version is the one in force on the finding's observation date (SCIENCE.md section 8), or
the one named when re-evaluating (:func:`reevaluate`). Findings are frozen: re-evaluating
under a revised standard produces new findings (another version, so another ``finding_id``
and ``alert_key``) beside the old ones, never over them.

What compliance reads (the contract with the indicators)
---------------------------------------------------------
Rows of :attr:`IndicatorResult.measurements` (the metric names the indicators of
``monitor.indicators`` write):

- vegetation_loss ``loss_area`` (ha, confirmed loss in the period) in the zones
  ``permitted_footprint``, ``licence_outside_footprint``, ``buffer_ring`` and
  ``exclusion_zone``, against ``vegetation_loss.limits.<zone>``;
- tailings ``disturbed_outside_footprint_growth`` (ha, growth of bare/tailings or pond area
  outside the permitted footprint since the baseline) in ``licence_outside_footprint``,
  ``buffer_ring`` and ``exclusion_zone``, against
  ``tailings.limits.growth_outside_footprint_ha``;
- tailings ``facility_growth_fraction`` (1) per ``tailings_facility``, against
  ``tailings.limits.facility_growth_fraction``; when the indicator does not write it, it is
  derived as ``growth_area`` over the facility's ``bare_area + pond_area`` on the baseline
  composite (the rows dated at the growth row's ``period_start``);
- turbidity ``downstream_minus_upstream`` (FNU) and ``downstream_vs_baseline`` (1: the
  downstream median over its own baseline quantile) per downstream ``water_reach`` and
  date, against ``turbidity.limits.downstream_minus_upstream_fnu`` and
  ``turbidity.limits.baseline_factor``.

Only rows dated inside ``result.period`` are evaluated; when a metric has several rows for
a zone (e.g. one per composite), the latest is the period's value. Other metrics and zones
are not evaluated.

Area rules (vegetation, tailings): the zone's value is compared with the limit in force on
the row's date. When the zone has change events, the events decide: confirmed events sum
to the confirmed value, provisional ones are added for the provisional value (for the
facility fraction the row is the value and events only give their status). An exceedance
gives one finding per event of the zone (so each event can become an alert), or one zone
finding when it has no events; a zone without exceedance gives one summary finding,
``compliant`` or ``indeterminate``.

Turbidity: a date exceeds when a criterion is above its limit; an episode is a run of
exceeding clear dates (indeterminate dates are skipped), confirmed when it is at least
``turbidity.parameters.confirm_k`` long, provisional when shorter and still open at the end
of the period, dropped when shorter and followed by a clear compliant date. Runs continue
across periods through ``previous`` findings. Turbidity change events are not read: the
standard's limits, not the indicator, decide what an episode is (the episodes keep the
indicator's ids, ``plume-<reach>-<onset>``, and the finding takes the weaker of the result's
and the matching episode's confidence).

Determinacy: a row is usable when its status is ``ok``, its value is finite, it rests on
at least ``min_clear_obs`` clear observations (turbidity: ``min_water_px`` water pixels per
date, and ``min_clear_obs`` clear dates per reach) and on clear pixels. Otherwise the
finding is ``indeterminate`` with the reason (the indicator's when it gave one). No data is
never compliant, not even where the standard sets no limit; but a lower bound from
confirmed events above the limit is an exceedance even where the rest is unseen.

Severity (``severity`` of the standard): ``notice`` for a provisional exceedance,
``warning`` when confirmed, ``violation`` when confirmed and the value is at least
``violation_multiple`` times a positive limit, or the zone is an exclusion zone and
``exclusion_zone_is_violation``, or the same zone had confirmed exceedances in the
``repeated_periods - 1`` contiguous periods before (from ``previous``).

The package
-----------
:func:`evaluate` and :func:`reevaluate` are the entry points; the rules live in modules:

- :mod:`monitor.compliance.rows`: measurement rows read against the contract;
- :mod:`monitor.compliance.context`: the evaluation context (versions, previous findings);
- :mod:`monitor.compliance.area`: the area rules (:data:`AREA_RULES`);
- :mod:`monitor.compliance.turbidity`: turbidity episodes (:data:`TURBIDITY_CRITERIA`);
- :mod:`monitor.compliance.severity`: the severity ladder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from monitor.compliance.area import AREA_RULES, area_findings
from monitor.compliance.context import Context
from monitor.compliance.rows import facility_fractions, read_rows
from monitor.compliance.turbidity import TURBIDITY_CRITERIA, turbidity_findings
from monitor.config import StandardSet
from monitor.errors import IndicatorResultError
from monitor.findings import Finding
from monitor.indicators.base import IndicatorResult

__all__ = ["AREA_RULES", "TURBIDITY_CRITERIA", "evaluate", "reevaluate"]

_ZONE_ORDER = ("licence", "permitted_footprint", "licence_outside_footprint", "buffer_ring",
               "exclusion_zone", "tailings_facility", "water_reach")


def _order(f: Finding) -> tuple[int, str, date, str]:
    rank = _ZONE_ORDER.index(f.zone) if f.zone in _ZONE_ORDER else len(_ZONE_ORDER)
    return rank, f.zone_id, f.onset or f.observed, f.event_id or ""


def evaluate(result: IndicatorResult, standards: StandardSet, standard_id: str = "default",
             *, previous: Sequence[Finding] = (), version: str | None = None) -> list[Finding]:
    """Compare one indicator result with the standard in force; one finding per zone or event.

    Parameters
    ----------
    result
        What an indicator computed for one concession and period.
    standards
        The loaded standard versions.
    standard_id
        The standard the concession is held to.
    previous
        Earlier findings of the concession (any periods): they decide repeated-period
        violations and continue events and turbidity runs across periods.
    version
        Apply this version instead of the one in force on each observation date (what
        :func:`reevaluate` does; the findings say ``version_pinned`` in their details).

    Returns
    -------
    list of Finding
        In zone order, then zone id, then onset. Never empty: a result without any value
        the standard has a limit for gives one ``indeterminate`` finding.

    Raises
    ------
    ConfigError
        The standard or version is not loaded, or none is in force on a date.
    IndicatorResultError
        The result breaks the measurement contract.
    """
    if result.indicator not in ("vegetation_loss", "turbidity", "tailings"):
        raise IndicatorResultError(f"unknown indicator {result.indicator!r} in the result of "
                                   f"concession {result.concession_id!r}")
    if version is not None:
        standards.get(standard_id, version)
    ctx = Context(result, standards, standard_id, version, tuple(previous))
    rows = read_rows(result)
    if result.indicator == "tailings":
        rows += facility_fractions(rows)
    rows = [r for r in rows if result.period[0] <= r.day <= result.period[1]]
    if result.indicator == "turbidity":
        found = turbidity_findings(ctx, rows)
    else:
        found = [f for rule in AREA_RULES if rule.indicator == result.indicator
                 for f in area_findings(ctx, rule, rows)]
    if not found:
        end = result.period[1]
        std = ctx.standard(end)
        notes = "; ".join(result.notes)
        found = [ctx.finding(
            std, zone="licence", zone_id="licence", observed=end, value=None, limit=None,
            unit="", outcome="indeterminate", severity=None, confidence=result.confidence,
            n_clear_obs=0, n_clear_px=0,
            reason="the indicator reported no value the standard sets a limit on"
                   + (f" ({notes})" if notes else ""))]
    return sorted(found, key=_order)


def reevaluate(result: IndicatorResult, standards: StandardSet, version: str,
               standard_id: str = "default", *, previous: Sequence[Finding] = ()
               ) -> list[Finding]:
    """Evaluate ``result`` under one named version (e.g. a revision, or the old one again).

    The findings carry that version, so their ``finding_id`` and ``alert_key`` differ from
    the findings made under another version: store them beside the old ones.
    """
    return evaluate(result, standards, standard_id, previous=previous, version=version)
