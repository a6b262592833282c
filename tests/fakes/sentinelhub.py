"""A fake Sentinel Hub on 127.0.0.1: OAuth token, Catalog search and Process API.

It serves the scenes of a synthetic portfolio (``scenes/<id>/{blue,...,scl}.tif`` +
``scene.json``) the way the real service serves Sentinel-2 L2A:

- ``POST /auth/realms/main/protocol/openid-connect/token``: form ``grant_type=
  client_credentials``, ``client_id``, ``client_secret``; a JWT-shaped bearer token, or 401
  ``invalid_client`` for a wrong secret.
- ``POST /api/v1/catalog/1.0.0/search``: STAC items (``datetime``, ``platform``,
  ``eo:cloud_cover``, ``s2:processing_baseline``, ``proj:epsg``, ``proj:bbox``) filtered by
  collection, datetime interval, ``intersects``/``bbox`` and a CQL2-text filter of
  ``property op number`` terms joined by AND; paging through ``next`` with a ``context``
  object.
- ``POST /api/v1/process``: ``input.bounds`` (bbox + CRS URL), ``dataFilter.timeRange``,
  ``maxCloudCoverage``, ``mosaickingOrder``, ``processing`` (``harmonizeValues`` defaults to
  true and then shifts baseline 04.00+ numbers down by 1000, as the service does), output
  width/height or resx/resy (1..2500), ``output.responses``. The evalscript is not run: its
  ``setup()`` input bands, units and outputs, and the ``return {id: [s.B02, ...]}`` of
  ``evaluatePixel`` (sample names only, no arithmetic) are parsed. Bands are read from the
  scene files with rasterio and resampled onto the requested grid with NEAREST, tiles of one
  time window are mosaicked in mosaicking order, ``dataMask`` is 1 where the product has
  data; one response is ``image/tiff``, several a tar of ``<identifier>.tif``.

Catalog and Process need ``Authorization: Bearer <token issued here>``. A 429 fault sends
``Retry-After`` in milliseconds, as Sentinel Hub does, unless ``retry_after_header`` is set.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import tarfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from tests.fakes.service import Call, FakeService, Fault, Response

TOKEN_PATH = "/auth/realms/main/protocol/openid-connect/token"
CATALOG_PATH = "/api/v1/catalog/1.0.0/search"
PROCESS_PATH = "/api/v1/process"
COLLECTION = "sentinel-2-l2a"
MAX_PX = 2500
#: Sentinel-2 band id -> file name in the portfolio's scene folders.
BAND_FILES = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B8A": "nir08",
              "B11": "swir16", "B12": "swir22", "SCL": "scl"}
_QA = ("SCL", "dataMask")
_CRS_URL = re.compile(r"(?:EPSG/0/|EPSG:)(\d+)$")
_INPUT = re.compile(r"input\s*:\s*\[\s*\{\s*bands\s*:\s*\[([^\]]*)\]\s*(?:,\s*units\s*:\s*"
                    r"(\"\w+\"|\[[^\]]*\]))?", re.S)
_OUTPUT = re.compile(r"\{\s*id\s*:\s*\"(\w+)\"\s*,\s*bands\s*:\s*(\d+)\s*,\s*sampleType\s*:\s*"
                     r"\"(\w+)\"\s*\}")
_RETURN = re.compile(r"function\s+evaluatePixel\s*\(\s*(\w+)\s*\)\s*\{\s*return\s*\{(.*?)\}"
                     r"\s*;?\s*\}", re.S)
_ENTRY = re.compile(r"(\w+)\s*:\s*\[([^\]]*)\]")
_CQL = re.compile(r"^\s*([\w:.]+)\s*(<=|>=|<>|!=|=|<|>)\s*(-?[\d.]+)\s*$")
_DTYPES = {"UINT8": ("uint8", 255), "UINT16": ("uint16", 65535), "FLOAT32": ("float32", None)}


class BadRequestError(Exception):
                      """A payload the fake (like the service) refuses with 400."""


@dataclass(frozen=True)
class FakeScene:
    """One scene folder as the fake serves it."""

    scene_id: str
    datetime: datetime
    platform: str
    tile: str
    baseline: str
    cloud_cover: float
    folder: Path
    epsg: int
    bounds: tuple[float, float, float, float]
    footprint: BaseGeometry

    @property
    def offset_baseline(self) -> bool:
        """Baseline 04.00 or later (numbers carry the +1000 BOA offset)."""
        major, _, minor = self.baseline.partition(".")
        return (int(major), int(minor or 0)) >= (4, 0)


@dataclass(frozen=True)
class ProcessCall:
    """A Process request the fake answered."""

    at: float
    epsg: int
    bbox: tuple[float, ...]
    width: int
    height: int
    time_from: datetime
    time_to: datetime
    samples: tuple[str, ...]
    units: str
    harmonize: bool
    scenes: tuple[str, ...]


def _iso(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def load_scenes(scenes_dir: Path) -> list[FakeScene]:
    """Every ``scene.json`` folder under ``scenes_dir``."""
    out: list[FakeScene] = []
    for meta_path in sorted(scenes_dir.glob("*/scene.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with rasterio.open(meta_path.parent / "blue.tif") as ds:
            epsg, bounds = int(ds.crs.to_epsg()), tuple(ds.bounds)
            footprint = shape(transform_geom(ds.crs, "EPSG:4326", mapping(box(*bounds))))
        out.append(FakeScene(
            scene_id=str(meta.get("scene_id", meta_path.parent.name)),
            datetime=_iso(meta["datetime"]), platform=str(meta["platform"]),
            tile=str(meta["tile"]), baseline=str(meta["processing_baseline"]),
            cloud_cover=float(meta.get("cloud_cover", 0.0)), folder=meta_path.parent,
            epsg=epsg, bounds=bounds, footprint=footprint))  # type: ignore[arg-type]
    return out


def _jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_hex(8)}"


def _error(status: int, message: str, reason: str = "Bad Request") -> Response:
    return Response.json({"error": {"status": status, "reason": reason, "message": message,
                                    "code": "COMMON_BAD_PAYLOAD"}}, status)


class FakeSentinelHub(FakeService):
    """Token, Catalog and Process endpoints over a synthetic portfolio's scenes.

    Parameters
    ----------
    scenes_dir
        The portfolio's ``scenes`` folder.
    client_id, client_secret
        The only OAuth client accepted.
    baseline_property
        Put ``s2:processing_baseline`` in Catalog items (False: clients must read it from
        the product id).
    """

    def __init__(self, scenes_dir: Path, *, client_id: str = "fake-client-id",
                 client_secret: str = "fake-client-secret", baseline_property: bool = True
                 ) -> None:
        super().__init__()
        self.scenes = load_scenes(Path(scenes_dir))
        self.client_id, self.client_secret = client_id, client_secret
        self.baseline_property = baseline_property
        #: Answer Catalog searches without the ``context`` object (a broken deployment).
        self.omit_context = False
        #: Cut this many Process answers in half *and* declare the cut length (a body that
        #: arrives "complete" but is not a whole tar/TIFF: only decoding can tell).
        self.corrupt_answers = 0
        self.tokens: set[str] = set()
        self.process_calls: list[ProcessCall] = []
        self.catalog_bodies: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self.route("POST", TOKEN_PATH, self._token)
        self.route("POST", CATALOG_PATH, self._catalog)
        self.route("POST", PROCESS_PATH, self._process)

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return self.url + TOKEN_PATH

    def is_authorized(self, call: Call) -> bool:
        """A bearer token issued by this fake (token requests are always let through)."""
        if call.path.startswith(TOKEN_PATH):
            return True
        header = call.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def count(self, path: str, *, fault: bool | None = None) -> int:
        """Requests received whose path starts with ``path`` (optionally: faulted or not)."""
        return sum(1 for r in self.requests if r.path.startswith(path)
                   and (fault is None or (r.fault is not None) == fault))

    def _fault_response(self, fault: Fault) -> Response:
        if fault.kind == "retry_after" and fault.retry_after_header is None:
            ms = str(round(fault.retry_after_s * 1000))  # Sentinel Hub's unit
            return Response.json({"error": {"status": 429, "reason": "Too Many Requests"}},
                                 429, **{"Retry-After": ms})
        return super()._fault_response(fault)

    # --- token ---------------------------------------------------------------------------
    def _token(self, call: Call) -> Response:
        form = {k: v[0] for k, v in parse_qs(call.body.decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type"}, 400)
        ok_id = secrets.compare_digest(form.get("client_id", ""), self.client_id)
        ok_secret = secrets.compare_digest(form.get("client_secret", ""), self.client_secret)
        if not (ok_id and ok_secret):
            return Response.json({"error": "invalid_client",
                                  "error_description": "Invalid client or Invalid client "
                                                       "credentials"}, 401)
        token = _jwt({"azp": self.client_id, "sub": "fake-user", "exp": int(time.time()) + 3600,
                      "jti": secrets.token_hex(8)})
        with self._log_lock:
            self.tokens.add(token)
        return Response.json({"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                              "refresh_expires_in": 0, "not-before-policy": 0, "scope": ""})

    # --- catalog -------------------------------------------------------------------------
    def _item(self, s: FakeScene) -> dict[str, Any]:
        props: dict[str, Any] = {
            "datetime": s.datetime.strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": s.platform,
            "instruments": ["msi"], "constellation": "sentinel-2", "gsd": 10,
            "eo:cloud_cover": s.cloud_cover, "proj:epsg": s.epsg, "proj:bbox": list(s.bounds)}
        if self.baseline_property:
            props["s2:processing_baseline"] = s.baseline
        return {"stac_version": "1.0.0", "type": "Feature", "id": s.scene_id,
                "collection": COLLECTION, "geometry": mapping(s.footprint),
                "bbox": list(s.footprint.bounds), "properties": props, "assets": {},
                "links": []}

    def _catalog(self, call: Call) -> Response:
        if not self.is_authorized(call):
            return _error(401, "Unauthorized", "Unauthorized")
        body = call.json()
        with self._log_lock:
            self.catalog_bodies.append(body)
        if COLLECTION not in body.get("collections", []):
            return _error(404, f"collections {body.get('collections')} not found")
        try:
            matches = [s for s in self.scenes if self._matches(s, body)]
        except BadRequestError as exc:
            return _error(400, str(exc))
        matches.sort(key=lambda s: (s.datetime, s.scene_id))
        limit = max(1, min(int(body.get("limit", 10)), 100))
        start = int(body.get("next") or 0)
        page = matches[start:start + limit]
        context: dict[str, Any] = {"limit": limit, "returned": len(page)}
        if start + limit < len(matches):
            context["next"] = start + limit
        if body.get("distinct") == "date":
            features: list[Any] = sorted({s.datetime.date().isoformat() for s in page})
        else:
            features = [self._item(s) for s in page]
        answer: dict[str, Any] = {"type": "FeatureCollection", "features": features,
                                  "links": []}
        if not self.omit_context:
            answer["context"] = context
        return Response.json(answer)

    @staticmethod
    def _matches(s: FakeScene, body: dict[str, Any]) -> bool:
        interval = body.get("datetime")
        if interval:
            lo, _, hi = str(interval).partition("/")
            if lo not in ("", "..") and s.datetime < _iso(lo):
                return False
            if hi not in ("", "..") and s.datetime > _iso(hi):
                return False
        if body.get("intersects") and not shape(body["intersects"]).intersects(s.footprint):
            return False
        if body.get("bbox") and not box(*body["bbox"]).intersects(s.footprint):
            return False
        text = body.get("filter")
        if text:
            if body.get("filter-lang", "cql2-text") != "cql2-text" or not isinstance(text, str):
                raise BadRequestError("the fake understands cql2-text filters only")
            values = {"eo:cloud_cover": s.cloud_cover}
            for term in re.split(r"\s+AND\s+", text, flags=re.I):
                m = _CQL.match(term)
                if m is None or m.group(1) not in values:
                    raise BadRequestError(f"cannot parse filter term {term!r}")
                a, op, b = values[m.group(1)], m.group(2), float(m.group(3))
                ok = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "=": a == b,
                      "<>": a != b, "!=": a != b}[op]
                if not ok:
                    return False
        return True

    # --- process -------------------------------------------------------------------------
    def _process(self, call: Call) -> Response:
        if not self.is_authorized(call):
            return _error(401, "Unauthorized", "Unauthorized")
        try:
            response = self._render(call.json())
        except BadRequestError as exc:
            return _error(400, str(exc))
        with self._log_lock:
            cut, self.corrupt_answers = self.corrupt_answers > 0, max(0, self.corrupt_answers - 1)
        if cut:
            response.body = response.body[:len(response.body) // 2]
        return response

    def _render(self, body: dict[str, Any]) -> Response:
        bounds = body["input"]["bounds"]
        if "bbox" not in bounds:
            raise BadRequestError("the fake needs input.bounds.bbox")
        m = _CRS_URL.search(str(bounds.get("properties", {}).get("crs", "")))
        if m is None:
            raise BadRequestError(f"unsupported CRS {bounds.get('properties')}")
        epsg, bbox = int(m.group(1)), tuple(float(v) for v in bounds["bbox"])
        out = body.get("output", {})
        if "width" in out:
            width, height = int(out["width"]), int(out["height"])
        else:
            width = round((bbox[2] - bbox[0]) / float(out["resx"]))
            height = round((bbox[3] - bbox[1]) / float(out["resy"]))
        if not (1 <= width <= MAX_PX and 1 <= height <= MAX_PX):
            raise BadRequestError(f"Output size {width}x{height} exceeds the limit of {MAX_PX} "
                                  "pixels in either direction")
        (data,) = body["input"]["data"]
        if data.get("type") not in (COLLECTION, "S2L2A"):
            raise BadRequestError(f"unknown collection type {data.get('type')!r}")
        flt, processing = data.get("dataFilter", {}), data.get("processing", {})
        if processing.get("upsampling", "NEAREST") != "NEAREST":
            raise BadRequestError("the fake resamples with NEAREST only")
        t0, t1 = _iso(flt["timeRange"]["from"]), _iso(flt["timeRange"]["to"])
        maxcc = float(flt.get("maxCloudCoverage", 100))
        harmonize = bool(processing.get("harmonizeValues", True))
        samples, units, outputs, returns = _parse_evalscript(body["evalscript"])
        transform = Affine((bbox[2] - bbox[0]) / width, 0, bbox[0], 0,
                           -(bbox[3] - bbox[1]) / height, bbox[3])
        area = shape(transform_geom(f"EPSG:{epsg}", "EPSG:4326", mapping(box(*bbox))))
        chosen = [s for s in self.scenes if t0 <= s.datetime <= t1 and s.cloud_cover <= maxcc
                  and s.footprint.intersects(area)]
        reverse = flt.get("mosaickingOrder", "mostRecent") != "leastRecent"
        chosen.sort(key=lambda s: (s.datetime, s.baseline, s.scene_id), reverse=reverse)
        values = _mosaic(chosen, samples, (height, width), transform, epsg, harmonize, units)
        with self._log_lock:
            self.process_calls.append(ProcessCall(
                time.monotonic(), epsg, bbox, width, height, t0, t1, tuple(samples), units,
                harmonize, tuple(s.scene_id for s in chosen)))
        wanted = [r["identifier"] for r in out.get("responses", [{"identifier": "default"}])]
        files: dict[str, bytes] = {}
        for ident in wanted:
            if ident not in outputs or ident not in returns:
                raise BadRequestError(f"output {ident!r} is not defined by the evalscript")
            n, sample_type = outputs[ident]
            if len(returns[ident]) != n:
                raise BadRequestError(f"output {ident!r} declares {n} bands, returns "
                                      f"{len(returns[ident])}")
            stack = np.stack([values[name] for name in returns[ident]])
            files[ident] = _tiff(stack, sample_type, transform, epsg)
        headers = {"X-ProcessingUnits-Spent": f"{len(chosen) * width * height / 262144:.3f}"}
        if len(files) == 1:
            return Response(200, next(iter(files.values())), "image/tiff", headers)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for ident, blob in files.items():
                info = tarfile.TarInfo(f"{ident}.tif")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
        return Response(200, buffer.getvalue(), "application/x-tar", headers)


def _parse_evalscript(script: str) -> tuple[list[str], str, dict[str, tuple[int, str]],
                                            dict[str, list[str]]]:
    m_in, m_ret = _INPUT.search(script), _RETURN.search(script)
    if not script.lstrip().startswith("//VERSION=3") or m_in is None or m_ret is None:
        raise BadRequestError("the fake understands version 3 evalscripts of the form setup() "
                              "{input: [{bands: [...], units: ...}], output: [...]} and "
                              "evaluatePixel(s) {return {id: [s.B02, ...]}}")
    samples = [b.strip().strip('"\'') for b in m_in.group(1).split(",") if b.strip()]
    unknown = [b for b in samples if b not in BAND_FILES and b != "dataMask"]
    if unknown:
        raise BadRequestError(f"unknown bands {unknown} for {COLLECTION}")
    outputs = {m.group(1): (int(m.group(2)), m.group(3)) for m in _OUTPUT.finditer(script)}
    var = m_ret.group(1)
    returns: dict[str, list[str]] = {}
    for m in _ENTRY.finditer(m_ret.group(2)):
        names = [x.strip().removeprefix(f"{var}.") for x in m.group(2).split(",") if x.strip()]
        missing = [n for n in names if n not in samples]
        if missing:
            raise BadRequestError(f"evaluatePixel uses {missing}, not in the input bands")
        returns[m.group(1)] = names
    units = {u.strip().strip('"\'').upper() for u in
             (m_in.group(2) or '"REFLECTANCE"').strip("[]").split(",") if u.strip()}
    if len(units) != 1:
        raise BadRequestError(f"the fake needs one unit for every band, got {sorted(units)}")
    return samples, units.pop(), outputs, returns


def _read(scene: FakeScene, band_id: str, shape2d: tuple[int, int], transform: Affine,
          epsg: int) -> np.ndarray[Any, Any]:
    with rasterio.open(scene.folder / f"{BAND_FILES[band_id]}.tif") as src:
        out = np.zeros(shape2d, src.dtypes[0])
        reproject(rasterio.band(src, 1), out, dst_transform=transform, dst_crs=f"EPSG:{epsg}",
                  resampling=Resampling.nearest, dst_nodata=0)
    return out


def _mosaic(scenes: list[FakeScene], samples: list[str], shape2d: tuple[int, int],
            transform: Affine, epsg: int, harmonize: bool, units: str
            ) -> dict[str, np.ndarray[Any, Any]]:
    result = {name: np.zeros(shape2d, "float64") for name in samples}
    filled = np.zeros(shape2d, bool)
    for scene in scenes:
        bands = {b: _read(scene, b, shape2d, transform, epsg)
                 for b in {*[s for s in samples if s != "dataMask"], "B02", "SCL"}}
        data_mask = (bands["B02"] != 0) | (bands["SCL"] != 0)
        take = data_mask & ~filled
        for name in samples:
            if name == "dataMask":
                value = data_mask.astype("float64")
            else:
                value = bands[name].astype("float64")
                if name not in _QA:
                    if harmonize and scene.offset_baseline:
                        value = np.where(value > 0, np.maximum(value - 1000.0, 0.0), 0.0)
                    if units == "REFLECTANCE":
                        value = value / 10000.0
            result[name][take] = value[take]
        filled |= data_mask
    return result


def _tiff(stack: np.ndarray[Any, Any], sample_type: str, transform: Affine, epsg: int) -> bytes:
    dtype, top = _DTYPES[sample_type]
    data = stack if top is None else np.clip(np.round(stack), 0, top)
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=stack.shape[2], height=stack.shape[1],
                      count=stack.shape[0], dtype=dtype, crs=f"EPSG:{epsg}",
                      transform=transform, compress="deflate") as ds:
            ds.write(data.astype(dtype))
        return bytes(mem.read())
