"""Raster header checks before any pixel is trusted.

Opening a GeoTIFF is not an integrity check: a truncated file opens with its georeferencing
intact and fails only when a missing block is read (RELIABILITY.md). So besides opening,
:func:`inspect_raster` checks that the last block of the full-resolution image lies inside
the file, and that the file is georeferenced at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.errors import RasterioError

from monitor.errors import SourceError


@dataclass(frozen=True)
class RasterInfo:
    """What a raster's header says, once checked.

    Attributes
    ----------
    path
        The file.
    crs
        CRS as an authority string (``EPSG:32722``) or WKT when it has no code.
    transform
        Affine pixel-to-CRS transform (6 coefficients, GDAL order a, b, c, d, e, f).
    shape
        ``(height, width)``.
    dtype
        Numpy dtype name of band 1.
    nodata
        Declared nodata value, None when the file declares none.
    bounds
        ``(left, bottom, right, top)`` in ``crs``.
    size_bytes, mtime_ns
        File size and modification time, to detect changes.
    """

    path: Path
    crs: str
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]
    dtype: str
    nodata: float | None
    bounds: tuple[float, float, float, float]
    size_bytes: int
    mtime_ns: int


def _last_block_end(ds: rasterio.io.DatasetReader) -> int | None:
    """Byte offset just past the last block of band 1, from the TIFF directory."""
    if ds.driver != "GTiff":
        return None
    windows = list(ds.block_windows(1))
    if not windows:
        return None
    end = 0
    # The last block of each row and the last row cover the usual (row-major) layouts; a
    # COG keeps overviews first and the full-resolution blocks last.
    (row, col), _ = windows[-1]
    for r, c in {(row, col), (0, col), (row, 0)}:
        offset = ds.get_tag_item(f"BLOCK_OFFSET_{c}_{r}", "TIFF", bidx=1)
        size = ds.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1)
        if offset is None or size is None:
            return None
        end = max(end, int(offset) + int(size))
    return end


def inspect_raster(path: str | os.PathLike[str]) -> RasterInfo:
    """Open ``path``, check it is complete and georeferenced, and return its header.

    Raises
    ------
    SourceError
        Naming the file, when it is missing, unreadable, truncated, or has no CRS or
        geotransform.
    """
    p = Path(path)
    try:
        stat = p.stat()
    except OSError as exc:
        raise SourceError(f"{p}: cannot read the file ({exc.strerror}); check the path") from None
    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(p) as ds:
            if ds.crs is None:
                raise SourceError(
                    f"{p}: the raster has no CRS, so its pixels cannot be placed on the ground; "
                    "re-export it as a GeoTIFF with georeferencing (e.g. gdal_translate -a_srs)"
                )
            transform: Affine = ds.transform
            if transform.is_identity:
                raise SourceError(
                    f"{p}: the raster has no geotransform (pixel coordinates only); re-export it "
                    "georeferenced, or assign one with gdal_translate -a_ullr"
                )
            end = _last_block_end(ds)
            if end is not None and end > stat.st_size:
                raise SourceError(
                    f"{p}: the file is truncated ({stat.st_size} bytes, but its last image block "
                    f"ends at byte {end}); download or copy it again"
                )
            epsg = ds.crs.to_epsg()
            crs = f"EPSG:{epsg}" if epsg else ds.crs.to_wkt()
            return RasterInfo(
                path=p,
                crs=crs,
                transform=tuple(transform)[:6],
                shape=(ds.height, ds.width),
                dtype=ds.dtypes[0],
                nodata=ds.nodata,
                bounds=tuple(ds.bounds),
                size_bytes=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
    except RasterioError as exc:
        raise SourceError(
            f"{p}: not a readable raster ({exc}); the file may be corrupt or of an unsupported "
            "format: download or copy it again"
        ) from None
