"""Compliance: outcomes per indicator and zone, the severity ladder, versions, stable ids."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from monitor.compliance import evaluate, reevaluate
from monitor.config import StandardSet, load_standard, load_standards, parse_standard
from monitor.errors import ConfigError, IndicatorResultError
from monitor.findings import Finding
from monitor.indicators.base import MEASUREMENT_COLUMNS, ChangeEvent, IndicatorResult

STANDARDS = Path(__file__).resolve().parents[1] / "configs" / "standards"
DEFAULT_TEXT = (STANDARDS / "default.yaml").read_text(encoding="utf-8")
V10 = load_standards(STANDARDS / "default.yaml")
BOTH = load_standards(STANDARDS)
Q1 = (date(2021, 1, 1), date(2021, 3, 31))
Q2 = (date(2021, 4, 1), date(2021, 6, 30))
Q3 = (date(2021, 7, 1), date(2021, 9, 30))
CID = "demo-clearing"


def standards(**edits: str) -> StandardSet:
    """The default standard with ``old=new`` text edits (keys are placeholders)."""
    text = DEFAULT_TEXT
    for pair in edits.values():
        old, new = pair.split("=>")
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return StandardSet((parse_standard(text, "variant.yaml"),))


def row(zone: str, value: float, *, metric: str = "loss_area", zone_id: str | None = None,
        day: date = Q1[1], n_obs: int = 6, n_px: int = 400, status: str = "ok",
        reason: str = "", indicator: str = "vegetation_loss", unit: str = "ha"
        ) -> dict[str, Any]:
    return {"concession_id": CID, "indicator": indicator, "zone": zone,
            "zone_id": zone_id or zone, "metric": metric, "date": day, "period_start": None,
            "value": value, "unit": unit, "n_clear_obs": n_obs, "n_clear_px": n_px,
            "status": status, "reason": reason}


def event(event_id: str, zone: str, value: float, *, status: str = "confirmed",
          onset: date = date(2021, 2, 10), zone_id: str | None = None,
          confidence: str = "high", indicator: str = "vegetation_loss") -> ChangeEvent:
    return ChangeEvent(
        event_id=event_id, concession_id=CID, indicator=indicator,  # type: ignore[arg-type]
        zone=zone, zone_id=zone_id or zone, status=status,  # type: ignore[arg-type]
        onset=onset, confirmed=date(2021, 3, 2) if status == "confirmed" else None,
        window=(date(2021, 1, 28), onset), value=value, unit="ha", n_clear_obs=3,
        confidence=confidence, geometry=box(0, 0, 100, 100),  # type: ignore[arg-type]
        attribution="soil-exposure")


def result(rows: Sequence[dict[str, Any]], events: Sequence[ChangeEvent] = (), *,
           indicator: str = "vegetation_loss", period: tuple[date, date] = Q1,
           confidence: str = "high", notes: tuple[str, ...] = ()) -> IndicatorResult:
    frame = pd.DataFrame(list(rows), columns=list(MEASUREMENT_COLUMNS))
    return IndicatorResult(indicator=indicator, concession_id=CID,  # type: ignore[arg-type]
                           period=period, measurements=frame, events=tuple(events), rasters={},
                           parameters={}, confidence=confidence,  # type: ignore[arg-type]
                           notes=notes)


def one(findings: list[Finding], zone_id: str, event_id: str | None = None) -> Finding:
    hits = [f for f in findings if f.zone_id == zone_id and f.event_id == event_id]
    assert len(hits) == 1, [(f.zone_id, f.event_id, f.outcome) for f in findings]
    return hits[0]


def prior(zone: str, period: tuple[date, date], severity: str = "warning",
          indicator: str = "vegetation_loss", **extra: Any) -> Finding:
    """A finding of an earlier period, as the store would hand it back."""
    return Finding(concession_id=CID, indicator=indicator, zone=zone, zone_id=zone,
                   period=period, observed=period[1], value=1.0, limit=0.5, unit="ha",
                   outcome="exceedance", reason="", severity=severity,  # type: ignore[arg-type]
                   confidence="high", n_clear_obs=5, n_clear_px=100, standard_id="default",
                   standard_version="1.0", **extra)


# ---------------------------------------------------------------------- vegetation loss


def test_vegetation_outcome_per_zone() -> None:
    res = result(
        [row("permitted_footprint", 30.0), row("licence_outside_footprint", 0.3),
         row("buffer_ring", 0.6), row("exclusion_zone", 0.0, zone_id="wetland-1")],
        [event("loss-1", "permitted_footprint", 30.0), event("loss-2", "licence_outside_footprint",
                                                            0.3),
         event("loss-3", "buffer_ring", 0.6)])
    found = evaluate(res, V10)
    assert [(f.zone, f.outcome) for f in found] == [
        ("permitted_footprint", "compliant"), ("licence_outside_footprint", "compliant"),
        ("buffer_ring", "exceedance"), ("exclusion_zone", "compliant")]
    footprint = one(found, "permitted_footprint")
    assert footprint.limit is None and footprint.reason == "no limit in this zone"
    assert footprint.value == 30.0 and footprint.alert_key is None
    outside = one(found, "licence_outside_footprint")
    assert (outside.value, outside.limit, outside.severity) == (0.3, 0.5, None)
    ring = one(found, "buffer_ring", "loss-3")
    assert (ring.value, ring.limit, ring.unit, ring.severity) == (0.6, 0.5, "ha", "warning")
    assert (ring.onset, ring.event_status) == (date(2021, 2, 10), "confirmed")
    assert ring.geometry is not None and ring.details["attribution"] == "soil-exposure"
    assert ring.alert_key is not None
    for f in found:
        assert (f.standard_id, f.standard_version, f.period) == ("default", "1.0", Q1)
        assert f.observed == Q1[1]


def test_one_finding_per_event_of_an_exceeding_zone() -> None:
    res = result([row("buffer_ring", 0.9)],
                 [event("loss-1", "buffer_ring", 0.4), event("loss-2", "buffer_ring", 0.5,
                                                              onset=date(2021, 3, 1))])
    found = evaluate(res, V10)
    assert [f.event_id for f in found] == ["loss-1", "loss-2"]
    assert {f.value for f in found} == {0.9}  # the zone's value against the zone's limit
    assert [f.details["event_value"] for f in found] == [0.4, 0.5]
    assert len({f.alert_key for f in found}) == 2


def test_severity_ladder_each_rung() -> None:
    # notice: provisional exceedance
    f = evaluate(result([row("buffer_ring", 0.0)],
                        [event("p", "buffer_ring", 0.8, status="provisional")]), V10)[0]
    assert (f.outcome, f.severity, f.event_status) == ("exceedance", "notice", "provisional")
    # warning: confirmed, below 2 x limit, not exclusion, not repeated
    f = evaluate(result([row("buffer_ring", 0.9)], [event("c", "buffer_ring", 0.9)]), V10)[0]
    assert f.severity == "warning" and f.details["violation"] == []
    # violation: confirmed and >= violation_multiple x limit
    f = evaluate(result([row("buffer_ring", 1.0)], [event("c", "buffer_ring", 1.0)]), V10)[0]
    assert f.severity == "violation" and "value 1 >= 2 x the limit 0.5" in f.reason
    # violation: confirmed in an exclusion zone
    f = evaluate(result([row("exclusion_zone", 0.01, zone_id="wetland")],
                        [event("c", "exclusion_zone", 0.01, zone_id="wetland")]), V10)[0]
    assert f.severity == "violation" and "inside an exclusion zone" in f.reason
    # violation: confirmed in 2 consecutive periods
    res = result([row("buffer_ring", 0.7, day=Q2[1])], [event("c", "buffer_ring", 0.7)],
                 period=Q2)
    f = evaluate(res, V10, previous=[prior("buffer_ring", Q1)])[0]
    assert f.severity == "violation" and "exceeded in 2 consecutive periods" in f.reason


def test_exclusion_zone_rule_can_be_switched_off() -> None:
    off = standards(a="exclusion_zone_is_violation: true=>exclusion_zone_is_violation: false")
    f = evaluate(result([row("exclusion_zone", 0.3)], [event("c", "exclusion_zone", 0.3)]),
                 off)[0]
    # the multiple rule does not apply to a zero limit, so this stays a warning
    assert (f.outcome, f.severity, f.limit) == ("exceedance", "warning", 0.0)


def test_repeated_periods_needs_contiguous_confirmed_exceedances() -> None:
    res = result([row("buffer_ring", 0.7, day=Q3[1])], [event("c", "buffer_ring", 0.7)],
                 period=Q3)
    gap = evaluate(res, V10, previous=[prior("buffer_ring", Q1)])[0]  # Q2 missing
    assert gap.severity == "warning"
    notice = evaluate(res, V10, previous=[prior("buffer_ring", Q2, severity="notice")])[0]
    assert notice.severity == "warning"
    other_zone = evaluate(res, V10, previous=[prior("licence_outside_footprint", Q2)])[0]
    assert other_zone.severity == "warning"
    three = standards(a="repeated_periods: 2 =>repeated_periods: 3 ")
    assert evaluate(res, three, previous=[prior("buffer_ring", Q2)])[0].severity == "warning"
    f = evaluate(res, three, previous=[prior("buffer_ring", Q2), prior("buffer_ring", Q1)])[0]
    assert f.severity == "violation" and "3 consecutive periods" in f.reason


def test_provisional_area_makes_every_event_a_notice() -> None:
    res = result([row("buffer_ring", 0.3)],
                 [event("c", "buffer_ring", 0.3), event("p", "buffer_ring", 0.4,
                                                         status="provisional")])
    found = evaluate(res, V10)
    assert [(f.event_id, f.severity, f.value) for f in found] == [
        ("c", "notice", 0.7), ("p", "notice", 0.7)]
    res = result([row("buffer_ring", 0.6)],
                 [event("c", "buffer_ring", 0.6), event("p", "buffer_ring", 0.2,
                                                         status="provisional")])
    found = evaluate(res, V10)
    assert [(f.event_id, f.severity) for f in found] == [("c", "warning"), ("p", "notice")]


def test_confidence_is_the_weaker_of_result_and_event() -> None:
    res = result([row("buffer_ring", 0.9)], [event("c", "buffer_ring", 0.9, confidence="medium")],
                 confidence="high")
    assert evaluate(res, V10)[0].confidence == "medium"
    res = result([row("buffer_ring", 0.9)], [event("c", "buffer_ring", 0.9)], confidence="low")
    assert evaluate(res, V10)[0].confidence == "low"
    assert evaluate(result([row("buffer_ring", 0.1)], confidence="low"), V10)[0].confidence == "low"


# ------------------------------------------------------------------------ indeterminate


@pytest.mark.parametrize(("kwargs", "reason"), [
    (dict(status="indeterminate", reason="clouds covered 96 % of the zone"),
     "clouds covered 96 % of the zone"),
    (dict(n_obs=1), "1 clear observation(s) in the period, fewer than the 2 the standard "
                    "requires (min_clear_obs)"),
    (dict(value=float("nan")), "no value (NaN)"),
    (dict(n_px=0), "0 clear pixel(s)"),
])
def test_indeterminate_carries_its_reason(kwargs: dict[str, Any], reason: str) -> None:
    value = kwargs.pop("value", 0.0)
    f = evaluate(result([row("buffer_ring", value, **kwargs)]), V10)[0]
    assert (f.outcome, f.severity, f.value, f.alert_key) == ("indeterminate", None, None, None)
    assert reason in f.reason


def test_no_data_is_never_compliant() -> None:
    # not even where the standard sets no limit
    f = evaluate(result([row("permitted_footprint", float("nan"), status="indeterminate",
                             reason="no clear observation")]), V10)[0]
    assert f.outcome == "indeterminate" and "no limit in this zone" in f.reason
    # events below the limit but no measurement of the zone
    f = evaluate(result([], [event("c", "buffer_ring", 0.2)]), V10)[0]
    assert f.outcome == "indeterminate" and "no measurement" in f.reason
    assert f.details["lower_bound"] == 0.2
    # an empty result: one indeterminate finding, with the indicator's notes
    found = evaluate(result([], notes=("no scene in the period",)), V10)
    assert [(f.zone, f.outcome) for f in found] == [("licence", "indeterminate")]
    assert "no scene in the period" in found[0].reason


def test_confirmed_lower_bound_above_the_limit_is_an_exceedance() -> None:
    res = result([row("buffer_ring", float("nan"), status="indeterminate",
                      reason="half the ring under cloud")], [event("c", "buffer_ring", 0.7)])
    f = evaluate(res, V10)[0]
    assert (f.outcome, f.severity) == ("exceedance", "warning")
    assert "a lower bound (half the ring under cloud)" in f.reason


def test_rows_outside_the_period_and_unregulated_zones_are_ignored() -> None:
    res = result([row("buffer_ring", 5.0, day=date(2020, 12, 31)),
                  row("buffer_ring", 0.1),
                  row("licence", 5.0), row("buffer_ring", 3.0, metric="ndvi_drop")])
    assert [(f.zone, f.outcome) for f in evaluate(res, V10)] == [("buffer_ring", "compliant")]


# ----------------------------------------------------------------------------- tailings


OUTSIDE = "disturbed_outside_footprint_growth"


def trow(zone: str, value: float, metric: str = OUTSIDE, **kwargs: Any) -> dict[str, Any]:
    return row(zone, value, metric=metric, indicator="tailings", **kwargs)


def test_tailings_encroachment_and_facility_growth() -> None:
    res = result(
        [trow("licence_outside_footprint", 0.8), trow("buffer_ring", 0.3),
         trow("permitted_footprint", 40.0, metric="growth_area"),
         trow("tailings_facility", 0.5, metric="facility_growth_fraction", zone_id="tsf-1",
              unit="1"),
         trow("tailings_facility", 0.1, metric="facility_growth_fraction", zone_id="tsf-2",
              unit="1"),
         trow("tailings_facility", 12.0, metric="bare_area", zone_id="tsf-1")],
        indicator="tailings")
    found = evaluate(res, V10)
    assert [(f.zone_id, f.outcome, f.severity) for f in found] == [
        ("licence_outside_footprint", "exceedance", "warning"),
        ("buffer_ring", "compliant", None),
        ("tsf-1", "exceedance", "violation"),  # 0.5 >= 2 x 0.2
        ("tsf-2", "compliant", None)]
    tsf = one(found, "tsf-1")
    assert (tsf.value, tsf.limit, tsf.unit) == (0.5, 0.2, "1")
    assert tsf.onset == Q1[1] and tsf.alert_key is not None


def facility(growth: float, bare: float, pond: float, **base: Any) -> list[dict[str, Any]]:
    """Rows as the tailings indicator writes them: baseline composite before the period."""
    baseline_end = date(2020, 12, 31)
    return [dict(trow("tailings_facility", growth, "growth_area", zone_id="tsf-1"),
                 period_start=baseline_end),
            trow("tailings_facility", bare, "bare_area", zone_id="tsf-1", day=baseline_end,
                 **base),
            trow("tailings_facility", pond, "pond_area", zone_id="tsf-1", day=baseline_end)]


def test_facility_growth_fraction_derived_from_the_baseline_composite() -> None:
    (f,) = evaluate(result(facility(3.0, 8.0, 2.0), indicator="tailings"), V10)
    assert (f.outcome, f.severity, f.unit) == ("exceedance", "warning", "1")
    assert f.value == pytest.approx(0.3) and f.limit == 0.2  # 3 ha over 8 + 2 ha
    (f,) = evaluate(result(facility(1.0, 8.0, 2.0), indicator="tailings"), V10)
    assert f.outcome == "compliant" and f.value == pytest.approx(0.1)
    (f,) = evaluate(result(facility(1.0, 0.0, 0.0), indicator="tailings"), V10)
    assert f.outcome == "indeterminate" and "no tailings area at baseline" in f.reason
    (f,) = evaluate(result(facility(3.0, float("nan"), 2.0, status="indeterminate",
                                    reason="baseline composite clouded"),
                           indicator="tailings"), V10)
    assert f.outcome == "indeterminate" and "baseline composite clouded" in f.reason
    (f,) = evaluate(result(facility(3.0, 8.0, 2.0)[:1], indicator="tailings"), V10)
    assert f.outcome == "indeterminate" and "no baseline bare_area/pond_area" in f.reason


def test_ongoing_tailings_exceedance_keeps_its_alert() -> None:
    def growth(period: tuple[date, date]) -> IndicatorResult:
        return result([trow("licence_outside_footprint", 0.8, day=period[1])],
                      indicator="tailings", period=period)

    first = evaluate(growth(Q1), V10)[0]
    second = evaluate(growth(Q2), V10, previous=[first])[0]
    assert second.onset == first.onset == Q1[1]
    assert second.alert_key == first.alert_key and second.finding_id != first.finding_id
    assert second.severity == "violation"  # repeated in 2 consecutive periods


def test_tailings_events_give_one_finding_each() -> None:
    res = result([trow("licence_outside_footprint", 0.9)],
                 [event("growth-1", "licence_outside_footprint", 0.9, indicator="tailings"),
                  event("growth-2", "permitted_footprint", 9.0, indicator="tailings")],
                 indicator="tailings")
    (f,) = evaluate(res, V10)
    assert (f.event_id, f.outcome, f.severity) == ("growth-1", "exceedance", "warning")


# ---------------------------------------------------------------------------- turbidity


RATIO = "downstream_vs_baseline"


def reach_rows(values: Sequence[float | None], *, reach: str = "down-1",
               metric: str = "downstream_minus_upstream", start: int = 3,
               n_px: int = 150) -> list[dict[str, Any]]:
    """One row per date, 10 days apart from January ``start``; None = indeterminate date."""
    out = []
    for i, v in enumerate(values):
        day = date(2021, 1, start) + pd.Timedelta(days=10 * i).to_pytimedelta()
        out.append(row("water_reach", float("nan") if v is None else v, metric=metric,
                       zone_id=reach, day=day, n_obs=1, n_px=n_px,
                       status="indeterminate" if v is None else "ok",
                       reason="cloud over the reach" if v is None else "",
                       indicator="turbidity", unit="1" if metric == RATIO else "FNU"))
    return out


def turbidity(rows: list[dict[str, Any]], period: tuple[date, date] = Q1,
              previous: Sequence[Finding] = ()) -> list[Finding]:
    return evaluate(result(rows, indicator="turbidity", period=period), V10, previous=previous)


def test_turbidity_confirmed_episode_on_k_consecutive_clear_dates() -> None:
    found = turbidity(reach_rows([3.0, 12.0, None, 14.0, 2.0])
                      + reach_rows([1.0, 1.1, 1.0, 1.2, 1.0], metric=RATIO))
    (f,) = found
    assert (f.outcome, f.severity, f.event_status) == ("exceedance", "warning", "confirmed")
    assert (f.value, f.limit, f.unit) == (14.0, 10.0, "FNU")
    assert f.event_id == "plume-down-1-2021-01-13" and f.onset == date(2021, 1, 13)
    assert f.details["dates"] == ["2021-01-13", "2021-02-02"]  # the cloudy date is skipped
    assert f.n_clear_obs == 2 and f.alert_key is not None


def test_turbidity_confidence_from_the_indicator_episode() -> None:
    rows = reach_rows([3.0, 12.0, 14.0]) + reach_rows([1.0] * 3, metric=RATIO)
    plume = dataclasses.replace(
        event("plume-down-1-2021-01-13", "water_reach", 4.0, zone_id="down-1",
              onset=date(2021, 1, 13), confidence="medium", indicator="turbidity"),
        geometry=None)
    (f,) = evaluate(result(rows, [plume], indicator="turbidity"), V10)
    assert f.event_id == plume.event_id and f.confidence == "medium"


def test_turbidity_violation_by_multiple() -> None:
    (f,) = turbidity(reach_rows([25.0, 21.0, 3.0]) + reach_rows([1.0] * 3, metric=RATIO))
    assert f.severity == "violation" and f.value == 25.0


def test_turbidity_baseline_criterion_alone() -> None:
    # upstream clouded on every date: the difference is unknown, the baseline ratio is not
    (f,) = turbidity(reach_rows([None] * 4) + reach_rows([1.0, 1.8, 1.9, 1.0],
                                                         metric=RATIO))
    assert (f.outcome, f.unit, f.limit, f.value) == ("exceedance", "1", 1.5, 1.9)
    assert f.details["criterion"] == "downstream_vs_baseline"


def test_turbidity_isolated_spike_is_dropped_and_open_run_is_provisional() -> None:
    ratio = reach_rows([1.0] * 5, metric=RATIO)
    (f,) = turbidity(reach_rows([2.0, 30.0, 2.0, 3.0, 2.0]) + ratio)
    assert f.outcome == "compliant" and f.details["isolated"] == ["2021-01-13"]
    assert "isolated exceedances dropped: 2021-01-13" in f.reason
    (f,) = turbidity(reach_rows([2.0, 3.0, 2.0, 3.0, 12.0]) + ratio)
    assert (f.outcome, f.severity, f.event_status) == ("exceedance", "notice", "provisional")
    assert f.details["trailing_run"] == 1


def test_turbidity_run_continues_across_periods() -> None:
    ratio = reach_rows([1.0] * 5, metric=RATIO)
    (first,) = turbidity(reach_rows([2.0, 3.0, 2.0, 3.0, 12.0]) + ratio)
    q2 = [dict(r, date=r["date"] + pd.Timedelta(days=90).to_pytimedelta())
          for r in reach_rows([13.0, 2.0, 2.0]) + reach_rows([1.0] * 3, metric=RATIO)]
    (second,) = turbidity(q2, Q2, previous=[first])
    assert (second.event_status, second.severity) == ("confirmed", "warning")
    assert second.onset == first.onset and second.event_id == first.event_id
    assert second.alert_key == first.alert_key  # the provisional alert is confirmed
    alone = turbidity(q2, Q2)
    assert [f.outcome for f in alone] == ["compliant"]  # without history: an isolated spike


def test_turbidity_too_few_water_pixels_is_indeterminate() -> None:
    (f,) = turbidity(reach_rows([30.0, 40.0], n_px=12) + reach_rows([3.0, 3.0], n_px=12,
                                                                   metric=RATIO))
    assert (f.outcome, f.value) == ("indeterminate", None)
    assert "0 clear date(s) with enough water pixels" in f.reason
    assert "12 clear pixel(s), fewer than 20" in f.reason


def test_turbidity_ignores_reaches_without_criteria() -> None:
    rows = reach_rows([5.0, 5.0, 5.0], reach="up-1", metric="median_turbidity")
    rows += reach_rows([1.0, 2.0, 1.0]) + reach_rows([1.0] * 3, metric=RATIO)
    assert [(f.zone_id, f.outcome) for f in turbidity(rows)] == [("down-1", "compliant")]


def test_turbidity_limit_can_be_dropped() -> None:
    no_fnu = standards(a="downstream_minus_upstream_fnu: 10.0=>downstream_minus_upstream_fnu: null")
    rows = reach_rows([50.0, 60.0, 70.0]) + reach_rows([1.0] * 3, metric=RATIO)
    (f,) = evaluate(result(rows, indicator="turbidity"), no_fnu)
    assert (f.outcome, f.unit, f.limit) == ("compliant", "1", 1.5)


# ----------------------------------------------------------------------------- versions


def ring_result(value: float, period: tuple[date, date]) -> IndicatorResult:
    return result([row("buffer_ring", value, day=period[1])],
                  [event("loss-7", "buffer_ring", value, onset=period[0])], period=period)


def test_version_in_force_on_the_observation_date() -> None:
    before = (date(2022, 4, 1), date(2022, 6, 30))
    after = (date(2022, 7, 1), date(2022, 9, 30))
    assert evaluate(ring_result(0.4, before), BOTH)[0].standard_version == "1.0"
    f = evaluate(ring_result(0.4, after), BOTH)[0]
    assert (f.standard_version, f.limit, f.outcome) == ("1.1", 0.25, "exceedance")
    with pytest.raises(ConfigError, match="no version of standard 'default' is in force"):
        evaluate(ring_result(0.4, (date(2019, 1, 1), date(2019, 3, 31))), BOTH)
    with pytest.raises(ConfigError, match="standard 'strict' is not loaded"):
        evaluate(ring_result(0.4, after), BOTH, "strict")


def test_revision_gives_new_findings_beside_the_old() -> None:
    res = ring_result(0.4, (date(2022, 7, 1), date(2022, 9, 30)))
    old = evaluate(res, V10)  # made before 1.1 was published
    snapshot = [(f.finding_id, f.to_dict()) for f in old]
    new = evaluate(res, BOTH)  # 1.1 is now loaded and in force
    assert [f.standard_version for f in old] == ["1.0"] and old[0].outcome == "compliant"
    assert [f.standard_version for f in new] == ["1.1"] and new[0].outcome == "exceedance"
    assert {f.finding_id for f in old}.isdisjoint(f.finding_id for f in new)
    assert [(f.finding_id, f.to_dict()) for f in old] == snapshot  # untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        old[0].outcome = "exceedance"  # type: ignore[misc]
    # re-evaluating under a named version: 1.0 gives the old ids back, 1.1 the new ones
    again = reevaluate(res, BOTH, "1.0")
    assert [f.finding_id for f in again] == [f.finding_id for f in old]
    assert again[0].details["version_pinned"] is True
    assert [f.finding_id for f in reevaluate(res, BOTH, "1.1")] == [f.finding_id for f in new]
    # an exceedance under both versions raises two alerts, one per version
    res = ring_result(0.9, (date(2022, 7, 1), date(2022, 9, 30)))
    a, b = reevaluate(res, BOTH, "1.0")[0], reevaluate(res, BOTH, "1.1")[0]
    assert a.alert_key and b.alert_key and a.alert_key != b.alert_key
    with pytest.raises(ConfigError, match=r"has no version '3\.0'"):
        reevaluate(res, BOTH, "3.0")


# ------------------------------------------------------------------- stability, contract


def test_ids_and_alert_keys_stable_across_runs() -> None:
    def run() -> list[Finding]:
        res = result([row("licence_outside_footprint", 0.2), row("buffer_ring", 0.9)],
                     [event("loss-2", "buffer_ring", 0.9), event("loss-1", "buffer_ring", 0.0,
                                                                  status="provisional",
                                                                  onset=date(2021, 3, 20))])
        return evaluate(res, load_standards(STANDARDS / "default.yaml"))

    first, second = run(), run()
    assert [f.to_dict() for f in first] == [f.to_dict() for f in second]
    assert [f.event_id for f in first] == [None, "loss-2", "loss-1"]  # zone, then onset order
    # golden values: sha256 of the natural keys, the same in every process and on every host
    ring = one(first, "buffer_ring", "loss-2")
    assert ring.finding_id == "bfb5c5706ce2f109"  # sha256 of the key, by sha256sum
    assert ring.alert_key == "94d7a67d93f7b6fc"


def test_contract_violations_raise_typed_errors() -> None:
    bad = result([row("buffer_ring", 0.1)])
    with pytest.raises(IndicatorResultError, match="lack columns"):
        evaluate(dataclasses.replace(bad, measurements=bad.measurements.drop(columns="status")),
                 V10)
    with pytest.raises(IndicatorResultError, match="belongs to"):
        evaluate(result([dict(row("buffer_ring", 0.1), concession_id="other")]), V10)
    with pytest.raises(IndicatorResultError, match="not a date"):
        evaluate(result([dict(row("buffer_ring", 0.1), date="soon")]), V10)
    with pytest.raises(IndicatorResultError, match="unknown indicator"):
        evaluate(dataclasses.replace(bad, indicator="noise"), V10)  # type: ignore[arg-type]
    f = evaluate(result([row("buffer_ring", 0.1, status="maybe")]), V10)[0]
    assert f.outcome == "indeterminate" and "unknown measurement status 'maybe'" in f.reason


def test_standard_helpers_feed_compliance() -> None:
    std = load_standard(STANDARDS / "default.yaml")
    assert std.water_params().baseline_factor == std.turbidity.limits.baseline_factor


# ------------------------------------------------------------------------- properties

_ZONES = ("permitted_footprint", "licence_outside_footprint", "buffer_ring", "exclusion_zone")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_ZONES),
                          st.none() | st.floats(0, 5, allow_nan=False),
                          st.sampled_from(["ok", "indeterminate", "odd"]),
                          st.integers(0, 4), st.integers(0, 3)), max_size=6),
       st.lists(st.tuples(st.sampled_from(_ZONES), st.floats(0, 3, allow_nan=False),
                          st.sampled_from(["provisional", "confirmed"])), max_size=5))
def test_no_data_is_never_compliant_property(
        rows: list[tuple[str, float | None, str, int, int]],
        events: list[tuple[str, float, str]]) -> None:
    table = [row(z, float("nan") if v is None else v, status=s, n_obs=n, n_px=px)
             for z, v, s, n, px in rows]
    evs = [event(f"e{i}", z, v, status=s) for i, (z, v, s) in enumerate(events)]
    found = evaluate(result(table, evs), V10)
    assert found
    latest = {r["zone"]: r for r in table}  # same date: the last row of a zone counts
    for f in found:
        assert (f.severity is None) == (f.outcome != "exceedance")
        if f.outcome == "compliant":
            r = latest[f.zone]
            assert r["status"] == "ok" and r["value"] == r["value"]  # not NaN
            assert r["n_clear_obs"] >= 2 and r["n_clear_px"] >= 1
        if f.outcome == "exceedance":
            assert f.limit is not None and f.value is not None and f.value > f.limit
            if f.event_status == "provisional":
                assert f.severity == "notice"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.floats(-20, 60, allow_nan=False), max_size=8),
       st.lists(st.none() | st.floats(0, 4, allow_nan=False), max_size=8))
def test_turbidity_never_compliant_without_clear_dates_property(
        diffs: list[float | None], ratios: list[float | None]) -> None:
    found = turbidity(reach_rows(diffs) + reach_rows(ratios, metric=RATIO))
    for f in found:
        assert f.zone_id == "down-1" or (f.zone_id, f.outcome) == ("licence", "indeterminate")
        if f.outcome == "compliant":
            assert len(f.details["clear_dates"]) >= 2
        if f.outcome == "exceedance":
            assert f.value is not None and f.limit is not None and f.value > f.limit
