"""The severity ladder of a standard, applied to one confirmed exceedance.

A provisional exceedance is a ``notice`` (decided by the rules themselves); a confirmed one
is a ``warning``, or a ``violation`` when any rung of the standard's ``severity`` ladder
applies: the value is at least ``violation_multiple`` times a positive limit, the zone is
an exclusion zone and ``exclusion_zone_is_violation``, or the zone exceeded in
``repeated_periods`` contiguous periods (this one included, from ``previous`` findings).
"""

from __future__ import annotations

from monitor.compliance.context import Context
from monitor.config import Standard
from monitor.findings import Severity

__all__ = ["severity_of"]


def severity_of(ctx: Context, std: Standard, zone: str, zone_id: str, value: float,
                limit: float) -> tuple[Severity, list[str]]:
    """Severity of a confirmed exceedance, and the rules that made it a violation."""
    ladder, why = std.severity, []
    if ladder.violation_multiple is not None and limit > 0 and (
            value >= ladder.violation_multiple * limit):
        why.append(f"value {value:g} >= {ladder.violation_multiple:g} x the limit {limit:g}")
    if zone == "exclusion_zone" and ladder.exclusion_zone_is_violation:
        why.append("inside an exclusion zone")
    if ladder.repeated_periods is not None:
        n = ctx.repeated(zone_id, ladder.repeated_periods)
        if n >= ladder.repeated_periods:
            why.append(f"exceeded in {n} consecutive periods")
    return ("violation" if why else "warning"), why
