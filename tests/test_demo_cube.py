"""Cubes of the synthetic demo portfolio checked against its ground truth.

The portfolio crosses the 2022-01-25 processing-baseline switch, has a reprocessed PB 05.10
scene sensed in 2021, a duplicated scene, a partial (no-data) scene, cloud edges and
shadows that SCL misses, and turbid water that SCL calls cloud.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from odc.geo.geom import Geometry
from odc.geo.xr import rasterize

import monitor
from monitor.errors import SceneSkippedWarning
from monitor.simulate import Portfolio
from tests.factories import truth_on_cube as _truth_on_cube

# truth/masks bits (aoi/demo/README.md)
CLOUD, HAZE, MISSED, SHADOW, CIRRUS = 1, 2, 4, 8, 16


def _cube(portfolio: Portfolio, concession_id: str) -> xr.Dataset:
    registry = monitor.load_concessions(portfolio.registry_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneSkippedWarning)
        return monitor.load_cube(f"local:{portfolio.scenes_dir}", registry[concession_id],
                                 "2021-06-01", "2022-12-01")


@pytest.fixture(scope="module")
def compliant(demo_portfolio: Portfolio) -> xr.Dataset:
    return _cube(demo_portfolio, "demo-compliant").compute()


def test_special_scenes(demo_portfolio: Portfolio, compliant: xr.Dataset) -> None:
    special = demo_portfolio.truth["special_scenes"]
    (original, copy), = special["duplicates"]
    ids = list(compliant.scene_id.values)
    assert (original in ids) != (copy in ids), "exactly one of the duplicated pair is kept"
    skipped = {s["scene_id"]: s["reason"] for s in json.loads(compliant.attrs["skipped_scenes"])}
    dropped = original if copy in ids else copy
    assert "same platform, tile and time" in skipped[dropped]
    assert compliant.sizes["time"] == len(demo_portfolio.scene_ids) - 1
    # the reprocessed Collection-1 scene: sensed in 2021, offset decided by its baseline
    (c1,) = special["collection_1"]
    scene = compliant.sel(time=compliant.scene_id == c1)
    assert str(scene.processing_baseline.values[0]) == "05.10"
    assert float(scene.offset.values[0]) == pytest.approx(-0.1)
    before = compliant.where(compliant.processing_baseline == "03.01", drop=True)
    assert np.allclose(before.offset.values, 0.0)


def _step(series: xr.DataArray, switch: np.datetime64, days: int) -> tuple[float, int]:
    """Least-squares step at ``switch`` on top of a linear trend, within +/- ``days``."""
    t = (series.time.values - switch) / np.timedelta64(1, "D")
    keep = np.isfinite(series.values) & (np.abs(t) <= days)
    design = np.column_stack([np.ones(keep.sum()), t[keep], (t[keep] >= 0).astype(float)])
    coef, *_ = np.linalg.lstsq(design, series.values[keep], rcond=None)
    return float(coef[2]), int(keep.sum())


def test_no_step_across_the_baseline_switch(compliant: xr.Dataset) -> None:
    """A stable concession's reflectance does not step on 2022-01-25 (an offset error: 0.1).

    The series has a seasonal trend, so the step is estimated on top of a linear trend.
    """
    usable = compliant.clear & compliant.in_aoi
    red = compliant.red.where(usable).median(("y", "x"))
    ndvi = monitor.indices.compute("ndvi", compliant).where(
        compliant.clear_vegetation & compliant.in_aoi).median(("y", "x"))
    switch = np.datetime64("2022-01-25")
    step_red, n_red = _step(red, switch, 60)
    step_ndvi, n_ndvi = _step(ndvi, switch, 60)
    print(f"\nstep at the switch (+/-60 d, trend removed): red {step_red:+.4f} ({n_red} dates), "
          f"NDVI {step_ndvi:+.4f} ({n_ndvi} dates)")
    assert n_red >= 10
    assert abs(step_red) < 0.005  # an offset applied twice or never: 0.1
    assert abs(step_ndvi) < 0.02




def test_masks_catch_what_scl_misses(demo_portfolio: Portfolio, compliant: xr.Dataset) -> None:
    """Every truly contaminated pixel, including edges SCL misses, is masked."""
    masks_dir = demo_portfolio.truth_path.parent / "masks"
    contaminated = leaked = missed_by_scl = clear_truth = overmasked = 0
    for i, scene_id in enumerate(compliant.scene_id.values):
        truth = _truth_on_cube(str(masks_dir / f"{scene_id}.tif"), compliant)
        inside = (truth >= 0) & compliant.in_aoi.values
        bad = inside & ((truth & (CLOUD | HAZE | SHADOW | CIRRUS)) > 0)
        clear = compliant.clear.values[i]
        contaminated += int(bad.sum())
        leaked += int((bad & clear).sum())
        missed_by_scl += int((inside & ((truth & MISSED) > 0)).sum())
        good = inside & (truth == 0)
        clear_truth += int(good.sum())
        overmasked += int((good & ~clear).sum())
    print(f"\ncontaminated px {contaminated} (SCL missed {missed_by_scl}), leaked into clear "
          f"{leaked} ({leaked / contaminated:.3%}); "
          f"truly clear masked {overmasked / clear_truth:.1%}")
    assert missed_by_scl > 100, "the portfolio must exercise missed edges"
    assert leaked / contaminated < 0.001


def test_partial_scene_is_nan_not_zero(demo_portfolio: Portfolio, compliant: xr.Dataset) -> None:
    (partial,) = demo_portfolio.truth["special_scenes"]["partial_nodata"]
    scene = compliant.sel(time=compliant.scene_id == partial).isel(time=0)
    missing = np.isnan(scene.red.values)
    assert 0.2 < missing.mean() < 0.8
    assert not (scene.red.values == 0).any()
    assert not scene.clear.values[missing].any()


def test_cloud_flagged_turbid_water_kept_by_swir_check(demo_portfolio: Portfolio) -> None:
    cube = _cube(demo_portfolio, "demo-plume")
    registry = monitor.load_concessions(demo_portfolio.registry_path)
    reach = registry["demo-plume"].zones(500).water_reaches["rio-cachoeira-down"]
    geobox = cube.odc.geobox
    in_reach = rasterize(Geometry(reach.geometry, crs=geobox.crs), geobox).values.astype(bool)
    day = cube.sel(time="2022-09-14").isel(time=0).compute()
    flagged_water = day.clear_water.values & ~day.clear.values & in_reach
    print(f"\n2022-09-14 downstream: {int(flagged_water.sum())} cloud-flagged water pixels kept, "
          f"{int((day.clear_water.values & in_reach).sum())} water pixels in all")
    assert flagged_water.sum() > 10
    # and the kept water really is turbid: Nechad B04 far above the upstream level (~11-15 FNU)
    fnu = monitor.indices.compute("turbidity_nechad2016_b04", day).values[flagged_water]
    assert float(np.nanmedian(fnu)) > 25
