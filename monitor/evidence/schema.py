"""The schema of an evidence package's documents, and the checks a verifier runs on them.

:class:`Summary` and :class:`Provenance` are strict pydantic models (``extra="forbid"``)
of ``data/summary.json`` and ``data/provenance.json``. :func:`check_documents` reads a
package's ``data/`` folder and returns every problem it finds, as sentences that name the
file and the field: a missing document, invalid JSON, a schema violation, an asset of
``item.json`` whose file is missing or whose size or checksum differs, a data file that
``item.json`` does not list, ids that disagree between documents. ``monitor verify`` runs
it after BagIt's full validation and the signature check.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ITEM", "PROVENANCE", "REDACTION", "REPORT", "SUMMARY", "Provenance",
           "RedactionManifest", "Summary", "check_documents", "multihash_sha256"]

SUMMARY = "summary.json"
PROVENANCE = "provenance.json"
ITEM = "item.json"
REPORT = "report.html"
REDACTION = "redaction.json"

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
PackageId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Outcome = Literal["compliant", "exceedance", "indeterminate"]
Severity = Literal["notice", "warning", "violation"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# ------------------------------------------------------------------------- summary.json


class ConcessionDoc(_Doc):
    """The concession checked."""

    concession_id: str
    name: str
    holder: str | None
    licence_number: str | None
    area_ha: float


class FindingDoc(_Doc):
    """One finding (``Finding.to_dict``)."""

    finding_id: str
    concession_id: str
    indicator: str
    zone: str
    zone_id: str
    period: tuple[date, date]
    observed: date
    value: float | None
    limit: float | None
    unit: str
    outcome: Outcome
    reason: str
    severity: Severity | None
    confidence: str
    n_clear_obs: int
    n_clear_px: int
    standard: str
    event_id: str | None
    onset: date | None
    event_status: str | None
    alert_id: str | None


class AlertDoc(_Doc):
    """An alert the check raised or updated (store times left out: they are not inputs)."""

    alert_id: str
    concession_id: str
    indicator: str
    zone: str
    zone_id: str
    onset: date
    standard: str
    state: str
    review: str
    severity: Severity | None
    first_seen: date
    last_seen: date
    finding_id: str
    n_findings: int
    value: float | None
    limit: float | None
    unit: str


class Verdict(_Doc):
    """Counts of findings by outcome and by severity."""

    n_findings: int
    by_outcome: dict[Outcome, int]
    by_severity: dict[Severity, int]
    worst_severity: Severity | None


class SkippedDoc(_Doc):
    """A scene left out of the cube, and why."""

    scene_id: str
    reason: str


class ScopeDoc(_Doc):
    """What the package is about: a whole check, or one of its alerts."""

    kind: Literal["check", "alert"]
    alert_id: str | None


class EditionDoc(_Doc):
    """Which disclosure tier the package is, and the full package it was made from."""

    tier: str
    rules_digest: Hex64 | None
    derived_from: PackageId | None


class LocationDoc(_Doc):
    """A lead's location, exact (precision 0) or rounded to a grid cell's centre."""

    lon: float
    lat: float
    precision_m: float


class ReporterDoc(_Doc):
    """Who reported a lead (only in tiers allowed to show names)."""

    name: str | None
    contact: str | None
    org: str | None


class LeadDoc(_Doc):
    """A community lead the check answers, as the package's tier shows it."""

    lead_id: str
    concession_id: str
    seen_on: date
    corroborated: bool
    radius_m: float
    events: list[str]
    nearest_m: float | None = None
    claim: str | None = None
    location: LocationDoc | None = None
    reporter: ReporterDoc | None = None
    withheld: list[str]


class Summary(_Doc):
    """``data/summary.json``: what was checked and what was found."""

    format: Literal["concession-monitor/summary/1"]
    package_id: PackageId
    scope: ScopeDoc
    edition: EditionDoc
    leads: list[LeadDoc]
    concession: ConcessionDoc
    period: tuple[date, date]
    mode: Literal["baseline", "two-date"]
    standard: str
    standard_digest: Hex64
    source: str
    verdict: Verdict
    findings: list[FindingDoc]
    alerts: list[AlertDoc]
    notes: list[str]
    n_scenes: int
    skipped_scenes: list[SkippedDoc]


# ---------------------------------------------------------------------- provenance.json


