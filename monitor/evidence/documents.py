"""The JSON documents of a package: ``summary.json`` and the STAC ``item.json``.

An :class:`Edition` says what a package is a package *of*: a whole check or one alert
(``scope``), the full content or one disclosure tier (``tier``, with the id of the full
package it was redacted from), and the community leads it cites as the tier shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pystac
import shapely.geometry
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from monitor.checking import CheckResult
from monitor.errors import EvidenceError
from monitor.evidence import writers
from monitor.evidence.provenance import software_versions
from monitor.evidence.schema import ITEM, multihash_sha256
from monitor.findings import OUTCOMES, SEVERITIES

__all__ = ["Edition", "item_document", "payload_files", "summary_document"]

SUMMARY_FORMAT = "concession-monitor/summary/1"
PROCESSING_EXTENSION = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
#: Alert fields kept in summary.json (the store's wall-clock times are left out).
ALERT_FIELDS = ("alert_id", "concession_id", "indicator", "zone", "zone_id", "onset",
                "standard", "state", "review", "severity", "first_seen", "last_seen",
                "finding_id", "n_findings", "value", "limit", "unit")
_MEDIA = {".tif": (pystac.MediaType.COG, "data"), ".geojson": (pystac.MediaType.GEOJSON, "data"),
          ".csv": ("text/csv", "data"), ".json": (pystac.MediaType.JSON, "metadata"),
          ".html": (pystac.MediaType.HTML, "overview"), ".png": (pystac.MediaType.PNG, "overview"),
          ".svg": ("image/svg+xml", "overview"), ".pdf": ("application/pdf", "overview")}


@dataclass(frozen=True)
class Edition:
    """What a package holds: scope, disclosure tier and cited leads.

    Attributes
    ----------
    alert_id
        The alert a per-alert package is about; None for a whole check.
    tier
        Disclosure tier name; None for the full (unredacted) package.
    rules_digest
        sha256 of the tier's rules.
    derived_from
        Package id of the full package the tier was redacted from.
    leads
        The cited leads, as the tier shows them (JSON-ready).
    """

    alert_id: str | None = None
    tier: str | None = None
    rules_digest: str | None = None
    derived_from: str | None = None
    leads: tuple[Mapping[str, Any], ...] = ()

    def scope_document(self) -> dict[str, Any]:
        """``{"kind": "check"|"alert", "alert_id": ...}``."""
        return {"kind": "check" if self.alert_id is None else "alert",
                "alert_id": self.alert_id}

    def edition_document(self) -> dict[str, Any]:
        """``{"tier": name or "full", "rules_digest": ..., "derived_from": ...}``."""
        return {"tier": self.tier or "full", "rules_digest": self.rules_digest,
                "derived_from": self.derived_from}


def summary_document(result: CheckResult, pid: str, edition: Edition) -> dict[str, Any]:
    """``summary.json``: what was checked, what was found, and for whom."""
    concession = result.concession
    if concession is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no concession")
    attrs = concession.attributes
    by_outcome = {o: sum(f.outcome == o for f in result.findings) for o in OUTCOMES}
    by_severity = {s: sum(f.severity == s for f in result.findings) for s in SEVERITIES}
    alerts = sorted(({k: a.get(k) for k in ALERT_FIELDS} for a in result.alerts),
                    key=lambda a: str(a["alert_id"]))
    n_scenes = 0 if result.cube is None else int(result.cube.sizes.get("time", 0))
    return {
        "format": SUMMARY_FORMAT, "package_id": pid,
        "scope": edition.scope_document(), "edition": edition.edition_document(),
        "concession": {"concession_id": concession.concession_id, "name": concession.name,
                       "holder": attrs.get("holder"),
                       "licence_number": attrs.get("licence_number"),
                       "area_ha": round(concession.area_ha, 4)},
        "period": [result.period[0], result.period[1]], "mode": result.mode,
        "standard": result.standard, "standard_digest": result.standard_digest,
        "source": result.source,
        "verdict": {"n_findings": len(result.findings), "by_outcome": by_outcome,
                    "by_severity": by_severity, "worst_severity": result.worst_severity()},
        "findings": [f.to_dict() for f in result.findings], "alerts": alerts,
        "leads": [dict(lead) for lead in edition.leads],
        "notes": list(result.notes), "n_scenes": n_scenes,
        "skipped_scenes": [{"scene_id": str(s.get("scene_id", "")),
                            "reason": str(s.get("reason", ""))} for s in result.skipped_scenes],
    }


def payload_files(root: Path) -> list[Path]:
    """Every file under ``root``, sorted by POSIX path."""
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.as_posix())


def item_document(result: CheckResult, pid: str, root: Path,
                  edition: Edition) -> dict[str, Any]:
    """The STAC Item of the package: licence footprint, period, one asset per data file."""
    concession, cube = result.concession, result.cube
    if concession is None or cube is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no cube or "
                            "concession")
    geometry = writers.lonlat_geometry(concession.licence, concession.crs)
    start = datetime.combine(result.period[0], dtime.min, UTC)
    end = datetime.combine(result.period[1], dtime(23, 59, 59), UTC)
    n_scenes = int(cube.sizes.get("time", 0))
    scope = (f"alert {edition.alert_id} of " if edition.alert_id else "")
    lineage = (f"{scope}monitor check {result.concession_id} {result.period[0]}.."
               f"{result.period[1]} ({result.mode}) under standard {result.standard} "
               f"(sha256 {result.standard_digest[:12]}) on {n_scenes} acquisitions from "
               f"{result.source}; indicators: "
               f"{', '.join(r.indicator for r in result.results) or 'none'}. "
               "Inputs, parameters and software in provenance.json.")
    properties: dict[str, Any] = {
        "title": f"Evidence package {pid}: {concession.name}",
        "processing:software": software_versions(), "processing:lineage": lineage,
        "monitor:concession_id": result.concession_id, "monitor:standard": result.standard,
        "monitor:standard_digest": result.standard_digest, "monitor:mode": result.mode,
        "monitor:worst_severity": result.worst_severity(),
        "monitor:tier": edition.tier or "full"}
    if edition.alert_id:
        properties["monitor:alert_id"] = edition.alert_id
    item = pystac.Item(
        id=pid, geometry=geometry,
        bbox=list(shapely.geometry.shape(geometry).bounds) if geometry else None,
        datetime=None, start_datetime=start, end_datetime=end, properties=properties)
    item.stac_extensions.append(PROCESSING_EXTENSION)
    geobox = cube.odc.geobox
    for path in payload_files(root):
        rel = path.relative_to(root).as_posix()
        if rel == ITEM:
            continue
        media, role = _MEDIA.get(path.suffix.lower(), ("application/octet-stream", "data"))
        asset = pystac.Asset(href=rel, media_type=media, roles=[role], title=rel)
        item.add_asset(rel, asset)
        file_ext = FileExtension.ext(asset, add_if_missing=True)
        file_ext.checksum = multihash_sha256(path)
        file_ext.size = path.stat().st_size
        if path.suffix == ".tif" and geobox is not None and geobox.crs is not None:
            proj = ProjectionExtension.ext(asset, add_if_missing=True)
            proj.code = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else None
            proj.shape = [int(s) for s in geobox.shape]
            proj.transform = [float(v) for v in tuple(geobox.affine)[:6]]
    item.stac_extensions.sort()
    out: dict[str, Any] = item.to_dict(include_self_link=False, transform_hrefs=False)
    return out
