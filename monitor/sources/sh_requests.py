"""Sentinel Hub Process API requests for raw Sentinel-2 L2A digital numbers, and their answers.

One request = one acquisition (a narrow time window around one sensing time) on one tile of
the cube's grid: the request's bbox, CRS and width/height are exactly the tile's, so the
answer lands on the grid pixel for pixel. Grids wider or taller than ``max_tile_px`` (at most
2500, Sentinel Hub's limit) are split along pixel edges and mosaicked back.

The evalscript asks for digital numbers (``units: "DN"``) of the reflectance bands as one
UINT16 output ``dn``, and SCL plus ``dataMask`` as one UINT8 output ``qa``;
``processing.harmonizeValues`` is false, so the numbers are the product's own (the BOA offset
of baseline 04.00+ included, applied once later from the scene's scaling), and up- and
downsampling are NEAREST, what the local source (odc-stac, ``resampling="nearest"``) does
for 20 m bands on a 10 m grid. Several outputs come back as a tar of ``<id>.tif`` members;
the GeoTIFFs are opened with rasterio, and their CRS, transform, size and band count are
checked against the request before any pixel is used.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import rasterio
import xarray as xr
from numpy.typing import NDArray
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rasterio.errors import RasterioError
from sentinelhub.api.process import SentinelHubRequest
from sentinelhub.config import SHConfig
from sentinelhub.constants import CRS, MimeType, MosaickingOrder
from sentinelhub.data_collections import DataCollection
from sentinelhub.download.models import DownloadRequest
from sentinelhub.geometry import BBox

from monitor.errors import SourceError
from monitor.sources.base import REFLECTANCE_BANDS, S2_BAND_IDS
from monitor.sources.sh_client import InvalidResponseError

DN_OUTPUT = "dn"
QA_OUTPUT = "qa"
#: Half-width of the time window around one sensing time (tiles of one acquisition share
#: the time the Catalog gives; other acquisitions are days away).
TIME_WINDOW = timedelta(seconds=0.5)


def time_windows(times: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """The ``timeRange`` of each sorted sensing time: +-0.5 s, never reaching a neighbour.

    Each time step of the cube then holds only the tiles sensed at its own time, as the
    local source does (windows of close times are cut half-way between them).
    """
    out: list[tuple[datetime, datetime]] = []
    for i, when in enumerate(times):
        lo, hi = when - TIME_WINDOW, when + TIME_WINDOW
        if i > 0:
            lo = max(lo, when - (when - times[i - 1]) / 2)
        if i + 1 < len(times):
            hi = min(hi, when + (times[i + 1] - when) / 2 - timedelta(microseconds=1))
        out.append((lo, hi))
    return out
PROCESSING = {"upsampling": "NEAREST", "downsampling": "NEAREST", "harmonizeValues": False}


@dataclass(frozen=True)
class Output:
    """One evalscript output: its id, its bands (canonical names) and its sample type."""

    identifier: str
    bands: tuple[str, ...]
    sample_type: str

    @property
    def dtype(self) -> str:
        """The NumPy dtype of the output."""
        return {"UINT8": "uint8", "UINT16": "uint16"}[self.sample_type]


def outputs_for(bands: Sequence[str]) -> list[Output]:
    """The evalscript outputs that carry ``bands`` (plus ``dataMask``, always)."""
    refl = tuple(b for b in REFLECTANCE_BANDS if b in bands)
    qa = (("scl",) if "scl" in bands else ()) + ("dataMask",)
    out = [Output(DN_OUTPUT, refl, "UINT16")] if refl else []
    return [*out, Output(QA_OUTPUT, qa, "UINT8")]


def _sample(band: str) -> str:
    return "dataMask" if band == "dataMask" else S2_BAND_IDS[band]


def evalscript(outputs: Sequence[Output]) -> str:
    """A version 3 evalscript returning DN of the outputs' bands, no arithmetic."""
    inputs = [_sample(b) for o in outputs for b in o.bands]
    quoted = ", ".join(f'"{s}"' for s in inputs)
    units = ", ".join('"DN"' for _ in inputs)  # every band, SCL and dataMask included
    outs = ",\n      ".join(f'{{id: "{o.identifier}", bands: {len(o.bands)}, '
                           f'sampleType: "{o.sample_type}"}}' for o in outputs)
    returns = ", ".join(f"{o.identifier}: [{', '.join('s.' + _sample(b) for b in o.bands)}]"
                        for o in outputs)
    return (
        "//VERSION=3\n"
        "function setup() {\n"
        "  return {\n"
        f"    input: [{{bands: [{quoted}], units: [{units}]}}],\n"
        f"    output: [\n      {outs}\n    ],\n"
        "    mosaicking: \"SIMPLE\"\n"
        "  };\n"
        "}\n"
        "function evaluatePixel(s) {\n"
        f"  return {{{returns}}};\n"
        "}\n"
    )


@dataclass(frozen=True)
class Tile:
    """A window of the cube's grid, small enough for one request."""

    row: int
    col: int
    geobox: GeoBox


