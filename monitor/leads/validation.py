"""Checking leads at the edge: every problem listed, no protected value ever echoed.

A lead arrives as raw values (command-line options, a CSV row, a GeoJSON feature). They
are parsed into a :class:`~monitor.leads.model.LeadInput` and checked: coordinates finite
and in range, the date an ISO date not in the future, the claim 1 to 2000 characters, the
concession a known id and, with a registry, the point within 5 km of the licence.

Every message names where the lead came from (``leads.csv row 3``, ``leads.geojson
feature #2`` or the command-line option) and the field, and never the value of a
protected field, not even part of it: a message can end up in a log, a ticket or a
screenshot. Values that are not protected (a valid date, a concession id) are named only
when they are well formed, because a shifted CSV column can put a name where a date was
expected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyproj
from shapely.geometry import Point

from monitor.concessions import Concession, Registry
from monitor.errors import LeadError
from monitor.geometry_primitives import is_slug
from monitor.leads.model import LeadInput

__all__ = [
    "CLI_NAMES",
    "FILE_NAMES",
    "MAX_CLAIM_CHARS",
    "MAX_DISTANCE_KM",
    "MAX_REPORTER_CHARS",
    "RawLead",
    "check_leads",
    "safe_name",
    "today_utc",
]

#: Longest claim accepted, in characters.
MAX_CLAIM_CHARS = 2000
#: Longest reporter name, contact or organisation, in characters.
MAX_REPORTER_CHARS = 200
#: How far from the licence boundary a lead may lie, in km (with a registry).
MAX_DISTANCE_KM = 5.0
#: Most problems listed in one error (the count of the rest is given).
MAX_LISTED = 50

#: What each field is called on the command line.
CLI_NAMES = {"concession_id": "--concession", "lon": "--lon", "lat": "--lat",
             "seen_on": "--date", "claim": "--claim", "reporter_name": "--reporter-name",
             "reporter_contact": "--reporter-contact", "reporter_org": "--reporter-org"}
#: What each field is called in a CSV header or GeoJSON properties.
FILE_NAMES = {"concession_id": "concession_id", "lon": "lon", "lat": "lat", "seen_on": "date",
              "claim": "claim", "reporter_name": "reporter_name",
              "reporter_contact": "reporter_contact", "reporter_org": "reporter_org"}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def safe_name(text: object) -> bool:
    """Whether a column or key name looks like an identifier, so that it may be echoed.

    Only names like ``reporter_name`` (letters, digits, ``_``) are repeated in an error: a
    CSV whose header row is missing or shifted makes a lead's values the column names,
    and those must not be repeated.
    """
    return isinstance(text, str) and _SAFE_NAME.fullmatch(text) is not None


def today_utc() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class RawLead:
    """One lead's raw values and where it came from.

    Parameters
    ----------
    where
        Where it came from, for messages: ``"leads.csv row 3"``, or ``""`` for the command
        line (the option names say it all).
    values
        Field (``concession_id``, ``lon``, ``lat``, ``seen_on``, ``claim``,
        ``reporter_*``) -> raw value (text, number, date or None).
    names
        Field -> what the user calls it (:data:`CLI_NAMES` or :data:`FILE_NAMES`).
    """

    where: str
    values: Mapping[str, Any]
    names: Mapping[str, str]

    def problem(self, name: str, text: str) -> str:
        """A message naming the origin and the field."""
        label = self.names.get(name, name)
        return f"{self.where}: {label} {text}" if self.where else f"{label} {text}"


def _number(raw: RawLead, name: str, low: float, high: float,
            problems: list[str]) -> float | None:
    value = raw.values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(raw.problem(name, "is missing"))
        return None
    if isinstance(value, bool):
        problems.append(raw.problem(name, "is not a number"))
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            hint = " (use a dot as the decimal separator)" if "," in value else ""
            problems.append(raw.problem(name, f"is not a number{hint}"))
            return None
    elif isinstance(value, int | float):
        number = float(value) if abs(value) < 1e300 else math.inf
    else:
        problems.append(raw.problem(name, "is not a number"))
        return None
    if not math.isfinite(number):
        problems.append(raw.problem(name, "is not a finite number"))
        return None
    if not low <= number <= high:
        problems.append(raw.problem(name, f"is not between {low:g} and {high:g} degrees"))
        return None
    return number


def _seen_on(raw: RawLead, today: date, problems: list[str]) -> date | None:
    value = raw.values.get("seen_on")
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(raw.problem("seen_on", "is missing"))
        return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        text = value.strip() if isinstance(value, str) else ""
        try:
            value = date.fromisoformat(text) if _DATE.fullmatch(text) else None
        except ValueError:
            value = None
        if value is None:
            problems.append(raw.problem("seen_on", "is not a date YYYY-MM-DD"))
            return None
    # "not in the future" anywhere on Earth: local dates run up to a day ahead of UTC
    if value > today + timedelta(days=1):
        problems.append(raw.problem("seen_on", f"{value.isoformat()} is in the future "
                                               f"(today is {today.isoformat()} UTC)"))
        return None
    return value


def _text(raw: RawLead, name: str, limit: int, required: bool,
          problems: list[str]) -> str | None:
    value = raw.values.get(name)
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    else:
        problems.append(raw.problem(name, "is not text"))
        return None
    if not text:
        if required:
            problems.append(raw.problem(name, "is empty"))
        return None
    if len(text) > limit:
        problems.append(raw.problem(name, f"is longer than {limit} characters"))
        return None
    return text


def _concession(raw: RawLead, registry: Registry | None, problems: list[str]) -> str | None:
    value = raw.values.get("concession_id")
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        problems.append(raw.problem("concession_id", "is missing"))
        return None
    if not is_slug(text):
        problems.append(raw.problem("concession_id", "is not a concession id (lowercase "
                                                     "letters, digits, '-' and '_')"))
        return None
    if registry is not None and text not in registry:
        close = difflib.get_close_matches(text, list(registry.concessions), n=3)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        problems.append(raw.problem("concession_id", f"{text!r} is not in the registry "
                                                     f"{registry.path.name}{hint}"))
        return None
    return text


def _parse(raw: RawLead, registry: Registry | None, today: date,
           problems: list[str]) -> LeadInput | None:
    """One lead's values as a LeadInput; every problem appended to ``problems``."""
    before = len(problems)
    concession_id = _concession(raw, registry, problems)
    lon = _number(raw, "lon", -180.0, 180.0, problems)
    lat = _number(raw, "lat", -90.0, 90.0, problems)
    seen_on = _seen_on(raw, today, problems)
    claim = _text(raw, "claim", MAX_CLAIM_CHARS, True, problems)
    reporters = {name: _text(raw, name, MAX_REPORTER_CHARS, False, problems)
                 for name in ("reporter_name", "reporter_contact", "reporter_org")}
    if len(problems) > before:
        return None
    assert concession_id is not None and lon is not None and lat is not None
    assert seen_on is not None and claim is not None
    return LeadInput(concession_id=concession_id, lon=lon, lat=lat, seen_on=seen_on,
                     claim=claim, **reporters)


