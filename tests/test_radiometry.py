"""DN -> reflectance decisions and quality masks (SCIENCE.md sections 1 and 2)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from monitor.errors import SourceError
from monitor.sources import radiometry as rad


@pytest.mark.parametrize(
    ("baseline", "expected_offset"),
    [("02.14", 0.0), ("03.01", 0.0), ("04.00", -0.1), ("04.00", -0.1), ("N0400", -0.1),
     ("05.10", -0.1), ("5.0", -0.1), ("N0311", 0.0)],
)
def test_s2_offset_decided_by_baseline(baseline: str, expected_offset: float) -> None:
    s = rad.sentinel2_scaling(baseline)
    assert s.scale == pytest.approx(1e-4)
    assert s.offset == pytest.approx(expected_offset)
    assert not s.offset_applied


def test_metadata_offset_wins_and_is_never_applied_twice() -> None:
    # BOA_ADD_OFFSET stated in metadata wins over the baseline
    assert rad.sentinel2_scaling("03.01", boa_add_offset=-1000).offset == pytest.approx(-0.1)
    assert rad.sentinel2_scaling("05.10", boa_add_offset=0).offset == 0.0
    # DNs that already carry the offset: nothing more is added, whatever the baseline
    applied = rad.sentinel2_scaling("04.00", offset_applied=True)
    assert applied.offset == 0.0 and applied.offset_applied
    # A STAC raster:bands recipe is complete: it is not combined with the BOA offset
    stac = rad.sentinel2_scaling("04.00", raster_scale=1e-4, raster_offset=-0.1,
                                 boa_add_offset=-1000)
    assert (stac.scale, stac.offset) == (1e-4, -0.1)


def test_undecidable_offset_is_an_error() -> None:
    with pytest.raises(SourceError, match="processing_baseline"):
        rad.sentinel2_scaling(None)
    with pytest.raises(SourceError, match=r"04\.00"):
        rad.parse_baseline("four")


def test_same_ground_reflectance_across_the_baseline_switch() -> None:
    refl = 0.0423
    dn_old = np.array([round(refl * 1e4)], "uint16")
    dn_new = dn_old + 1000
    old = rad.sentinel2_scaling("03.01")
    new = rad.sentinel2_scaling("04.00")
    r_old = rad.to_reflectance(dn_old, old.scale, old.offset)
    r_new = rad.to_reflectance(dn_new, new.scale, new.offset)
    np.testing.assert_allclose(r_old, r_new, atol=1e-6)
    np.testing.assert_allclose(r_old, refl, atol=1e-6)


def test_nodata_becomes_nan_and_dask_matches_numpy() -> None:
    dn = np.random.default_rng(1).integers(1, 5000, (3, 40, 40)).astype("uint16")
    dn[0, :5] = 0
    out_np = rad.to_reflectance(dn, 1e-4, -0.1)
    out_da = rad.to_reflectance(da.from_array(dn, chunks=(1, 16, 16)), 1e-4, -0.1)
    assert isinstance(out_da, da.Array)
    assert out_np.dtype == np.float32 and out_da.dtype == np.float32
    np.testing.assert_array_equal(out_np, out_da.compute())
    assert np.isnan(out_np[0, :5]).all()
    assert not np.isnan(out_np[1]).any()


def test_landsat_scaling_from_mtl() -> None:
    mtl = {f"REFLECTANCE_MULT_BAND_{n}": "2.75e-05" for n in range(2, 8)}
    mtl.update({f"REFLECTANCE_ADD_BAND_{n}": "-0.2" for n in range(2, 8)})
    s = rad.landsat_scaling(mtl, [2, 3, 4])
    assert (s.scale, s.offset) == (2.75e-5, -0.2)
    mtl["REFLECTANCE_ADD_BAND_3"] = "-0.1"
    with pytest.raises(SourceError, match="different reflectance scale"):
        rad.landsat_scaling(mtl, [2, 3, 4])


def test_dilation_is_identical_across_dask_chunks() -> None:
    rng = np.random.default_rng(2)
    mask = rng.random((2, 90, 70)) > 0.995
    ref = rad.dilate(mask, 3)
    lazy = rad.dilate(da.from_array(mask, chunks=(1, 25, 30)), 3)
    np.testing.assert_array_equal(ref, lazy.compute())
    # one seed pixel grows into a disc of radius 3 (29 pixels), never a square (49)
    single = np.zeros((1, 15, 15), bool)
    single[0, 7, 7] = True
    assert rad.dilate(single, 3).sum() == 29


def _scl_case(scl: int, swir16: float, green: float = 0.05) -> rad.MaskSet:
    arr = np.full((1, 9, 9), 4, "uint8")
    arr[0, 4, 4] = scl
    sw = np.full(arr.shape, 0.2, "float32")
    sw[0, 4, 4] = swir16
    gr = np.full(arr.shape, 0.05, "float32")
    gr[0, 4, 4] = green
    return rad.scl_masks(arr, np.ones(arr.shape, bool), gr, sw, dilation_px=2)


def test_scl_masks_per_indicator() -> None:
    veg = _scl_case(4, 0.2)
    assert veg.clear[0, 4, 4] and veg.vegetation[0, 4, 4] and veg.tailings[0, 4, 4]
    cloud = _scl_case(9, 0.25)
    # the cloud pixel and its dilated ring are masked for every indicator
    assert not cloud.clear[0, 4, 4] and not cloud.clear[0, 4, 6] and cloud.clear[0, 4, 7]
    assert not cloud.water[0, 4, 4]
    water = _scl_case(6, 0.01)
    assert water.water[0, 4, 4] and water.water_flag[0, 4, 4]
    assert not water.vegetation[0, 4, 4] and water.tailings[0, 4, 4]


def test_cloud_flagged_water_kept_only_when_swir_says_water() -> None:
    # turbid water misread as cloud: dark in SWIR and MNDWI > 0 -> still water
    misread = _scl_case(8, 0.01, green=0.08)
    assert misread.water[0, 4, 4]
    assert not misread.clear[0, 4, 4]
    # a real cloud is bright in SWIR: not water even if MNDWI > 0
    real_cloud = _scl_case(8, 0.3, green=0.4)
    assert not real_cloud.water[0, 4, 4]
    # shadow and cirrus really change water's colour: never rescued, however dark in SWIR
    assert not _scl_case(3, 0.01, green=0.08).water[0, 4, 4]
    assert not _scl_case(10, 0.01, green=0.08).water[0, 4, 4]


def test_qa_pixel_bits() -> None:
    qa = np.array([[[1 << 6, 1 << 3, 1 << 4, 1 << 7 | 1 << 6, 1 << 5, 1]]], "uint16")
    sw = np.array([[[0.2, 0.3, 0.1, 0.01, 0.2, 0.2]]], "float32")
    gr = np.full(qa.shape, 0.05, "float32")
    m = rad.qa_pixel_masks(qa, np.ones(qa.shape, bool), gr, sw, dilation_px=0)
    assert m.clear[0, 0].tolist() == [True, False, False, True, True, False]
    assert m.vegetation[0, 0].tolist() == [True, False, False, False, False, False]
    assert m.water_flag[0, 0].tolist() == [False, False, False, True, False, False]
    assert bool(m.water[0, 0, 3])


def test_spectral_screen_flags_cloud_not_water_or_soil() -> None:
    # columns: white cloud, dark water, bright bare soil, vegetation
    bands = {
        "blue": np.array([[[0.45, 0.03, 0.12, 0.03]]], "float32"),
        "green": np.array([[[0.46, 0.05, 0.16, 0.06]]], "float32"),
        "red": np.array([[[0.47, 0.04, 0.22, 0.04]]], "float32"),
        "nir": np.array([[[0.50, 0.02, 0.28, 0.40]]], "float32"),
        "swir16": np.array([[[0.40, 0.01, 0.35, 0.20]]], "float32"),
        "swir22": np.array([[[0.30, 0.005, 0.30, 0.10]]], "float32"),
    }
    m = rad.spectral_screen_masks(bands, np.ones((1, 1, 4), bool), dilation_px=0)
    assert m.clear[0, 0].tolist() == [False, True, True, True]
    assert m.water[0, 0].tolist() == [False, True, False, False]
