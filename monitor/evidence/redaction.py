"""Make a disclosure tier's package from the full package's content, by redaction.

A tier (:mod:`monitor.disclosure`) is applied in two steps, both recorded in the tier
package's ``data/redaction.json`` (the *redaction manifest*):

1. :func:`prepare`, before anything is written: the check is seen through the tier's rules
   (sensitive zone outlines replaced by the grid cells they touch; local paths cut to file
   names), and each cited lead is reduced to what the tier may show. Every withheld or
   coarsened value is listed with an HMAC commitment (:mod:`monitor.secret`).
2. :func:`withhold_files`, once the payload is written and before the STAC item lists it:
   files the tier may not carry (raw rasters) are committed to and removed.

Everything else is written by the same code from the same check, so files no rule touches
are byte-identical to the full package's. The commitments let whoever holds the secret
(and the full package) show that a public package was made from it, and nobody else learn
what was withheld: a plain hash of a location or a name would be reversed by guessing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyproj
import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

from monitor.checking import CheckResult
from monitor.disclosure import TierRules
from monitor.errors import DisclosureKeyError, EvidenceError
from monitor.evidence import writers
from monitor.evidence.citations import LeadCitation
from monitor.secret import SECRET_ENV, DisclosureSecret

__all__ = ["MANIFEST", "Redaction", "TierRequest", "coarsen", "lead_documents", "prepare",
           "withhold_files", "write_manifest"]

MANIFEST = "redaction.json"
FORMAT = "concession-monitor/redaction/1"
_MAX_CELLS = 200_000
_REPORTER = ("reporter_name", "reporter_contact", "reporter_org")


@dataclass(frozen=True)
class TierRequest:
    """A tier to build: its name, its rules and the secret for commitments."""

    name: str
    rules: TierRules
    secret: DisclosureSecret | None = field(default=None, repr=False)

    def require_secret(self) -> DisclosureSecret:
        """The secret; a tier that withholds anything cannot be built without it."""
        if self.secret is None:
            raise DisclosureKeyError(f"tier {self.name!r} withholds content and lists it as "
                                     f"HMAC commitments: set {SECRET_ENV} (make one with "
                                     "`monitor keys secret`)")
        return self.secret


@dataclass
class Redaction:
    """A check seen through one tier, and what was withheld so far."""

    tier: TierRequest
    derived_from: str
    result: CheckResult
    leads: tuple[dict[str, Any], ...]
    entries: list[dict[str, Any]] = field(default_factory=list)


def coarsen(geometry: BaseGeometry, cell_m: float) -> BaseGeometry:
    """The union of the ``cell_m`` grid cells (origin 0, 0 of the CRS) ``geometry`` touches.

    Raises
    ------
    EvidenceError
        If that would take more than 200,000 cells (choose a larger ``coarsen_m``).
    """
    if geometry.is_empty:
        return geometry
    minx, miny, maxx, maxy = geometry.bounds
    i0, j0 = math.floor(minx / cell_m), math.floor(miny / cell_m)
    i1, j1 = math.ceil(maxx / cell_m), math.ceil(maxy / cell_m)
    if (i1 - i0) * (j1 - j0) > _MAX_CELLS:
        raise EvidenceError(f"coarsening to {cell_m} m cells would take "
                            f"{(i1 - i0) * (j1 - j0)} cells: raise coarsen_m")
    shapely.prepare(geometry)
    cells = [shapely.geometry.box(i * cell_m, j * cell_m, (i + 1) * cell_m, (j + 1) * cell_m)
             for i in range(i0, i1) for j in range(j0, j1)]
    touched = [c for c in cells if geometry.intersects(c)]
    return shapely.union_all(touched)


def _coarse_point(lon: float, lat: float, crs: pyproj.CRS, cell_m: float) -> dict[str, Any]:
    """The centre of the ``cell_m`` cell holding the point, back in lon/lat."""
    fwd = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = fwd.transform(lon, lat)
    cx, cy = (math.floor(x / cell_m) + 0.5) * cell_m, (math.floor(y / cell_m) + 0.5) * cell_m
    clon, clat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx,
                                                                                          cy)
    return {"lon": round(clon, 4), "lat": round(clat, 4), "precision_m": cell_m}


def _text(value: Any) -> str:
    return f"{value:.7f}" if isinstance(value, float) else str(value)


def _commitment(c: LeadCitation, name: str, secret: DisclosureSecret | None) -> str:
    stored = c.commitments.get(name)
    if stored:
        return str(stored)
    if secret is None:
        raise DisclosureKeyError(f"withholding {name} of lead {c.lead_id} needs {SECRET_ENV}")
    return secret.commit(f"lead/{c.lead_id}/{name}", _text(c.protected.get(name)))


def lead_documents(citations: Sequence[LeadCitation], rules: TierRules | None,
                   crs: pyproj.CRS | None, secret: DisclosureSecret | None = None,
                   entries: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], ...]:
    """Each cited lead as a tier may show it (``rules`` None: the full package).

    Withheld fields are named in the lead's ``withheld`` list and, when ``entries`` is
    given, appended to it with their commitments.
    """
    docs = []
    for c in citations:
        p = c.protected
        doc: dict[str, Any] = {"lead_id": c.lead_id, "concession_id": c.concession_id,
                               "seen_on": c.seen_on.isoformat(),
                               "corroborated": c.corroborated, "radius_m": c.radius_m,
                               "events": list(c.events)}
        level = "full" if rules is None else rules.leads
        names = rules is None or rules.names
        withheld: list[tuple[str, str]] = []
        if level in ("full", "details"):
            doc["nearest_m"] = c.nearest_m
            doc["claim"] = p.get("claim")
            if level == "full" or crs is None or rules is None:
                doc["location"] = {"lon": p.get("lon"), "lat": p.get("lat"), "precision_m": 0}
            else:
                doc["location"] = _coarse_point(float(p["lon"]), float(p["lat"]), crs,
                                                rules.coarsen_m)
                withheld += [("lon", "leads"), ("lat", "leads")]
        else:
            withheld += [("lon", "leads"), ("lat", "leads"), ("claim", "leads")]
        if names:
            doc["reporter"] = {k.removeprefix("reporter_"): p.get(k) for k in _REPORTER}
        else:
            withheld += [(k, "names") for k in _REPORTER if p.get(k)]
        doc["withheld"] = [name for name, _ in withheld]
        docs.append(doc)
        if entries is not None:
            for name, rule in withheld:
                entries.append({"item": f"lead {c.lead_id}: {name}", "kind": "value",
                                "rule": rule, "label": f"lead/{c.lead_id}/{name}",
                                "commitment": _commitment(c, name, secret)})
    return tuple(docs)


def _paths(result: CheckResult, secret: DisclosureSecret,
           entries: list[dict[str, Any]]) -> CheckResult:
    """Local paths of the request, source and scene reasons cut to their last part."""
    request = dict(result.request)
    roots: dict[str, str] = {}
    for key in ("aoi", "source"):
        value = str(request.get(key) or "")
        scheme, sep, path = value.partition(":") if key == "source" else ("", "", value)
        if not sep and key == "source":
            scheme, path = "", value
        if "/" not in path:
            continue
        short = Path(path).name
        request[key] = f"{scheme}{sep}{short}"
        roots[path] = short
        entries.append({"item": f"request.{key}", "kind": "value", "rule": "paths",
                        "label": f"request/{key}", "commitment": secret.commit(
                            f"request/{key}", value)})

    def scrub(text: str) -> str:
        for long, short in sorted(roots.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(long, short)
        return text

    skipped = tuple({k: scrub(str(v)) for k, v in s.items()} for s in result.skipped_scenes)
    return replace(result, request=request, source=scrub(result.source),
                   skipped_scenes=skipped, notes=tuple(scrub(n) for n in result.notes))


def _geometry(result: CheckResult, rules: TierRules, secret: DisclosureSecret,
              entries: list[dict[str, Any]]) -> CheckResult:
    """Sensitive zones' outlines replaced by the grid cells they touch."""
    concession = result.concession
    if concession is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no concession")
    features = []
    for f in concession.features:
        if f.feature_type not in rules.sensitive_zones:
            features.append(f)
            continue
        features.append(replace(f, geometry=coarsen(f.geometry, rules.coarsen_m)))
        label = f"zone/{f.feature_type}/{f.feature_id}"
        entries.append({"item": f"{f.feature_type} {f.feature_id}: outline", "kind": "geometry",
                        "rule": "geometry", "label": label, "cell_m": rules.coarsen_m,
                        "commitment": secret.commit(label, f.geometry.wkt)})
    return replace(result, concession=replace(concession, features=tuple(features)))