class SceneDoc(_Doc):
    """One input acquisition."""

    scene_id: str
    datetime: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    platform: str
    tile: str
    collection: str
    processing_baseline: str | None
    offset_applied: bool
    scale: float | None
    offset: float | None
    qa_kind: str


class GridDoc(_Doc):
    """The cube's grid."""

    crs: str
    shape: tuple[int, int]
    transform: tuple[float, float, float, float, float, float]
    resolution_m: float
    buffer_m: float


class StandardDoc(_Doc):
    """The standard version applied."""

    id: str
    version: str
    ref: str
    digest: Hex64


class RegistryDoc(_Doc):
    """The concession registry file."""

    file: str
    sha256: Hex64


class IndicatorDoc(_Doc):
    """One indicator's method and parameters."""

    indicator: str
    mode: str
    confidence: str
    parameters: dict[str, Any]


class CodeVersionDoc(_Doc):
    """The code that computed the package."""

    monitor: str
    git: str


class PlatformDoc(_Doc):
    """The machine kind (floating-point results may differ between platforms)."""

    system: str
    machine: str
    python_implementation: str


class Provenance(_Doc):
    """``data/provenance.json``: inputs, software, parameters, and how to re-run."""

    format: Literal["concession-monitor/provenance/1"]
    package_id: PackageId
    concession_id: str
    period: tuple[date, date]
    mode: Literal["baseline", "two-date"]
    source: str
    collections: list[str]
    cube_period: str
    inputs: list[SceneDoc]
    skipped_scenes: list[SkippedDoc]
    grid: GridDoc
    standard: StandardDoc
    registry: RegistryDoc
    indicators: list[IndicatorDoc]
    software: dict[str, str]
    code_version: CodeVersionDoc
    platform: PlatformDoc
    request: dict[str, Any]


# ------------------------------------------------------------------------ redaction.json


class WithheldDoc(_Doc):
    """One withheld or coarsened item, with its HMAC commitment."""

    item: str
    kind: Literal["file", "value", "geometry"]
    rule: Literal["rasters", "leads", "names", "paths", "geometry"]
    label: str
    commitment: str = Field(pattern=r"^hmac-sha256:[0-9a-f]{64}$")
    size: int | None = None
    cell_m: float | None = None


class CommitmentsDoc(_Doc):
    """How the commitments were made, and with which secret (its public id)."""

    scheme: str
    key_id: str | None


class RedactionManifest(_Doc):
    """``data/redaction.json``: a tier package's rules and what they withheld."""

    format: Literal["concession-monitor/redaction/1"]
    package_id: PackageId
    tier: str
    rules: dict[str, Any]
    rules_digest: Hex64
    derived_from: PackageId
    commitments: CommitmentsDoc
    withheld: list[WithheldDoc]


# ----------------------------------------------------------------------------- checks


