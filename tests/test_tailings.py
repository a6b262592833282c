"""Tailings-footprint indicator against the demo portfolio's ground truth.

demo-tailings: a tailings beach and pond whose front advances south over forest from
2022-06-10 (partly outside the permitted footprint) while the pond grows inside the old
extent. demo-compliant: a stable pit with a pit lake, nothing changes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
import xarray as xr

import monitor
from monitor.indicators.base import MEASUREMENT_COLUMNS, IndicatorResult, TailingsParams
from monitor.indicators.tailings import CLASS_CODES, tailings, vectorise
from monitor.simulate import Portfolio
from monitor.zonal import burn
from tests.factories import load_demo_cube as _load
from tests.factories import truth_on_cube as _truth_on_cube

PERIOD = (date(2021, 6, 1), date(2022, 11, 28))
FACILITY = "tsf-sereno-1"




@pytest.fixture(scope="module")
def registry(demo_portfolio: Portfolio) -> Any:
    return monitor.load_concessions(demo_portfolio.registry_path)


@pytest.fixture(scope="module")
def tailings_cube(demo_portfolio: Portfolio, registry: Any) -> xr.Dataset:
    return _load(demo_portfolio, registry["demo-tailings"]).compute()


@pytest.fixture(scope="module")
def result(tailings_cube: xr.Dataset, registry: Any) -> IndicatorResult:
    return tailings(tailings_cube, registry["demo-tailings"], PERIOD)


@pytest.fixture(scope="module")
def truth(demo_portfolio: Portfolio) -> dict[str, Any]:
    t: dict[str, Any] = demo_portfolio.truth["concessions"]["demo-tailings"]["tailings"]
    return t


def _value(result: IndicatorResult, zone_id: str, metric: str, day: date) -> Any:
    m = result.measurements
    (row,) = m[(m.zone_id == zone_id) & (m.metric == metric) & (m.date == day)].itertuples()
    return row


def _err(measured: float, expected: float) -> float:
    return abs(measured - expected) / expected


def test_growth_and_encroachment_match_truth(result: IndicatorResult,
                                            truth: dict[str, Any]) -> None:
    end = PERIOD[1]
    growth = _value(result, "licence", "growth_area", end)
    encroach = _value(result, "licence", "disturbed_outside_footprint_growth", end)
    outside_now = _value(result, "licence_outside_footprint", "disturbed_outside_footprint", end)
    g_err, e_err = _err(growth.value, truth["growth_ha"]), _err(encroach.value,
                                                               truth["encroachment_ha"])
    print(f"\ngrowth {growth.value:.2f} ha (truth {truth['growth_ha']}, error {g_err:.1%}); "
          f"encroachment {encroach.value:.2f} ha (truth {truth['encroachment_ha']}, "
          f"error {e_err:.1%}); disturbed outside the footprint now {outside_now.value:.2f} ha")
    assert growth.status == "ok" and encroach.status == "ok" and outside_now.status == "ok"
    assert g_err <= 0.10 and e_err <= 0.10
    assert _err(outside_now.value, truth["after"]["extent_outside_footprint_ha"]) <= 0.10
    assert growth.n_clear_px == growth.n_total_px and growth.n_clear_obs >= 5
    assert list(result.measurements.columns) == list(MEASUREMENT_COLUMNS)


def test_pond_growth_reported(result: IndicatorResult, truth: dict[str, Any]) -> None:
    m = result.measurements
    first = m.date.min()
    pond_before = _value(result, FACILITY, "pond_area", first)
    pond_after = _value(result, FACILITY, "pond_area", PERIOD[1])
    pond_growth = _value(result, FACILITY, "pond_growth", PERIOD[1])
    bare_after = _value(result, "licence", "bare_area", PERIOD[1])
    dust = _value(result, "licence", "dust_susceptible_area", PERIOD[1])
    print(f"\npond {pond_before.value:.2f} -> {pond_after.value:.2f} ha (truth "
          f"{truth['before']['pond_ha']} -> {truth['after']['pond_ha']}), growth "
          f"{pond_growth.value:.2f} ha (truth {truth['pond_growth_ha']}); bare now "
          f"{bare_after.value:.2f} ha (truth {truth['after']['bare_ha']}); dust-susceptible "
          f"{dust.value:.2f} ha")
    assert _err(pond_before.value, truth["before"]["pond_ha"]) <= 0.10
    assert _err(pond_after.value, truth["after"]["pond_ha"]) <= 0.10
    assert _err(pond_growth.value, truth["pond_growth_ha"]) <= 0.10
    assert _err(bare_after.value, truth["after"]["bare_ha"]) <= 0.10
    assert 0 < dust.value <= bare_after.value + pond_after.value


def test_growth_events_per_zone(result: IndicatorResult, truth: dict[str, Any],
                                demo_portfolio: Portfolio) -> None:
    by_zone = {e.zone: e for e in result.events}
    assert set(by_zone) == {"permitted_footprint", "licence_outside_footprint"}
    event = demo_portfolio.truth["concessions"]["demo-tailings"]["events"][0]
    onset = date.fromisoformat(truth["onset"])
    for zone, e in by_zone.items():
        expected = event["area_ha_by_zone"][zone]
        print(f"\n{e.event_id}: {e.status} {e.value:.2f} ha (truth {expected}), onset "
              f"{e.onset}, window {e.window}, confirmed {e.confirmed}, polygons "
              f"{e.geometry.area / 1e4 if e.geometry else 0:.2f} ha, {e.confidence}")
        assert e.status == "confirmed" and e.unit == "ha" and e.indicator == "tailings"
        assert _err(e.value, expected) <= 0.10
        assert e.window[0] is not None and e.window[0] <= onset <= e.window[1]
        assert e.geometry is not None and abs(e.geometry.area / 1e4 - e.value) < 0.05 * e.value
    assert by_zone["licence_outside_footprint"].details["outside_footprint_ha"] > 7




def test_classes_agree_with_truth_rasters(result: IndicatorResult, tailings_cube: xr.Dataset,
                                          demo_portfolio: Portfolio, registry: Any) -> None:
    folder = demo_portfolio.truth_path.parent / "demo-tailings"
    licence = burn(registry["demo-tailings"].licence, tailings_cube.odc.geobox)
    for name, raster in (("before", "class_baseline"), ("after", "class_current")):
        truth = _truth_on_cube(str(folder / f"tailings_{name}.tif"), tailings_cube)
        ours = result.rasters[raster].values
        keep = licence & (truth >= 0) & (ours != CLASS_CODES["unknown"])
        bare_t, bare_o = truth[keep] == 1, ours[keep] == CLASS_CODES["bare"]
        pond_t, pond_o = truth[keep] == 2, ours[keep] == CLASS_CODES["water"]
        agree = float((bare_t == bare_o).mean())
        iou = float((bare_t & bare_o).sum() / (bare_t | bare_o).sum())
        pond_iou = float((pond_t & pond_o).sum() / (pond_t | pond_o).sum())
        print(f"\n{name}: {keep.sum()} of {licence.sum()} licence px determinate; bare/tailings "
              f"agreement {agree:.3f}, IoU {iou:.3f}; pond IoU {pond_iou:.3f}")
        assert keep.sum() > 0.95 * licence.sum()
        assert agree >= 0.9 and iou >= 0.8 and pond_iou >= 0.8


def test_stable_pit_has_no_growth(demo_portfolio: Portfolio, registry: Any) -> None:
    conc = registry["demo-compliant"]
    # baseline: the first 90 days; composites over the last six months (what a lazy cube
    # reads), across the 2022-01-25 processing-baseline switch
    cube = _load(demo_portfolio, conc)
    stable = tailings(cube, conc, (date(2022, 6, 1), PERIOD[1]),
                      baseline=(date(2021, 6, 1), date(2021, 8, 29)))
    growth = _value(stable, "licence", "growth_area", PERIOD[1])
    bare = [_value(stable, "permitted_footprint", "bare_area", d).value
            for d in sorted(set(stable.measurements.date))]
    print(f"\ndemo-compliant: growth {growth.value:.2f} ha; pit bare area per composite "
          f"{', '.join(f'{b:.1f}' for b in bare)} ha; events {len(stable.events)}")
    assert stable.events == ()
    assert growth.status == "ok" and growth.value < TailingsParams().mmu_ha
    assert max(bare) - min(bare) < 1.0 and 18 < np.median(bare) < 23  # the 21 ha pit


def test_unknown_pixels_make_values_indeterminate(result: IndicatorResult,
                                                  tailings_cube: xr.Dataset,
                                                  registry: Any) -> None:
    # the buffer ring runs off the scene (no data): indeterminate, never a zero-filled value
    ring = _value(result, "buffer_ring", "bare_area", PERIOD[1])
    assert ring.status == "indeterminate" and "lower bound" in ring.reason
    assert ring.n_clear_px < 0.8 * ring.n_total_px
    # a baseline window with two acquisitions: every pixel unknown, nothing is compared
    few = tailings(tailings_cube, registry["demo-tailings"], PERIOD,
                   baseline=(date(2021, 6, 1), date(2021, 6, 8)))
    row = _value(few, "licence", "growth_area", PERIOD[1])
    print(f"\nbuffer ring: {ring.reason}\nshort baseline: {row.reason}")
    assert row.status == "indeterminate" and np.isnan(row.value) and row.n_clear_px == 0
    assert few.events == ()
    # a rainy-season baseline leaves part of the new extent unseen: a lower bound, said so
    wet = tailings(tailings_cube, registry["demo-tailings"], (date(2022, 3, 1), PERIOD[1]))
    row = _value(wet, "licence", "growth_area", PERIOD[1])
    print(f"rainy-season baseline: growth {row.value:.2f} ha, {row.status}: {row.reason}")
    assert "composite 2021-12-01..2022-02-28" in wet.notes[0]
    assert row.status == "indeterminate" and "lower bound" in row.reason


def test_vectorise_pixel_union() -> None:
    from affine import Affine

    mask = np.zeros((5, 6), bool)
    mask[1:3, 1:4] = True
    mask[4, 5] = True
    geom = vectorise(mask, Affine(10.0, 0.0, 1000.0, 0.0, -10.0, 5000.0))
    assert geom.area == pytest.approx(7 * 100.0)
    assert geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2
    assert geom.bounds == (1010.0, 4950.0, 1060.0, 4990.0)


def test_period_inside_the_only_baseline_window_is_indeterminate(
        tailings_cube: xr.Dataset, registry: Any) -> None:
    """A short history (the cube starts inside the baseline window) is indeterminate, not an
    error: the benchmark's run over 5 weeks of imagery failed the whole concession with a
    ValueError before."""
    from datetime import timedelta

    from monitor.compliance import evaluate
    from monitor.config import default_standard_path, load_standards

    first = tailings_cube["time"].values.min().astype("datetime64[D]").item()
    short = tailings_cube.sel(time=slice(None, np.datetime64(first + timedelta(days=60))))
    # one acquisition before the period: the baseline falls back to the cube's first
    # composite_days (90), which the period ends inside
    period = (first + timedelta(days=1), first + timedelta(days=49))
    res = tailings(short, registry["demo-tailings"], period)
    assert len(res.measurements) > 0
    assert (res.measurements.status == "indeterminate").all()
    assert res.measurements.value.isna().all()
    assert "give a period ending after" in res.measurements.reason.iloc[0]
    assert res.events == () and dict(res.rasters) == {}
    findings = evaluate(res, load_standards(default_standard_path()))
    zones = {f.zone for f in findings}
    assert {"licence_outside_footprint", "buffer_ring", "tailings_facility"} <= zones
    assert {f.outcome for f in findings} == {"indeterminate"}
