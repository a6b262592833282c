"""A fake STAC API (Earth Search or Planetary Computer flavoured) over a synthetic portfolio.

It serves, on 127.0.0.1, what pystac-client and GDAL meet on the real services:

- a landing page whose ``conformsTo`` declares core, item-search, query and filter, with
  ``search`` links (GET and POST); ``/conformance``; ``/collections/sentinel-2-l2a``;
- ``POST /search`` and ``GET /search``: ``collections``, ``ids``, ``bbox`` or ``intersects``,
  ``datetime`` (instant or interval, open ends ``..``), ``limit`` with paging through
  ``next`` links (a POST link carrying the body, or a GET href), ``query`` on
  ``eo:cloud_cover`` (``lt lte gt gte eq``) and CQL2 ``filter`` (JSON ``< <= > >= = and``,
  or text ``eo:cloud_cover < 30``); results newest first, as real APIs sort them;
- Items made from the portfolio's scene folders. Earth Search flavour: asset keys ``blue``
  ... ``scl`` with ``raster:bands`` (scale and offset describing exactly how the synthetic
  DN are defined: ``1 / quantification_value`` and ``boa_add_offset / quantification_value``,
  so -0.1 from baseline 04.00 on and 0 before), ``*-jp2`` twins that 404 (a loader must skip
  them), per-asset ``proj:shape``/``proj:transform`` and item ``proj:code`` (projection
  extension v2 declared). Planetary Computer flavour: keys ``B02`` ... ``B12``, ``SCL``, a
  three-band ``visual`` asset listed first, no ``raster:bands`` scale (the processing
  baseline decides the offset), item ``proj:epsg`` (projection v1, which pystac migrates);
- the COG files themselves with HTTP Range support (206 + ``Content-Range``, HEAD with
  ``Content-Length``, replies sent without Nagle's delay), under ``/data/<nonce>/<scene>/``.
  In Planetary Computer flavour they live under ``/<account>/<container>/<nonce>/<scene>/``
  (path-style blob URLs, as the Azure storage emulator serves them), need the SAS token
  query string (403 without it or with a wrong or expired one), and the token comes from
  ``GET /api/sas/v1/token/<account>/<container>`` as the real SAS API returns it; its
  signature (:attr:`FakeStacApi.sas_signature`) is a canary that must never leak.

Faults are scripted through :class:`~tests.fakes.service.FakeService` (prefixes ``/search``,
``/data/``, ``/sentinel2l2a01/``, ``/api/sas/``).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

import rasterio
from odc.geo.geom import box as odc_box
from shapely.geometry import box, mapping, shape

from tests.fakes.service import Call, FakeService, Response

Flavour = Literal["earth-search", "planetary-computer"]
COLLECTION = "sentinel-2-l2a"
#: Blob account and container of the Planetary Computer flavour's assets.
PC_ACCOUNT, PC_CONTAINER = "sentinel2l2a01", "sentinel2-l2"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_BANDS = ("blue", "green", "red", "nir", "nir08", "swir16", "swir22", "scl")
_BAND_IDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "nir08": "B8A",
             "swir16": "B11", "swir22": "B12", "scl": "SCL"}
_WAVELENGTH = {"blue": 0.49, "green": 0.56, "red": 0.665, "nir": 0.842, "nir08": 0.865,
               "swir16": 1.61, "swir22": 2.19}
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
]
PROJ_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROJ_V1 = "https://stac-extensions.github.io/projection/v1.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
_OPS = {"lt": float.__lt__, "lte": float.__le__, "gt": float.__gt__, "gte": float.__ge__,
        "eq": float.__eq__, "<": float.__lt__, "<=": float.__le__, ">": float.__gt__,
        ">=": float.__ge__, "=": float.__eq__}


@dataclass(frozen=True)
class FakeScene:
    """One scene folder of the portfolio, as the fake describes it."""

    scene_id: str
    when: datetime
    meta: dict[str, Any]
    files: dict[str, Path]
    grids: dict[str, tuple[list[int], list[float], str]]  # band -> shape, transform, dtype
    epsg: int
    geometry: dict[str, Any]
    bbox: list[float]


def _read_scene(folder: Path) -> FakeScene:
    meta = json.loads((folder / "scene.json").read_text(encoding="utf-8"))
    files = {b: folder / f"{b}.tif" for b in _BANDS if (folder / f"{b}.tif").is_file()}
    grids: dict[str, tuple[list[int], list[float], str]] = {}
    epsg = 0
    for band, path in files.items():
        with rasterio.open(path) as src:
            grids[band] = ([src.height, src.width], list(src.transform)[:6], src.dtypes[0])
            epsg = int(src.crs.to_epsg())
            if band == "red":
                left, bottom, right, top = src.bounds
    footprint = odc_box(left, bottom, right, top, f"EPSG:{epsg}").to_crs(
        "EPSG:4326", resolution=(right - left) / 16)
    geom = shape(footprint.json)
    when = datetime.fromisoformat(str(meta["datetime"]).replace("Z", "+00:00"))
    return FakeScene(str(meta.get("scene_id", folder.name)), when.astimezone(UTC), meta, files,
                     grids, epsg, mapping(geom), list(geom.bounds))


@functools.cache
def _read_scenes(scenes_dir: str) -> dict[str, FakeScene]:
    """Every scene folder under ``scenes_dir`` (read once per process: fakes start fast)."""
    folders = sorted(p.parent for p in Path(scenes_dir).glob("*/scene.json"))
    return {s.scene_id: s for s in map(_read_scene, folders)}


def _parse_time(text: str, *, end: bool) -> datetime | None:
    if text in ("", ".."):
        return None
    if "T" not in text:
        text += "T23:59:59.999999+00:00" if end else "T00:00:00+00:00"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cql2_text(text: str) -> dict[str, Any]:
    """The CQL2 text the monitor might send: ``prop op number`` joined by ``AND``."""
    args = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = re.fullmatch(r"\s*([\w:]+)\s*(<=|>=|<|>|=)\s*([-\d.]+)\s*", part)
        if match is None:
            raise ValueError(f"unsupported CQL2 text {part!r}")
        args.append({"op": match[2], "args": [{"property": match[1]}, float(match[3])]})
    return args[0] if len(args) == 1 else {"op": "and", "args": args}


class FakeStacApi(FakeService):
    """A STAC API over the scene folders of ``scenes_dir`` (see the module docstring).

    Parameters
    ----------
    scenes_dir
        ``Portfolio.scenes_dir``.
    flavour
        ``earth-search`` or ``planetary-computer``.
    max_limit
        Largest page the server returns, whatever ``limit`` asks.
    query_extension
        Declare the ``query`` extension (False: only CQL2 ``filter``).

    Asset paths carry a per-instance nonce, so that no two fakes (even on a reused port)
    share URLs in GDAL's process-wide /vsicurl/ cache.
    """

    def __init__(self, scenes_dir: Path, flavour: Flavour = "earth-search",
                 max_limit: int = 100, query_extension: bool = True) -> None:
        super().__init__()
        self.flavour = flavour
        self.max_limit = max_limit
        self.conformance = [c for c in CONFORMANCE if query_extension or not c.endswith("#query")]
        self.nonce = secrets.token_hex(4)
        self.scenes = _read_scenes(str(Path(scenes_dir).resolve()))
        #: The SAS signature this fake issues (a canary: it must never leak).
        self.sas_signature = "CANARY" + secrets.token_hex(12)
        self.tokens_issued = 0
        self.route("GET", "/", self._landing)
        self.route("GET", "/conformance",
                   lambda c: Response.json({"conformsTo": self.conformance}))
        self.route("GET", "/collections", self._collections)
        self.route("GET", "/search", self._search)
        self.route("POST", "/search", self._search)
        self.route("GET", "/data/", self._asset)
        self.route("GET", f"/{PC_ACCOUNT}/", self._asset)
        self.route("GET", "/api/sas/v1/token/", self._sas_token)

    # --- what the fake serves ---------------------------------------------------------------
    @property
    def sas_url(self) -> str:
        """The SAS token endpoint (what ``PC_SDK_SAS_URL`` should be set to)."""
        return f"{self.url}/api/sas/v1/token"

    def asset_url(self, scene_id: str, band: str) -> str:
        """Unsigned URL of a band COG."""
        if self.flavour == "planetary-computer":
            return (f"{self.url}/{PC_ACCOUNT}/{PC_CONTAINER}/{self.nonce}/{scene_id}/"
                    f"{_BAND_IDS[band]}.tif")
        return f"{self.url}/data/{self.nonce}/{scene_id}/{band}.tif"

    def _landing(self, call: Call) -> Response:
        if call.path not in ("/", ""):
            return Response.json({"code": "NotFound", "description": call.path}, 404)
        base = self.url
        return Response.json({
            "type": "Catalog", "stac_version": "1.0.0", "id": f"fake-{self.flavour}",
            "title": f"Fake {self.flavour} STAC API", "description": "tests only",
            "conformsTo": self.conformance,
            "links": [
                {"rel": "self", "href": base + "/", "type": "application/json"},
                {"rel": "root", "href": base + "/", "type": "application/json"},
                {"rel": "conformance", "href": base + "/conformance",
                 "type": "application/json"},
                {"rel": "data", "href": base + "/collections", "type": "application/json"},
                {"rel": "child", "href": f"{base}/collections/{COLLECTION}",
                 "type": "application/json"},
                {"rel": "search", "href": base + "/search", "type": "application/geo+json",
                 "method": "GET"},
                {"rel": "search", "href": base + "/search", "type": "application/geo+json",
                 "method": "POST"},
            ],
        })

    def _collection(self) -> dict[str, Any]:
        base = self.url
        times = sorted(s.when for s in self.scenes.values())
        bbox = [min(s.bbox[0] for s in self.scenes.values()),
                min(s.bbox[1] for s in self.scenes.values()),
                max(s.bbox[2] for s in self.scenes.values()),
                max(s.bbox[3] for s in self.scenes.values())]
        return {
            "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION,
            "description": "Sentinel-2 L2A (synthetic)", "license": "proprietary",
            "extent": {"spatial": {"bbox": [bbox]},
                       "temporal": {"interval": [[times[0].isoformat(),
                                                  times[-1].isoformat()]]}},
            "links": [{"rel": "self", "href": f"{base}/collections/{COLLECTION}"},
                      {"rel": "root", "href": base + "/"},
                      {"rel": "items", "href": f"{base}/collections/{COLLECTION}/items"}],
        }

    def _collections(self, call: Call) -> Response:
        if call.path.rstrip("/") == "/collections":
            return Response.json({"collections": [self._collection()], "links": []})
        if call.path.rstrip("/") == f"/collections/{COLLECTION}":
            return Response.json(self._collection())
        return Response.json({"code": "NotFound", "description": call.path}, 404)

    def item(self, scene: FakeScene) -> dict[str, Any]:
        """The STAC Item of one scene, in this fake's flavour."""
        meta = scene.meta
        quant = float(meta.get("quantification_value", 10000))
        offset = float(meta.get("boa_add_offset", 0)) / quant
        pc = self.flavour == "planetary-computer"
        assets: dict[str, Any] = {}
        if pc:  # listed first: a 3-band asset must never be taken for one band
            assets["visual"] = {
                "href": self.asset_url(scene.scene_id, "red").replace("B04.tif", "TCI.tif"),
                "type": COG_TYPE, "roles": ["visual"],
                "eo:bands": [{"name": b, "common_name": c}
                             for b, c in (("B04", "red"), ("B03", "green"), ("B02", "blue"))]}
        for band, (shp, transform, dtype) in scene.grids.items():
            key = _BAND_IDS[band] if pc else band
            asset: dict[str, Any] = {
                "href": self.asset_url(scene.scene_id, band), "type": COG_TYPE,
                "roles": ["data"], "gsd": abs(transform[0]),
                "proj:shape": shp, "proj:transform": transform,
            }
            if band != "scl":
                asset["eo:bands"] = [{"name": _BAND_IDS[band], "common_name": band,
                                      "center_wavelength": _WAVELENGTH[band]}]
                asset["roles"] = ["data", "reflectance"]
            if not pc:
                raster: dict[str, Any] = {"nodata": 0, "data_type": dtype,
                                          "spatial_resolution": abs(transform[0])}
                if band != "scl":
                    raster.update(scale=1.0 / quant, offset=offset)
                asset["raster:bands"] = [raster]
            assets[key] = asset
            if not pc:
                assets[f"{band}-jp2"] = {
                    "href": self.asset_url(scene.scene_id, band).replace(
                        f"{band}.tif", f"{_BAND_IDS[band]}.jp2"),
                    "type": "image/jp2", "roles": ["data"]}
        props: dict[str, Any] = {
            "datetime": scene.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "platform": str(meta["platform"]).title() if pc else str(meta["platform"]),
            "constellation": "sentinel-2", "instruments": ["msi"],
            "eo:cloud_cover": float(meta.get("cloud_cover", 0.0)),
            "s2:processing_baseline": str(meta["processing_baseline"]),
        }
        if pc:
            props.update({"proj:epsg": scene.epsg, "s2:mgrs_tile": meta["tile"],
                          "s2:product_type": "S2MSI2A"})
        else:
            props.update({"proj:code": f"EPSG:{scene.epsg}", "grid:code": f"MGRS-{meta['tile']}",
                          "earthsearch:boa_offset_applied": False})
        base = self.url
        return {
            "type": "Feature", "stac_version": "1.0.0",
            "stac_extensions": [EO, PROJ_V1 if pc else PROJ_V2, *([] if pc else [RASTER])],
            "id": scene.scene_id, "collection": COLLECTION, "geometry": scene.geometry,
            "bbox": scene.bbox, "properties": props, "assets": assets,
            "links": [
                {"rel": "self",
                 "href": f"{base}/collections/{COLLECTION}/items/{scene.scene_id}"},
                {"rel": "collection", "href": f"{base}/collections/{COLLECTION}"},
                {"rel": "parent", "href": f"{base}/collections/{COLLECTION}"},
                {"rel": "root", "href": base + "/"},
            ],
        }

    # --- search -----------------------------------------------------------------------------
    @staticmethod
    def _get_params(query: str) -> dict[str, Any]:
        raw = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("collections", "ids"):
                params[key] = [v for v in value.split(",") if v]
            elif key == "bbox":
                params[key] = [float(v) for v in value.split(",")]
            elif key in ("intersects", "query"):
                params[key] = json.loads(value)
            elif key == "limit":
                params[key] = int(value)
            elif key == "filter":
                lang = raw.get("filter-lang", "cql2-text")
                params[key] = json.loads(value) if lang == "cql2-json" else _cql2_text(value)
            else:
                params[key] = value
        return params

    def _matches(self, scene: FakeScene, params: dict[str, Any]) -> bool:
        if "collections" in params and COLLECTION not in params["collections"]:
            return False
        if params.get("ids") and scene.scene_id not in params["ids"]:
            return False
        footprint = shape(scene.geometry)
        if "intersects" in params and not footprint.intersects(shape(params["intersects"])):
            return False
        if "bbox" in params and not footprint.intersects(box(*params["bbox"][:4])):
            return False
        if "datetime" in params:
            first, _, last = str(params["datetime"]).partition("/")
            lo = _parse_time(first, end=False)
            hi = _parse_time(last, end=True) if "/" in str(params["datetime"]) else lo
            if (lo and scene.when < lo) or (hi and scene.when > hi):
                return False
        cloud = float(scene.meta.get("cloud_cover", 0.0))
        for prop, ops in (params.get("query") or {}).items():
            if prop != "eo:cloud_cover":
                raise ValueError(f"query on {prop!r} is not supported by this fake")
            if not all(_OPS[op](cloud, float(v)) for op, v in ops.items()):
                return False
        return "filter" not in params or self._cql2(params["filter"], cloud)

    def _cql2(self, node: dict[str, Any], cloud: float) -> bool:
        op = str(node["op"]).lower()
        if op == "and":
            return all(self._cql2(arg, cloud) for arg in node["args"])
        prop, value = node["args"]
        if prop != {"property": "eo:cloud_cover"}:
            raise ValueError(f"filter on {prop!r} is not supported by this fake")
        return bool(_OPS[op](cloud, float(value)))

    def _search(self, call: Call) -> Response:
        if call.path.rstrip("/") != "/search":
            return Response.json({"code": "NotFound", "description": call.path}, 404)
        try:
            params = call.json() if call.method == "POST" else self._get_params(call.query)
            params = params or {}
            offset = int(str(params.get("token") or params.get("next") or "next:0")
                         .removeprefix("next:"))
            limit = max(1, min(int(params.get("limit") or 10), self.max_limit))
            found = sorted((s for s in self.scenes.values() if self._matches(s, params)),
                           key=lambda s: (s.when, s.scene_id), reverse=True)
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json({"code": "BadRequest", "description": str(exc)}, 400)
        page = found[offset:offset + limit]
        links: list[dict[str, Any]] = [{"rel": "root", "href": self.url + "/"}]
        if offset + limit < len(found):
            token = f"next:{offset + limit}"
            if call.method == "POST":
                links.append({"rel": "next", "href": self.url + "/search", "method": "POST",
                              "type": "application/geo+json",
                              "body": {**params, "token": token}, "merge": False})
            else:
                query = {k: v[-1] for k, v in parse_qs(call.query).items()}
                links.append({"rel": "next", "type": "application/geo+json",
                              "href": f"{self.url}/search?{urlencode({**query, 'token': token})}",
                              "method": "GET"})
        body = {"type": "FeatureCollection", "features": [self.item(s) for s in page],
                "links": links, "numberMatched": len(found), "numberReturned": len(page)}
        return Response(200, json.dumps(body).encode(), "application/geo+json")

    # --- files and signing ------------------------------------------------------------------
    def _signed(self, query: str) -> bool:
        fields = parse_qs(query)
        if fields.get("sig", [""])[-1] != self.sas_signature:
            return False
        expiry = datetime.fromisoformat(fields.get("se", ["1970-01-01T00:00:00Z"])[-1]
                                        .replace("Z", "+00:00"))
        return expiry > datetime.now(UTC)

    def is_authorized(self, call: Call) -> bool:
        """Asset requests in Planetary Computer flavour need the SAS token."""
        if call.path.startswith(f"/{PC_ACCOUNT}/"):
            return self._signed(call.query)
        return True

    def _asset(self, call: Call) -> Response:
        parts = call.path.strip("/").split("/")
        if self.flavour == "planetary-computer":
            if parts[:3] != [PC_ACCOUNT, PC_CONTAINER, self.nonce] or len(parts) != 5:
                return Response(404, b"<Error><Code>BlobNotFound</Code></Error>",
                                "application/xml")
            if not self._signed(call.query):
                return Response(403, b"<Error><Code>AuthenticationFailed</Code><Message>Server "
                                b"failed to authenticate the request.</Message></Error>",
                                "application/xml")
            scene_id, stem = parts[3], parts[4].removesuffix(".tif")
            band = next((b for b, i in _BAND_IDS.items() if i == stem), "")
        else:
            if len(parts) != 4 or parts[1] != self.nonce or not parts[3].endswith(".tif"):
                return Response(404, b"not found", "text/plain")
            scene_id, band = parts[2], parts[3].removesuffix(".tif")
        scene = self.scenes.get(scene_id)
        if scene is None or band not in scene.files:
            return Response(404, b"not found", "text/plain")
        return Response.ranged(scene.files[band].read_bytes(), call.headers.get("range"),
                               "image/tiff")

    def _sas_token(self, call: Call) -> Response:
        parts = call.path.removeprefix("/api/sas/v1/token/").strip("/").split("/")
        if parts != [PC_ACCOUNT, PC_CONTAINER]:
            return Response.json({"detail": f"unknown account/container {parts}"}, 404)
        now = datetime.now(UTC)
        expiry = now + timedelta(hours=1)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        token = (f"st={now:{stamp}}&se={expiry:{stamp}}&sp=rl&sv=2021-06-08&sr=c"
                 f"&skoid=fake&sig={self.sas_signature}")
        with self._lock:
            self.tokens_issued += 1
        return Response.json({"msft:expiry": expiry.strftime(stamp), "token": token})

    def start(self) -> FakeStacApi:
        """Listen on 127.0.0.1; replies go out without Nagle's delay (GDAL sends many
        small range requests on kept-alive connections)."""
        super().start()
        assert self._server is not None
        self._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        return self