def prepare(result: CheckResult, tier: TierRequest, citations: Sequence[LeadCitation],
            derived_from: str) -> Redaction:
    """See ``result`` and ``citations`` through ``tier``'s rules (step 1)."""
    rules = tier.rules
    secret = tier.require_secret() if rules.withholds_anything() else tier.secret
    entries: list[dict[str, Any]] = []
    view = result
    if rules.geometry == "coarsened" and secret is not None:
        view = _geometry(view, rules, secret, entries)
    if not rules.paths and secret is not None:
        view = _paths(view, secret, entries)
    crs = None if result.concession is None else result.concession.crs
    leads = lead_documents(citations, rules, crs, secret, entries)
    return Redaction(tier=tier, derived_from=derived_from, result=view, leads=leads,
                     entries=entries)


def withhold_files(redaction: Redaction, root: Path) -> None:
    """Commit to and remove the files the tier may not carry (step 2)."""
    if redaction.tier.rules.rasters:
        return
    secret = redaction.tier.require_secret()
    for path in sorted((root / "rasters").glob("*.tif")):
        rel = path.relative_to(root).as_posix()
        redaction.entries.append({"item": rel, "kind": "file", "rule": "rasters",
                                  "label": f"file/{rel}", "size": path.stat().st_size,
                                  "commitment": secret.commit_bytes(f"file/{rel}",
                                                                    path.read_bytes())})
        path.unlink()
    folder = root / "rasters"
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def write_manifest(redaction: Redaction, root: Path, package_id: str) -> Path:
    """``data/redaction.json``: the tier, its rules, and every withheld item."""
    tier = redaction.tier
    secret = tier.secret
    document: Mapping[str, Any] = {
        "format": FORMAT, "package_id": package_id, "tier": tier.name,
        "rules": tier.rules.model_dump(mode="json"), "rules_digest": tier.rules.digest(),
        "derived_from": redaction.derived_from,
        "commitments": {"scheme": "HMAC-SHA256(HKDF(secret), label NUL value)",
                        "key_id": None if secret is None else secret.key_id},
        "withheld": sorted(redaction.entries, key=lambda e: (e["kind"], e["item"])),
    }
    return writers.write_json(writers.safe_path(root, MANIFEST), dict(document))
