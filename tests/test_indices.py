"""Tests of the spectral index registry (monitor.indices).

Golden values are computed by hand from SCIENCE.md sections 3 and 4; the arithmetic is
written next to each literal so that a reviewer can redo it with a pocket calculator.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import indices
from monitor.errors import MissingBandError, UnknownIndexError

# No RuntimeWarning (division by zero, invalid value) may leak out of any index.
pytestmark = pytest.mark.filterwarnings("error")

COMMON_NAMES = ("blue", "green", "red", "nir", "nir08", "swir16", "swir22")
EXPECTED_IDS = [
    "ndvi",
    "nbr",
    "ndwi",
    "mndwi",
    "ndti",
    "bsi",
    "ndmi",
    "ior",
    "cmr",
    "turbidity_nechad2016_b04",
    "turbidity_nechad2016_b08",
    "turbidity_nechad2016_b8a",
    "turbidity_nechad2009_665",
    "turbidity_dogliotti2015",
]
NECHAD = {  # id -> (band, A, C) from SCIENCE.md section 4
    "turbidity_nechad2016_b04": ("red", 366.14, 0.19563),
    "turbidity_nechad2016_b08": ("nir", 1913.65, 0.1913),
    "turbidity_nechad2016_b8a": ("nir08", 3250.32, 0.21151),
    "turbidity_nechad2009_665": ("red", 282.95, 0.1728),
}
ND_IDS = [i for i in EXPECTED_IDS if indices.get(i).valid_range == (-1.0, 1.0)]
# Moderate reflectances for which every index is finite (water-like: red < 0.05).
TYPICAL = {
    "blue": 0.04,
    "green": 0.06,
    "red": 0.04,
    "nir": 0.03,
    "nir08": 0.03,
    "swir16": 0.02,
    "swir22": 0.01,
}


def func_value(index_id: str, **bands: float) -> float:
    """Call the registry's pure function on float64 numpy arrays (one pixel)."""
    spec = indices.get(index_id)
    out = spec.func(**{b: np.array([bands[b]], dtype=np.float64) for b in spec.bands})
    assert isinstance(out, np.ndarray)
    return float(out[0])


def pixel_cube(**bands: float) -> xr.Dataset:
    """A one-pixel float32 cube, dims (time, y, x)."""
    return xr.Dataset(
        {b: (("time", "y", "x"), np.full((1, 1, 1), v, dtype=np.float32)) for b, v in bands.items()}
    )


def compute_value(index_id: str, **bands: float) -> float:
    """Compute an index through ``compute`` on a one-pixel float32 cube."""
    result = indices.compute(index_id, pixel_cube(**bands))
    assert result.dtype == np.float32
    return float(result.values.item())


def random_cube(seed: int = 0, chunks: dict[str, int] | None = None) -> xr.Dataset:
    """A random reflectance cube with NaNs, zeros and negative reflectances in it."""
    rng = np.random.default_rng(seed)
    shape = (3, 16, 20)
    data = {}
    for band in COMMON_NAMES:
        values = rng.uniform(-0.02, 0.6, size=shape).astype(np.float32)
        values[rng.random(shape) < 0.05] = np.nan
        values[rng.random(shape) < 0.05] = 0.0
        data[band] = (("time", "y", "x"), values)
    coords = {
        "time": np.array(["2021-01-01", "2021-02-01", "2022-03-01"], dtype="datetime64[ns]"),
        "y": np.arange(16) * -10.0,
        "x": np.arange(20) * 10.0,
    }
    cube = xr.Dataset(data, coords=coords)
    # Water-like and turbid pixels so that every turbidity branch is exercised.
    cube["red"][:, :4, :] = np.linspace(0.0, 0.12, 4 * 20, dtype=np.float32).reshape(4, 20)
    cube["nir08"][:, :4, :] = np.linspace(0.0, 0.2, 4 * 20, dtype=np.float32).reshape(4, 20)
    return cube.chunk(chunks) if chunks else cube


# --------------------------------------------------------------------------------------
# Registry


