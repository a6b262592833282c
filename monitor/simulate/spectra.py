"""Endmember spectra, seasonality, turbidity and Sentinel-2 L2A radiometric encoding.

Reflectances are surface (BOA) reflectance in the seven Sentinel-2 bands used by the monitor,
in the order of :data:`BANDS` (B02, B03, B04, B08, B8A, B11, B12).

Where the typical values come from
----------------------------------
The values are hand-resampled approximations of library spectra to the Sentinel-2 bands,
not exact convolutions with the spectral response functions; they are chosen to sit inside
the ranges those sources show and to give the index values SCIENCE.md sections 3, 5-7 expect:

- green vegetation, soils, iron-rich (lateritic/hematitic) soils, rock and water:
  USGS Spectral Library Version 7 (Kokaly et al. 2017, USGS Data Series 1035) and the
  ECOSTRESS spectral library (Meerdink et al. 2019, Remote Sensing of Environment 230,
  111196). Closed tropical forest has NDVI 0.8-0.9 in Sentinel-2 L2A; the dry-season decline
  to ~0.7 imitates the semi-deciduous forest of south-eastern Para and the amplitude the
  project brief asks for (peak ~0.85, dry season ~0.65-0.7).
- clear and sediment-laden river water: the shape of Nechad et al. (2010, Remote Sensing of
  Environment 114, 854-866) and Dogliotti et al. (2015, RSE 156, 157-168) turbidity
  relations (red reflectance rises with suspended sediment, SWIR stays near zero).
- clouds: bright and spectrally flat in the visible/NIR, lower in the SWIR (liquid and ice
  absorption), as in Sen2Cor's cloud tests (Main-Knorn et al. 2017, Proc. SPIE 10427).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]

#: Band order of every spectrum in this module (STAC eo:common_name).
BANDS: tuple[str, ...] = ("blue", "green", "red", "nir", "nir08", "swir16", "swir22")
#: Bands written at 10 m and at 20 m.
BANDS_10M: tuple[str, ...] = ("blue", "green", "red", "nir")
BANDS_20M: tuple[str, ...] = ("nir08", "swir16", "swir22")


def _s(*values: float) -> F32:
    return np.asarray(values, dtype=np.float32)


#: Closed tropical forest, wet-season (greenness peak): NDVI ~0.89.
FOREST_WET = _s(0.018, 0.042, 0.020, 0.330, 0.340, 0.150, 0.062)
#: Closed tropical forest, late dry season: NDVI ~0.70.
FOREST_DRY = _s(0.027, 0.053, 0.048, 0.275, 0.285, 0.190, 0.095)
#: Planted pasture (Brachiaria), wet season: NDVI ~0.78.
PASTURE_WET = _s(0.030, 0.070, 0.040, 0.320, 0.330, 0.220, 0.110)
#: Planted pasture, dry season (senescent grass): NDVI ~0.45.
PASTURE_DRY = _s(0.050, 0.080, 0.090, 0.240, 0.250, 0.300, 0.200)
#: Canga (ferruginous crust with sparse shrubs, Carajas): dark, red-rich, NDVI ~0.28.
CANGA = _s(0.040, 0.060, 0.090, 0.160, 0.170, 0.210, 0.160)
#: Exposed lateritic soil / mine pit floor: red-rich (iron oxides), NDVI ~0.10, BSI ~0.28.
SOIL = _s(0.055, 0.095, 0.190, 0.230, 0.245, 0.320, 0.260)
#: Dry tailings beach (bright fine silt/sand): NDVI ~0.06, BSI ~0.11.
TAILINGS = _s(0.190, 0.220, 0.250, 0.280, 0.290, 0.340, 0.300)
#: Clear river water (clear-water tributary): MNDWI ~0.75, Nechad B04 ~7.5 FNU.
WATER_CLEAR = _s(0.025, 0.035, 0.020, 0.010, 0.009, 0.005, 0.003)
#: Sediment-laden river water at the plume's peak: red ~0.095, Nechad B04 ~68 FNU.
WATER_TURBID = _s(0.050, 0.085, 0.095, 0.040, 0.032, 0.012, 0.007)
#: Milky tailings pond water: MNDWI ~0.73.
POND = _s(0.070, 0.090, 0.085, 0.045, 0.038, 0.014, 0.008)
#: Thick cumulus cloud top (BOA-equivalent after Sen2Cor), spectrally flat VNIR, lower SWIR.
CLOUD = _s(0.500, 0.480, 0.470, 0.480, 0.470, 0.330, 0.220)
#: Diffuse (sky) fraction of irradiance per band: what a cloud shadow keeps.
DIFFUSE_FRACTION = _s(0.35, 0.25, 0.20, 0.12, 0.12, 0.08, 0.06)

#: Sensor + retrieval noise, reflectance units, per band (1 sigma).
NOISE_SIGMA = _s(0.004, 0.003, 0.003, 0.004, 0.004, 0.005, 0.005)

#: Static turbidity mixing fraction of the pit lake of ``demo-compliant``.
LAKE_TURBIDITY = 0.35

# Nechad et al. (2016) Sentinel-2 B04 band-averaged calibration (SCIENCE.md section 4).
NECHAD_B04_A = 366.14
NECHAD_B04_C = 0.19563


def wetness(day: date) -> float:
    """Rainy-season intensity in ``[0, 1]`` (1 around 1 March, 0 around 1 September).

    South-eastern Para (Carajas) has a rainy season from about November to April and a dry
    season from June to September.
    """
    doy = day.timetuple().tm_yday
    return 0.5 * (1.0 + math.cos(2.0 * math.pi * (doy - 60) / 365.25))


def greenness(day: date) -> float:
    """Canopy greenness in ``[0, 1]``: wetness lagged by one month (peak ~1 April)."""
    doy = day.timetuple().tm_yday
    return 0.5 * (1.0 + math.cos(2.0 * math.pi * (doy - 91) / 365.25))


def forest_spectrum(day: date) -> F32:
    """Forest spectrum on ``day`` (linear mix of the wet and dry endmembers)."""
    g = np.float32(greenness(day))
    out: F32 = g * FOREST_WET + (np.float32(1.0) - g) * FOREST_DRY
    return out


def pasture_spectrum(day: date) -> F32:
    """Pasture spectrum on ``day``."""
    g = np.float32(greenness(day))
    out: F32 = g * PASTURE_WET + (np.float32(1.0) - g) * PASTURE_DRY
    return out


def background_turbidity(day: date) -> float:
    """River sediment mixing fraction without any plume (more sediment in the rainy season)."""
    return 0.08 + 0.10 * wetness(day)


def water_spectrum(c: float) -> F32:
    """River water spectrum for a turbid-endmember mixing fraction ``c`` in ``[0, 1]``."""
    cf = np.float32(c)
    out: F32 = (np.float32(1.0) - cf) * WATER_CLEAR + cf * WATER_TURBID
    return out


def nechad_turbidity_b04(red: float) -> float:
    """Turbidity (FNU) from B04 reflectance, Nechad et al. (2016) S2 calibration."""
    return NECHAD_B04_A * red / (1.0 - red / NECHAD_B04_C)


def ndvi(spec: F32) -> float:
    """NDVI of a 7-band spectrum (helper for documentation and truth)."""
    red, nir = float(spec[2]), float(spec[3])
    return (nir - red) / (nir + red)


#: First sensing date processed with baseline 04.00 (BOA_ADD_OFFSET = -1000).
BASELINE_SWITCH = date(2022, 1, 25)


def boa_add_offset(processing_baseline: str) -> int:
    """BOA_ADD_OFFSET in DN for a processing baseline: -1000 from ``04.00`` on, else 0.

    Decided by processing baseline, never by sensing date (SCIENCE.md section 1).
    """
    major, minor = (int(p) for p in processing_baseline.split("."))
    return -1000 if (major, minor) >= (4, 0) else 0


def encode_dn(refl: F32, offset: int, out: NDArray[np.uint16] | None = None) -> NDArray[np.uint16]:
    """Encode reflectance as L2A digital numbers: ``DN = round(refl * 10000) - offset``.

    Valid DN are clamped to ``[1, 65534]`` (0 is no data, 65535 is kept for saturated
    pixels). ``offset`` is the BOA_ADD_OFFSET (0 or -1000).
    """
    tmp = np.rint(refl * np.float32(10000.0))
    tmp -= np.float32(offset)
    np.clip(tmp, 1.0, 65534.0, out=tmp)
    if out is None:
        out = np.empty(tmp.shape, np.uint16)
    out[...] = tmp
    return out
