"""Findings and alerts: what compliance concludes, and what the alert store keeps.

A :class:`Finding` compares one value with one limit of one standard version, for one
concession, indicator, zone and period. An :class:`Alert` follows a change event whose
finding is an exceedance through its lifecycle. Both carry stable ids derived from their
natural keys, so re-running a check never creates a second copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from shapely.geometry.base import BaseGeometry

Outcome = Literal["compliant", "exceedance", "indeterminate"]
Severity = Literal["notice", "warning", "violation"]
AlertState = Literal["provisional", "confirmed", "resolved"]
ReviewState = Literal["unreviewed", "analyst_confirmed", "dismissed", "field_verified"]

OUTCOMES: tuple[Outcome, ...] = ("compliant", "exceedance", "indeterminate")
SEVERITIES: tuple[Severity, ...] = ("notice", "warning", "violation")
#: Reasons an analyst may give for dismissing an alert (controlled list).
DISMISS_REASONS = ("cloud_or_shadow_artefact", "seasonal_or_phenology", "natural_disturbance",
                   "permitted_activity", "geometry_error", "duplicate", "data_error", "other")


def stable_id(*parts: object, length: int = 16) -> str:
    """A short hex id from the natural key ``parts`` (sha256; ``None`` is written as '')."""
    text = "|".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Finding:
    """One value against one limit of one standard version.

    Attributes
    ----------
    concession_id, indicator, zone, zone_id
        What and where.
    period
        (start, end) of the period evaluated.
    observed
        Date of the observation the value rests on (decides the standard version in force).
    value, limit, unit
        The measured value and the limit in force (None when the standard sets none).
    outcome
        ``compliant``, ``exceedance`` or ``indeterminate``.
    reason
        Why indeterminate (or a short explanation of the outcome).
    severity
        For exceedances only: ``notice`` (provisional), ``warning`` (confirmed),
        ``violation`` (confirmed and above a multiple of the limit, in an exclusion zone, or
        repeated in consecutive periods).
    confidence
        ``low``, ``medium`` or ``high``.
    n_clear_obs, n_clear_px
        Observation counts behind the value.
    standard_id, standard_version
        The standard version the finding was made under.
    event_id, onset, event_status
        The change event behind an exceedance, its first-detection date and status.
    geometry
        Change polygons (concession UTM CRS), when any.
    """

    concession_id: str
    indicator: str
    zone: str
    zone_id: str
    period: tuple[date, date]
    observed: date
    value: float | None
    limit: float | None
    unit: str
    outcome: Outcome
    reason: str
    severity: Severity | None
    confidence: str
    n_clear_obs: int
    n_clear_px: int
    standard_id: str
    standard_version: str
    event_id: str | None = None
    onset: date | None = None
    event_status: str | None = None
    geometry: BaseGeometry | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def finding_id(self) -> str:
        """Stable id: concession, indicator, zone, period, event and standard version."""
        return stable_id(self.concession_id, self.indicator, self.zone_id, self.period[0],
                         self.period[1], self.event_id, self.standard_id,
                         self.standard_version)

    @property
    def alert_key(self) -> str | None:
        """Stable id of the alert this finding raises (exceedances with an onset only).

        From (concession, indicator, zone, event onset, standard id@version): a later run
        that sees the same event again maps onto the same alert.
        """
        if self.outcome != "exceedance" or self.onset is None:
            return None
        return stable_id(self.concession_id, self.indicator, self.zone_id,
                         self.onset.isoformat(), f"{self.standard_id}@{self.standard_version}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings, geometry left out)."""
        return {
            "finding_id": self.finding_id,
            "concession_id": self.concession_id,
            "indicator": self.indicator,
            "zone": self.zone,
            "zone_id": self.zone_id,
            "period": [self.period[0].isoformat(), self.period[1].isoformat()],
            "observed": self.observed.isoformat(),
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "outcome": self.outcome,
            "reason": self.reason,
            "severity": self.severity,
            "confidence": self.confidence,
            "n_clear_obs": self.n_clear_obs,
            "n_clear_px": self.n_clear_px,
            "standard": f"{self.standard_id}@{self.standard_version}",
            "event_id": self.event_id,
            "onset": None if self.onset is None else self.onset.isoformat(),
            "event_status": self.event_status,
            "alert_id": self.alert_key,
        }