def test_registry_holds_every_science_index_in_order() -> None:
    assert indices.available() == EXPECTED_IDS
    assert list(indices.REGISTRY) == EXPECTED_IDS


@pytest.mark.parametrize("index_id", EXPECTED_IDS)
def test_spec_is_complete(index_id: str) -> None:
    spec = indices.get(index_id)
    assert spec.id == index_id
    assert spec.name and spec.formula and spec.citation and spec.notes
    assert set(spec.bands) <= set(COMMON_NAMES)
    lo, hi = spec.valid_range
    assert lo < hi
    if index_id.startswith("turbidity_"):
        assert spec.unit == "FNU"
        assert spec.valid_range == (0.0, 4000.0)
        assert spec.calibration
    else:
        assert spec.unit == "1"
        assert spec.calibration is None


@pytest.mark.parametrize("index_id", list(NECHAD))
def test_nechad_specs_store_band_and_calibration(index_id: str) -> None:
    band, a, c = NECHAD[index_id]
    spec = indices.get(index_id)
    assert spec.bands == (band,)
    assert spec.calibration == index_id.removeprefix("turbidity_")
    assert str(a) in spec.formula and str(c) in spec.formula


def test_specs_are_frozen_and_registry_read_only() -> None:
    spec = indices.get("ndvi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        indices.REGISTRY["ndvi"] = spec  # type: ignore[index]


# --------------------------------------------------------------------------------------
# Golden values, by hand from SCIENCE.md

GOLDEN: list[tuple[str, dict[str, float], float]] = [
    # (0.45 - 0.05) / (0.45 + 0.05) = 0.40 / 0.50 = 0.8
    ("ndvi", {"nir": 0.45, "red": 0.05}, 0.8),
    # (0.30 - 0.10) / (0.30 + 0.10) = 0.20 / 0.40 = 0.5
    ("nbr", {"nir": 0.30, "swir22": 0.10}, 0.5),
    # (0.10 - 0.02) / (0.10 + 0.02) = 0.08 / 0.12 = 0.666667
    ("ndwi", {"green": 0.10, "nir": 0.02}, 0.6666667),
    # (0.08 - 0.02) / (0.08 + 0.02) = 0.06 / 0.10 = 0.6
    ("mndwi", {"green": 0.08, "swir16": 0.02}, 0.6),
    # (0.09 - 0.06) / (0.09 + 0.06) = 0.03 / 0.15 = 0.2
    ("ndti", {"red": 0.09, "green": 0.06}, 0.2),
    # ((0.30 + 0.20) - (0.25 + 0.05)) / ((0.30 + 0.20) + (0.25 + 0.05)) = 0.20 / 0.80 = 0.25
    ("bsi", {"swir16": 0.30, "red": 0.20, "nir": 0.25, "blue": 0.05}, 0.25),
    # (0.30 - 0.20) / (0.30 + 0.20) = 0.10 / 0.50 = 0.2
    ("ndmi", {"nir": 0.30, "swir16": 0.20}, 0.2),
    # 0.18 / 0.06 = 3.0
    ("ior", {"red": 0.18, "blue": 0.06}, 3.0),
    # 0.30 / 0.20 = 1.5
    ("cmr", {"swir16": 0.30, "swir22": 0.20}, 1.5),
    # 366.14 * 0.02 / (1 - 0.02 / 0.19563) = 7.3228 / (1 - 0.1022338) = 7.3228 / 0.8977662
    #   = 8.156689 FNU
    ("turbidity_nechad2016_b04", {"red": 0.02}, 8.156689),
    # 1913.65 * 0.01 / (1 - 0.01 / 0.1913) = 19.1365 / (1 - 0.0522739) = 19.1365 / 0.9477261
    #   = 20.192016 FNU
    ("turbidity_nechad2016_b08", {"nir": 0.01}, 20.192016),
    # 3250.32 * 0.01 / (1 - 0.01 / 0.21151) = 32.5032 / (1 - 0.0472791) = 32.5032 / 0.9527209
    #   = 34.116182 FNU
    ("turbidity_nechad2016_b8a", {"nir08": 0.01}, 34.116182),
    # 282.95 * 0.02 / (1 - 0.02 / 0.1728) = 5.659 / (1 - 0.1157407) = 5.659 / 0.8842593
    #   = 6.399707 FNU
    ("turbidity_nechad2009_665", {"red": 0.02}, 6.399707),
    # red 0.02 < 0.05 -> T_red = 228.1 * 0.02 / (1 - 0.02 / 0.1641)
    #   = 4.562 / (1 - 0.1218769) = 4.562 / 0.8781231 = 5.195171 FNU (nir08 is ignored)
    ("turbidity_dogliotti2015", {"red": 0.02, "nir08": 0.01}, 5.195171),
    # red 0.10 > 0.07 -> T_nir = 3078.9 * 0.05 / (1 - 0.05 / 0.2112)
    #   = 153.945 / (1 - 0.2367424) = 153.945 / 0.7632576 = 201.694690 FNU
    ("turbidity_dogliotti2015", {"red": 0.10, "nir08": 0.05}, 201.694690),
    # red 0.06: w = (0.06 - 0.05) / 0.02 = 0.5;
    #   T_red = 228.1 * 0.06 / (1 - 0.06 / 0.1641) = 13.686 / 0.6343693 = 21.574184
    #   T_nir = 3078.9 * 0.03 / (1 - 0.03 / 0.2112) = 92.367 / 0.8579545 = 107.659550
    #   T = 0.5 * 21.574184 + 0.5 * 107.659550 = 64.616867 FNU
    ("turbidity_dogliotti2015", {"red": 0.06, "nir08": 0.03}, 64.616867),
]


@pytest.mark.parametrize(("index_id", "bands", "expected"), GOLDEN)
def test_golden_value_pure_function(
    index_id: str, bands: dict[str, float], expected: float
) -> None:
    assert func_value(index_id, **bands) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("index_id", "bands", "expected"), GOLDEN)
