"""Building blocks of the spectral index formulas: safe division, masking, Nechad turbidity.

Pure array helpers shared by the raw formulas of :mod:`monitor.indices_registry`. They work
on numpy and dask arrays alike and never warn or return ``inf``: a zero denominator gives
NaN, and :func:`finalise` wraps a raw formula so that floating-point warnings are silenced
and values outside the index's valid range become NaN. :func:`nechad_turbidity` is public
(re-exported by :mod:`monitor.indices`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "Array",
    "finalise",
    "nechad_turbidity",
    "normalized_difference",
    "safe_divide",
    "single_scattering",
    "within",
]

#: A numpy array of reflectances or index values (dask arrays work the same at run time).
Array: TypeAlias = npt.NDArray[np.floating[Any]]
_P = ParamSpec("_P")

# ---------------------------------------------------------------------------------------
# Pure array helpers (numpy or dask; no warnings, no inf)


def safe_divide(num: Array, den: Array) -> Array:
    """Return ``num / den``, NaN where ``den == 0``."""
    if isinstance(num, np.ndarray) and isinstance(den, np.ndarray) and num.ndim:
        quotient: Array = num / den  # eager: the caller's errstate silences 0/0
        quotient[den == 0] = np.nan  # fresh array: mask in place, no temporary copy
        return quotient
    # lazy (dask) or scalar: divide runs later, outside any errstate, so never divide by 0
    nonzero = den != 0
    result: Array = np.where(nonzero, num / np.where(nonzero, den, 1.0), np.nan)
    return result


def normalized_difference(a: Array, b: Array) -> Array:
    """Return ``(a - b) / (a + b)``, NaN where ``a + b == 0``."""
    return safe_divide(a - b, a + b)


def single_scattering(rho: Array, a: float, c: float) -> Array:
    """Return ``a * rho / (1 - rho / c)`` (Nechad form), NaN at the pole ``rho == c``."""
    return safe_divide(a * rho, 1.0 - rho / c)


def within(values: Array, valid_range: tuple[float, float]) -> Array:
    """Return ``values`` with everything outside the closed ``valid_range`` set to NaN."""
    lo, hi = valid_range
    if isinstance(values, np.ndarray) and values.ndim and values.dtype.kind == "f":
        # the formulas return fresh arrays: mask in place (NaN compares False, stays NaN)
        outside = values < lo
        outside |= values > hi
        values[outside] = np.nan
        return values
    result: Array = np.where((values >= lo) & (values <= hi), values, np.nan)
    return result


def finalise(raw: Callable[_P, Array], valid_range: tuple[float, float]) -> Callable[_P, Array]:
    """Wrap a raw formula: silence floating-point warnings, mask ``valid_range``."""

    @functools.wraps(raw)
    def func(*args: _P.args, **kwargs: _P.kwargs) -> Array:
        with np.errstate(all="ignore"):
            return within(raw(*args, **kwargs), valid_range)

    return func


def nechad_turbidity(rho: Array, a: float, c: float) -> Array:
    """Nechad single-band turbidity ``T = A * rho / (1 - rho / C)``, FNU.

    Parameters
    ----------
    rho
        Reflectance in the calibrated band (water-leaving reflectance, or its surface
        reflectance proxy), dimensionless (not Rrs in sr^-1).
    a, c
        Calibration coefficients A (FNU) and C (dimensionless) of the band.

    Returns
    -------
    Array
        Turbidity, NaN where ``rho >= 0.5 * c`` (saturation) or ``rho`` is NaN. No range
        mask is applied here; registry functions add it.
    """
    valid = rho < 0.5 * c
    safe_rho = np.where(valid, rho, 0.0)
    result: Array = np.where(valid, a * safe_rho / (1.0 - safe_rho / c), np.nan)
    return result

