"""Imagery from local files: Sentinel-2 COG scene folders, Landsat C2 L2 folders, static STAC.

:class:`LocalSource` looks at a path and finds, at any depth up to three folders down:
``scene.json`` folders (Sentinel-2 L2A COGs, see :mod:`monitor.sources.s2folder`),
``*_MTL.txt`` folders (Landsat Collection 2 Level-2, see :mod:`monitor.sources.landsat`) and
static STAC catalogs (``catalog.json`` / ``collection.json``, read with pystac). Every scene
becomes a STAC Item with per-asset projection metadata, and pixels are decoded by odc-stac.
Files are header-checked (:func:`monitor.sources.integrity.inspect_raster`) before use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from shapely.geometry.base import BaseGeometry

from monitor.errors import SourceError
from monitor.sources import landsat, s2folder
from monitor.sources.base import Scene, SearchResult, SkippedScene
from monitor.sources.catalog import scene_from_item
from monitor.sources.integrity import RasterInfo, inspect_raster
from monitor.sources.items import build_item, footprint_lonlat, load_items

log = logging.getLogger(__name__)

_MAX_DEPTH = 3
_CATALOG_FILES = ("catalog.json", "collection.json")


def _walk(root: Path, depth: int = 0) -> Iterator[Path]:
    yield root
    if depth >= _MAX_DEPTH:
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from _walk(child, depth + 1)


class LocalSource:
    """Scenes in local folders (see the module docstring for what is recognised).

    Parameters
    ----------
    root
        A folder (or a STAC ``catalog.json``) to search.

    Raises
    ------
    SourceError
        When ``root`` does not exist or holds no recognisable scene.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise SourceError(f"{self.root}: no such file or folder; give the folder that holds "
                              "the scene folders (e.g. local:demo-output/scenes)")
        self._infos: dict[Path, RasterInfo] = {}
        self._items: dict[str, pystac.Item] = {}
        self._s2: list[Path] = []
        self._landsat: list[Path] = []
        self._catalogs: list[Path] = []
        self._discover()
        if not (self._s2 or self._landsat or self._catalogs):
            raise SourceError(
                f"{self.root}: no scenes found. Expected Sentinel-2 scene folders with "
                "scene.json, Landsat Collection 2 Level-2 folders with *_MTL.txt, or a STAC "
                "catalog.json (see the README, 'Local imagery')"
            )

    @property
    def name(self) -> str:
        """Provenance name of this source."""
        return f"local:{self.root}"

    def __repr__(self) -> str:
        return (f"LocalSource({str(self.root)!r}: {len(self._s2)} S2 folders, "
                f"{len(self._landsat)} Landsat folders, {len(self._catalogs)} STAC catalogs)")

    def _discover(self) -> None:
        if self.root.is_file():
            if self.root.name.endswith(".json"):
                self._catalogs.append(self.root)
            elif self.root.name.endswith("_MTL.txt"):
                self._landsat.append(self.root)
            return
        for folder in _walk(self.root):
            if (folder / s2folder.SCENE_FILE).is_file():
                self._s2.append(folder)
                continue
            mtl = sorted(folder.glob("*_MTL.txt"))
            if mtl:
                self._landsat.append(mtl[0])
                continue
            for name in _CATALOG_FILES:
                if (folder / name).is_file():
                    self._catalogs.append(folder / name)
                    break

    def _info(self, path: Path) -> RasterInfo:
        cached = self._infos.get(path)
        if cached is not None:
            stat = path.stat()
            if (stat.st_size, stat.st_mtime_ns) == (cached.size_bytes, cached.mtime_ns):
                return cached
        info = inspect_raster(path)
        self._infos[path] = info
        return info

    def _local_scene(self, fields: dict[str, object], files: dict[str, Path]) -> Scene:
        infos = {band: self._info(path) for band, path in files.items()}
        finest = min(infos.values(), key=lambda i: abs(i.transform[0]))
        footprint = footprint_lonlat(finest)
        scene = Scene(provider="local", assets={b: str(p) for b, p in files.items()},
                      footprint=footprint, native_grid=(finest.crs, finest.transform),
                      **fields)  # type: ignore[arg-type]
        props = {"platform": scene.platform, "tile": scene.tile, "collection": scene.collection}
        self._items[scene.scene_id] = build_item(
            scene.scene_id, scene.datetime, infos, footprint, props)
        return scene

    def _catalog_scenes(self, path: Path, start: datetime, end: datetime) -> Iterator[Scene]:
        try:
            catalog = pystac.Catalog.from_file(str(path))
        except Exception as exc:  # pystac raises many types for bad JSON or links
            raise SourceError(f"{path}: not a readable STAC catalog ({exc}); check it with "
                              "stac-validator") from None
        for item in catalog.get_items(recursive=True):
            if item.datetime is None or not start <= item.datetime <= end:
                continue
            scene = scene_from_item(item, provider=f"stac-static:{path.parent.name}")
            local = {b: Path(h) for b, h in scene.assets.items() if "://" not in h}
            if len(local) == len(scene.assets):
                infos = {b: self._info(p) for b, p in local.items()}
                finest = min(infos.values(), key=lambda i: abs(i.transform[0]))
                scene = replace(scene, native_grid=(finest.crs, finest.transform))
                self._items[scene.scene_id] = build_item(
                    scene.scene_id, scene.datetime, infos, scene.footprint, item.properties)
            else:
                self._items[scene.scene_id] = item
            yield scene

    def search(self, aoi_lonlat: BaseGeometry, start: datetime, end: datetime) -> SearchResult:
        """Find scenes sensed in ``[start, end]`` whose footprint intersects ``aoi_lonlat``.

        Scenes in the period that miss the area are returned as skipped, with the reason.
        """
        scenes: list[Scene] = []
        skipped: list[SkippedScene] = []

        def consider(scene: Scene) -> None:
            if scene.footprint.intersects(aoi_lonlat):
                scenes.append(scene)
            else:
                skipped.append(SkippedScene(scene.scene_id,
                                            "scene footprint does not cover the concession"))

        for folder in self._s2:
            parsed = s2folder.read_scene_folder(folder)
            when = s2folder.parse_datetime(parsed.metadata["datetime"], folder)
            if start <= when <= end:
                fields = s2folder.scene_fields(parsed)
                consider(self._local_scene(fields, parsed.band_files))
        for mtl in self._landsat:
            parsed_ls = landsat.read_landsat_folder(mtl)
            fields = landsat.scene_fields(parsed_ls)
            if start <= fields["datetime"] <= end:
                consider(self._local_scene(fields, parsed_ls.band_files))
        for catalog in self._catalogs:
            for scene in self._catalog_scenes(catalog, start, end):
                consider(scene)
        scenes.sort(key=lambda s: (s.datetime, s.scene_id))
        log.info("%s: %d scenes in period, %d skipped", self.name, len(scenes), len(skipped))
        return SearchResult(scenes=scenes, skipped=skipped)

    def load_dn(self, scenes: Sequence[Scene], geobox: GeoBox, bands: Sequence[str],
                chunks: int) -> xr.Dataset:
        """Decode digital numbers of ``scenes`` onto ``geobox`` (lazy, dask-backed)."""
        missing = [s.scene_id for s in scenes if s.scene_id not in self._items]
        if missing:
            raise SourceError(f"scenes {missing} were not found by this source's search; call "
                              "search() first")
        return load_items([self._items[s.scene_id] for s in scenes], geobox, list(bands), chunks)