def test_golden_value_through_compute(
    index_id: str, bands: dict[str, float], expected: float
) -> None:
    # float32 reflectances: relative error of a few 1e-7, amplified a little by 1 - rho/C.
    assert compute_value(index_id, **bands) == pytest.approx(expected, rel=2e-6)


def test_every_index_has_a_golden_value() -> None:
    assert {g[0] for g in GOLDEN} == set(EXPECTED_IDS)


def test_ndti_is_the_red_green_turbidity_index_not_swir_tillage() -> None:
    assert indices.get("ndti").bands == ("red", "green")
    # A cube with only red and green is enough, and SWIR values change nothing.
    assert compute_value("ndti", red=0.09, green=0.06) == pytest.approx(0.2, rel=1e-6)
    # With swir16 = 0.4, swir22 = 0.1 the SWIR 'tillage' NDTI would be
    # (0.4 - 0.1) / (0.4 + 0.1) = 0.6; the turbidity NDTI stays (0.09 - 0.06) / 0.15 = 0.2.
    value = compute_value("ndti", red=0.09, green=0.06, swir16=0.4, swir22=0.1)
    assert value == pytest.approx(0.2, rel=1e-6)


def test_dnbr_is_a_difference_not_a_ratio() -> None:
    pre = np.array([0.5])
    post = np.array([-0.1])
    # 0.5 - (-0.1) = 0.6 (a ratio would give 0.5 / -0.1 = -5)
    np.testing.assert_allclose(indices.dnbr(pre, post), [0.6], rtol=1e-12)
    # Burns are positive: swapping the dates flips the sign.
    np.testing.assert_allclose(indices.dnbr(post, pre), [-0.6], rtol=1e-12)


def test_dnbr_from_cubes() -> None:
    # NBR_pre = (0.30 - 0.10) / (0.30 + 0.10) = 0.5
    # NBR_post = (0.15 - 0.25) / (0.15 + 0.25) = -0.10 / 0.40 = -0.25
    # dNBR = 0.5 - (-0.25) = 0.75
    result = indices.dnbr(pixel_cube(nir=0.30, swir22=0.10), pixel_cube(nir=0.15, swir22=0.25))
    assert isinstance(result, xr.DataArray)
    assert result.name == "dnbr"
    assert result.attrs["formula"] == "NBR_pre - NBR_post"
    assert float(result.values.item()) == pytest.approx(0.75, rel=1e-6)


