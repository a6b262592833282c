"""Area rules: one limit on one period value per zone (vegetation loss, tailings growth).

:data:`AREA_RULES` lists the metrics, zones and limit of each rule; :func:`area_findings`
applies one rule to a result's rows and change events, giving one finding per event of an
exceeding zone (so each event can become an alert), one zone finding for an exceeding zone
without events, and one ``compliant`` or ``indeterminate`` summary per other zone. The
rules themselves are stated in :mod:`monitor.compliance`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.compliance.context import Context, Status, least_confident, quantity
from monitor.compliance.rows import Row, usable
from monitor.compliance.severity import severity_of
from monitor.config import Standard
from monitor.findings import Finding
from monitor.indicators.base import ChangeEvent

__all__ = ["AREA_RULES", "AreaRule", "area_findings"]


@dataclass(frozen=True)
class AreaRule:
    """One limit on one period value per zone (vegetation loss, tailings growth)."""

    indicator: str
    metric: str
    zones: tuple[str, ...]
    additive: bool  # event values add up to the zone's value
    unit: str
    what: str
    limit: Callable[[Standard, str], float | None]


AREA_RULES = (
    AreaRule("vegetation_loss", "loss_area", ("permitted_footprint", "licence_outside_footprint",
             "buffer_ring", "exclusion_zone"), True, "ha", "vegetation loss",
             lambda s, zone: s.vegetation_loss.limits.for_zone(zone)),
    AreaRule("tailings", "disturbed_outside_footprint_growth", ("licence_outside_footprint",
             "buffer_ring", "exclusion_zone"), True, "ha",
             "disturbed-area growth outside the footprint",
             lambda s, _zone: s.tailings.limits.growth_outside_footprint_ha),
    AreaRule("tailings", "facility_growth_fraction", ("tailings_facility",), False, "1",
             "facility growth (fraction of baseline area)",
             lambda s, _zone: s.tailings.limits.facility_growth_fraction),
)


def area_findings(ctx: Context, rule: AreaRule, rows: list[Row]) -> list[Finding]:
    """The findings of one rule: the latest row and the events of each zone."""
    latest: dict[tuple[str, str], Row] = {}
    for row in sorted(rows, key=lambda r: r.day):
        if row.metric == rule.metric and row.zone in rule.zones:
            latest[(row.zone, row.zone_id)] = row
    events: dict[tuple[str, str], list[ChangeEvent]] = {}
    for event in ctx.result.events:
        if event.zone in rule.zones:
            events.setdefault((event.zone, event.zone_id), []).append(event)
    out: list[Finding] = []
    for key in sorted(set(latest) | set(events)):
        zone_events = sorted(events.get(key, []), key=lambda e: (e.onset, e.event_id))
        out += _area_zone(ctx, rule, key, latest.get(key), zone_events)
    return out


def _area_zone(ctx: Context, rule: AreaRule, key: tuple[str, str], row: Row | None,
               events: list[ChangeEvent]) -> list[Finding]:
    zone, zone_id = key
    observed = row.day if row else max((e.confirmed or e.onset for e in events),
                                        default=ctx.result.period[1])
    std = ctx.standard(observed)
    limit = rule.limit(std, zone)
    unusable = usable(row, std.min_clear_obs)
    confirmed: float | None
    total: float | None
    if rule.additive and events:
        confirmed = sum(e.value for e in events if e.status == "confirmed")
        total = (confirmed or 0.0) + sum(e.value for e in events if e.status != "confirmed")
    else:
        confirmed = total = None if unusable or row is None else row.value
    details: dict[str, Any] = {"measured": None if row is None else row.value,
                               "events": [e.event_id for e in events], "rule": rule.metric}
    common: dict[str, Any] = dict(
        zone=zone, zone_id=zone_id, observed=observed, limit=limit, unit=rule.unit,
        n_clear_obs=row.n_clear_obs if row else max((e.n_clear_obs for e in events), default=0),
        n_clear_px=row.n_clear_px if row else 0)
    status: Status | None = None
    if limit is not None and confirmed is not None and confirmed > limit:
        status = "confirmed"
    elif limit is not None and total is not None and total > limit:
        status = "provisional"
    if status is None:
        if unusable:
            reason = unusable + ("; no limit in this zone" if limit is None else "")
            if confirmed:
                details["lower_bound"] = confirmed
            return [ctx.finding(std, value=None, outcome="indeterminate", reason=reason,
                                severity=None, confidence=ctx.result.confidence,
                                details=details, **common)]
        value = confirmed if confirmed is not None else 0.0
        reason = ("no limit in this zone" if limit is None else
                  f"{rule.what} {quantity(value, rule.unit)} <= limit {quantity(limit, rule.unit)}")
        return [ctx.finding(std, value=value, outcome="compliant", reason=reason, severity=None,
                            confidence=ctx.result.confidence, details=details, **common)]
    assert limit is not None  # an exceedance needs a limit
    zone_value = float((confirmed if status == "confirmed" else total) or 0.0)
    severity, why = (severity_of(ctx, std, zone, zone_id, zone_value, limit)
                     if status == "confirmed" else ("notice", []))
    reason = (f"{status} {rule.what} {quantity(zone_value, rule.unit)} > limit "
              f"{quantity(limit, rule.unit)}"
              + (f"; violation: {', '.join(why)}" if why else "")
              + (f"; a lower bound ({unusable})" if unusable else ""))
    if not events:  # a zone value without events: carry the onset of an ongoing exceedance
        prior = [f for f in ctx.before(zone_id) if f.onset is not None]
        onset = min(f.onset for f in prior if f.onset) if prior else observed
        return [ctx.finding(std, value=zone_value, outcome="exceedance", reason=reason,
                            severity=severity, confidence=ctx.result.confidence,
                            onset=onset, event_id=None,
                            event_status=status, details={**details, "violation": why},
                            **common)]
    out = []
    for e in events:
        provisional = status == "provisional" or e.status != "confirmed"
        value = float(total or 0.0) if provisional else zone_value
        out.append(ctx.finding(
            std, value=value, outcome="exceedance", reason=reason if not provisional else
            f"provisional {rule.what} {quantity(value, rule.unit)} > limit "
            f"{quantity(limit, rule.unit)}",
            severity="notice" if provisional else severity,
            confidence=least_confident(ctx.result.confidence, e.confidence), event_id=e.event_id,
            onset=e.onset, event_status=e.status, geometry=e.geometry,
            details={**details, "violation": [] if provisional else why,
                     "event_value": e.value, "event_confirmed": e.confirmed,
                     "event_window": e.window, "attribution": e.attribution}, **common))
    return out
