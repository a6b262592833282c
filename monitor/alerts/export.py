"""Alert exports for partners: GeoPackage, GeoParquet, GeoJSON and CSV, in EPSG:4326.

One row per alert; the geometry is the alert's change polygons reprojected to lon/lat
(split at the antimeridian, as RFC 7946 asks); an alert without polygons is a row with a
null geometry (an empty ``WKT`` cell in CSV). Dates are ISO text. Columns:

``alert_id, concession_id, indicator, zone, zone_id, onset, state, review, severity,
value, limit, unit, standard, standard_id, standard_version, first_seen, last_seen,
confirmed_at, resolved_at, n_findings, finding_id, gfw_conf, glad_conf, gfw_code``

``gfw_conf`` / ``glad_conf`` / ``gfw_code`` map each alert onto the GFW integrated and
GLAD-L / RADD confidence codes (see :mod:`monitor.alerts.model`). Review notes and actor
names are not exported (they may name people).

GeoJSON is written with GDAL's ``RFC7946=YES`` (no ``crs`` member, 7 decimals, counter-
clockwise exteriors); CSV with GDAL's ``GEOMETRY=AS_WKT`` (a ``WKT`` first column, which
GDAL, QGIS and ``pyogrio.read_dataframe`` read back as geometry). Every file is written
to a temporary folder beside the target, fsynced and moved into place with ``os.replace``:
a reader sees the old file or the new one, never a partial one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import pyogrio

from monitor.alerts.model import Alert
from monitor.alerts.store import AlertStore
from monitor.errors import AlertError, AlertExportError
from monitor.fsio import fsync_path

__all__ = ["COLUMNS", "EXPORT_FORMATS", "ExportResult", "alerts_frame", "export_alerts",
           "format_from_path"]

logger = logging.getLogger(__name__)

ExportFormat = Literal["gpkg", "geoparquet", "geojson", "csv"]
#: Export formats and the file suffixes that select them.
EXPORT_FORMATS: dict[ExportFormat, tuple[str, ...]] = {
    "gpkg": (".gpkg",),
    "geoparquet": (".parquet", ".geoparquet"),
    "geojson": (".geojson", ".json"),
    "csv": (".csv",),
}
#: Attribute columns of every export, in order (geometry last).
COLUMNS: tuple[str, ...] = (
    "alert_id", "concession_id", "indicator", "zone", "zone_id", "onset", "state", "review",
    "severity", "value", "limit", "unit", "standard", "standard_id", "standard_version",
    "first_seen", "last_seen", "confirmed_at", "resolved_at", "n_findings", "finding_id",
    "gfw_conf", "glad_conf", "gfw_code",
)
_INT_COLUMNS = ("n_findings", "gfw_conf", "glad_conf", "gfw_code")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_alerts` wrote."""

    path: Path
    format: ExportFormat
    n_alerts: int
    n_without_geometry: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"path": str(self.path), "format": self.format, "n_alerts": self.n_alerts,
                "n_without_geometry": self.n_without_geometry}


def format_from_path(path: Path, fmt: str | None = None) -> ExportFormat:
    """The export format: ``fmt`` when given, else from the file suffix.

    Raises
    ------
    AlertExportError
        Unknown format or suffix (the message lists the accepted ones).
    """
    accepted = "; ".join(f"{name} ({', '.join(sfx)})" for name, sfx in EXPORT_FORMATS.items())
    if fmt is not None:
        name = fmt.lower().lstrip(".")
        name = {"parquet": "geoparquet", "json": "geojson"}.get(name, name)
        if name not in EXPORT_FORMATS:
            raise AlertExportError(f"unknown export format {fmt!r}; use one of: {accepted}")
        return name
    suffix = path.suffix.lower()
    for name, suffixes in EXPORT_FORMATS.items():
        if suffix in suffixes:
            return name
    raise AlertExportError(f"cannot tell the export format of {path} from its suffix "
                           f"{suffix or '(none)'}; name the format or use a suffix of: "
                           f"{accepted}")


def alerts_frame(alerts: Sequence[Alert]) -> gpd.GeoDataFrame:
    """The export table: one row per alert, geometry in EPSG:4326."""
    records = []
    for alert in alerts:
        data = alert.to_dict()
        records.append({name: data.get(name) for name in COLUMNS}
                       | {"standard_id": alert.standard_id,
                          "standard_version": alert.standard_version})
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    for name in _INT_COLUMNS:
        frame[name] = frame[name].astype("Int64")
    frame["value"] = frame["value"].astype("float64")
    frame["limit"] = frame["limit"].astype("float64")
    geometry = [alert.geometry_lonlat() for alert in alerts]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"),
                            crs="EPSG:4326")


def _write_ogr(frame: gpd.GeoDataFrame, path: Path, driver: str,
               options: dict[str, str] | None) -> None:
    has_geometry = bool(frame.geometry.notna().any())
    pyogrio.write_dataframe(frame, path, driver=driver, layer_options=options,
                            geometry_type=None if has_geometry else "Unknown",
                            **({"layer": "alerts"} if driver == "GPKG" else {}))


def _write(frame: gpd.GeoDataFrame, path: Path, fmt: ExportFormat) -> None:
    """Write ``frame`` to ``path`` in ``fmt`` (not atomic by itself)."""
    if fmt == "geoparquet":
        frame.to_parquet(path, index=False)
    elif fmt == "gpkg":
        _write_ogr(frame, path, "GPKG", None)
    elif fmt == "geojson":
        _write_ogr(frame, path, "GeoJSON", {"RFC7946": "YES", "WRITE_NAME": "NO"})
    else:
        _write_ogr(frame, path, "CSV", {"GEOMETRY": "AS_WKT"})


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` in a temporary folder beside ``path``; fsync; ``os.replace``.

    On any failure the target is untouched and the temporary folder removed.

    Raises
    ------
    AlertExportError
        The folder is missing or the writer failed (the cause is chained).
    """
    parent = path.parent
    if not parent.is_dir():
        raise AlertExportError(f"cannot export to {path}: folder {parent} does not exist")
    if path.is_dir():
        raise AlertExportError(f"cannot export to {path}: it is a folder")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        tmp = staging / path.name
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(parent)
    except AlertError:
        raise
    except Exception as exc:
        raise AlertExportError(f"cannot export to {path}: {exc}; the previous file, if "
                               f"any, is untouched") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_alerts(store: AlertStore, path: str | os.PathLike[str], format: str | None = None,
                  *, concession_id: str | None = None, state: str | None = None,
                  severity: str | None = None, review: str | None = None) -> ExportResult:
    """Export the store's alerts (optionally filtered) to one file, atomically.

    Parameters
    ----------
    store
        The alert store.
    path
        Output file; an existing file is replaced in one step.
    format
        ``gpkg``, ``geoparquet``, ``geojson`` or ``csv``; None picks it from the suffix.
    concession_id, state, severity, review
        Filters, as in :meth:`AlertStore.list`.

    Returns
    -------
    ExportResult
        Path, format, number of alerts and of alerts without polygons.

    Raises
    ------
    AlertExportError
        Unknown format, missing folder, or a writer failure (nothing is left behind).
    """
    target = Path(path)
    fmt = format_from_path(target, format)
    alerts = store.list(concession_id=concession_id, state=state, severity=severity,
                        review=review)
    frame = alerts_frame(alerts)
    atomic_write(target, lambda tmp: _write(frame, tmp, fmt))
    missing = int(frame.geometry.isna().sum())
    logger.info("exported %d alert(s) to %s (%s; %d without polygons)", len(frame), target,
                fmt, missing)
    return ExportResult(target, fmt, len(frame), missing)
