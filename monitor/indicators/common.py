"""Helpers every indicator shares: dates, dask computation, quality flags, tables, rasters.

The indicator modules (:mod:`~monitor.indicators.vegetation`,
:mod:`~monitor.indicators.water`, :mod:`~monitor.indicators.tailings`) take the same cube
(``monitor.load_cube``) and return the same :class:`~monitor.indicators.base.IndicatorResult`;
what they do alike lives here, once: turning a datetime into a date, computing every lazy
array of a step in one ``dask.compute``, telling whether clouds were screened spectrally,
building the measurement table and wrapping a 2-D array as a raster on the cube grid.
Pure: no file or network I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from dask.base import compute as dask_compute
from numpy.typing import NDArray

from monitor.indicators.base import MEASUREMENT_COLUMNS

__all__ = ["as_date", "compute", "measurement_table", "raster", "spectral_note",
           "spectral_screen"]


def as_date(value: date | datetime) -> date:
    """The calendar date of a date or datetime."""
    return value.date() if isinstance(value, datetime) else value


def compute(*lazy: Any) -> tuple[Any, ...]:
    """Compute every dask collection in ``lazy`` at once (numpy and other values pass)."""
    result: tuple[Any, ...] = dask_compute(*lazy)  # type: ignore[no-untyped-call]
    return result


def spectral_screen(cube: xr.Dataset) -> bool:
    """Whether some acquisition of ``cube`` had no quality band (clouds screened spectrally)."""
    if "qa_kind" not in cube.coords:
        return False
    kinds = np.atleast_1d(cube["qa_kind"].values)
    return any(str(k) == "spectral_screen" for k in kinds)


def spectral_note(confidence: str) -> str:
    """The note of a result whose clouds were partly screened spectrally."""
    return ("Some acquisitions have no quality band: clouds were screened spectrally "
            f"({confidence} confidence).")


def measurement_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Measurement rows as the tidy table of ``MEASUREMENT_COLUMNS``."""
    return pd.DataFrame(list(rows), columns=list(MEASUREMENT_COLUMNS))


def raster(cube: xr.Dataset, name: str, data: NDArray[Any], *, with_crs: bool = False,
           **attrs: Any) -> xr.DataArray:
    """A 2-D ``(y, x)`` array on the cube grid, named ``name``, with ``attrs``.

    The coordinates are the cube's ``y`` and ``x``, and with ``with_crs`` also its
    ``spatial_ref`` (when present).
    """
    names = ("y", "x", "spatial_ref") if with_crs else ("y", "x")
    coords = {k: cube.coords[k] for k in names if k in cube.coords}
    return xr.DataArray(data, dims=("y", "x"), coords=coords, name=name, attrs=attrs)