# --------------------------------------------------------------------------------------
# Turbidity: Nechad mask, calibrations, Dogliotti switch


@pytest.mark.parametrize("index_id", list(NECHAD))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nechad_mask_at_half_c(index_id: str, dtype: type[np.floating[Any]]) -> None:
    band, a, c = NECHAD[index_id]
    func = indices.get(index_id).func
    rho = np.array([0.5 * c, 0.5 * c + 0.001, 0.5 * c - 0.0001, 0.9 * c, c], dtype=dtype)
    out = func(**{band: rho})
    assert np.isnan(out[0])  # rho == 0.5 * C: masked
    assert np.isnan(out[1])  # above
    assert np.isfinite(out[2])  # just below: finite
    assert np.isnan(out[3]) and np.isnan(out[4])  # far above, and at the pole itself
    # Just below 0.5 C the value approaches A * C (denominator -> 0.5).
    assert out[2] == pytest.approx(a * c, rel=5e-3)


def test_nechad_b04_just_below_mask_by_hand() -> None:
    # 0.5 * 0.19563 = 0.097815; rho = 0.0978 is just below:
    # 366.14 * 0.0978 / (1 - 0.0978 / 0.19563) = 35.808492 / 0.5000767 = 71.606003 FNU
    assert func_value("turbidity_nechad2016_b04", red=0.0978) == pytest.approx(71.606003, rel=1e-6)
    assert np.isnan(func_value("turbidity_nechad2016_b04", red=0.097815))
    assert np.isnan(compute_value("turbidity_nechad2016_b04", red=0.097815))


def test_nechad_2009_and_2016_calibrations_differ_by_about_30_percent() -> None:
    # Same red reflectance 0.02: 8.156689 FNU (2016, B04) vs 6.399707 FNU (2009, 665 nm);
    # 8.156689 / 6.399707 = 1.2745, i.e. ~27 % apart (A alone: 366.14 / 282.95 = 1.294).
    t2016 = func_value("turbidity_nechad2016_b04", red=0.02)
    t2009 = func_value("turbidity_nechad2009_665", red=0.02)
    assert t2016 / t2009 == pytest.approx(1.2745, rel=1e-4)
    cube = pixel_cube(red=0.02)
    a2016 = indices.compute("turbidity_nechad2016_b04", cube).attrs
    a2009 = indices.compute("turbidity_nechad2009_665", cube).attrs
    assert a2016["calibration"] == "nechad2016_b04"
    assert a2009["calibration"] == "nechad2009_665"


def test_dogliotti_switch_sides_and_blend() -> None:
    t_red = 21.574184  # 228.1 * 0.06 / (1 - 0.06 / 0.1641), see GOLDEN
    t_nir = 107.659550  # 3078.9 * 0.03 / (1 - 0.03 / 0.2112), see GOLDEN
    mid = func_value("turbidity_dogliotti2015", red=0.06, nir08=0.03)
    assert mid == pytest.approx((t_red + t_nir) / 2, rel=1e-6)
    # red 0.055: w = 0.25 -> T_red(0.055) * 0.75 + T_nir(0.03) * 0.25
    #   T_red(0.055) = 12.5455 / (1 - 0.055 / 0.1641) = 12.5455 / 0.6648385 = 18.869955
    #   T = 0.75 * 18.869955 + 0.25 * 107.659550 = 14.152466 + 26.914888 = 41.067354
    quarter = func_value("turbidity_dogliotti2015", red=0.055, nir08=0.03)
    assert quarter == pytest.approx(41.067354, rel=1e-6)
    # Below 0.05 only T_red counts: the NIR value does not matter.
    low_a = func_value("turbidity_dogliotti2015", red=0.02, nir08=0.01)
    low_b = func_value("turbidity_dogliotti2015", red=0.02, nir08=0.15)
    assert low_a == low_b == pytest.approx(5.195171, rel=1e-6)
    # Above 0.07 only T_nir counts: the red value does not matter.
    high_a = func_value("turbidity_dogliotti2015", red=0.08, nir08=0.05)
    high_b = func_value("turbidity_dogliotti2015", red=0.12, nir08=0.05)
    assert high_a == high_b == pytest.approx(201.694690, rel=1e-6)


