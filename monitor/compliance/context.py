"""What every compliance rule needs: the evaluation context and shared helpers.

:class:`Context` carries one evaluation (the indicator result, the standard set, the
standard id, a pinned version if any, and the ``previous`` findings). It picks the standard
version that applies on a date, builds findings stamped with that version, and looks up the
same zone's exceedances in the periods just before (for repeated-period violations and for
runs and onsets continued across periods). :func:`quantity` and :func:`least_confident`
format reasons and combine confidences the same way in every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from monitor.config import Standard, StandardSet
from monitor.findings import Finding
from monitor.indicators.base import IndicatorResult

__all__ = ["CONFIDENCE", "Context", "Status", "least_confident", "quantity"]

CONFIDENCE = ("low", "medium", "high")
Status = Literal["provisional", "confirmed"]


@dataclass(frozen=True)
class Context:
    """One evaluation: the result, the standards, and the findings before it."""

    result: IndicatorResult
    standards: StandardSet
    standard_id: str
    version: str | None
    previous: tuple[Finding, ...]

    def standard(self, on: date) -> Standard:
        """The version pinned, or else the version in force on ``on``."""
        if self.version is not None:
            return self.standards.get(self.standard_id, self.version)
        return self.standards.in_force(self.standard_id, on)

    def finding(self, std: Standard, **fields: Any) -> Finding:
        """A finding of this result under ``std`` (marked when the version is pinned)."""
        details = dict(fields.pop("details", {}))
        if self.version is not None:
            details["version_pinned"] = True
        return Finding(concession_id=self.result.concession_id,
                       indicator=self.result.indicator, period=self.result.period,
                       standard_id=std.id, standard_version=std.version, details=details,
                       **fields)

    def before(self, zone_id: str, start: date | None = None) -> list[Finding]:
        """Exceedances of ``zone_id`` in the period ending just before ``start``.

        ``start`` defaults to this period's start. A period is contiguous when it ends on
        the day before ``start`` or on ``start`` itself.
        """
        start = start or self.result.period[0]
        return [f for f in self.previous
                if f.concession_id == self.result.concession_id and f.zone_id == zone_id
                and f.indicator == self.result.indicator and f.outcome == "exceedance"
                and f.standard_id == self.standard_id and f.period[0] < start
                and start - timedelta(days=1) <= f.period[1] <= start]

    def repeated(self, zone_id: str, needed: int) -> int:
        """Contiguous periods, this one included, with a confirmed exceedance (up to needed)."""
        count, start = 1, self.result.period[0]
        while count < needed:
            prior = [f for f in self.before(zone_id, start)
                     if f.severity in ("warning", "violation")]
            if not prior:
                break
            count, start = count + 1, min(f.period[0] for f in prior)
        return count


def quantity(value: float, unit: str) -> str:
    """A quantity for a reason: ``1.2 ha``, ``0.3`` (unit ``1``)."""
    return f"{value:.4g}" + ("" if unit == "1" else f" {unit}")


def least_confident(*levels: str) -> str:
    """The weakest of the confidence levels given (``low`` when none is known)."""
    known = [c for c in levels if c in CONFIDENCE]
    return min(known, key=CONFIDENCE.index) if known else "low"
