"""Sentinel-2 L2A scene folders: per-band COGs named like Earth Search assets + ``scene.json``.

Layout (documented in the README, "Local imagery")::

    <root>/<scene_id>/scene.json
    <root>/<scene_id>/{blue,green,red,nir,nir08,swir16,swir22,scl}.tif

Band files may also be named by Sentinel-2 band id (``B04.tif``), or listed explicitly in
``scene.json`` under ``"assets"`` (paths relative to the folder, or absolute). Missing bands
are allowed (the cube holds NaN for them on that date); a missing ``scl`` means the scene is
screened spectrally, with lower confidence.

``scene.json`` fields: ``datetime`` (ISO 8601, UTC; required), ``platform`` (required),
``tile`` (required), ``processing_baseline`` (e.g. ``"04.00"``) and/or ``boa_add_offset``
(DN, e.g. -1000; one of the two is required), ``scene_id`` (default: the folder name),
``quantification_value`` (default 10000), ``offset_applied`` (default false: true when the
DNs already include the BOA offset), ``collection`` (default ``sentinel-2-l2a``),
``cloud_cover`` (optional, %).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.errors import SourceError
from monitor.sources.base import REFLECTANCE_BANDS, S2_BAND_IDS
from monitor.sources.radiometry import sentinel2_scaling

SCENE_FILE = "scene.json"
_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF")


@dataclass(frozen=True)
class S2FolderScene:
    """One parsed scene folder: metadata and the band files found."""

    folder: Path
    metadata: dict[str, Any]
    band_files: dict[str, Path]


def parse_datetime(value: object, where: Path) -> datetime:
    """Parse an ISO 8601 time as timezone-aware UTC (naive times are taken as UTC)."""
    if not isinstance(value, str):
        raise SourceError(f"{where}: 'datetime' must be an ISO 8601 string such as "
                          f"\"2022-01-30T13:22:39Z\", got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"{where}: 'datetime' {value!r} is not ISO 8601; write it like "
                          "\"2022-01-30T13:22:39Z\"") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _find_band(folder: Path, band: str) -> Path | None:
    names = [band, band.upper(), S2_BAND_IDS[band], S2_BAND_IDS[band].lower()]
    for name in names:
        for suffix in _SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def read_scene_folder(folder: Path) -> S2FolderScene:
    """Read ``folder/scene.json`` and locate the band files.

    Raises
    ------
    SourceError
        When ``scene.json`` is not valid JSON, misses a required field, or names a band file
        that does not exist.
    """
    meta_path = folder / SCENE_FILE
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{meta_path}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                          "fix or regenerate the scene metadata") from None
    if not isinstance(metadata, dict):
        raise SourceError(f"{meta_path}: must hold a JSON object of scene fields")
    for key in ("datetime", "platform", "tile"):
        if key not in metadata:
            raise SourceError(f"{meta_path}: missing required field '{key}'; see the README, "
                              "'Local imagery', for the scene.json fields")
    if "processing_baseline" not in metadata and "boa_add_offset" not in metadata:
        raise SourceError(
            f"{meta_path}: needs 'processing_baseline' (e.g. \"04.00\") or 'boa_add_offset' "
            "(DN), or the reflectance offset (0 or -1000 DN) cannot be decided"
        )
    band_files: dict[str, Path] = {}
    explicit = metadata.get("assets", {})
    if not isinstance(explicit, dict):
        raise SourceError(f"{meta_path}: 'assets' must map band names to file paths")
    for band in (*REFLECTANCE_BANDS, "scl"):
        if band in explicit:
            path = Path(str(explicit[band]))
            path = path if path.is_absolute() else folder / path
            if not path.is_file():
                raise SourceError(f"{meta_path}: asset '{band}' points at {path}, which does not "
                                  "exist; fix the path or remove the entry")
            band_files[band] = path
        else:
            found = _find_band(folder, band)
            if found is not None:
                band_files[band] = found
    if not any(b in band_files for b in REFLECTANCE_BANDS):
        raise SourceError(f"{folder}: no band files found (expected e.g. red.tif or B04.tif)")
    return S2FolderScene(folder=folder, metadata=metadata, band_files=band_files)


def scene_fields(parsed: S2FolderScene) -> dict[str, Any]:
    """The :class:`~monitor.sources.base.Scene` fields that ``scene.json`` decides."""
    meta = parsed.metadata
    where = parsed.folder / SCENE_FILE
    baseline = meta.get("processing_baseline")
    try:
        scaling = sentinel2_scaling(
            None if baseline is None else str(baseline),
            boa_add_offset=meta.get("boa_add_offset"),
            quantification_value=meta.get("quantification_value"),
            offset_applied=bool(meta.get("offset_applied", False)),
        )
    except SourceError as exc:
        raise SourceError(f"{where}: {exc}") from None
    extra = {"scaling": scaling.reason}
    if "cloud_cover" in meta:
        extra["cloud_cover"] = str(meta["cloud_cover"])
    return {
        "scene_id": str(meta.get("scene_id", parsed.folder.name)),
        "datetime": parse_datetime(meta["datetime"], where),
        "platform": str(meta["platform"]).lower(),
        "tile": str(meta["tile"]),
        "collection": str(meta.get("collection", "sentinel-2-l2a")),
        "scale": scaling.scale,
        "offset": scaling.offset,
        "offset_applied": scaling.offset_applied,
        "processing_baseline": None if baseline is None else str(baseline),
        "qa_kind": "scl" if "scl" in parsed.band_files else "spectral_screen",
        "extra": extra,
    }
