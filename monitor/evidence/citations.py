"""Community leads cited by a check: does the check corroborate what was reported.

A lead (see :mod:`monitor.leads`) reports something seen at a place on a date. The check
it triggers covers the lead's concession and dates; :func:`cite` then measures, in the
concession's UTM CRS, how far the lead's point lies from each change the check found
(vegetation loss and tailings polygons, and the water reaches of turbidity exceedances).
A lead is *corroborated* when an exceedance lies within ``radius_m`` of it.

The citation keeps every protected value (location, claim, reporter) so that the full
package can show them; which of them a tier shows is decided by
:mod:`monitor.evidence.redaction`. ``repr`` never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import pyproj
import shapely.geometry
from shapely.ops import transform

from monitor.checking import CheckResult
from monitor.errors import EvidenceError

__all__ = ["DEFAULT_RADIUS_M", "PROTECTED_FIELDS", "CitableLead", "LeadCitation", "cite"]

#: A change within this distance of a lead's point corroborates it.
DEFAULT_RADIUS_M = 500.0
#: Fields of a lead that only the tiers allowed to see them show.
PROTECTED_FIELDS = ("lon", "lat", "claim", "reporter_name", "reporter_contact",
                    "reporter_org")


class CitableLead(Protocol):
    """What a citation needs of a lead (:class:`monitor.leads.Lead` has it)."""

    @property
    def lead_id(self) -> str: ...  # noqa: D102
    @property
    def concession_id(self) -> str: ...  # noqa: D102
    @property
    def seen_on(self) -> date: ...  # noqa: D102
    @property
    def lon(self) -> float: ...  # noqa: D102
    @property
    def lat(self) -> float: ...  # noqa: D102


@dataclass(frozen=True)
class LeadCitation:
    """A lead as the check that it triggered answers it.

    Attributes
    ----------
    lead_id, concession_id, seen_on
        Public identity of the lead.
    corroborated
        Whether an exceedance lies within ``radius_m`` of the lead's point.
    radius_m
        The corroboration radius.
    events
        Ids of the change events within ``radius_m`` (any outcome), nearest first.
    nearest_m
        Distance to the nearest change, None when the check found none.
    protected
        The lead's protected values (:data:`PROTECTED_FIELDS`), hidden from ``repr``.
    commitments
        The lead's stored HMAC commitments to them, by field.
    """

    lead_id: str
    concession_id: str
    seen_on: date
    corroborated: bool
    radius_m: float
    events: tuple[str, ...]
    nearest_m: float | None
    protected: Mapping[str, Any] = field(repr=False, compare=False)
    commitments: Mapping[str, str] = field(default_factory=dict, compare=False)


def _to_utm(result: CheckResult) -> Any:
    concession = result.concession
    if concession is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no concession")
    return pyproj.Transformer.from_crs("EPSG:4326", concession.crs, always_xy=True).transform


def _changes(result: CheckResult) -> list[tuple[str, Any, bool]]:
    """(event id, geometry, is an exceedance) for every located change of the check."""
    exceeding = {f.event_id for f in result.findings
                 if f.outcome == "exceedance" and f.event_id}
    found = [(e.event_id, e.geometry, e.event_id in exceeding)
             for r in result.results for e in r.events
             if e.geometry is not None and not e.geometry.is_empty]
    concession = result.concession
    if concession is not None:  # turbidity episodes have no polygon: their reach has
        reaches = {f.feature_id: f.geometry for f in concession.features_of("water_reach")}
        for f in result.findings:
            if (f.indicator == "turbidity" and f.outcome == "exceedance"
                    and f.zone_id in reaches and f.event_id):
                found.append((f.event_id, reaches[f.zone_id], True))
    return found


def cite(lead: CitableLead, result: CheckResult,
         radius_m: float = DEFAULT_RADIUS_M) -> LeadCitation:
    """Answer ``lead`` with the check it triggered.

    Raises
    ------
    EvidenceError
        If the lead is about another concession than the check.
    """
    if lead.concession_id != result.concession_id:
        raise EvidenceError(f"lead {lead.lead_id} is about {lead.concession_id}, the check "
                            f"about {result.concession_id}")
    point = transform(_to_utm(result), shapely.geometry.Point(lead.lon, lead.lat))
    distances = sorted((float(geom.distance(point)), event_id, exceeds)
                       for event_id, geom, exceeds in _changes(result))
    near = [(d, e, x) for d, e, x in distances if d <= radius_m]
    protected = {name: getattr(lead, name, None) for name in PROTECTED_FIELDS}
    return LeadCitation(
        lead_id=lead.lead_id, concession_id=lead.concession_id, seen_on=lead.seen_on,
        corroborated=any(x for _, _, x in near), radius_m=float(radius_m),
        events=tuple(dict.fromkeys(e for _, e, _ in near)),
        nearest_m=round(distances[0][0], 1) if distances else None, protected=protected,
        commitments=dict(getattr(lead, "commitments", None) or {}))


def cite_all(leads: Sequence[CitableLead], result: CheckResult,
             radius_m: float = DEFAULT_RADIUS_M) -> tuple[LeadCitation, ...]:
    """:func:`cite` for each lead, sorted by lead id."""
    return tuple(sorted((cite(lead, result, radius_m) for lead in leads),
                        key=lambda c: c.lead_id))