def test_dogliotti_is_continuous_at_the_switch_edges() -> None:
    nir08 = 0.03
    t_red_005 = func_value("turbidity_dogliotti2015", red=0.0499999, nir08=nir08)
    assert func_value("turbidity_dogliotti2015", red=0.05, nir08=nir08) == pytest.approx(
        t_red_005, rel=1e-5
    )
    t_nir = func_value("turbidity_dogliotti2015", red=0.0700001, nir08=nir08)
    assert func_value("turbidity_dogliotti2015", red=0.07, nir08=nir08) == pytest.approx(
        t_nir, rel=1e-9
    )


# --------------------------------------------------------------------------------------
# NaN, zero denominators, valid ranges


@pytest.mark.parametrize("index_id", EXPECTED_IDS)
def test_nan_in_any_band_gives_nan(index_id: str) -> None:
    spec = indices.get(index_id)
    assert np.isfinite(func_value(index_id, **TYPICAL))
    for band in spec.bands:
        assert np.isnan(func_value(index_id, **{**TYPICAL, band: float("nan")})), band
        assert np.isnan(compute_value(index_id, **{**TYPICAL, band: float("nan")})), band


ZERO_DENOMINATORS: list[tuple[str, dict[str, float]]] = [
    ("ndvi", {"nir": 0.0, "red": 0.0}),
    ("ndvi", {"nir": 0.01, "red": -0.01}),  # negative reflectance (BOA offset) cancels
    ("nbr", {"nir": 0.0, "swir22": 0.0}),
    ("ndwi", {"green": 0.0, "nir": 0.0}),
    ("mndwi", {"green": 0.0, "swir16": 0.0}),
    ("ndti", {"red": 0.0, "green": 0.0}),
    ("bsi", {"swir16": 0.0, "red": 0.0, "nir": 0.0, "blue": 0.0}),
    ("ndmi", {"nir": 0.0, "swir16": 0.0}),
    ("ior", {"red": 0.1, "blue": 0.0}),
    ("ior", {"red": 0.0, "blue": 0.0}),
    ("cmr", {"swir16": 0.2, "swir22": 0.0}),
    # T_nir pole: 1 - 0.2112 / 0.2112 = 0
    ("turbidity_dogliotti2015", {"red": 0.1, "nir08": 0.2112}),
]


@pytest.mark.parametrize(("index_id", "bands"), ZERO_DENOMINATORS)
def test_zero_denominator_gives_nan_not_inf(index_id: str, bands: dict[str, float]) -> None:
    assert np.isnan(func_value(index_id, **bands))
    assert np.isnan(compute_value(index_id, **bands))


OUT_OF_RANGE: list[tuple[str, dict[str, float]]] = [
    # (0.10 + 0.05) / (0.10 - 0.05) = 3 > 1
    ("ndvi", {"nir": 0.10, "red": -0.05}),
    # (-0.05 - 0.10) / (-0.05 + 0.10) = -3 < -1
    ("ndwi", {"green": -0.05, "nir": 0.10}),
    # 0.50 / 0.01 = 50 > 10
    ("ior", {"red": 0.50, "blue": 0.01}),
    # -0.01 / 0.2 = -0.05 < 0
    ("cmr", {"swir16": -0.01, "swir22": 0.2}),
    # 366.14 * -0.01 / (1 + 0.01 / 0.19563) = -3.48 FNU < 0
    ("turbidity_nechad2016_b04", {"red": -0.01}),
    # 3078.9 * 0.21 / (1 - 0.21 / 0.2112) = 646.569 / 0.0056818 = 113,796 FNU > 4000
    ("turbidity_dogliotti2015", {"red": 0.10, "nir08": 0.21}),
    # 3078.9 * 0.25 / (1 - 0.25 / 0.2112) = 769.725 / -0.1837 = -4190 FNU < 0 (past the pole)
    ("turbidity_dogliotti2015", {"red": 0.10, "nir08": 0.25}),
]


