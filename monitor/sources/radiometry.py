"""Digital numbers to reflectance, and quality masks (SCIENCE.md sections 1 and 2).

Pure functions: no file access. They take and return numpy or dask arrays (and xarray
objects built on either) and never change the array type they were given.

Scale and offset
    Sentinel-2 L2A: ``reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE``, with
    ``BOA_ADD_OFFSET = -1000`` from processing baseline 04.00 on (and for every reprocessed
    Collection-1 product, baseline 05.xx, whatever its sensing date), 0 before. The decision is
    made on the processing baseline, never on the sensing date, and an offset that a product
    has already applied is never applied again.
    Landsat 8/9 Collection 2 Level-2: ``reflectance = DN * REFLECTANCE_MULT + REFLECTANCE_ADD``
    (2.75e-5 and -0.2 as shipped), read from the MTL.

Masks
    Each indicator keeps different pixels: vegetation keeps SCL {4, 5, 7}, tailings {4, 5, 6, 7},
    water SCL 6 or MNDWI > 0, and a water pixel is never dropped on a cloud flag alone without a
    SWIR check (cloud detectors misread turbid water and tailings ponds as cloud; water has
    swir16 < ~0.03, cloud does not). Cloud and shadow flags are dilated because SCL misses
    cloud edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

from monitor.errors import SourceError

#: Sentinel-2 processing baseline from which the BOA offset of -1000 applies.
S2_OFFSET_BASELINE = (4, 0)
#: BOA_ADD_OFFSET of baselines >= 04.00 (MTD_MSIL2A.xml), in digital numbers.
S2_BOA_ADD_OFFSET = -1000.0
#: QUANTIFICATION_VALUE of Sentinel-2 L2A.
S2_QUANTIFICATION = 10000.0
#: Landsat Collection 2 Level-2 surface reflectance scale and offset (as shipped in MTL files).
LANDSAT_C2_SCALE = 2.75e-5
LANDSAT_C2_OFFSET = -0.2

#: SCL classes (Sentinel-2 L2A Scene Classification).
SCL_NODATA, SCL_SATURATED, SCL_DARK, SCL_SHADOW = 0, 1, 2, 3
SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER, SCL_UNCLASSIFIED = 4, 5, 6, 7
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS, SCL_SNOW = 8, 9, 10, 11
#: Always masked (SCIENCE.md 2).
SCL_ALWAYS_MASKED = (SCL_NODATA, SCL_SATURATED, SCL_SHADOW, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH,
                     SCL_CIRRUS)
SCL_KEEP_VEGETATION = (SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_UNCLASSIFIED)
SCL_KEEP_TAILINGS = (SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER, SCL_UNCLASSIFIED)

#: Landsat Collection 2 QA_PIXEL bits.
QA_FILL, QA_DILATED_CLOUD, QA_CIRRUS, QA_CLOUD, QA_SHADOW, QA_SNOW, QA_WATER = 0, 1, 2, 3, 4, 5, 7


@dataclass(frozen=True)
class Scaling:
    """How one scene's digital numbers become reflectance.

    Attributes
    ----------
    scale, offset
        ``reflectance = DN * scale + offset``.
    offset_applied
        The product's own BOA offset is already in its numbers (or in ``offset``); it must
        not be added again.
    reason
        Why these values, for provenance.
    """

    scale: float
    offset: float
    offset_applied: bool
    reason: str


def parse_baseline(baseline: str | None) -> tuple[int, int] | None:
    """Parse a processing baseline such as ``"04.00"``, ``"N0400"`` or ``"5.1"``.

    Returns
    -------
    tuple of int or None
        ``(major, minor)``, or None when ``baseline`` is None or empty.

    Raises
    ------
    SourceError
        When the text is not a baseline.
    """
    if baseline is None or str(baseline).strip() == "":
        return None
    text = str(baseline).strip().upper().removeprefix("N")
    try:
        if "." in text:
            major, minor = text.split(".", 1)
            return int(major), int(minor)
        if len(text) == 4 and text.isdigit():
            return int(text[:2]), int(text[2:])
        return int(text), 0
    except ValueError:
        raise SourceError(
            f"processing baseline {baseline!r} is not of the form '04.00' or 'N0400'; "
            "fix the scene metadata"
        ) from None


def sentinel2_scaling(
    processing_baseline: str | None,
    *,
    boa_add_offset: float | None = None,
    quantification_value: float | None = None,
    offset_applied: bool = False,
    raster_scale: float | None = None,
    raster_offset: float | None = None,
) -> Scaling:
    """Decide a Sentinel-2 L2A scene's scale and offset.

    Parameters
    ----------
    processing_baseline
        The product's processing baseline; decides the BOA offset when metadata does not
        state it. Never the sensing date.
    boa_add_offset
        BOA_ADD_OFFSET from the product metadata, in DN, when known (wins over the baseline).
    quantification_value
        QUANTIFICATION_VALUE from the product metadata (10000 when absent).
    offset_applied
        The digital numbers already have the offset applied (e.g. a provider harmonised
        them); the BOA offset is then not added again.
    raster_scale, raster_offset
        A STAC ``raster:bands`` scale and offset. When present they are the complete recipe
        (Earth Search harmonises every item so that ``DN * 0.0001 - 0.1`` holds) and nothing
        else is added: this is how a double application is avoided.

    Returns
    -------
    Scaling
    """
    if raster_scale is not None:
        offset = raster_offset or 0.0
        return Scaling(float(raster_scale), float(offset), True,
                       "STAC raster:bands scale/offset used as the complete recipe")
    quant = float(quantification_value or S2_QUANTIFICATION)
    if quant <= 0:
        raise SourceError(f"QUANTIFICATION_VALUE {quant} must be positive; fix the scene metadata")
    if offset_applied:
        return Scaling(1.0 / quant, 0.0, True, "offset already applied to the digital numbers")
    if boa_add_offset is not None:
        return Scaling(1.0 / quant, float(boa_add_offset) / quant, False,
                       f"BOA_ADD_OFFSET {boa_add_offset:g} from product metadata")
    parsed = parse_baseline(processing_baseline)
    if parsed is None:
        raise SourceError(
            "a Sentinel-2 L2A scene has neither a processing baseline nor a BOA_ADD_OFFSET, so "
            "its reflectance offset (0 or -1000 DN) cannot be decided; add "
            "'processing_baseline' (e.g. \"04.00\") or 'boa_add_offset' to its metadata"
        )
    if parsed >= S2_OFFSET_BASELINE:
        return Scaling(1.0 / quant, S2_BOA_ADD_OFFSET / quant, False,
                       f"processing baseline {processing_baseline} >= 04.00: offset -1000 DN")
    return Scaling(1.0 / quant, 0.0, False,
                   f"processing baseline {processing_baseline} < 04.00: no offset")


def landsat_scaling(mtl: Mapping[str, str], band_numbers: list[int]) -> Scaling:
    """Read a Landsat Collection 2 Level-2 scale and offset from MTL fields.

    Parameters
    ----------
    mtl
        Flat MTL key -> value mapping.
    band_numbers
        OLI band numbers in use; each must share the same scale and offset.

    Returns
    -------
    Scaling
    """
    pairs = set()
    for n in band_numbers:
        mult = mtl.get(f"REFLECTANCE_MULT_BAND_{n}")
        add = mtl.get(f"REFLECTANCE_ADD_BAND_{n}")
        if mult is None or add is None:
            pairs.add((LANDSAT_C2_SCALE, LANDSAT_C2_OFFSET))
        else:
            pairs.add((float(mult), float(add)))
    if len(pairs) != 1:
        raise SourceError(
            f"Landsat bands {band_numbers} have different reflectance scale/offset "
            f"{sorted(pairs)}; this product is not Collection 2 Level-2 as USGS ships it"
        )
    scale, offset = pairs.pop()
    return Scaling(scale, offset, True, "REFLECTANCE_MULT/ADD from the MTL")


def to_reflectance(dn: Any, scale: Any, offset: Any, nodata: int = 0) -> Any:
    """Turn digital numbers into float32 reflectance; nodata becomes NaN.

    Works on numpy, dask and xarray inputs (``scale`` and ``offset`` may broadcast, e.g. one
    value per time step).
    """
    valid = dn != nodata
    refl = dn.astype("float32") * np.float32(1) * scale + offset
    if hasattr(refl, "where"):
        return refl.where(valid).astype("float32")
    return _where(valid, refl, np.float32(np.nan)).astype("float32")


def _where(cond: Any, a: Any, b: Any) -> Any:
    if isinstance(cond, da.Array) or isinstance(a, da.Array):
        return da.where(cond, a, b)
    return np.where(cond, a, b)


def _isin(arr: Any, values: tuple[int, ...]) -> Any:
    if isinstance(arr, xr.DataArray):
        return arr.isin(list(values))  # lazy when dask-backed
    if isinstance(arr, da.Array):
        return da.isin(arr, list(values))
    return np.isin(arr, list(values))


def _bit(arr: Any, bit: int) -> Any:
    return (arr & (1 << bit)) != 0


def dilate(mask: Any, pixels: int) -> Any:
    """Dilate a boolean ``(..., y, x)`` mask by ``pixels`` with a disc, per 2-D slice.

    Dask arrays (bare or inside an xarray DataArray) are processed block by block with an
    overlap of ``pixels``, so the result is identical to the numpy result and stays lazy.
    """
    if pixels <= 0:
        return mask
    if isinstance(mask, xr.DataArray):
        return mask.copy(data=dilate(mask.data, pixels))
    yy, xx = np.mgrid[-pixels : pixels + 1, -pixels : pixels + 1]
    disc = (yy**2 + xx**2) <= pixels**2
    structure = disc.reshape((1,) * (mask.ndim - 2) + disc.shape)

    def _block(block: np.ndarray) -> np.ndarray:
        return np.asarray(ndimage.binary_dilation(block, structure=structure), dtype=bool)

    if isinstance(mask, da.Array):
        depth = {i: 0 for i in range(mask.ndim - 2)}
        depth.update({mask.ndim - 2: pixels, mask.ndim - 1: pixels})
        return da.map_overlap(  # type: ignore[no-untyped-call]
            _block, mask, depth=depth, boundary="none", dtype=bool)
    return _block(np.asarray(mask))


@dataclass(frozen=True)
class MaskSet:
    """Per-indicator clear masks of one set of observations (True = usable).

    Attributes
    ----------
    clear
        Valid data, not flagged as cloud, cirrus, shadow, saturated, and outside the dilated
        cloud/shadow flags.
    vegetation, tailings
        ``clear`` restricted to the classes each indicator keeps.
    water
        Water-like pixels usable for turbidity: flagged water (SCL 6, QA_PIXEL water bit) or
        MNDWI > 0, and either outside the dilated cloud flags or passing the SWIR check.
    water_flag
        The quality layer's own water class (SCL 6 or QA_PIXEL bit 7).
    """

    clear: Any
    vegetation: Any
    tailings: Any
    water: Any
    water_flag: Any


def _water_mask(valid: Any, cloud: Any, other: Any, water_flag: Any, green: Any, swir16: Any,
                swir_threshold: float) -> Any:
    """Water-like pixels outside every flag, plus cloud-flagged ones the SWIR check rescues.

    Only a cloud flag can be a misread (turbid water and tailings ponds look like cloud to
    SCL and Fmask); shadow and cirrus really darken or brighten water, so pixels under them
    are never rescued.
    """
    water_like = water_flag | ((green - swir16) > 0)  # MNDWI > 0, without dividing
    return valid & water_like & ~other & (~cloud | (swir16 < swir_threshold))


def scl_masks(scl: Any, valid: Any, green: Any, swir16: Any, *, dilation_px: int = 3,
              swir_threshold: float = 0.03) -> MaskSet:
    """Masks from a Sentinel-2 Scene Classification layer.

    Parameters
    ----------
    scl
        SCL codes, integer ``(..., y, x)``.
    valid
        All reflectance bands hold data.
    green, swir16
        Reflectance, for the MNDWI and SWIR water checks.
    dilation_px
        Cloud and shadow flags grow by this many pixels (SCIENCE.md default 3 at 10 m).
    swir_threshold
        A cloud-flagged pixel still counts as water when swir16 is below this.
    """
    cloud = dilate(_isin(scl, (SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH)), dilation_px)
    other = dilate(_isin(scl, (SCL_SHADOW, SCL_CIRRUS)), dilation_px)
    base = valid & ~_isin(scl, SCL_ALWAYS_MASKED) & ~cloud & ~other
    water_flag = scl == SCL_WATER
    water_valid = valid & ~_isin(scl, (SCL_NODATA, SCL_SATURATED))
    return MaskSet(
        clear=base,
        vegetation=base & _isin(scl, SCL_KEEP_VEGETATION),
        tailings=base & _isin(scl, SCL_KEEP_TAILINGS),
        water=_water_mask(water_valid, cloud, other, water_flag, green, swir16, swir_threshold),
        water_flag=water_flag,
    )


def qa_pixel_masks(qa: Any, valid: Any, green: Any, swir16: Any, *, dilation_px: int = 1,
                   swir_threshold: float = 0.03) -> MaskSet:
    """Masks from a Landsat Collection 2 QA_PIXEL band.

    Bits: 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 shadow, 5 snow, 7 water. Cloud,
    cirrus and shadow are dilated by ``dilation_px`` beyond USGS's own dilation.
    """
    cloud = dilate(_bit(qa, QA_DILATED_CLOUD) | _bit(qa, QA_CLOUD), dilation_px)
    other = dilate(_bit(qa, QA_CIRRUS) | _bit(qa, QA_SHADOW), dilation_px)
    valid = valid & ~_bit(qa, QA_FILL)
    base = valid & ~cloud & ~other
    snow = _bit(qa, QA_SNOW)
    water_flag = _bit(qa, QA_WATER)
    return MaskSet(
        clear=base,
        vegetation=base & ~snow & ~water_flag,
        tailings=base & ~snow,
        water=_water_mask(valid, cloud, other, water_flag, green, swir16, swir_threshold),
        water_flag=water_flag,
    )


def spectral_screen_masks(bands: Mapping[str, Any], valid: Any, *, dilation_px: int = 1,
                          swir_threshold: float = 0.03) -> MaskSet:
    """Masks for products without a quality band: a documented spectral screen.

    Cloud: the potential-cloud tests of Fmask (Zhu & Woodcock 2012, Remote Sens. Environ. 118)
    that need no thermal band: swir22 > 0.03, NDVI < 0.8, whiteness < 0.7 (mean absolute
    deviation of blue/green/red from their mean, relative to it), HOT = blue - 0.5 red - 0.08
    > 0, and nir / swir16 > 0.75. Shadow: dark in nir and swir16 (both < 0.04) yet not
    water-like (MNDWI <= 0). Both are dilated. Water: MNDWI > 0 with the SWIR check. Results
    are lower confidence than SCL or QA_PIXEL and are labelled so on the cube.

    Parameters
    ----------
    bands
        Reflectance by common name; needs blue, green, red, swir16, swir22 and nir or nir08.
    valid
        All bands hold data.
    """
    blue, green, red = bands["blue"], bands["green"], bands["red"]
    nir = bands["nir"] if "nir" in bands else bands["nir08"]
    swir16, swir22 = bands["swir16"], bands["swir22"]
    mean_vis = (blue + green + red) / 3
    # whiteness < 0.7 written without dividing (mean_vis may be 0 or NaN)
    deviation = abs(blue - mean_vis) + abs(green - mean_vis) + abs(red - mean_vis)
    ndvi_lt = (nir - red) < 0.8 * (nir + red)
    hot = blue - 0.5 * red - 0.08
    cloud = ((swir22 > 0.03) & ndvi_lt & (deviation < 0.7 * mean_vis) & (hot > 0)
             & (nir > 0.75 * swir16))
    water_like = (green - swir16) > 0
    shadow = (nir < 0.04) & (swir16 < 0.04) & ~water_like
    cloud_d, shadow_d = dilate(cloud, dilation_px), dilate(shadow, dilation_px)
    base = valid & ~cloud_d & ~shadow_d
    no_flag = water_like & ~water_like  # no quality layer: no flagged water
    return MaskSet(
        clear=base,
        vegetation=base & ~water_like,
        tailings=base,
        water=_water_mask(valid, cloud_d, shadow_d, no_flag, green, swir16, swir_threshold),
        water_flag=no_flag,
    )