class _Distances:
    """Distance from a lon/lat point to a concession's licence, in its UTM CRS."""

    def __init__(self) -> None:
        self._transformers: dict[str, pyproj.Transformer] = {}

    def km(self, concession: Concession, lon: float, lat: float) -> float:
        key = concession.concession_id
        if key not in self._transformers:
            self._transformers[key] = pyproj.Transformer.from_crs(
                "EPSG:4326", concession.crs, always_xy=True)
        x, y = self._transformers[key].transform(lon, lat)
        if not (math.isfinite(x) and math.isfinite(y)):
            return math.inf
        return float(concession.licence.distance(Point(x, y))) / 1000.0


def _location(raw: RawLead, lead: LeadInput, registry: Registry, distances: _Distances,
              problems: list[str]) -> None:
    concession = registry[lead.concession_id]
    km = distances.km(concession, lead.lon, lead.lat)
    if km <= MAX_DISTANCE_KM:
        return
    shown = "over 1000" if not math.isfinite(km) or km > 1000 else f"{math.ceil(km * 10) / 10:.1f}"
    problems.append(raw.problem(
        "lon", f"/ {raw.names.get('lat', 'lat')}: the point lies {shown} km from the licence "
        f"of concession {lead.concession_id!r} (at most {MAX_DISTANCE_KM:g} km allowed); "
        f"check the coordinates (order lon, lat; signs; degrees in EPSG:4326)"))


def check_leads(raws: Sequence[RawLead], source: str, registry: Registry | None = None,
                today: date | None = None) -> list[LeadInput]:
    """Parse and check leads; all of them, or a LeadError listing every problem.

    Parameters
    ----------
    raws
        The leads' raw values with where each came from.
    source
        What they came from, for the error summary (a file name, "the command line").
    registry
        When given, each concession must be in it and each point within
        :data:`MAX_DISTANCE_KM` of its licence.
    today
        The current UTC date (for tests); dates after it by more than a day are refused.

    Returns
    -------
    list of LeadInput
        In the order given.

    Raises
    ------
    LeadError
        Listing every problem (origin and field, never a protected value).
    """
    today = today or today_utc()
    problems: list[str] = []
    leads: list[LeadInput] = []
    distances = _Distances()
    for raw in raws:
        lead = _parse(raw, registry, today, problems)
        if lead is None:
            continue
        if registry is not None:
            _location(raw, lead, registry, distances, problems)
        leads.append(lead)
    if problems:
        raise lead_problems(source, problems)
    return leads


def lead_problems(source: str, problems: Sequence[str]) -> LeadError:
    """One LeadError listing problems (at most :data:`MAX_LISTED`, then a count)."""
    shown = list(problems[:MAX_LISTED])
    if len(problems) > MAX_LISTED:
        shown.append(f"... and {len(problems) - MAX_LISTED} more problem(s)")
    detail = "".join(f"\n  - {p}" for p in shown)
    return LeadError(f"{len(problems)} problem(s) in the lead(s) from {source}; nothing was "
                     f"stored{detail}")
