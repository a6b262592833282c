"""Alert records as the store returns them, and their mapping onto partner alert systems.

:class:`Alert` is one change event under one standard version, followed through its
lifecycle; :class:`Transition` is one recorded change of its lifecycle state, review state
or severity; :class:`RecordSummary` says what :meth:`AlertStore.record` did.

Partner confidence codes (SCIENCE.md section 9)
-----------------------------------------------
``glad_conf``: 2 (probable) for an alert never confirmed, 3 (confirmed) once confirmed.
``gfw_conf`` (GFW integrated alerts): 2 (low) never confirmed, 3 (high) confirmed,
4 (highest) confirmed with severity ``violation``. ``gfw_code`` packs it the GFW way:
``gfw_conf * 10000 + days from 2014-12-31 to the onset``. A dismissed alert has no partner
code (None): the analyst has judged it not to be a real change. A resolved alert keeps the
code it had (a resolved change was still a change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from monitor.findings import AlertState, ReviewState, Severity
from monitor.geometry import to_lonlat

__all__ = [
    "GFW_EPOCH",
    "Alert",
    "RecordSummary",
    "Transition",
    "TransitionKind",
    "gfw_code",
    "gfw_conf",
    "glad_conf",
]

TransitionKind = Literal["lifecycle", "review", "severity"]
#: Day 0 of the GFW integrated alert date encoding.
GFW_EPOCH = date(2014, 12, 31)


def gfw_conf(confirmed: bool, severity: Severity, review: ReviewState) -> int | None:
    """GFW integrated-alert confidence: 2 low, 3 high, 4 highest; None when dismissed.

    Parameters
    ----------
    confirmed
        Whether the alert has ever been confirmed.
    severity
        Highest severity seen.
    review
        Review state (a dismissed alert gets None).
    """
    if review == "dismissed":
        return None
    if not confirmed:
        return 2
    return 4 if severity == "violation" else 3


def glad_conf(confirmed: bool, review: ReviewState) -> int | None:
    """GLAD-L / RADD confidence: 2 probable (low), 3 confirmed (high); None when dismissed."""
    if review == "dismissed":
        return None
    return 3 if confirmed else 2


def gfw_code(conf: int | None, onset: date) -> int | None:
    """GFW packing ``conf * 10000 + days since 2014-12-31``; None when it cannot be packed."""
    days = (onset - GFW_EPOCH).days
    if conf is None or not 0 < days < 10000:
        return None
    return conf * 10000 + days


@lru_cache(maxsize=64)
def _crs(wkt: str) -> pyproj.CRS:
    return pyproj.CRS.from_wkt(wkt)


@dataclass(frozen=True)
class Alert:
    """One change event under one standard version, as stored.

    Attributes
    ----------
    alert_id
        ``Finding.alert_key``: stable over runs (concession, indicator, zone, onset, standard).
    concession_id, indicator, zone, zone_id, onset, standard_id, standard_version
        The natural key and its labels.
    state
        Lifecycle: ``provisional``, ``confirmed`` or ``resolved``.
    review
        ``unreviewed``, ``analyst_confirmed``, ``dismissed`` or ``field_verified``.
    severity
        Highest severity seen in the alert's findings.
    first_seen, last_seen
        Earliest and latest observation date of the alert's exceedance findings.
    confirmed_at, resolved_at
        UTC ISO time the store confirmed / resolved the alert (None if it has not).
    finding_id
        The latest finding (by observation date), which gives value, limit, unit.
    n_findings
        Number of exceedance findings linked to the alert.
    geometry, crs
        Change polygons of the latest finding that had any, and their CRS (WKT).
    created_at, updated_at
        UTC ISO times of the store's first and latest change to the alert.
    """

    alert_id: str
    concession_id: str
    indicator: str
    zone: str
    zone_id: str
    onset: date
    standard_id: str
    standard_version: str
    state: AlertState
    review: ReviewState
    severity: Severity
    first_seen: date
    last_seen: date
    confirmed_at: str | None
    resolved_at: str | None
    finding_id: str
    n_findings: int
    value: float | None
    limit: float | None
    unit: str
    geometry: BaseGeometry | None
    crs: str | None = field(repr=False)
    created_at: str
    updated_at: str

    @property
    def standard(self) -> str:
        """``standard_id@standard_version``."""
        return f"{self.standard_id}@{self.standard_version}"

    @property
    def confirmed(self) -> bool:
        """Whether the alert has been confirmed (it may have been resolved since)."""
        return self.state == "confirmed" or self.confirmed_at is not None

    @property
    def gfw_conf(self) -> int | None:
        """GFW integrated-alert confidence (see the module notes)."""
        return gfw_conf(self.confirmed, self.severity, self.review)

    @property
    def glad_conf(self) -> int | None:
        """GLAD-L / RADD confidence (see the module notes)."""
        return glad_conf(self.confirmed, self.review)

    @property
    def gfw_code(self) -> int | None:
        """GFW integrated-alert value: confidence and onset packed in one integer."""
        return gfw_code(self.gfw_conf, self.onset)

    def geometry_lonlat(self) -> BaseGeometry | None:
        """The change polygons in EPSG:4326 (split at the antimeridian), or None."""
        if self.geometry is None or self.crs is None:
            return None
        return to_lonlat(self.geometry, _crs(self.crs))

    def to_dict(self, geometry: bool = False) -> dict[str, Any]:
        """JSON-ready dict; with ``geometry``, add the polygons as GeoJSON in EPSG:4326."""
        out: dict[str, Any] = {
            "alert_id": self.alert_id,
            "concession_id": self.concession_id,
            "indicator": self.indicator,
            "zone": self.zone,
            "zone_id": self.zone_id,
            "onset": self.onset.isoformat(),
            "standard": self.standard,
            "state": self.state,
            "review": self.review,
            "severity": self.severity,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "confirmed_at": self.confirmed_at,
            "resolved_at": self.resolved_at,
            "finding_id": self.finding_id,
            "n_findings": self.n_findings,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "gfw_conf": self.gfw_conf,
            "glad_conf": self.glad_conf,
            "gfw_code": self.gfw_code,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if geometry:
            lonlat = self.geometry_lonlat()
            out["geometry"] = (None if lonlat is None
                               else shapely.geometry.mapping(lonlat))
        return out


@dataclass(frozen=True)
class Transition:
    """One recorded change of an alert: who, when, why.

    Attributes
    ----------
    seq
        Order of recording in the store (increasing).
    alert_id
        The alert changed.
    kind
        ``lifecycle`` (state), ``review`` (review state) or ``severity`` (escalation).
    from_state, to_state
        Before and after (``from_state`` is None when the alert was created).
    actor
        Who: a person (``--by``) or the process (``monitor`` by default).
    at
        When, UTC ISO 8601.
    reason, note
        Why: a controlled reason (dismissals) or a sentence; a free note.
    finding_id, run_id
        The finding and run that caused an automatic transition, when any.
    """

    seq: int
    alert_id: str
    kind: TransitionKind
    from_state: str | None
    to_state: str
    actor: str
    at: str
    reason: str | None
    note: str | None
    finding_id: str | None
    run_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "seq": self.seq, "alert_id": self.alert_id, "kind": self.kind,
            "from_state": self.from_state, "to_state": self.to_state, "actor": self.actor,
            "at": self.at, "reason": self.reason, "note": self.note,
            "finding_id": self.finding_id, "run_id": self.run_id,
        }


@dataclass(frozen=True)
class RecordSummary:
    """What one :meth:`AlertStore.record` call did.

    Finding counts partition the (de-duplicated) findings given. Alert counts count
    changes: one alert may be both created and confirmed in one call, and counts in both.

    Attributes
    ----------
    findings_new
        Findings stored for the first time.
    findings_known
        Findings already stored with identical content (nothing done).
    findings_conflicting
        Findings already stored with *different* content; the stored version is kept (a
        finding is immutable) and a warning is logged.
    exceedances_without_alert
        New exceedance findings without an event onset, which therefore raise no alert.
    alerts_new, alerts_confirmed, alerts_reopened, alerts_resolved
        Alerts created; promoted provisional -> confirmed; reopened by a newer exceedance
        after resolution; resolved automatically (``auto_resolve``).
    alerts_updated
        Existing alerts given a new finding without a state change (e.g. a newer value).
    alerts_unchanged
        Alerts the given findings point at that did not change at all.
    changed_alert_ids
        Every alert changed by the call, sorted.
    """

    findings_new: int = 0
    findings_known: int = 0
    findings_conflicting: int = 0
    exceedances_without_alert: int = 0
    alerts_new: int = 0
    alerts_confirmed: int = 0
    alerts_reopened: int = 0
    alerts_resolved: int = 0
    alerts_updated: int = 0
    alerts_unchanged: int = 0
    changed_alert_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "findings_new": self.findings_new, "findings_known": self.findings_known,
            "findings_conflicting": self.findings_conflicting,
            "exceedances_without_alert": self.exceedances_without_alert,
            "alerts_new": self.alerts_new, "alerts_confirmed": self.alerts_confirmed,
            "alerts_reopened": self.alerts_reopened, "alerts_resolved": self.alerts_resolved,
            "alerts_updated": self.alerts_updated, "alerts_unchanged": self.alerts_unchanged,
            "changed_alert_ids": list(self.changed_alert_ids),
        }
