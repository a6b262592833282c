"""Spectral indices on reflectance cubes: the public API of the index registry.

Every index of SCIENCE.md sections 3 (spectral indices) and 4 (turbidity) is one
:class:`IndexSpec` in :data:`REGISTRY`. Each spec carries a pure function of its bands,
called with keyword arguments named by STAC ``eo:common_name``::

    >>> import numpy as np
    >>> get("ndvi").func(nir=np.array([0.45]), red=np.array([0.05]))
    array([0.8])

The functions work on numpy and dask arrays alike and follow three rules: a NaN in any
input band gives NaN, a zero denominator gives NaN (never ``inf``, never a RuntimeWarning),
and a value outside the index's ``valid_range`` gives NaN. :func:`compute` applies them to
a reflectance cube (an :class:`xarray.Dataset`), chunk by chunk, so that a dask-backed
cube stays lazy and a numpy-backed one stays in memory.

Turbidity values are computed from surface reflectance, a proxy for the water-leaving
reflectance the calibrations want; results are labelled accordingly and each carries the
id of its calibration (SCIENCE.md section 4).

Layout: the specs, raw formulas and look-ups live in :mod:`monitor.indices_registry`, the
array building blocks (safe division, masking, :func:`nechad_turbidity`) in
:mod:`monitor.indices_formulas`; this module computes indices on cubes and re-exports the
public names of both, so ``monitor.indices`` stays the one import.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, overload

import numpy as np
import xarray as xr

from monitor.errors import MissingBandError
from monitor.indices_formulas import Array, nechad_turbidity
from monitor.indices_registry import REFLECTANCE_BASIS, REGISTRY, IndexSpec, available, get

__all__ = [
    "REFLECTANCE_BASIS",
    "REGISTRY",
    "IndexSpec",
    "available",
    "compute",
    "compute_many",
    "dnbr",
    "get",
    "nechad_turbidity",
]


#: A band a cube may lack, and the band that stands in for it. Landsat OLI has no broad
#: 842 nm 'nir' (Sentinel-2 B08); its band 5 (865 nm, 'nir08') is the NIR every Landsat
#: NDVI uses, as the Harmonized Landsat Sentinel-2 product does.
BAND_SUBSTITUTES: Mapping[str, str] = {"nir": "nir08"}


def _resolve_bands(spec: IndexSpec, cube: xr.Dataset) -> tuple[str, ...]:
    """The cube variables to use for ``spec.bands`` (raises :class:`MissingBandError`)."""
    _check_bands(spec, cube)
    return tuple(
        band if band in cube.data_vars else BAND_SUBSTITUTES[band] for band in spec.bands
    )


def _check_bands(spec: IndexSpec, cube: xr.Dataset) -> None:
    """Raise :class:`MissingBandError` if ``cube`` lacks a band of ``spec``."""
    missing = [
        band
        for band in spec.bands
        if band not in cube.data_vars
        and not (band in BAND_SUBSTITUTES and BAND_SUBSTITUTES[band] in cube.data_vars)
    ]
    if not missing:
        return
    raise MissingBandError(
        f"Index {spec.id!r} needs band(s) {', '.join(map(repr, missing))}, missing from the "
        f"cube. The cube has: {', '.join(map(str, cube.data_vars)) or 'no variables'}. "
        f"Load every band of {list(spec.bands)} (STAC eo:common_name), or choose another index."
    )


def _kernel(spec: IndexSpec, *chunks: Array) -> Array:
    """Apply ``spec.func`` to in-memory chunks of its bands, as float32."""
    bands = {b: np.asarray(c, dtype=np.float32) for b, c in zip(spec.bands, chunks, strict=True)}
    return np.asarray(spec.func(**bands), dtype=np.float32)


def compute(name: str, cube: xr.Dataset) -> xr.DataArray:
    """Compute index ``name`` from a reflectance cube.

    Parameters
    ----------
    name
        Registry id (see :func:`available`).
    cube
        Reflectance variables named by STAC common name, any dims, numpy- or dask-backed.

    Returns
    -------
    xarray.DataArray
        float32, named by the index id, with the cube's coords and attrs ``long_name``,
        ``formula``, ``units``, ``citation``, ``valid_range`` (and ``calibration``,
        ``reflectance_basis`` for turbidity). Dask in, lazy dask out; numpy in, numpy out.

    Raises
    ------
    UnknownIndexError
        If ``name`` is not registered.
    MissingBandError
        If the cube lacks a band the index needs. A cube without ``nir`` uses ``nir08``
        for it (see :data:`BAND_SUBSTITUTES`), recorded in the ``band_substitution`` attr.
    """
    spec = get(name)
    used = _resolve_bands(spec, cube)
    result: xr.DataArray = xr.apply_ufunc(
        functools.partial(_kernel, spec),
        *(cube[band] for band in used),
        dask="parallelized",
        output_dtypes=[np.float32],
        keep_attrs=False,
    )
    attrs: dict[str, Any] = {
        "long_name": spec.name,
        "formula": spec.formula,
        "units": spec.unit,
        "citation": spec.citation,
        "valid_range": spec.valid_range,
        "bands": list(used),
    }
    if used != spec.bands:
        attrs["band_substitution"] = ", ".join(
            f"{b} <- {u}" for b, u in zip(spec.bands, used, strict=True) if b != u)
    if spec.calibration is not None:
        attrs["calibration"] = spec.calibration
        attrs["reflectance_basis"] = REFLECTANCE_BASIS
    return result.rename(spec.id).assign_attrs(attrs)


def compute_many(names: Iterable[str], cube: xr.Dataset) -> xr.Dataset:
    """Compute several indices into one Dataset (one variable per index id).

    Every name and band is checked before anything is computed; repeated names are
    computed once. Raises like :func:`compute`.
    """
    specs = [get(n) for n in dict.fromkeys([names] if isinstance(names, str) else names)]
    for spec in specs:
        _check_bands(spec, cube)
    return xr.Dataset({spec.id: compute(spec.id, cube) for spec in specs})


@overload
def dnbr(pre: xr.DataArray | xr.Dataset, post: xr.DataArray | xr.Dataset) -> xr.DataArray: ...
@overload
def dnbr(pre: Array, post: Array) -> Array: ...
def dnbr(
    pre: xr.DataArray | xr.Dataset | Array, post: xr.DataArray | xr.Dataset | Array
) -> xr.DataArray | Array:
    """Differenced Normalized Burn Ratio, ``NBR_pre - NBR_post`` (Key & Benson 2006).

    A difference, never a ratio; unscaled (multiply by 1000 for Key & Benson's tables).
    Burns are positive. Range [-2, 2].

    Parameters
    ----------
    pre, post
        NBR arrays (numpy, dask or xarray) or reflectance cubes (their NBR is computed).
        Select single dates first (``.sel(time=...)``): xarray aligns labelled inputs.

    Returns
    -------
    xarray.DataArray or Array
        ``pre - post``; a DataArray named ``dnbr`` when either input is labelled.
    """
    if isinstance(pre, xr.Dataset):
        pre = compute("nbr", pre)
    if isinstance(post, xr.Dataset):
        post = compute("nbr", post)
    with np.errstate(all="ignore"):
        diff = pre - post
    if isinstance(diff, xr.DataArray):
        spec = REGISTRY["nbr"]
        diff = diff.rename("dnbr").assign_attrs(
            long_name="Differenced Normalized Burn Ratio", formula="NBR_pre - NBR_post",
            units="1", citation=spec.citation, valid_range=(-2.0, 2.0),
        )
    return diff
