"""The shared indicators of one concession, computed from its findings and alerts.

:func:`concession_indicators` turns the findings of one concession (every finding observed
in the period, and the ones counted after de-duplication) and its alerts into
:class:`Indicators` (:func:`monitor.reporting.build.combine` sums them over a coalition
member or the portfolio). Every value that cannot be derived from the
store is ``None``, and ``not_available`` says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from monitor.findings import SEVERITIES
from monitor.reporting.data import ReportPeriod, StoredAlert, StoredFinding, listed_events

__all__ = ["ALERT_STATES", "INDICATORS", "LOSS_ZONES", "REVIEWS", "Indicators",
           "concession_indicators", "total"]

#: Zones of the vegetation-loss split, in report order.
LOSS_ZONES = ("permitted_footprint", "licence_outside_footprint", "exclusion_zone",
              "buffer_ring")
INDICATORS = ("vegetation_loss", "turbidity", "tailings")
ALERT_STATES = ("provisional", "confirmed", "resolved")
REVIEWS = ("unreviewed", "analyst_confirmed", "dismissed", "field_verified")


@dataclass(frozen=True)
class Indicators:
    """The shared indicators of one concession, or summed over several.

    Attributes
    ----------
    findings_recorded, findings_counted
        Findings observed in the period, before and after de-duplication.
    exceedances, indeterminate
        Counted findings with these outcomes.
    loss_ha, loss_ha_total, loss_ha_provisional
        Confirmed vegetation loss (ha) per zone of :data:`LOSS_ZONES`, in total, and the
        area of events still provisional (not in the other values).
    turbidity_exceedance_dates, turbidity_isolated_dates
        Dates of the period in exceedance episodes; exceeding dates the standard dropped as
        isolated (single dates, not episodes). A sum counts concession-days.
    turbidity_episodes
        Counted turbidity episodes (exceedance findings).
    tailings_growth_ha
        Growth of the disturbed (bare or pond) area outside the permitted footprint since
        each check's baseline composite (ha).
    tailings_facility_growth
        Largest growth of a tailings facility, as a fraction of its baseline area.
    alerts_by_severity, alerts_by_state, alerts_by_review
        Alerts with a finding observed in the period, by their current values.
    clear_obs_min
        Per indicator, the fewest clear observations behind a counted finding.
    indeterminate_reasons
        Each reason of an indeterminate counted finding, with how often it was given.
    not_available
        ``"field: why"`` for every value that is None.
    notes
        What makes a value a lower bound, or a part of it unknown.
    """

    findings_recorded: int
    findings_counted: int
    exceedances: int
    indeterminate: int
    loss_ha: Mapping[str, float | None]
    loss_ha_total: float | None
    loss_ha_provisional: float | None
    turbidity_exceedance_dates: tuple[str, ...] | None
    turbidity_isolated_dates: tuple[str, ...] | None
    turbidity_episodes: int | None
    tailings_growth_ha: float | None
    tailings_facility_growth: float | None
    alerts_by_severity: Mapping[str, int]
    alerts_by_state: Mapping[str, int]
    alerts_by_review: Mapping[str, int]
    clear_obs_min: Mapping[str, int | None]
    indeterminate_reasons: tuple[tuple[str, int], ...]
    not_available: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def turbidity_exceedance_days(self) -> int | None:
        """Number of exceedance dates (concession-days when summed)."""
        dates = self.turbidity_exceedance_dates
        return None if dates is None else len(dates)

    @property
    def indeterminate_share(self) -> float | None:
        """Share of counted findings that were indeterminate (None without findings)."""
        if not self.findings_counted:
            return None
        return round(self.indeterminate / self.findings_counted, 4)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value + 0.0, digits)


def total(values: Iterable[float | None]) -> float | None:
    """Sum of the known values, rounded to 1e-4; None when none is known."""
    known = [v for v in values if v is not None]
    return _round(sum(known)) if known else None


def _event_area(f: StoredFinding) -> float:
    value = f.details.get("event_value")
    return float(value) if isinstance(value, int | float) else float(f.value or 0.0)


def _areas(counted: Sequence[StoredFinding], notes: list[str], what: str
           ) -> tuple[dict[str, float | None], float]:
    """Confirmed area per zone name and the provisional area, without double counting.

    Events count once each (their own area). A zone summary (newest first) adds the part
    of its value not already counted through the events it lists; when it shares events
    with a newer summary its share cannot be separated and it adds nothing (noted). An
    indeterminate summary adds its lower bound, when it has one, and is noted.
    """
    events = {f.event_id: f for f in counted if f.event_id}
    confirmed = {e: _event_area(f) for e, f in events.items() if f.event_status == "confirmed"}
    provisional = sum(_event_area(f) for f in events.values() if f.event_status != "confirmed")
    per_zone_id: dict[tuple[str, str], list[float | None]] = {}
    for f in events.values():
        per_zone_id.setdefault((f.zone, f.zone_id), []).append(confirmed.get(f.event_id or "", 0.0))
    claimed: dict[tuple[str, str], set[str]] = {}
    for f in sorted((f for f in counted if not f.event_id), key=lambda f: f.recency,
                    reverse=True):
        key, listed = (f.zone, f.zone_id), listed_events(f)
        value = f.value
        if f.outcome == "indeterminate":
            bound = f.details.get("lower_bound")
            value = float(bound) if isinstance(bound, int | float) else None
            notes.append(f"{what} in {f.zone_id}: " + ("a lower bound" if value is not None
                                                       else "unknown") + f" ({f.reason})")
        shared = listed & claimed.setdefault(key, set())
        if shared and value:
            notes.append(f"{what} in {f.zone_id}: the {value:g} {f.unit} recorded for "
                         f"{f.period_start}..{f.period_end} shares events with a newer check "
                         "and is not counted again (a lower bound)")
            value = 0.0
        claimed[key] |= listed
        covered = sum(confirmed.get(e, 0.0) for e in listed)
        per_zone_id.setdefault(key, []).append(
            None if value is None else max(0.0, value - covered))
    by_zone: dict[str, float | None] = {}
    for (zone, _zone_id), adds in sorted(per_zone_id.items()):
        by_zone[zone] = total([by_zone.get(zone), total(adds)])
    return by_zone, round(float(provisional), 4)


def _vegetation(counted: Sequence[StoredFinding], notes: list[str], missing: list[str]
                ) -> tuple[dict[str, float | None], float | None, float | None]:
    veg = [f for f in counted if f.indicator == "vegetation_loss"]
    if not veg:
        missing.append("vegetation loss: no vegetation_loss finding in the period")
        return dict.fromkeys(LOSS_ZONES), None, None
    by_zone, provisional = _areas(veg, notes, "vegetation loss")
    loss = {z: by_zone.get(z) for z in LOSS_ZONES}
    for zone, area in loss.items():
        if area is None:
            missing.append(f"loss_ha_{zone}: " + (
                "every finding of this zone was indeterminate" if zone in by_zone
                else "no finding for this zone (the concession may have none)"))
    return loss, total(by_zone.values()), provisional


def _turbidity(recorded: Sequence[StoredFinding], counted: Sequence[StoredFinding],
               period: ReportPeriod, missing: list[str]
               ) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None, int | None]:
    turb = [f for f in recorded if f.indicator == "turbidity"]
    if not turb:
        missing.append("turbidity: no turbidity finding in the period (no downstream "
                       "reach, or not checked)")
        return None, None, None
    dates: set[str] = set()
    isolated: set[str] = set()
    for f in turb:
        listed = f.details.get("dates" if f.outcome == "exceedance" else "isolated")
        if not isinstance(listed, list):
            listed = [f.observed.isoformat()] if f.outcome == "exceedance" else []
        (dates if f.outcome == "exceedance" else isolated).update(
            d for d in listed if isinstance(d, str) and period.contains(_day(d)))
    episodes = sum(1 for f in counted if f.indicator == "turbidity" and f.event_id
                   and f.outcome == "exceedance")
    return tuple(sorted(dates)), tuple(sorted(isolated - dates)), episodes


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return date.min


def _tailings(counted: Sequence[StoredFinding], notes: list[str], missing: list[str]
              ) -> tuple[float | None, float | None]:
    tail = [f for f in counted if f.indicator == "tailings"]
    if not tail:
        missing.append("tailings: no tailings finding in the period (no tailings facility, "
                       "or not checked)")
        return None, None
    growth_rows = [f for f in tail if f.unit == "ha"]
    growth = total(_areas(growth_rows, notes, "tailings growth")[0].values())
    if growth is None:
        missing.append("tailings_growth_outside_footprint_ha: " + (
            "every growth finding was indeterminate" if growth_rows else "no growth finding"))
    latest: dict[str, StoredFinding] = {}
    for f in sorted((f for f in tail if f.unit == "1"), key=lambda f: f.recency):
        latest[f.zone_id] = f
    fractions = [f.value for f in latest.values() if f.value is not None]
    for f in latest.values():
        if f.value is None:
            notes.append(f"tailings facility growth of {f.zone_id}: unknown ({f.reason})")
    if not fractions:
        missing.append("tailings_facility_growth_fraction: " + (
            "every facility finding was indeterminate" if latest else "no facility finding"))
    return growth, _round(max(fractions)) if fractions else None


def concession_indicators(recorded: Sequence[StoredFinding], counted: Sequence[StoredFinding],
                          alerts: Sequence[StoredAlert], period: ReportPeriod) -> Indicators:
    """The indicators of one concession from its findings and alerts in ``period``."""
    notes: list[str] = []
    missing: list[str] = []
    if not recorded:
        missing.append("all indicators: no findings recorded for this period")
        return _empty(alerts, missing)
    loss, loss_total, provisional = _vegetation(counted, notes, missing)
    dates, isolated, episodes = _turbidity(recorded, counted, period, missing)
    growth, fraction = _tailings(counted, notes, missing)
    clear: dict[str, int | None] = {}
    for ind in INDICATORS:
        obs = [f.n_clear_obs for f in counted if f.indicator == ind
               and not (ind == "turbidity" and f.outcome == "exceedance")]
        clear[ind] = min(obs) if obs else None
        if not obs and any(f.indicator == ind for f in counted):
            missing.append(f"clear_obs_min_{ind}: only episode findings, which count the "
                           "episode's own dates")
    reasons = Counter(f.reason for f in counted if f.outcome == "indeterminate")
    return Indicators(
        findings_recorded=len(recorded), findings_counted=len(counted),
        exceedances=sum(f.outcome == "exceedance" for f in counted),
        indeterminate=sum(reasons.values()), loss_ha=loss, loss_ha_total=loss_total,
        loss_ha_provisional=provisional, turbidity_exceedance_dates=dates,
        turbidity_isolated_dates=isolated, turbidity_episodes=episodes,
        tailings_growth_ha=growth, tailings_facility_growth=fraction,
        **_alert_counts(alerts), clear_obs_min=clear,
        indeterminate_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        not_available=tuple(missing), notes=tuple(notes))


def _alert_counts(alerts: Sequence[StoredAlert]) -> dict[str, dict[str, int]]:
    return {"alerts_by_severity": {s: sum(a.severity == s for a in alerts) for s in SEVERITIES},
            "alerts_by_state": {s: sum(a.state == s for a in alerts) for s in ALERT_STATES},
            "alerts_by_review": {s: sum(a.review == s for a in alerts) for s in REVIEWS}}


def _empty(alerts: Sequence[StoredAlert], missing: list[str]) -> Indicators:
    return Indicators(0, 0, 0, 0, dict.fromkeys(LOSS_ZONES), None, None, None, None, None,
                      None, None, **_alert_counts(alerts),
                      clear_obs_min=dict.fromkeys(INDICATORS), indeterminate_reasons=(),
                      not_available=tuple(missing), notes=())
