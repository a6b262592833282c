"""STAC Items (from static catalogs or APIs) as scenes, with their radiometry decided once.

Asset keys are matched to canonical band names by key (Earth Search: ``red``, ``nir08``...;
Planetary Computer: ``B04``, ``SCL``), else by a single-band asset's ``eo:bands`` common name;
JP2 twins and multi-band composites (``visual``) are never taken. A ``raster:bands`` scale and
offset, when present, is the complete recipe (Earth Search harmonises older baselines with
it); otherwise the processing baseline decides, and ``earthsearch:boa_offset_applied`` is
honoured so an offset is never applied twice.
"""

from __future__ import annotations

from typing import Any

import pystac
from shapely.geometry import shape

from monitor.errors import SourceError
from monitor.sources.base import REFLECTANCE_BANDS, S2_BAND_IDS, Scene
from monitor.sources.radiometry import (
    LANDSAT_C2_OFFSET,
    LANDSAT_C2_SCALE,
    sentinel2_scaling,
)

_QA_KEYS = {"scl": "scl", "qa_pixel": "qa_pixel", "SCL": "scl", "QA_PIXEL": "qa_pixel"}


def _is_twin_or_composite(key: str, asset: pystac.Asset) -> bool:
    """JP2 twins of COGs, and multi-band composites (``visual``), are never a band."""
    if key.endswith("-jp2") or (asset.media_type or "").startswith("image/jp2"):
        return True
    bands = asset.extra_fields.get("eo:bands") or []
    return isinstance(bands, list) and len(bands) > 1


def _name_from_key(key: str) -> str | None:
    if key in REFLECTANCE_BANDS or key in _QA_KEYS:
        return _QA_KEYS.get(key, key)
    for name, band_id in S2_BAND_IDS.items():
        if key.upper() == band_id:
            return name
    return None


def _name_from_eo_bands(asset: pystac.Asset) -> str | None:
    for band in asset.extra_fields.get("eo:bands", []) or []:
        name = band.get("common_name") if isinstance(band, dict) else None
        if name in REFLECTANCE_BANDS:
            return str(name)
    return None


def band_asset_keys(item: pystac.Item) -> dict[str, str]:
    """Canonical band name -> asset key of the item's single-band data assets.

    A key that names the band (``red``, ``scl``, ``B04``, ``SCL``) wins over an
    ``eo:bands`` common name, so the result does not depend on the order of the assets;
    JP2 twins (``red-jp2``) and multi-band composites (``visual``) are never used.
    """
    usable = {k: a for k, a in item.assets.items() if not _is_twin_or_composite(k, a)}
    found: dict[str, str] = {}
    for key in usable:
        name = _name_from_key(key)
        if name is not None and name not in found:
            found[name] = key
    for key, asset in usable.items():
        name = _name_from_eo_bands(asset)
        if name is not None and name not in found and key not in found.values():
            found[name] = key
    return found


def band_assets(item: pystac.Item) -> dict[str, str]:
    """Canonical band name -> absolute href of the item's data assets (COGs, not JP2 twins)."""
    return {name: item.assets[key].get_absolute_href() or item.assets[key].href
            for name, key in band_asset_keys(item).items()}


def _raster_scale_offset(item: pystac.Item, asset_key: str) -> tuple[float | None, float | None]:
    bands = item.assets[asset_key].extra_fields.get("raster:bands") or []
    if bands and isinstance(bands[0], dict) and "scale" in bands[0]:
        return float(bands[0]["scale"]), float(bands[0].get("offset", 0.0))
    return None, None


def scene_from_item(item: pystac.Item, provider: str) -> Scene:
    """Describe a STAC Item as a :class:`Scene`.

    Raises
    ------
    SourceError
        When the item has no time, no geometry, no usable band asset, or a Sentinel-2 item
        whose radiometric offset cannot be decided.
    """
    props: dict[str, Any] = item.properties
    if item.datetime is None:
        raise SourceError(f"STAC item {item.id}: no datetime; only single-time items are "
                          "supported")
    if item.geometry is None:
        raise SourceError(f"STAC item {item.id}: no geometry, so coverage cannot be checked")
    assets = band_assets(item)
    keys = band_asset_keys(item)
    if not any(b in assets for b in REFLECTANCE_BANDS):
        raise SourceError(f"STAC item {item.id}: no reflectance asset among "
                          f"{sorted(item.assets)}; expected keys like 'red' or 'B04'")
    platform = str(props.get("platform", "unknown")).lower()
    collection = item.collection_id or str(props.get("collection", ""))
    is_landsat = platform.startswith("landsat") or "landsat" in collection
    ref_key = keys.get("red") or next(k for n, k in keys.items() if n in REFLECTANCE_BANDS)
    raster_scale, raster_offset = _raster_scale_offset(item, ref_key)
    baseline = props.get("s2:processing_baseline") or props.get("processing:version")
    if is_landsat:
        scale, offset = LANDSAT_C2_SCALE, LANDSAT_C2_OFFSET
        if raster_scale is not None:
            scale, offset = raster_scale, raster_offset or 0.0
        offset_applied, reason = True, "Landsat C2 L2 scale/offset"
        tile = f"{props.get('landsat:wrs_path', '')}{props.get('landsat:wrs_row', '')}"
        qa_kind = "qa_pixel" if "qa_pixel" in assets else "spectral_screen"
    else:
        try:
            scaling = sentinel2_scaling(
                None if baseline is None else str(baseline),
                boa_add_offset=props.get("s2:boa_add_offset"),
                offset_applied=bool(props.get("earthsearch:boa_offset_applied", False)),
                raster_scale=raster_scale,
                raster_offset=raster_offset,
            )
        except SourceError as exc:
            raise SourceError(f"STAC item {item.id}: {exc}") from None
        scale, offset, offset_applied, reason = (
            scaling.scale, scaling.offset, scaling.offset_applied, scaling.reason)
        tile = str(props.get("s2:mgrs_tile") or props.get("grid:code")
                   or props.get("mgrs:grid_square") or "")
        qa_kind = "scl" if "scl" in assets else "spectral_screen"
    return Scene(
        scene_id=item.id,
        datetime=item.datetime,
        platform=platform,
        tile=tile.removeprefix("MGRS-"),
        collection=collection,
        provider=provider,
        assets=assets,
        footprint=shape(item.geometry),
        scale=scale,
        offset=offset,
        qa_kind=qa_kind,  # type: ignore[arg-type]
        processing_baseline=None if baseline is None else str(baseline),
        offset_applied=offset_applied,
        extra={"scaling": reason},
    )
