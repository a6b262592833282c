"""Reading leads from a CSV or GeoJSON file: all of them or none, with every problem listed.

CSV
    UTF-8 (a byte-order mark is fine), a header row naming the columns ``concession_id``,
    ``lon``, ``lat``, ``date``, ``claim`` and optionally ``reporter_name``,
    ``reporter_contact``, ``reporter_org``; comma, semicolon or tab separated (detected
    from the header). Rows are numbered as in a spreadsheet: the header is row 1.
GeoJSON
    A FeatureCollection of Point features in EPSG:4326 whose properties are the columns
    above except ``lon`` and ``lat``, which come from the geometry (``lon``/``lat``
    properties are accepted when they agree with it). Features are numbered from 0
    (``feature #0``), as in the concession registry's messages.

Unknown columns or properties are refused by name, but only names that look like names
are repeated: a file without its header row would otherwise have a lead's values echoed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Any

from monitor.concessions import Registry
from monitor.errors import LeadError
from monitor.leads.model import LeadInput
from monitor.leads.validation import FILE_NAMES, RawLead, check_leads, lead_problems, safe_name

__all__ = ["MAX_FILE_BYTES", "read_leads"]

#: Largest lead file read, in bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024
_REQUIRED = ("concession_id", "lon", "lat", "date", "claim")
_COLUMNS = (*_REQUIRED, "reporter_name", "reporter_contact", "reporter_org")
_FIELD_OF = {name: field for field, name in FILE_NAMES.items()}
_CRS_NAME = re.compile(r"^[A-Za-z0-9:._-]{1,80}$")
_WGS84_NAMES = ("EPSG:4326", "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:OGC:1.3:CRS84",
                "urn:ogc:def:crs:OGC::CRS84", "OGC:CRS84", "CRS84")


def _names(names: list[str]) -> str:
    """Names for a message: the name-like ones, and a count of the others."""
    shown = [repr(n) for n in names if safe_name(n)]
    unnamed = sum(1 for n in names if not n.strip())
    hidden = len(names) - len(shown) - unnamed
    if unnamed:
        shown.append(f"{unnamed} unnamed")
    if hidden:
        shown.append(f"{hidden} not shown (only names like reporter_name are repeated; is "
                     f"the header row missing?)")
    return ", ".join(shown)


def _unknown(where: str, kind: str, keys: list[str], allowed: tuple[str, ...]) -> list[str]:
    unknown = [k for k in keys if k not in allowed]
    if not unknown:
        return []
    return [f"{where}: unknown {kind} {_names(unknown)}; allowed: {', '.join(allowed)}"]


def _text_of(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LeadError(f"lead file {path} has {size} bytes, more than the "
                            f"{MAX_FILE_BYTES} allowed; split it")
        data = path.read_bytes()
    except OSError as exc:
        raise LeadError(f"cannot read lead file {path} ({exc.strerror or type(exc).__name__}"
                        f"); check the path") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LeadError(f"lead file {path} is not UTF-8 text (byte {exc.start}); save it as "
                        f"UTF-8 (CSV UTF-8 in a spreadsheet)") from None


# ------------------------------------------------------------------------------------ CSV


def _delimiter(header_line: str) -> str | None:
    for delimiter in (",", ";", "\t"):
        if "concession_id" in (c.strip() for c in header_line.split(delimiter)):
            return delimiter
    return None


def _csv_raws(path: Path, text: str) -> list[RawLead]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    if delimiter is None:
        raise LeadError(f"lead file {path.name} is neither a CSV file with a header row naming "
                        f"{', '.join(_REQUIRED)} nor a GeoJSON FeatureCollection; see "
                        f"`monitor leads import --help`")
    reader = csv.reader(io.StringIO(text.lstrip("\r\n"), newline=""), delimiter=delimiter)
    problems: list[str] = []
    raws: list[RawLead] = []
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise LeadError(f"{path.name} row {reader.line_num}: not readable as CSV ({exc}); "
                        f"nothing was stored") from None
    header = [c.strip() for c in rows[0]]
    where = f"{path.name} header"
    problems += _unknown(where, "column(s)", header, _COLUMNS)
    duplicated = sorted({c for c in header if header.count(c) > 1 and c in _COLUMNS})
    if duplicated:
        problems.append(f"{where}: column(s) {', '.join(duplicated)} appear more than once")
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        problems.append(f"{where}: required column(s) {', '.join(missing)} are missing")
    if problems:
        raise lead_problems(path.name, problems)
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank row
        where = f"{path.name} row {number}"
        if len(row) > len(header):
            problems.append(f"{where}: has {len(row)} fields, the header has {len(header)} "
                            f"(a separator inside an unquoted value?)")
            continue
        values = {_FIELD_OF[name]: cell for name, cell in zip(header, row, strict=False)}
        raws.append(RawLead(where, values, FILE_NAMES))
    if problems:
        raise lead_problems(path.name, problems)
    return raws


# -------------------------------------------------------------------------------- GeoJSON


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise LeadError(f"duplicate key {_names([key])}")
        out[key] = value
    return out


def _crs_problem(collection: dict[str, Any]) -> str | None:
    crs = collection.get("crs")
    if crs is None:
        return None
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if isinstance(name, str) and name.strip() in _WGS84_NAMES:
        return None
    shown = repr(name) if isinstance(name, str) and _CRS_NAME.fullmatch(name) \
        else "that is not EPSG:4326"
    return f"has crs {shown}; leads must be in EPSG:4326 (lon, lat degrees)"


def _point(feature: dict[str, Any]) -> tuple[float, float] | None:
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return None
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) not in (2, 3) or not all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        return None
    try:
        return float(coords[0]), float(coords[1])
    except OverflowError:  # a JSON integer beyond any float
        return None


def _feature_raw(path: Path, index: int, feature: Any, problems: list[str]) -> RawLead | None:
    where = f"{path.name} feature #{index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append(f"{where}: is not a GeoJSON Feature")
        return None
    point = _point(feature)
    if point is None:
        problems.append(f"{where}: geometry is not a Point with two numeric coordinates")
        return None
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        problems.append(f"{where}: properties is not an object")
        return None
    allowed = tuple(c for c in _COLUMNS if c not in ("lon", "lat"))
    found = list(properties)
    for axis, coordinate in zip(("lon", "lat"), point, strict=True):
        if axis in properties:
            found.remove(axis)
            value = properties[axis]
            if not (isinstance(value, int | float) and not isinstance(value, bool)
                    and math.isclose(float(value), coordinate, abs_tol=1e-7)):
                problems.append(f"{where}: property {axis} disagrees with the Point geometry "
                                f"(the position is taken from the geometry; drop {axis})")
    before = len(problems)
    problems += _unknown(where, "propert(y/ies)", found, allowed)
    if len(problems) > before:
        return None
    values = {_FIELD_OF[k]: v for k, v in properties.items() if k in allowed}
    values["lon"], values["lat"] = point
    return RawLead(where, values, {**FILE_NAMES, "lon": "Point longitude",
                                   "lat": "Point latitude"})


def _geojson_raws(path: Path, text: str) -> list[RawLead]:
    try:
        collection = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise LeadError(f"lead file {path.name} is not valid JSON ({exc.msg} at line "
                        f"{exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise LeadError(f"lead file {path.name} nests JSON too deeply to be GeoJSON") from None
    except LeadError as exc:
        raise LeadError(f"lead file {path.name}: {exc}; each key may appear once") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection" \
            or not isinstance(collection.get("features"), list):
        raise LeadError(f"lead file {path.name} is JSON but not a GeoJSON FeatureCollection "
                        f"(type 'FeatureCollection' with a 'features' list)")
    problems: list[str] = []
    crs = _crs_problem(collection)
    if crs:
        problems.append(f"{path.name}: {crs}")
    raws = [_feature_raw(path, i, f, problems) for i, f in enumerate(collection["features"])]
    if problems:
        raise lead_problems(path.name, problems)
    return [r for r in raws if r is not None]


# ---------------------------------------------------------------------------------- entry


def read_leads(path: str | Path, registry: Registry | None = None,
               today: date | None = None) -> list[LeadInput]:
    """Read and check every lead of a CSV or GeoJSON file.

    Parameters
    ----------
    path
        The file; GeoJSON when its text starts with ``{``, CSV otherwise.
    registry
        When given, each lead's concession must be in it and its point within 5 km of
        the licence.
    today
        The current UTC date (for tests).

    Returns
    -------
    list of LeadInput
        Every lead, in file order.

    Raises
    ------
    LeadError
        Unreadable file, neither CSV nor GeoJSON, no leads, unknown columns, or any
        invalid lead; every problem is listed with its row or feature and field, never a
        protected value.
    """
    path = Path(path)
    text = _text_of(path)
    if text.lstrip().startswith(("{", "[")):
        raws = _geojson_raws(path, text)
    elif path.suffix.lower() in (".json", ".geojson"):
        raise LeadError(f"lead file {path.name} is named like JSON but does not hold a JSON "
                        f"object; give a GeoJSON FeatureCollection or a CSV file")
    else:
        raws = _csv_raws(path, text)
    if not raws:
        raise LeadError(f"lead file {path.name} holds no leads")
    return check_leads(raws, path.name, registry, today)