def split_geobox(geobox: GeoBox, max_px: int) -> list[Tile]:
    """Split ``geobox`` into tiles of at most ``max_px`` pixels a side, along pixel edges."""
    ny, nx = geobox.shape.y, geobox.shape.x
    n_rows, n_cols = -(-ny // max_px), -(-nx // max_px)
    rows = [round(i * ny / n_rows) for i in range(n_rows + 1)]
    cols = [round(j * nx / n_cols) for j in range(n_cols + 1)]
    return [Tile(rows[i], cols[j], geobox[rows[i]:rows[i + 1], cols[j]:cols[j + 1]])
            for i in range(n_rows) for j in range(n_cols)]


@dataclass
class Planned:
    """One Process request of a load: which time step and tile it fills."""

    time_index: int
    tile: Tile
    request: DownloadRequest
    key: str = ""
    label: str = ""


def _epsg(geobox: GeoBox) -> int:
    epsg = geobox.crs.epsg if geobox.crs is not None else None
    if epsg is None:
        raise SourceError(f"grid CRS {geobox.crs} has no EPSG code; Sentinel Hub needs one")
    return int(epsg)


def process_request(collection: DataCollection, config: SHConfig,
                    window: tuple[datetime, datetime], tile: Tile, outputs: Sequence[Output],
                    max_cloud_cover: float) -> DownloadRequest:
    """The Process API request for one acquisition's time ``window`` on one tile."""
    epsg = _epsg(tile.geobox)
    left, bottom, right, top = tile.geobox.boundingbox[:4]
    request = SentinelHubRequest(
        evalscript=evalscript(outputs),
        input_data=[SentinelHubRequest.input_data(
            collection,
            time_interval=window,
            mosaicking_order=MosaickingOrder.MOST_RECENT,
            # maxCloudCoverage as given (sentinelhub-py's maxcc would truncate it to an int)
            other_args={"processing": dict(PROCESSING), **(
                {"dataFilter": {"maxCloudCoverage": max_cloud_cover}}
                if max_cloud_cover < 100 else {})},
        )],
        responses=[SentinelHubRequest.output_response(o.identifier, MimeType.TIFF)
                   for o in outputs],
        bbox=BBox((left, bottom, right, top), crs=CRS(epsg)),
        size=(tile.geobox.shape.x, tile.geobox.shape.y),
        config=config,
    )
    download: DownloadRequest = request.download_list[0]
    return download


def _open_tiff(data: bytes, output: Output, tile: Tile) -> NDArray[Any]:
    gb = tile.geobox
    try:
        with rasterio.MemoryFile(data) as mem, mem.open() as ds:
            if (ds.height, ds.width) != (gb.shape.y, gb.shape.x) or ds.count != len(output.bands):
                raise InvalidResponseError(
                    f"output {output.identifier!r} is {ds.count}x{ds.height}x{ds.width}, "
                    f"expected {len(output.bands)}x{gb.shape.y}x{gb.shape.x}")
            if ds.crs is None or ds.crs.to_epsg() != _epsg(gb):
                raise InvalidResponseError(f"output {output.identifier!r} is in {ds.crs}, "
                                           f"expected EPSG:{_epsg(gb)}")
            tol = 1e-6 * abs(gb.resolution.x)
            if not ds.transform.almost_equals(gb.affine, precision=tol):
                raise InvalidResponseError(f"output {output.identifier!r} has transform "
                                           f"{tuple(ds.transform)[:6]}, expected "
                                           f"{tuple(gb.affine)[:6]}")
            array: NDArray[Any] = ds.read()
    except RasterioError as exc:
        raise InvalidResponseError(f"output {output.identifier!r} is not a readable GeoTIFF "
                                   f"({exc})") from None
    if array.dtype != np.dtype(output.dtype):
        raise InvalidResponseError(f"output {output.identifier!r} is {array.dtype}, expected "
                                   f"{output.dtype}")
    return array


def decode_answer(content: bytes, outputs: Sequence[Output], tile: Tile
                  ) -> dict[str, NDArray[Any]]:
    """Band name -> ``(y, x)`` array of one Process answer (a TIFF, or a tar of them).

    Raises
    ------
    InvalidResponseError
        When the answer is not a complete tar/TIFF of the requested outputs on the tile.
    """
    members: dict[str, bytes] = {}
    if len(outputs) == 1:
        members[outputs[0].identifier] = content
    else:
        try:
            with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as tar:
                for member in tar.getmembers():
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        members[member.name.removesuffix(".tif")] = handle.read()
        except (tarfile.TarError, EOFError) as exc:
            raise InvalidResponseError(f"not a complete tar archive ({exc})") from None
    bands: dict[str, NDArray[Any]] = {}
    for output in outputs:
        if output.identifier not in members:
            raise InvalidResponseError(f"output {output.identifier!r} missing from the answer "
                                       f"(got {sorted(members)})")
        array = _open_tiff(members[output.identifier], output, tile)
        for i, band in enumerate(output.bands):
            bands[band] = array[i]
    return bands


def assemble(plans: list[Planned], decoded: Mapping[str, Mapping[str, NDArray[Any]]],
              times: list[datetime], geobox: GeoBox, bands: list[str], chunks: int,
              source: str) -> xr.Dataset:
    """Mosaic the tiles into ``(time, y, x)`` arrays; pixels without data hold DN 0."""
    ny, nx = geobox.shape.y, geobox.shape.x
    arrays = {b: np.zeros((len(times), ny, nx), "uint8" if b == "scl" else "uint16")
              for b in bands}
    for plan in plans:
        parts = decoded[plan.key]
        no_data = parts["dataMask"] == 0
        h, w = plan.tile.geobox.shape.y, plan.tile.geobox.shape.x
        window = (plan.time_index, slice(plan.tile.row, plan.tile.row + h),
                  slice(plan.tile.col, plan.tile.col + w))
        for band in bands:
            arrays[band][window] = np.where(no_data, 0, parts[band])
    stamps = np.array([t.astimezone(UTC).replace(tzinfo=None) for t in times],
                      dtype="datetime64[ns]")
    data_vars = {b: (("time", "y", "x"), a, {"nodata": 0}) for b, a in arrays.items()}
    ds = xr.Dataset(data_vars, coords={"time": stamps, **xr_coords(geobox)},
                    attrs={"source": source})
    return ds.chunk({"time": 1, "y": chunks, "x": chunks})
