"""Turbidity: exceeding dates of a downstream reach, grouped into episodes.

Each date of a reach is ``exceeds``, ``clear`` (compliant) or ``unclear`` (too few water
pixels or no value) against :data:`TURBIDITY_CRITERIA`; a run of exceeding dates is an
episode, confirmed at ``turbidity.parameters.confirm_k`` dates, provisional while shorter
and still open at the end of the period, dropped when a clear compliant date ends it
sooner. Runs continue across periods through the ``trailing_run`` of previous findings.
:func:`turbidity_findings` gives one finding per episode, or one ``compliant`` or
``indeterminate`` finding per reach without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from monitor.compliance.context import Context, Status, least_confident, quantity
from monitor.compliance.rows import Row, usable
from monitor.compliance.severity import severity_of
from monitor.config import Standard
from monitor.findings import Finding

__all__ = ["TURBIDITY_CRITERIA", "turbidity_findings"]

#: Turbidity criteria: metric -> (unit, limit getter).
TURBIDITY_CRITERIA: Mapping[str, tuple[str, Callable[[Standard], float | None]]] = {
    "downstream_minus_upstream": (
        "FNU", lambda s: s.turbidity.limits.downstream_minus_upstream_fnu),
    "downstream_vs_baseline": ("1", lambda s: s.turbidity.limits.baseline_factor),
}


@dataclass
class _Day:
    date: date
    std: Standard
    state: Literal["exceeds", "clear", "unclear"]
    worst: tuple[float, str, float, float] | None  # (value/limit, metric, value, limit)
    n_px: int
    why: list[str] = field(default_factory=list)


def _day(ctx: Context, day: date, rows: Mapping[str, Row]) -> _Day:
    std = ctx.standard(day)
    min_px = std.turbidity.parameters.min_water_px
    seen: list[tuple[float, str, float, float]] = []
    why: list[str] = []
    n_px = max((r.n_clear_px for r in rows.values()), default=0)
    for metric, (_unit, get_limit) in TURBIDITY_CRITERIA.items():
        limit = get_limit(std)
        if limit is None:
            continue
        row = rows.get(metric)
        problem = usable(row, 1, min_px) if row is not None else f"no {metric} value"
        if problem or row is None or row.value is None:
            why.append(f"{day}: {problem}")
            continue
        ratio = row.value / limit if limit > 0 else (math.inf if row.value > 0 else 0.0)
        seen.append((ratio, metric, row.value, limit))
    worst = max(seen) if seen else None
    if any(value > limit for _, _, value, limit in seen):
        return _Day(day, std, "exceeds", worst, n_px, why)
    return _Day(day, std, "unclear" if why or not seen else "clear", worst, n_px, why)


def turbidity_findings(ctx: Context, rows: list[Row]) -> list[Finding]:
    """The findings of every downstream reach with turbidity rows, reach by reach."""
    reaches: dict[str, dict[date, dict[str, Row]]] = {}
    for row in rows:
        if row.zone == "water_reach" and row.metric in TURBIDITY_CRITERIA:
            reaches.setdefault(row.zone_id, {}).setdefault(row.day, {})[row.metric] = row
    return [f for reach in sorted(reaches) for f in _reach(ctx, reach, reaches[reach])]


def _reach(ctx: Context, reach: str, by_date: Mapping[date, Mapping[str, Row]]
           ) -> list[Finding]:
    days = [_day(ctx, d, by_date[d]) for d in sorted(by_date)]
    open_before = [f for f in ctx.before(reach) if f.details.get("trailing_run")]
    prior = max(open_before, key=lambda f: f.period[1], default=None)
    carry = int(prior.details["trailing_run"]) if prior is not None else 0
    runs: list[tuple[list[_Day], bool, int]] = []  # (days, open at the end, carried in)
    current: list[_Day] = []
    for d in days:
        if d.state == "exceeds":
            current.append(d)
        elif d.state == "clear":  # a clear compliant date closes a run
            if current:
                runs.append((current, False, carry))
                current = []
            carry = 0
    if current:
        runs.append((current, True, carry))
    out, isolated = [], []
    for run, is_open, carried in runs:
        std = run[0].std
        length = len(run) + carried
        if length >= std.turbidity.parameters.confirm_k:
            status: Status = "confirmed"
        elif is_open:
            status = "provisional"
        else:
            isolated += [d.date.isoformat() for d in run]
            continue
        out.append(_episode(ctx, reach, run, status, is_open, carried, prior))
    if out:
        return out
    clear = [d for d in days if d.state != "unclear"]
    last = days[-1].date if days else ctx.result.period[1]
    std = ctx.standard(last)
    worst = max((d.worst for d in clear if d.worst), default=None)
    common: dict[str, Any] = dict(
        zone="water_reach", zone_id=reach, observed=last, n_clear_obs=len(clear),
        n_clear_px=min((d.n_px for d in clear), default=0),
        value=worst[2] if worst else None, limit=worst[3] if worst else None,
        unit=TURBIDITY_CRITERIA[worst[1]][0] if worst else "FNU",
        severity=None, confidence=ctx.result.confidence)
    details = {"clear_dates": [d.date.isoformat() for d in clear], "isolated": isolated,
               "criterion": worst[1] if worst else None}
    if len(clear) < std.min_clear_obs:
        problems = [w for d in days for w in d.why][:3]
        reason = (f"{len(clear)} clear date(s) with enough water pixels, fewer than the "
                  f"{std.min_clear_obs} the standard requires (min_clear_obs)"
                  + (f": {'; '.join(problems)}" if problems else ""))
        return [ctx.finding(std, outcome="indeterminate", reason=reason, details=details,
                            **{**common, "value": None})]
    k = std.turbidity.parameters.confirm_k
    reason = (f"no exceedance on {k} consecutive clear dates ({len(clear)} clear dates"
              + (f"; isolated exceedances dropped: {', '.join(isolated)})" if isolated else ")"))
    return [ctx.finding(std, outcome="compliant", reason=reason, details=details, **common)]


def _episode(ctx: Context, reach: str, run: list[_Day], status: Status, is_open: bool,
             carried: int, prior: Finding | None) -> Finding:
    std = run[0].std
    ratio, metric, value, limit = max(d.worst for d in run if d.worst)
    unit = TURBIDITY_CRITERIA[metric][0]
    onset = run[0].date
    if carried and prior is not None and prior.onset is not None:
        onset = prior.onset
    event_id = f"plume-{reach}-{onset.isoformat()}"  # as the water indicator names episodes
    confidence = least_confident(ctx.result.confidence, *(
        e.confidence for e in ctx.result.events
        if e.zone_id == reach and e.onset in (onset, run[0].date)))
    severity, why = (severity_of(ctx, std, "water_reach", reach, value, limit)
                     if status == "confirmed" else ("notice", []))
    n = len(run) + carried
    reason = (f"{status} turbidity episode: {metric} {quantity(value, unit)} > limit "
              f"{quantity(limit, unit)} on {n} consecutive clear date(s)"
              + (f"; violation: {', '.join(why)}" if why else ""))
    peak = max(run, key=lambda d: d.worst[0] if d.worst else -math.inf)
    return ctx.finding(
        std, zone="water_reach", zone_id=reach, observed=run[0].date, value=value, limit=limit,
        unit=unit, outcome="exceedance", reason=reason, severity=severity,
        confidence=confidence, n_clear_obs=len(run), n_clear_px=peak.n_px,
        event_id=event_id, onset=onset, event_status=status,
        details={"criterion": metric, "ratio_to_limit": ratio, "carried_in": carried,
                 "dates": [d.date.isoformat() for d in run], "violation": why,
                 "trailing_run": n if is_open else 0})
