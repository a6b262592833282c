"""Landsat 8/9 Collection 2 Level-2 scene folders, as USGS ships them.

A scene folder holds ``<product id>_MTL.txt`` and ``<product id>_SR_B2..B7.TIF`` (and usually
``_QA_PIXEL.TIF``). The MTL decides the platform, time, path/row, processing level and the
reflectance scale and offset of each band. Level-1 products (L1TP, L1GT, L1GS) hold
top-of-atmosphere values and are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.errors import SourceError, UnsupportedProductError
from monitor.sources.base import LANDSAT_BAND_NUMBERS
from monitor.sources.radiometry import landsat_scaling

_LINE = re.compile(r"^\s*(?P<key>[A-Z0-9_]+)\s*=\s*(?P<value>.*?)\s*$")


def parse_mtl(path: Path) -> dict[str, dict[str, str]]:
    """Parse a Landsat MTL text file into ``{GROUP: {KEY: value}}`` (quotes stripped).

    Keys repeated in different groups (``PROCESSING_LEVEL`` appears in both the product and
    the Level-1 record) stay apart.
    """
    groups: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the MTL file ({exc.strerror})") from None
    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue
        key, value = match["key"], match["value"].strip('"')
        if key == "GROUP":
            stack.append(value)
            groups.setdefault(value, {})
        elif key == "END_GROUP":
            if stack:
                stack.pop()
        elif stack:
            groups[stack[-1]].setdefault(key, value)
    if "PRODUCT_CONTENTS" not in groups:
        raise SourceError(f"{path}: not a Landsat Collection 2 MTL file (no PRODUCT_CONTENTS "
                          "group); use the _MTL.txt file delivered with the scene")
    return groups


@dataclass(frozen=True)
class LandsatFolderScene:
    """One parsed Landsat scene folder."""

    folder: Path
    mtl_path: Path
    mtl: dict[str, dict[str, str]]
    band_files: dict[str, Path]
    missing: tuple[str, ...]


def read_landsat_folder(mtl_path: Path) -> LandsatFolderScene:
    """Parse the MTL at ``mtl_path`` and locate the band files beside it.

    Raises
    ------
    UnsupportedProductError
        For a Level-1 product.
    SourceError
        When no reflectance band file is present.
    """
    mtl = parse_mtl(mtl_path)
    contents = mtl["PRODUCT_CONTENTS"]
    level = contents.get("PROCESSING_LEVEL", "")
    product = contents.get("LANDSAT_PRODUCT_ID", mtl_path.stem.removesuffix("_MTL"))
    if level.startswith("L1") or "_L1" in product:
        raise UnsupportedProductError(
            f"{mtl_path.parent}: {product} is a Landsat Level-1 product ({level or 'L1'}): "
            "top-of-atmosphere values, not surface reflectance. Download the Collection 2 "
            "Level-2 (L2SP) product of the same scene from USGS EarthExplorer or the USGS "
            "STAC server instead"
        )
    if not level.startswith("L2"):
        raise UnsupportedProductError(
            f"{mtl_path}: processing level {level!r} is not Collection 2 Level-2 (L2SP/L2SR)"
        )
    folder = mtl_path.parent
    band_files: dict[str, Path] = {}
    missing: list[str] = []
    for name, number in LANDSAT_BAND_NUMBERS.items():
        file_name = contents.get(f"FILE_NAME_BAND_{number}", f"{product}_SR_B{number}.TIF")
        path = folder / file_name
        if path.is_file():
            band_files[name] = path
        else:
            missing.append(f"{name} ({file_name})")
    qa_name = contents.get("FILE_NAME_QUALITY_L1_PIXEL", f"{product}_QA_PIXEL.TIF")
    if (folder / qa_name).is_file():
        band_files["qa_pixel"] = folder / qa_name
    else:
        missing.append(f"qa_pixel ({qa_name})")
    if not any(b in band_files for b in LANDSAT_BAND_NUMBERS):
        raise SourceError(f"{folder}: the MTL lists {product}, but none of its SR_B2..B7 band "
                          "files are in the folder; copy them beside the MTL")
    return LandsatFolderScene(folder, mtl_path, mtl, band_files, tuple(missing))


def scene_fields(parsed: LandsatFolderScene) -> dict[str, Any]:
    """The :class:`~monitor.sources.base.Scene` fields that the MTL decides."""
    contents = parsed.mtl["PRODUCT_CONTENTS"]
    image = parsed.mtl.get("IMAGE_ATTRIBUTES", {})
    flat = parsed.mtl.get("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", {})
    numbers = [LANDSAT_BAND_NUMBERS[b] for b in parsed.band_files if b in LANDSAT_BAND_NUMBERS]
    scaling = landsat_scaling(flat, numbers)
    date = image.get("DATE_ACQUIRED")
    clock = image.get("SCENE_CENTER_TIME", "00:00:00Z").rstrip("Z")[:15]
    try:
        when = datetime.fromisoformat(f"{date}T{clock}").replace(tzinfo=UTC)
    except ValueError:
        raise SourceError(f"{parsed.mtl_path}: DATE_ACQUIRED/SCENE_CENTER_TIME "
                          f"({date!r}, {clock!r}) are not a valid time") from None
    spacecraft = image.get("SPACECRAFT_ID", "LANDSAT").lower().replace("_", "-")
    extra = {"scaling": scaling.reason, "processing_level": contents.get("PROCESSING_LEVEL", "")}
    if parsed.missing:
        extra["missing_files"] = ", ".join(parsed.missing)
    qa_kind = "qa_pixel" if "qa_pixel" in parsed.band_files else "spectral_screen"
    if qa_kind == "spectral_screen":
        extra["qa_note"] = "no QA_PIXEL band: clouds screened spectrally (lower confidence)"
    return {
        "scene_id": contents.get("LANDSAT_PRODUCT_ID", parsed.folder.name),
        "datetime": when,
        "platform": spacecraft,
        "tile": f"{int(image.get('WRS_PATH', 0)):03d}{int(image.get('WRS_ROW', 0)):03d}",
        "collection": "landsat-c2l2-sr",
        "scale": scaling.scale,
        "offset": scaling.offset,
        "offset_applied": True,
        "processing_baseline": None,
        "qa_kind": qa_kind,
        "extra": extra,
    }