@pytest.mark.parametrize(("index_id", "bands"), OUT_OF_RANGE)
def test_values_outside_valid_range_become_nan(index_id: str, bands: dict[str, float]) -> None:
    assert np.isnan(func_value(index_id, **bands))
    assert np.isnan(compute_value(index_id, **bands))


def test_range_edges_are_kept() -> None:
    # (0.3 - 0) / (0.3 + 0) = 1 exactly: on the closed edge, kept.
    assert func_value("ndvi", nir=0.3, red=0.0) == 1.0
    # 0 / 0.1 = 0: kept.
    assert func_value("ior", red=0.0, blue=0.1) == 0.0


reflectance = st.floats(min_value=0.0, max_value=1.5, allow_nan=False)


@given(values=st.tuples(reflectance, reflectance, reflectance, reflectance))
@settings(max_examples=300, deadline=None)
def test_normalized_differences_bounded_for_non_negative_reflectance(
    values: tuple[float, float, float, float],
) -> None:
    for index_id in ND_IDS:
        spec = indices.get(index_id)
        for dtype in (np.float64, np.float32):
            bands = {
                band: np.array([v], dtype=dtype)
                for band, v in zip(spec.bands, values, strict=False)
            }
            out = float(spec.func(**bands)[0])
            if all(float(v[0]) == 0.0 for v in bands.values()):
                assert np.isnan(out)  # 0 / 0
            else:
                # Within [-1, 1] and never masked: for non-negative reflectances the range
                # mask must not remove anything (it only removes artefacts).
                assert -1.0 <= out <= 1.0, (index_id, bands, out)


# --------------------------------------------------------------------------------------
# numpy and dask


@pytest.mark.parametrize("index_id", EXPECTED_IDS)
def test_numpy_and_dask_identical_and_dask_lazy(index_id: str) -> None:
    eager = indices.compute(index_id, random_cube())
    lazy_cube = random_cube(chunks={"time": 1, "y": 8, "x": 10})

    def forbid(*args: object, **kwargs: object) -> None:
        raise AssertionError("compute() must not compute a dask-backed cube")

    with dask.config.set(scheduler=forbid):
        lazy = indices.compute(index_id, lazy_cube)
    assert isinstance(lazy.data, da.Array)
    assert isinstance(eager.data, np.ndarray)
    assert lazy.chunks == lazy_cube["red"].chunks
    assert lazy.dtype == eager.dtype == np.float32
    assert lazy.name == eager.name == index_id
    assert lazy.attrs == eager.attrs
    computed = lazy.compute()
    np.testing.assert_array_equal(computed.values, eager.values)
    assert computed.dims == ("time", "y", "x")
    xr.testing.assert_identical(computed, eager)
    # Some finite values, never inf, everything within the valid range.
    values = eager.values
    assert np.isfinite(values).any()
    assert not np.isinf(values).any()
    lo, hi = indices.get(index_id).valid_range
    finite = values[np.isfinite(values)]
    assert finite.min() >= lo and finite.max() <= hi


def test_dask_pure_function_stays_lazy() -> None:
    red = da.from_array(np.array([0.05, 0.0], dtype=np.float32), chunks=1)
    nir = da.from_array(np.array([0.45, 0.0], dtype=np.float32), chunks=1)
    out: Any = indices.get("ndvi").func(nir=nir, red=red)
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(out.compute(), [0.8, np.nan], rtol=1e-6)


def test_compute_many_returns_dataset_and_stays_lazy() -> None:
    cube = random_cube(chunks={"time": 1, "y": 8, "x": 10})
    result = indices.compute_many(["ndvi", "turbidity_dogliotti2015", "ndvi"], cube)
    assert isinstance(result, xr.Dataset)
    assert list(result.data_vars) == ["ndvi", "turbidity_dogliotti2015"]
    assert all(isinstance(v.data, da.Array) for v in result.data_vars.values())
    xr.testing.assert_identical(result["ndvi"].compute(), indices.compute("ndvi", random_cube()))


