"""The spectral index registry: one raw formula and one :class:`IndexSpec` per index.

Every index of SCIENCE.md sections 3 (spectral indices) and 4 (turbidity) is one
:class:`IndexSpec` in :data:`REGISTRY`, with its formula, bands (STAC ``eo:common_name``),
unit, valid range, citation and notes. Each spec's ``func`` is its raw formula below,
wrapped by :func:`monitor.indices_formulas.finalise` (no warnings; values outside
``valid_range`` become NaN). :func:`get` and :func:`available` look indices up;
:mod:`monitor.indices` computes them on cubes and re-exports every public name here.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from monitor.errors import UnknownIndexError
from monitor.indices_formulas import (
    Array,
    finalise,
    nechad_turbidity,
    normalized_difference,
    safe_divide,
    single_scattering,
)

__all__ = ["REFLECTANCE_BASIS", "REGISTRY", "IndexSpec", "available", "get"]

#: Label of turbidity computed from surface (not water-leaving) reflectance.
REFLECTANCE_BASIS = "surface-reflectance proxy"

#: Normalized differences are bounded by construction for non-negative reflectances;
#: values outside come from negative reflectances (the S2 BOA offset on dark targets).
_ND_RANGE = (-1.0, 1.0)
#: Band ratios: natural surfaces give about 0.5-4 (iron oxides, clays up to ~3-4); values
#: above 10 only come from a near-zero denominator (shadow, water, over-correction).
_RATIO_RANGE = (0.0, 10.0)
#: Turbidity, FNU: negative values come from negative reflectance; values above 4000 FNU
#: only arise next to the 1 / (1 - rho / C) pole, far beyond any calibration data.
_FNU_RANGE = (0.0, 4000.0)


@dataclass(frozen=True, kw_only=True)
class IndexSpec:
    """One spectral index: what it computes, from which bands, and where it comes from.

    Parameters
    ----------
    id
        Registry key, lower case (``"ndvi"``); also the name of computed arrays.
    name
        Human-readable name.
    formula
        Human-readable formula in STAC common band names.
    bands
        STAC ``eo:common_name`` of every band the index reads, in argument order.
    unit
        UDUNITS string: ``"1"`` for unitless indices, ``"FNU"`` for turbidity.
    valid_range
        Closed interval of valid values; values outside become NaN.
    citation
        The paper the formula comes from.
    notes
        Caveats, band choices and the reasoning behind ``valid_range``.
    func
        Pure function of the bands, called with keyword arguments named by ``bands``.
    calibration
        Calibration id for calibrated (turbidity) algorithms, ``None`` otherwise.
    """

    id: str
    name: str
    formula: str
    bands: tuple[str, ...]
    unit: str
    valid_range: tuple[float, float]
    citation: str
    notes: str
    func: Callable[..., Array] = field(repr=False, compare=False)
    calibration: str | None = None

    def __post_init__(self) -> None:
        params = tuple(inspect.signature(self.func).parameters)
        if params != self.bands:  # a programming error in this module, caught at import
            raise AssertionError(f"index {self.id!r}: func takes {params}, bands {self.bands}")


# ---------------------------------------------------------------------------------------
# Raw formulas, one per index; argument names are the STAC common band names


def _ndvi(nir: Array, red: Array) -> Array:
    return normalized_difference(nir, red)


def _nbr(nir: Array, swir22: Array) -> Array:
    return normalized_difference(nir, swir22)


def _ndwi(green: Array, nir: Array) -> Array:
    return normalized_difference(green, nir)


def _mndwi(green: Array, swir16: Array) -> Array:
    return normalized_difference(green, swir16)


def _ndti(red: Array, green: Array) -> Array:
    return normalized_difference(red, green)


def _bsi(swir16: Array, red: Array, nir: Array, blue: Array) -> Array:
    return normalized_difference(swir16 + red, nir + blue)


def _ndmi(nir: Array, swir16: Array) -> Array:
    return normalized_difference(nir, swir16)


def _ior(red: Array, blue: Array) -> Array:
    return safe_divide(red, blue)


def _cmr(swir16: Array, swir22: Array) -> Array:
    return safe_divide(swir16, swir22)


def _nechad2016_b04(red: Array) -> Array:
    return nechad_turbidity(red, 366.14, 0.19563)


def _nechad2016_b08(nir: Array) -> Array:
    return nechad_turbidity(nir, 1913.65, 0.1913)


def _nechad2016_b8a(nir08: Array) -> Array:
    return nechad_turbidity(nir08, 3250.32, 0.21151)


def _nechad2009_665(red: Array) -> Array:
    return nechad_turbidity(red, 282.95, 0.1728)


def _dogliotti2015(red: Array, nir08: Array) -> Array:
    t_red = single_scattering(red, 228.1, 0.1641)
    t_nir = single_scattering(nir08, 3078.9, 0.2112)
    w = (red - 0.05) / 0.02
    blended = (1.0 - w) * t_red + w * t_nir  # NaN when red is NaN
    switched = np.where(red < 0.05, t_red, np.where(red > 0.07, t_nir, blended))
    # A pixel missing either band is not an observation, even where one band suffices.
    result: Array = np.where(np.isnan(red) | np.isnan(nir08), np.nan, switched)
    return result


# ---------------------------------------------------------------------------------------
# The registry

_ND_NOTE = (
    "Valid range [-1, 1]: bounded by construction for non-negative reflectances; values "
    "outside can only come from negative reflectances and are set to NaN."
)
_RATIO_NOTE = (
    "Valid range [0, 10]: natural surfaces give about 0.5-4; larger values (and negatives) "
    "come from a near-zero or negative denominator (water, shadow, atmospheric "
    "over-correction) and are set to NaN."
)
_FNU_NOTE = (
    "Valid range [0, 4000] FNU: negative values come from negative reflectance; values "
    "above 4000 FNU only arise next to the 1 / (1 - rho / C) pole, far beyond the turbid "
    "waters the calibration was fitted on, and are set to NaN. The formula wants "
    "water-leaving reflectance; computed from surface reflectance it is a proxy, labelled "
    f"'{REFLECTANCE_BASIS}': compare reaches relatively (SCIENCE.md section 4)."
)
_NECHAD_2016 = (
    "Nechad, B., Dogliotti, A., Ruddick, K., Doxaran, D. (2016). Particulate backscattering "
    "and suspended matter concentration retrieval from remote-sensed turbidity in various "
    "coastal and riverine turbid waters. Proc. ESA Living Planet Symposium 2016 (ESA SP-740); "
    "Sentinel-2 MSI band-averaged coefficients as tabulated in ACOLITE."
)
_NECHAD_2009 = (
    "Nechad, B., Ruddick, K.G., Neukermans, G. (2009). Calibration and validation of a "
    "generic multisensor algorithm for mapping of turbidity in coastal waters. Proc. SPIE "
    "7473, 74730H."
)


def _spec(
    raw: Callable[..., Array],
    valid_range: tuple[float, float],
    *,
    unit: str = "1",
    **fields: Any,
) -> IndexSpec:
    """Build an :class:`IndexSpec` whose bands are the argument names of ``raw``."""
    bands = tuple(inspect.signature(raw).parameters)
    func = finalise(raw, valid_range)
    return IndexSpec(bands=bands, unit=unit, valid_range=valid_range, func=func, **fields)


def _nechad_spec(raw: Callable[..., Array], calibration: str, formula: str, note: str,
                 citation: str) -> IndexSpec:
    """Build the spec of one Nechad single-band calibration."""
    return _spec(
        raw, _FNU_RANGE, unit="FNU", id=f"turbidity_{calibration}",
        name=f"Turbidity, Nechad single band ({calibration})",
        formula=f"{formula}; NaN where the band >= 0.5 * C", citation=citation,
        notes=f"{note} Masked where rho >= 0.5 * C (saturation). {_FNU_NOTE}",
        calibration=calibration,
    )


_SPECS: tuple[IndexSpec, ...] = (
    _spec(_ndvi, _ND_RANGE, id="ndvi", name="Normalized Difference Vegetation Index",
          formula="(nir - red) / (nir + red)",
          citation="Rouse, J.W., Haas, R.H., Schell, J.A., Deering, D.W. (1973). Monitoring "
          "vegetation systems in the Great Plains with ERTS. NASA SP-351, 309-317.",
          notes=f"Sentinel-2 B08 / B04. {_ND_NOTE}"),
    _spec(_nbr, _ND_RANGE, id="nbr", name="Normalized Burn Ratio",
          formula="(nir - swir22) / (nir + swir22)",
          citation="Key, C.H., Benson, N.C. (2006). Landscape Assessment (LA). USDA Forest "
          "Service Gen. Tech. Rep. RMRS-GTR-164-CD.",
          notes="dNBR = NBR_pre - NBR_post (a difference, see dnbr()), unscaled (Key & "
          f"Benson tabulate it x 1000). {_ND_NOTE}"),
    _spec(_ndwi, _ND_RANGE, id="ndwi", name="Normalized Difference Water Index (McFeeters)",
          formula="(green - nir) / (green + nir)",
          citation="McFeeters, S.K. (1996). The use of the Normalized Difference Water Index "
          "(NDWI) in the delineation of open water features. Int. J. Remote Sens. 17(7), "
          "1425-1432.",
          notes=f"Open water > 0. {_ND_NOTE}"),
    _spec(_mndwi, _ND_RANGE, id="mndwi", name="Modified Normalized Difference Water Index",
          formula="(green - swir16) / (green + swir16)",
          citation="Xu, H. (2006). Modification of normalised difference water index (NDWI) "
          "to enhance open water features in remotely sensed imagery. Int. J. Remote Sens. "
          "27(14), 3025-3033.",
          notes=f"Water > 0; used for water masks. {_ND_NOTE}"),
    _spec(_ndti, _ND_RANGE, id="ndti", name="Normalized Difference Turbidity Index",
          formula="(red - green) / (red + green)",
          citation="Lacaux, J.P., Tourre, Y.M., Vignolles, C., Ndione, J.A., Lafaye, M. "
          "(2007). Classification of ponds from high-spatial resolution remote sensing: "
          "application to Rift Valley Fever epidemics in Senegal. Remote Sens. Environ. "
          "106(1), 66-74.",
          notes="The water turbidity index from red and green, NOT the SWIR 'tillage' index "
          f"of the same acronym. {_ND_NOTE}"),
    _spec(_bsi, _ND_RANGE, id="bsi", name="Bare Soil Index",
          formula="((swir16 + red) - (nir + blue)) / ((swir16 + red) + (nir + blue))",
          citation="Rikimaru, A., Roy, P.S., Miyatake, S. (2002). Tropical forest cover "
          "density mapping. Tropical Ecology 43(1), 39-47.",
          notes=f"Bare soil and tailings > 0. {_ND_NOTE}"),
    _spec(_ndmi, _ND_RANGE, id="ndmi", name="Normalized Difference Moisture Index",
          formula="(nir - swir16) / (nir + swir16)",
          citation="Gao, B.-C. (1996). NDWI - A normalized difference water index for remote "
          "sensing of vegetation liquid water from space. Remote Sens. Environ. 58(3), "
          "257-266.",
          notes="Gao used 0.86/1.24 um; the 1.6 um (swir16) form is also known as NDII "
          f"(Hardisky et al. 1983). {_ND_NOTE}"),
    _spec(_ior, _RATIO_RANGE, id="ior", name="Iron Oxide Ratio",
          formula="red / blue",
          citation="Segal, D.B. (1982). Theoretical basis for differentiation of ferric-iron "
          "bearing minerals, using Landsat MSS data. Proc. 2nd Thematic Conf. Remote "
          "Sensing for Exploration Geology, Fort Worth, 949-951.",
          notes=f"Higher over ferric iron oxides. {_RATIO_NOTE}"),
    _spec(_cmr, _RATIO_RANGE, id="cmr", name="Clay Minerals Ratio",
          formula="swir16 / swir22",
          citation="Drury, S.A. (1987). Image Interpretation in Geology. Allen & Unwin, "
          "London.",
          notes=f"Higher over hydroxyl-bearing (clay) minerals. {_RATIO_NOTE}"),
    _nechad_spec(_nechad2016_b04, "nechad2016_b04", "366.14 * red / (1 - red / 0.19563)",
                 "Sentinel-2 B04 band-averaged calibration, A = 366.14 FNU, C = 0.19563.",
                 _NECHAD_2016),
    _nechad_spec(_nechad2016_b08, "nechad2016_b08", "1913.65 * nir / (1 - nir / 0.1913)",
                 "Sentinel-2 B08 band-averaged calibration, A = 1913.65 FNU, C = 0.1913 "
                 "(Sentinel-2 only: Landsat has no 'nir' band).", _NECHAD_2016),
    _nechad_spec(_nechad2016_b8a, "nechad2016_b8a", "3250.32 * nir08 / (1 - nir08 / 0.21151)",
                 "Sentinel-2 B8A band-averaged calibration, A = 3250.32 FNU, C = 0.21151 "
                 "(an approximation for Landsat B5).", _NECHAD_2016),
    _nechad_spec(_nechad2009_665, "nechad2009_665", "282.95 * red / (1 - red / 0.1728)",
                 "Per-wavelength calibration at 665 nm, A = 282.95 FNU, C = 0.1728; about "
                 "30 % below the 2016 B04 values.", _NECHAD_2009),
    _spec(_dogliotti2015, _FNU_RANGE, unit="FNU", id="turbidity_dogliotti2015",
          name="Turbidity, Dogliotti switching algorithm",
          formula="T_red = 228.1 * red / (1 - red / 0.1641); "
          "T_nir = 3078.9 * nir08 / (1 - nir08 / 0.2112); T_red if red < 0.05, T_nir if "
          "red > 0.07, else (1 - w) * T_red + w * T_nir with w = (red - 0.05) / 0.02",
          citation="Dogliotti, A.I., Ruddick, K.G., Nechad, B., Doxaran, D., Knaeps, E. "
          "(2015). A single algorithm to retrieve turbidity from remotely-sensed data in all "
          "coastal and estuarine waters. Remote Sens. Environ. 156, 157-168.",
          notes="MODIS 645/859 nm calibration applied to S2 B04/B8A and Landsat B4/B5. NaN "
          f"where either band is NaN. {_FNU_NOTE}",
          calibration="dogliotti2015_645_859"),
)

#: Every index by id, in SCIENCE.md order (read-only).
REGISTRY: Mapping[str, IndexSpec] = MappingProxyType({s.id: s for s in _SPECS})


# ---------------------------------------------------------------------------------------
# Look-ups


def available() -> list[str]:
    """Return the ids of every registered index, in SCIENCE.md order."""
    return list(REGISTRY)


def get(name: str) -> IndexSpec:
    """Return the specification of index ``name``.

    Raises
    ------
    UnknownIndexError
        If ``name`` is not a registered id; the message lists the known ids.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name).lower(), REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownIndexError(
            f"Unknown spectral index {name!r}.{hint} Known indices: {', '.join(REGISTRY)}."
        ) from None
