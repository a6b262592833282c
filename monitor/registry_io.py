"""Reading a concession registry file as it is: formats, layers, column names, cells.

:func:`read_frame` opens GeoJSON, GeoPackage, GeoParquet or Shapefile registries (the
suffixes of :data:`monitor.concessions.FORMATS`) without checking their content, and
raises :class:`~monitor.errors.RegistryError` only when the file cannot be read at all.
The cell helpers turn pandas/numpy values into plain Python values for the checks in
:mod:`monitor.registry_validation`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow  # type: ignore[import-untyped]
import pyogrio
import shapely

from monitor import geometry as geo
from monitor.concessions import FORMATS
from monitor.errors import RegistryError

__all__ = ["id_text", "parse_date", "plain_value", "read_frame"]

_SUPPORTED = ("GeoJSON (.geojson, .json), GeoPackage (.gpkg), GeoParquet (.parquet, "
              ".geoparquet) or Shapefile (.shp)")
#: Known columns; Shapefile field names cut to 10 characters are mapped back to these.
_COLUMNS = ("concession_id", "feature_type", "name", "holder", "licence_number", "standard_id",
            "valid_from", "valid_to", "facility_id", "reach_id", "role", "zone_id")
#: What reading can raise; each becomes a RegistryError naming the file and the format.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError, pyogrio.errors.FeatureError, pyogrio.errors.CRSError,
    pyarrow.ArrowException, shapely.errors.GEOSException, ValueError, OSError)


def read_frame(path: Path) -> tuple[gpd.GeoDataFrame, list[geo.Finding]]:
    """Read a registry file as it is, without checking its content.

    Parameters
    ----------
    path
        The registry file; its suffix selects the format (:data:`~monitor.concessions.FORMATS`).

    Returns
    -------
    tuple
        The features (Shapefile column names cut to 10 characters restored) and the
        findings made while reading (``multiple-layers``, ``malformed-geometry``).

    Raises
    ------
    RegistryError
        When the file is missing, has an unsupported suffix or cannot be read as its format.
    """
    if not path.is_file():
        state = "is a directory" if path.is_dir() else "does not exist"
        raise RegistryError(f"registry file {path} {state}; give the path of a {_SUPPORTED} "
                            "file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise RegistryError(f"{path}: {path.suffix or 'no suffix'!r} is not a supported "
                            f"registry format; use {_SUPPORTED}")
    notes: list[geo.Finding] = []
    try:
        if kind == "GeoParquet":
            frame = gpd.read_parquet(path)
        else:
            layer = None
            if kind == "GeoPackage":
                layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
                if len(layers) > 1:
                    layer = "concessions" if "concessions" in layers else layers[0]
                    notes.append(geo.Finding(
                        "warning", "multiple-layers", f"the GeoPackage has {len(layers)} "
                        f"layers ({', '.join(layers)}); only {layer!r} was read",
                        "keep one layer per registry, or name it 'concessions'"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
                try:
                    frame = gpd.read_file(path, layer=layer, engine="pyogrio")
                except shapely.errors.GEOSException as exc:
                    frame = gpd.read_file(path, layer=layer, engine="pyogrio", on_invalid="fix")
                    notes.append(geo.Finding(
                        "warning", "malformed-geometry", f"some geometries are malformed "
                        f"({exc}); they were read with shapely's on_invalid='fix' (rings "
                        "closed, hopeless ones null)", "rewrite the geometries"))
    except _READ_ERRORS as exc:
        raise RegistryError(f"{path}: cannot be read as {kind} ({exc}); a registry must be a "
                            f"{_SUPPORTED} file of polygons") from exc
    renames = {c[:10]: c for c in _COLUMNS
               if len(c) > 10 and c[:10] in frame.columns and c not in frame.columns}
    return frame.rename(columns=renames), notes


def plain_value(value: Any) -> Any:
    """Python value of a cell: None for missing, numpy scalars unwrapped, dates as dates."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple, dict, set, np.ndarray)):
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value.strip() if isinstance(value, str) else value


def id_text(value: Any) -> str | None:
    """Id cell as text: integers stay integers (817.0 -> "817"); blank is None."""
    value = plain_value(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    return text or None


def parse_date(value: Any) -> dt.date | None:
    """Parse a date cell; raise ValueError for anything that is not a date."""
    value = plain_value(value)
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    return dt.date.fromisoformat(str(value).strip()[:10])
