"""Sentinel Hub Catalog items as scenes, and the Sentinel-2 L2A collection definition."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sentinelhub.data_collections import DataCollection
from sentinelhub.download.models import DownloadRequest, DownloadResponse
from shapely.geometry import shape

from monitor.errors import SourceError
from monitor.sources.base import REFLECTANCE_BANDS, S2_BAND_IDS, Scene, SkippedScene
from monitor.sources.radiometry import sentinel2_scaling
from monitor.sources.sh_client import InvalidResponseError

COLLECTION = "sentinel-2-l2a"
_COLLECTION_NAME = "CONCESSION_MONITOR_SENTINEL2_L2A"
_DEFINE_LOCK = threading.Lock()
_BASELINE_IN_ID = re.compile(r"_N(\d{2})(\d{2})(?:_|$)")
_TILE_IN_ID = re.compile(r"_T(\d{2}[A-Z]{3})(?:_|$)")


def s2_l2a_collection() -> DataCollection:
    """Sentinel-2 L2A bound to no deployment, so the SHConfig's base URL decides (gotcha 1).

    Collection names are global to the process: it is defined once and reused.
    """
    with _DEFINE_LOCK:
        if _COLLECTION_NAME in DataCollection.__members__:
            return DataCollection[_COLLECTION_NAME]
        try:
            return DataCollection.SENTINEL2_L2A.define_from(_COLLECTION_NAME, service_url=None)
        except ValueError:  # the same definition already exists under another name
            for member in DataCollection:
                if (member.api_id == DataCollection.SENTINEL2_L2A.api_id
                        and member.service_url is None):
                    return member
            raise


def _parse_time(value: object, item_id: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"Catalog item {item_id}: datetime {value!r} is not ISO 8601") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _baseline(props: Mapping[str, Any], item_id: str) -> str | None:
    value = props.get("s2:processing_baseline") or props.get("processing:version")
    if value:
        return str(value)
    match = _BASELINE_IN_ID.search(item_id)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def check_catalog_page(request: DownloadRequest, response: DownloadResponse) -> None:
    """Reject (so the client retries) a Catalog answer that is not complete JSON."""
    try:
        json.loads(response.content)
    except ValueError:
        raise InvalidResponseError("the Catalog answer is not complete JSON") from None


def scene_from_feature(feature: Mapping[str, Any], base_url: str, provider: str,
                       request: Mapping[str, Any]) -> Scene | SkippedScene:
    """A Catalog item (STAC Feature) as a :class:`Scene`, or skipped with the reason.

    The processing baseline comes from ``s2:processing_baseline`` (or ``processing:version``,
    or the ``_Nxxyy_`` part of the product id); radiometry is then decided exactly as for
    every other source, with the DN as delivered (``harmonizeValues: false``): the BOA
    offset of baselines 04.00+ is applied once, by the cube.

    Raises
    ------
    SourceError
        For an item without id, geometry or a readable datetime.
    """
    item_id = str(feature.get("id", ""))
    props: Mapping[str, Any] = feature.get("properties") or {}
    if not item_id or feature.get("geometry") is None:
        raise SourceError(f"Catalog item {item_id or '(no id)'} has no id or no geometry")
    baseline = _baseline(props, item_id)
    try:
        scaling = sentinel2_scaling(baseline, boa_add_offset=props.get("s2:boa_add_offset"))
    except SourceError as exc:
        return SkippedScene(item_id, f"radiometry undecidable: {exc}")
    tile_match = _TILE_IN_ID.search(item_id)
    tile = str(props.get("s2:mgrs_tile") or props.get("grid:code")
               or (tile_match.group(1) if tile_match else ""))
    platform = str(props.get("platform") or (
        "sentinel-2" + item_id[2].lower() if item_id[:3] in ("S2A", "S2B", "S2C") else
        "sentinel-2")).lower()
    native: tuple[str, tuple[float, ...]] | None = None
    epsg, pbbox = props.get("proj:epsg"), props.get("proj:bbox")
    if epsg and isinstance(pbbox, list | tuple) and len(pbbox) == 4:
        native = (f"EPSG:{int(epsg)}", (10.0, 0.0, float(pbbox[0]), 0.0, -10.0,
                                        float(pbbox[3])))
    extra = {"scaling": scaling.reason,
             "request": json.dumps(dict(request), sort_keys=True)}
    if props.get("eo:cloud_cover") is not None:
        extra["cloud_cover"] = str(props["eo:cloud_cover"])
    return Scene(
        scene_id=item_id, datetime=_parse_time(props.get("datetime"), item_id),
        platform=platform, tile=tile.removeprefix("MGRS-"), collection=COLLECTION,
        provider=provider,
        assets={b: f"{base_url}/api/v1/process#{COLLECTION}/{item_id}/"
                   f"{S2_BAND_IDS[b]}" for b in (*REFLECTANCE_BANDS, "scl")},
        footprint=shape(feature["geometry"]), scale=scaling.scale, offset=scaling.offset,
        processing_baseline=baseline, offset_applied=scaling.offset_applied,
        harmonized=False, native_grid=native, extra=extra,
    )
