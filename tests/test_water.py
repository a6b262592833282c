"""Turbidity indicator against the demo portfolio's ground truth, and on real Landsat water.

demo-plume: a river with an upstream and a downstream reach; sediment plumes downstream on
known dates (some of them overcast). demo-compliant: a stable pit lake, no plume. Manaus:
the dark Rio Negro beside the sediment-laden Solimoes.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from shapely.geometry import Polygon, box

import monitor
from monitor.concessions import ZoneFeature
from monitor.indicators.base import MEASUREMENT_COLUMNS, IndicatorResult, WaterParams
from monitor.indicators.water import turbidity, turbidity_metric
from monitor.simulate import Portfolio
from monitor.simulate import layout as lay
from tests import factories as f
from tests.factories import load_demo_cube as _load

UP, DOWN = "rio-cachoeira-up", "rio-cachoeira-down"
#: The analysis period; the two months before it are the baseline window.
PERIOD = (date(2021, 8, 1), date(2022, 11, 28))
FNU = turbidity_metric("nechad2016_b04")




@pytest.fixture(scope="module")
def registry(demo_portfolio: Portfolio) -> Any:
    return monitor.load_concessions(demo_portfolio.registry_path)


@pytest.fixture(scope="module")
def plume_cube(demo_portfolio: Portfolio, registry: Any) -> xr.Dataset:
    return _load(demo_portfolio, registry["demo-plume"]).compute()


@pytest.fixture(scope="module")
def plume(plume_cube: xr.Dataset, registry: Any) -> IndicatorResult:
    return turbidity(plume_cube, registry["demo-plume"], PERIOD)


@pytest.fixture(scope="module")
def truth(demo_portfolio: Portfolio) -> dict[str, Any]:
    plume: dict[str, Any] = demo_portfolio.truth["concessions"]["demo-plume"]["plume"]
    return plume


def _series(result: IndicatorResult, zone_id: str, metric: str) -> pd.DataFrame:
    m = result.measurements
    return m[(m.zone_id == zone_id) & (m.metric == metric)].set_index("date")


def _flagged(result: IndicatorResult) -> set[date]:
    return {date.fromisoformat(d) for e in result.events for d in e.details["dates"]}


def test_plume_detected_on_the_right_dates_downstream_only(
        plume: IndicatorResult, truth: dict[str, Any]) -> None:
    params = WaterParams()
    series = {s["date"]: s for s in truth["series"]}
    in_period = [d for d in map(date.fromisoformat, series) if PERIOD[0] <= d <= PERIOD[1]]
    plume_dates = {date.fromisoformat(d) for d in truth["plume_dates"]} & set(in_period)
    observable = {d for d in plume_dates
                  if series[d.isoformat()]["downstream"]["clear_water_px"] >= params.min_water_px}
    flagged = _flagged(plume)
    cand = _series(plume, DOWN, "exceedance_candidate")
    candidates = set(cand.index[cand.value == 1.0])
    recall = len(flagged & observable) / len(observable)
    precision = len(flagged & plume_dates) / max(len(flagged), 1)
    cand_precision = len(candidates & plume_dates) / max(len(candidates), 1)
    down, up = _series(plume, DOWN, FNU), _series(plume, UP, FNU)
    diff = _series(plume, DOWN, "downstream_minus_upstream")
    print(f"\n{len(in_period)} dates in the period: downstream determinate "
          f"{(down.status == 'ok').sum()}, upstream {(up.status == 'ok').sum()}, both "
          f"{(diff.status == 'ok').sum()}; truth plume dates {len(plume_dates)}, observable "
          f"{len(observable)}; candidates {len(candidates)} (precision {cand_precision:.2f}); "
          f"flagged in episodes {len(flagged)}: recall {recall:.2f}, precision {precision:.2f}")
    for e in plume.events:
        print(f"  {e.event_id}: {e.status} onset {e.onset} confirmed {e.confirmed} "
              f"max excess {e.value:.1f} FNU over {e.n_clear_obs} dates ({e.confidence})")
    assert recall >= 0.85 and precision >= 0.9
    assert {e.zone_id for e in plume.events} == {DOWN}
    assert all(e.zone == "water_reach" and e.unit == "FNU" for e in plume.events)
    # one confirmed episode per observable truth episode, starting on its first plume date
    onsets = {e.onset for e in plume.events if e.status == "confirmed"}
    assert onsets == {date(2021, 8, 10), date(2022, 9, 9)}
    ok = diff[diff.status == "ok"]
    on_plume = ok[ok.index.isin(list(plume_dates))].value
    print(f"  downstream - upstream: plume dates {on_plume.min():.1f}..{on_plume.max():.1f} FNU, "
          f"other dates max {ok[~ok.index.isin(list(plume_dates))].value.max():.1f} FNU")
    assert on_plume.min() > 20


def test_upstream_is_never_flagged(plume: IndicatorResult, plume_cube: xr.Dataset,
                                   registry: Any) -> None:
    ratio = _series(plume, UP, "upstream_vs_baseline")
    ok = ratio[ratio.status == "ok"].value
    print(f"\nupstream vs its own baseline: max ratio {ok.max():.2f} over {ok.size} dates")
    assert ok.size > 40 and ok.max() < WaterParams().baseline_factor
    assert not any(e.zone_id == UP for e in plume.events)
    # swapping the roles: the clear reach compared with the turbid one never flags
    conc = registry["demo-plume"]
    swapped = tuple(dataclasses.replace(x, role={"upstream": "downstream",
                                                 "downstream": "upstream"}.get(x.role or ""))
                    if x.feature_type == "water_reach" else x for x in conc.features)
    result = turbidity(plume_cube, dataclasses.replace(conc, features=swapped), PERIOD)
    assert result.events == ()
    cand = _series(result, UP, "exceedance_candidate")
    assert (cand.value[cand.status == "ok"] == 0).all()


def test_medians_match_truth_turbidity(plume: IndicatorResult, truth: dict[str, Any]) -> None:
    series = {s["date"]: s for s in truth["series"]}
    for reach, role in ((UP, "upstream"), (DOWN, "downstream")):
        s = _series(plume, reach, FNU)
        ok = s[s.status == "ok"]
        err = np.array([v - series[d.isoformat()][role]["turbidity_fnu"]
                        for d, v in ok.value.items()])
        print(f"\n{reach}: {len(ok)} determinate dates, median error {np.median(err):+.2f} FNU, "
              f"max |error| {np.abs(err).max():.2f} FNU, median pixels "
              f"{int(ok.n_clear_px.median())} of {int(ok.n_total_px.iloc[0])}")
        assert np.abs(err).max() < 3.0
        assert (ok.n_clear_px >= WaterParams().min_water_px).all()
        assert (s.unit == "FNU").all()
    assert list(plume.measurements.columns) == list(MEASUREMENT_COLUMNS)
    assert any("surface-reflectance proxy" in n for n in plume.notes)
    assert any("pre-period window 2021-06-01..2021-07-31" in n for n in plume.notes)
    assert plume.rasters["persistent_water"].sum() > 500


def test_indeterminate_when_a_reach_is_clouded(plume: IndicatorResult, truth: dict[str, Any],
                                               plume_cube: xr.Dataset, registry: Any) -> None:
    series = {s["date"]: s for s in truth["series"]}
    down, up = _series(plume, DOWN, FNU), _series(plume, UP, FNU)
    diff = _series(plume, DOWN, "downstream_minus_upstream")
    cand = _series(plume, DOWN, "exceedance_candidate")
    checked = 0
    for d in down.index:
        t = series[d.isoformat()]
        for s, role in ((down, "downstream"), (up, "upstream")):
            if t[role]["clear_water_px"] == 0:  # overcast on the reach
                row = s.loc[d]
                assert row.status == "indeterminate" and np.isnan(row.value)
                assert "clear persistent-water pixels" in row.reason
                assert diff.loc[d].status == "indeterminate"
                checked += 1
        if t["downstream"]["clear_water_px"] == 0:
            assert np.isnan(cand.loc[d].value) and cand.loc[d].status == "indeterminate"
    print(f"\n{checked} overcast reach-dates all indeterminate")
    assert checked > 20
    # the rainy-season plume (2022-02-26..03-08) is unobservable: no event, and a clear note
    result = turbidity(plume_cube, registry["demo-plume"], (date(2022, 2, 20), date(2022, 3, 14)))
    assert result.events == ()
    assert any("no determinate date" in n for n in result.notes)
    rows = result.measurements[result.measurements.metric == FNU]
    assert (rows.status == "indeterminate").all() and rows.value.isna().all()


def test_numpy_and_dask_agree(demo_portfolio: Portfolio, registry: Any,
                              plume_cube: xr.Dataset) -> None:
    conc = registry["demo-plume"]
    period = (date(2021, 8, 1), date(2021, 9, 30))
    lazy = _load(demo_portfolio, conc).sel(time=slice("2021-06-01", "2021-09-30"))
    a = turbidity(lazy, conc, period).measurements
    b = turbidity(plume_cube.sel(time=slice("2021-06-01", "2021-09-30")), conc,
                  period).measurements
    pd.testing.assert_frame_equal(a, b)


def test_stable_pit_lake_has_no_episode(demo_portfolio: Portfolio, registry: Any) -> None:
    conc = registry["demo-compliant"]
    cube = _load(demo_portfolio, conc).sel(time=slice(None, "2022-01-31"))  # keeps it quick
    period = (PERIOD[0], date(2022, 1, 31))
    none = turbidity(cube, conc, period)  # no reach in the registry: nothing is computed
    assert none.events == () and none.measurements.empty
    assert any("No downstream water reach" in n for n in none.notes)
    # the pit lake as a downstream reach: judged against its own baseline only
    ox, oy = f.ORIGIN
    lake = Polygon([(ox + x, oy - y) for x, y in lay.PIT_LAKE])
    reach = ZoneFeature("pit-lake", "water_reach", lake, role="downstream")
    with_lake = dataclasses.replace(conc, features=(*conc.features, reach))
    result = turbidity(cube, with_lake, period)
    ratio = _series(result, "pit-lake", "downstream_vs_baseline")
    ok = ratio[ratio.status == "ok"].value
    print(f"\npit lake: {ok.size} determinate dates, ratio to own baseline max {ok.max():.2f}; "
          f"episodes {[(e.status, e.onset) for e in result.events]}")
    assert ok.size > 15
    assert not any(e.status == "confirmed" for e in result.events)
    assert any("No upstream reach" in n for n in result.notes)


@pytest.mark.realdata
def test_manaus_solimoes_much_more_turbid_than_rio_negro(
        shared_data: Path, tmp_path: Path) -> None:
    reg = f.registry(tmp_path / "reg.geojson",
                     {"manaus": box(832485, -355035, 858015, -340995)}, crs="EPSG:32620")
    conc = monitor.load_concessions(reg)["manaus"]
    cube = monitor.load_cube(f"local:{shared_data / 'landsat-c2l2-manaus'}", conc,
                             "2023-07-01", "2023-07-31", buffer_m=0)
    xs, ys = cube.x.values, cube.y.values
    third = len(xs) // 3
    half = 15.0  # half a 30 m pixel
    west = box(xs[0] - half, ys.min() - half, xs[third] - half, ys.max() + half)
    east = box(xs[2 * third] - half, ys.min() - half, xs[-1] + half, ys.max() + half)
    reaches = (ZoneFeature("rio-negro", "water_reach", west, role="upstream"),
               ZoneFeature("solimoes", "water_reach", east, role="downstream"))
    conc = dataclasses.replace(conc, features=(*conc.features, *reaches))
    result = turbidity(cube, conc, (date(2023, 7, 1), date(2023, 7, 31)), buffer_m=0)
    m = result.measurements.set_index(["zone_id", "metric"])
    diff = m.loc[("solimoes", "downstream_minus_upstream")]
    negro, solimoes = m.loc[("rio-negro", FNU)], m.loc[("solimoes", FNU)]
    print(f"\nManaus (Landsat 9, Nechad B04 proxy): Rio Negro {negro.value:.1f} FNU "
          f"({negro.n_clear_px} px), Solimoes {solimoes.value:.1f} FNU ({solimoes.n_clear_px} px),"
          f" downstream - upstream {diff.value:+.1f} FNU; confidence {result.confidence}")
    assert diff.status == "ok" and diff.value > 8.0
    assert solimoes.value > 2.5 * negro.value
    assert negro.n_clear_px > 10_000 and solimoes.n_clear_px > 10_000
    (event,) = result.events
    assert event.status == "provisional" and event.zone_id == "solimoes"
    assert result.confidence == "low"  # one scene, no quality band
