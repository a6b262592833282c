"""Compact, JSON-ready summaries of a cube and its indices (what `monitor demo` prints).

Pure: reductions on the cube, one ``dask.compute`` for everything.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from dask.base import compute as dask_compute

from monitor import indices

#: Which clear mask each summarised index is read through (SCIENCE.md section 2).
_MASK_FOR_INDEX = {"ndvi": "clear_vegetation", "bsi": "clear_tailings",
                   "mndwi": "clear_tailings", "ndti": "clear_water",
                   "turbidity_dogliotti2015": "clear_water"}
#: An acquisition counts as clear when at least this fraction of the area is usable.
CLEAR_ACQUISITION_FRACTION = 0.5


def cube_summary(cube: xr.Dataset,
                 names: Sequence[str] = ("ndvi", "bsi", "ndti")) -> dict[str, Any]:
    """Summarise a cube: acquisitions, grid, clear fractions and index medians.

    Parameters
    ----------
    cube
        From :func:`monitor.load_cube`.
    names
        Index ids to summarise; each is read through the mask of its indicator.

    Returns
    -------
    dict
        JSON-ready: ``concession_id``, ``acquisitions``, ``first``/``last`` dates, ``grid``
        (rows, cols), ``crs``, ``resolution_m``, ``skipped_scenes``, ``clear_fraction``
        (mean, min, max over acquisitions), ``clear_acquisitions`` and, per index, the median
        of the per-acquisition medians over clear acquisitions, the clear pixel count, and
        the medians of the first and last clear acquisitions.
    """
    in_aoi = cube["in_aoi"]
    n_aoi = int(in_aoi.sum())
    clear_frac = cube["clear"].where(in_aoi, False).sum(("y", "x")) / max(n_aoi, 1)
    lazy: dict[str, Any] = {"clear_fraction": clear_frac.data}
    for name in names:
        mask = cube[_MASK_FOR_INDEX.get(name, "clear")] & in_aoi
        values = indices.compute(name, cube).where(mask)
        lazy[f"{name}_per_date"] = values.median(("y", "x"), skipna=True).data
        lazy[f"{name}_count"] = values.notnull().sum().data
    with warnings.catch_warnings():  # a fully clouded date has an all-NaN median: NaN
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        results = dask_compute(*lazy.values())  # type: ignore[no-untyped-call]
    computed = dict(zip(lazy, results, strict=True))
    frac = np.asarray(computed["clear_fraction"], "float64")
    clear_idx = np.flatnonzero(frac >= CLEAR_ACQUISITION_FRACTION)
    times = cube["time"].values
    out: dict[str, Any] = {
        "concession_id": cube.attrs.get("concession_id"),
        "acquisitions": int(cube.sizes["time"]),
        "first": str(np.datetime_as_string(times[0], unit="D")),
        "last": str(np.datetime_as_string(times[-1], unit="D")),
        "grid": [int(cube.sizes["y"]), int(cube.sizes["x"])],
        "crs": cube.attrs.get("crs"),
        "resolution_m": cube.attrs.get("resolution_m"),
        "skipped_scenes": len(json.loads(cube.attrs.get("skipped_scenes", "[]"))),
        "clear_fraction": {"mean": _r(frac.mean()), "min": _r(frac.min()), "max": _r(frac.max())},
        "clear_acquisitions": int(clear_idx.size),
        "indices": {},
    }
    for name in names:
        per_date = np.asarray(computed[f"{name}_per_date"], "float64")
        clear_dates = per_date[clear_idx]
        entry = {
            "median": _r(np.nanmedian(clear_dates)) if np.isfinite(clear_dates).any() else None,
            "pixels": int(computed[f"{name}_count"]),
            "first_clear": _r(per_date[clear_idx[0]]) if clear_idx.size else None,
            "last_clear": _r(per_date[clear_idx[-1]]) if clear_idx.size else None,
        }
        out["indices"][name] = entry
    return out


def _r(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)