def multihash_sha256(path: Path) -> str:
    """``file:checksum`` of a file: multihash sha2-256 (``"1220"`` + hex digest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "1220" + digest.hexdigest()


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(document)"


def _validate(path: Path, model: type[_Doc], problems: list[str]) -> _Doc | None:
    try:
        return model.model_validate_json(path.read_bytes())
    except OSError as exc:
        problems.append(f"{path.name}: cannot read: {exc.strerror or exc}")
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "json_invalid":
                problems.append(f"{path.name}: invalid JSON: {err['msg']}")
            else:
                problems.append(f"{path.name}: {_where(err['loc'])}: {err['msg']}")
    return None


def _asset_path(data_dir: Path, href: str) -> Path | None:
    rel = PurePosixPath(href.removeprefix("./"))
    if (not href or rel.is_absolute() or ".." in rel.parts or "://" in href
            or "\\" in href):
        return None
    path = data_dir.joinpath(*rel.parts)
    return path if path.resolve().is_relative_to(data_dir.resolve()) else None


def _check_item(data_dir: Path, problems: list[str]) -> dict[str, Any] | None:
    path = data_dir / ITEM
    try:
        item = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{ITEM}: cannot read: {exc.strerror or exc}")
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{ITEM}: invalid JSON: {exc}")
        return None
    if not isinstance(item, dict) or item.get("type") != "Feature":
        problems.append(f"{ITEM}: not a STAC Item (type must be 'Feature')")
        return None
    assets = item.get("assets")
    if not isinstance(assets, dict):
        problems.append(f"{ITEM}: assets: missing or not a mapping")
        return None
    listed: set[Path] = set()
    for key, asset in sorted(assets.items()):
        href = asset.get("href") if isinstance(asset, dict) else None
        if not isinstance(href, str):
            problems.append(f"{ITEM}: assets.{key}.href: missing")
            continue
        target = _asset_path(data_dir, href)
        if target is None:
            problems.append(f"{ITEM}: assets.{key}.href: {href!r} is not a relative path "
                            "inside the package's data folder")
            continue
        listed.add(target.resolve())
        if not target.is_file():
            problems.append(f"{ITEM}: assets.{key}: file {href} is missing")
            continue
        size, checksum = asset.get("file:size"), asset.get("file:checksum")
        if not isinstance(size, int) or target.stat().st_size != size:
            problems.append(f"{ITEM}: assets.{key}: file:size {size!r} does not match "
                            f"{href} ({target.stat().st_size} bytes)")
        if not isinstance(checksum, str) or multihash_sha256(target) != checksum:
            problems.append(f"{ITEM}: assets.{key}: file:checksum does not match {href}")
    for file in sorted(p for p in data_dir.rglob("*") if p.is_file() or p.is_symlink()):
        if file.name == ITEM and file.parent == data_dir:
            continue
        if file.resolve() not in listed:
            problems.append(f"{ITEM}: data file {file.relative_to(data_dir).as_posix()} is "
                            "not listed as an asset")
    return item


def check_documents(data_dir: Path, *, require_report: bool = True) -> list[str]:
    """Check the documents of a package's ``data/`` folder.

    Parameters
    ----------
    data_dir
        The bag's payload folder (``PACKAGE/data``).
    require_report
        Whether ``report.html`` must be present (packages built without the report
        omit it).

    Returns
    -------
    list of str
        Problems, each naming the file and the field; empty when the documents are sound.
        The payload's integrity as a whole is BagIt's job (full validation); this checks
        what BagIt cannot: the content.
    """
    problems: list[str] = []
    if not data_dir.is_dir():
        return [f"{data_dir}: the package has no data folder"]
    required = [SUMMARY, PROVENANCE, ITEM] + ([REPORT] if require_report else [])
    for name in required:
        if not (data_dir / name).is_file():
            problems.append(f"{name}: missing")
    summary = (_validate(data_dir / SUMMARY, Summary, problems)
               if (data_dir / SUMMARY).is_file() else None)
    provenance = (_validate(data_dir / PROVENANCE, Provenance, problems)
                  if (data_dir / PROVENANCE).is_file() else None)
    item = _check_item(data_dir, problems) if (data_dir / ITEM).is_file() else None
    manifest = (_validate(data_dir / REDACTION, RedactionManifest, problems)
                if (data_dir / REDACTION).is_file() else None)
    if isinstance(summary, Summary):
        tier = summary.edition.tier
        if tier != "full" and not (data_dir / REDACTION).is_file():
            problems.append(f"{REDACTION}: missing, but {SUMMARY} says this is the {tier!r} "
                            "edition (a tier package lists what it withheld)")
        if isinstance(manifest, RedactionManifest) and (
                manifest.tier != tier or manifest.derived_from != summary.edition.derived_from):
            problems.append(f"{REDACTION}: tier or derived_from differs from {SUMMARY}'s "
                            "edition")
    ids = {name: doc.package_id for name, doc in ((SUMMARY, summary), (PROVENANCE, provenance),
                                                 (REDACTION, manifest))
           if isinstance(doc, Summary | Provenance | RedactionManifest)}
    if item is not None:
        ids[ITEM] = str(item.get("id"))
    if len(set(ids.values())) > 1:
        problems.append("the package id differs between documents: " + ", ".join(
            f"{name} {value!r}" for name, value in sorted(ids.items())))
    if isinstance(summary, Summary) and isinstance(provenance, Provenance):
        if summary.concession.concession_id != provenance.concession_id:
            problems.append(f"{SUMMARY}: concession.concession_id differs from "
                            f"{PROVENANCE}'s concession_id")
        if summary.standard_digest != provenance.standard.digest:
            problems.append(f"{SUMMARY}: standard_digest differs from {PROVENANCE}'s "
                            "standard.digest")
    return problems