# --------------------------------------------------------------------------------------
# compute(): attributes, dtypes, dims


def test_compute_attributes() -> None:
    ndvi = indices.compute("ndvi", pixel_cube(nir=0.45, red=0.05))
    assert ndvi.attrs["long_name"] == "Normalized Difference Vegetation Index"
    assert ndvi.attrs["formula"] == "(nir - red) / (nir + red)"
    assert ndvi.attrs["units"] == "1"
    assert "Rouse" in ndvi.attrs["citation"]
    assert ndvi.attrs["valid_range"] == (-1.0, 1.0)
    assert "calibration" not in ndvi.attrs
    turbidity = indices.compute("turbidity_dogliotti2015", pixel_cube(red=0.02, nir08=0.01))
    assert turbidity.attrs["units"] == "FNU"
    assert turbidity.attrs["calibration"] == "dogliotti2015_645_859"
    assert turbidity.attrs["reflectance_basis"] == "surface-reflectance proxy"
    assert "Dogliotti" in turbidity.attrs["citation"]


def test_compute_any_dims_float64_input_gives_float32() -> None:
    cube = xr.Dataset(
        {
            "nir": ("pixel", np.array([0.45, 0.30], dtype=np.float64)),
            "red": ("pixel", np.array([0.05, 0.10], dtype=np.float64)),
        },
        coords={"pixel": [10, 11]},
    )
    result = indices.compute("ndvi", cube)
    assert result.dtype == np.float32
    assert result.dims == ("pixel",)
    assert list(result["pixel"].values) == [10, 11]
    # (0.30 - 0.10) / (0.30 + 0.10) = 0.5
    np.testing.assert_allclose(result.values, [0.8, 0.5], rtol=1e-6)


def test_compute_ignores_other_variables_and_keeps_coords() -> None:
    cube = random_cube()
    cube["clear"] = cube["red"] > 0.1
    result = indices.compute("ndvi", cube)
    xr.testing.assert_equal(result["time"], cube["time"])
    assert result.sizes == cube["red"].sizes


# --------------------------------------------------------------------------------------
# Errors


def test_unknown_index_lists_known_ids() -> None:
    with pytest.raises(UnknownIndexError) as info:
        indices.get("ndvii")
    message = str(info.value)
    assert "'ndvii'" in message
    assert "Did you mean 'ndvi'" in message
    for index_id in EXPECTED_IDS:
        assert index_id in message
    with pytest.raises(UnknownIndexError):
        indices.compute("tillage", pixel_cube(red=0.1))
    with pytest.raises(UnknownIndexError):
        indices.compute_many(["ndvi", "nope"], pixel_cube(red=0.1, nir=0.2))


def test_missing_band_names_band_index_and_cube_bands() -> None:
    with pytest.raises(MissingBandError) as info:
        indices.compute("nbr", pixel_cube(nir=0.3, red=0.1, green=0.05))
    message = str(info.value)
    assert "'swir22'" in message
    assert "'nbr'" in message
    assert "green" in message and "red" in message and "nir" in message


def test_landsat_cube_uses_nir08_for_nir_and_says_so() -> None:
    # Landsat OLI has no 'nir': band 5 ('nir08') stands in, and the result records it
    ndvi = indices.compute("ndvi", pixel_cube(red=0.1, nir08=0.3))
    assert float(ndvi.values.ravel()[0]) == pytest.approx(0.5)  # (0.3 - 0.1) / (0.3 + 0.1)
    assert ndvi.attrs["bands"] == ["nir08", "red"]
    assert ndvi.attrs["band_substitution"] == "nir <- nir08"
    # a cube with both uses the broad 'nir' and records no substitution
    both = indices.compute("ndvi", pixel_cube(red=0.1, nir=0.5, nir08=0.3))
    assert float(both.values.ravel()[0]) == pytest.approx(2 / 3)
    assert "band_substitution" not in both.attrs


def test_compute_many_checks_every_band_before_computing() -> None:
    with pytest.raises(MissingBandError, match="'ior'"):
        indices.compute_many(["ndvi", "ior"], pixel_cube(red=0.1, nir=0.3))
