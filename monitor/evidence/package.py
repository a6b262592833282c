"""Build the evidence package of a check: one BagIt bag, signed, moved into place whole.

Layout of ``OUT_DIR/<concession_id>-<package_id>/`` (DESIGN.md, "Evidence package")::

    bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt
    tagmanifest-sha256.txt  tagmanifest-sha512.txt  signature/ (when signed)
    data/report.html         the human-readable report (figures, findings, provenance)
    data/summary.json        concession, period, verdict counts, findings, alerts, notes
    data/provenance.json     input scenes, software, standard, parameters, request
    data/item.json           STAC Item: one asset per data file, with size and checksum
    data/figures/            figures of the report
    data/rasters/            COGs: every indicator raster, NDVI before / after
    data/vectors/            concession.geojson, zones.geojson, changes.geojson
    data/stats/              findings.csv and the CSV behind every figure

The package id is a stable id of what was checked (concession, period, mode, standard
and its digest, finding ids, input scene ids): the same check gives the same id, the same
folder and byte-identical data files. Only ``bag-info.txt`` (Bagging-Date) and the
signature files carry the build.

A package is written into ``OUT_DIR/.staging-<package_id>-<pid>`` (``-<n>`` appended for
further builds in one process), bagged with sha256 and sha512 manifests, signed when a key
is given, fully validated, flushed to disk and only then renamed into place (RELIABILITY.md
rule 1); a package already there is set aside, replaced, then deleted. A crash leaves a
staging folder, never a partial package under the final name; the next build of the same
package removes the staging folders of dead processes. Concurrent builds of one package
(a task Dask runs twice) each finish and leave one package.

``bagit.make_bag`` changes the process's working directory while it runs; builds hold a
lock around it, but other threads of the process that use relative paths at that moment
are affected (use absolute paths in threaded workers).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bagit

from monitor.checking import CheckResult
from monitor.errors import EvidenceError
from monitor.evidence import writers
from monitor.evidence.citations import LeadCitation
from monitor.evidence.documents import Edition, item_document, summary_document
from monitor.evidence.figures import make_figures, pick_before_after
from monitor.evidence.provenance import code_version, make_provenance
from monitor.evidence.redaction import (
    Redaction,
    TierRequest,
    lead_documents,
    prepare,
    withhold_files,
    write_manifest,
)
from monitor.evidence.report import render_report
from monitor.evidence.schema import ITEM, PROVENANCE, REPORT, SUMMARY, check_documents
from monitor.evidence.signing import fingerprint_of_private_key, sign_bag
from monitor.findings import stable_id
from monitor.fsio import fsync_path
from monitor.geometry import is_slug
from monitor.procs import pid_alive

__all__ = ["PackageInfo", "build_package", "focus_on_alert", "package_id"]

log = logging.getLogger(__name__)

#: Kind and layout version of a check's package, part of its id.
KIND = "check-package/1"
ALERT_KIND = "alert-package/1"
CHECKSUMS = ("sha256", "sha512")
_TEMP = re.compile(r"^\.(staging|replaced)-([0-9a-f]{16})-(\d+)(?:-\d+)?$")
#: Staging / set-aside folders in use by this process (threads may build concurrently).
_ACTIVE: set[str] = set()
_ACTIVE_LOCK = threading.Lock()
_TOKENS = itertools.count(1)
#: ``bagit.make_bag`` changes the process's working directory while it runs: one at a time.
_BAGIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class PackageInfo:
    """A built package.

    Attributes
    ----------
    path
        The package folder (``OUT_DIR/<concession_id>-<package_id>``).
    package_id
        Stable id of the check (see :func:`package_id`).
    files
        Number of data files (the bag's payload).
    signed
        Whether the tag manifest was signed.
    fingerprint
        Fingerprint of the signing key, None when unsigned.
    tier
        Disclosure tier (``full`` when unredacted).
    alert_id
        The alert of a per-alert package, None for a whole check.
    """

    path: Path
    package_id: str
    files: int
    signed: bool
    fingerprint: str | None
    tier: str = "full"
    alert_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``monitor check --json`` prints under ``package``)."""
        return {"path": str(self.path), "package_id": self.package_id, "files": self.files,
                "signed": self.signed, "fingerprint": self.fingerprint, "tier": self.tier,
                "alert_id": self.alert_id}


def _scene_ids(result: CheckResult) -> list[str]:
    cube = result.cube
    if cube is None or "scene_id" not in cube.coords:
        return []
    return sorted(str(s) for s in cube["scene_id"].values.tolist())


def package_id(result: CheckResult, alert_id: str | None = None,
               citations: Sequence[LeadCitation] = ()) -> str:
    """Stable id of a check's (or one alert's) full package.

    From the package kind, concession, period, mode, standard ``id@version`` and digest,
    the sorted finding ids and the sorted input scene ids (and, when present, the alert
    and the ids of the cited leads): the same check gives the same id.
    """
    parts: list[object] = [
        KIND if alert_id is None else ALERT_KIND, result.concession_id,
        result.period[0].isoformat(), result.period[1].isoformat(), result.mode,
        result.standard, result.standard_digest,
        ",".join(sorted(f.finding_id for f in result.findings)), ",".join(_scene_ids(result))]
    if alert_id is not None:
        parts.append(alert_id)
    if citations:
        parts.append("leads:" + ",".join(sorted(c.lead_id for c in citations)))
    return stable_id(*parts)


def tier_package_id(full_id: str, tier: TierRequest) -> str:
    """Stable id of a tier's package: the full package's id, the tier and its rules."""
    return stable_id("tier-package/1", full_id, tier.name, tier.rules.digest())


def focus_on_alert(result: CheckResult, alert_id: str) -> CheckResult:
    """The part of a check that one alert rests on: its findings and its indicator.

    Raises
    ------
    EvidenceError
        If no finding of the check raises ``alert_id``.
    """
    findings = tuple(f for f in result.findings if f.alert_key == alert_id)
    if not findings:
        known = sorted({f.alert_key for f in result.findings if f.alert_key})
        raise EvidenceError(f"no finding of the check of {result.concession_id} raises alert "
                            f"{alert_id}; its alerts are {known or 'none'}")
    indicators = {f.indicator for f in findings}
    results = tuple(r for r in result.results if r.indicator in indicators)
    return replace(result, findings=findings, results=results,
                   alerts=tuple(a for a in result.alerts if a.get("alert_id") == alert_id),
                   notes=tuple(n for r in results for n in r.notes),
                   request={**dict(result.request), "alert_id": alert_id})


def _write_report(result: CheckResult, root: Path, pid: str, fingerprint: str | None,
                  edition: Edition, redaction: Redaction | None) -> None:
    """Figures into ``figures/`` (their CSVs into ``stats/``), then ``report.html``."""
    findings_csv = root / "stats" / "findings.csv"
    before = findings_csv.read_bytes()
    figures = make_figures(result, root / "figures", root / "stats")
    if findings_csv.read_bytes() != before:
        raise EvidenceError("the figures overwrote stats/findings.csv, which the package "
                            "builder owns")
    code = code_version()
    context = {"package_id": pid, "fingerprint": fingerprint, "report_dir": root,
               "generated_by": f"Concession Monitor {code['monitor']} (code {code['git']})",
               "tier": edition.tier or "", "alert_id": edition.alert_id,
               "leads": edition.leads,
               "withheld": [] if redaction is None else sorted(
                   {f"{e['item']} ({e['rule']})" for e in redaction.entries})}
    html = render_report(result, figures, context)
    writers.write_bytes(writers.safe_path(root, REPORT), html.encode("utf-8"))


def _write_payload(result: CheckResult, root: Path, pid: str, include_report: bool,
                   fingerprint: str | None, edition: Edition,
                   redaction: Redaction | None) -> None:
    """Every data file of the package, ``item.json`` last (it lists the others)."""
    writers.write_vectors(result, root)
    writers.write_indicator_rasters(result, root)
    writers.write_ndvi_pair(result, root, pick_before_after(result))
    writers.write_findings_csv(result, root)
    if redaction is not None:
        withhold_files(redaction, root)
        write_manifest(redaction, root, pid)
    writers.write_json(writers.safe_path(root, SUMMARY), summary_document(result, pid, edition))
    writers.write_json(writers.safe_path(root, PROVENANCE), make_provenance(result, pid))
    if include_report:
        _write_report(result, root, pid, fingerprint, edition, redaction)
    writers.write_json(writers.safe_path(root, ITEM), item_document(result, pid, root, edition))


# ------------------------------------------------------------------------- bag, sign


def _bag(staging: Path, result: CheckResult, pid: str, fingerprint: str | None,
         edition: Edition) -> None:
    what = (f"alert {edition.alert_id} of monitor check" if edition.alert_id
            else "monitor check")
    info: dict[str, str] = {"Source-Organization": "Concession Monitor", "External-Identifier": pid,
            "External-Description": f"Evidence package of {what} "
                                    f"{result.concession_id} ({result.mode}), "
                                    f"{edition.tier or 'full'} edition",
            "Disclosure-Tier": edition.tier or "full",
            "Concession-Id": result.concession_id,
            "Period": f"{result.period[0].isoformat()}/{result.period[1].isoformat()}",
            "Standard": result.standard, "Standard-Digest": result.standard_digest}
    if fingerprint is not None:
        info["Signing-Key-Fingerprint"] = fingerprint
    try:
        with _BAGIT_LOCK:
            bagit.make_bag(str(staging.resolve()), bag_info=info, processes=1,
                           checksums=list(CHECKSUMS))
    except (bagit.BagError, OSError) as exc:
        raise EvidenceError(f"cannot make the bag in {staging}: {exc}") from exc


def _validate(staging: Path, include_report: bool) -> None:
    try:
        bagit.Bag(str(staging)).validate(fast=False, completeness_only=False)
    except bagit.BagError as exc:
        raise EvidenceError(f"the package just built in {staging} fails BagIt validation: "
                            f"{exc}") from exc
    problems = check_documents(staging / "data", require_report=include_report)
    if problems:
        raise EvidenceError(f"the package just built in {staging} has problems: "
                            + "; ".join(problems))


# ---------------------------------------------------------------------- staging, move


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (flock on the directory) for the final swap."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _temp_name(kind: str, pid: str) -> str:
    """``.<kind>-<package_id>-<process id>[-<n>]``, unique in this process."""
    with _ACTIVE_LOCK:
        n = next(_TOKENS)
        name = f".{kind}-{pid}-{os.getpid()}" + ("" if n == 1 else f"-{n}")
        _ACTIVE.add(name)
    return name


def _release(name: str) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE.discard(name)


def _clean_stale(out_dir: Path, pid: str) -> None:
    """Remove staging / set-aside folders of ``pid`` left by interrupted builds.

    Those of dead processes, and those of this process that no running build uses.
    """
    for entry in out_dir.iterdir():
        match = _TEMP.fullmatch(entry.name)
        if match is None or match.group(2) != pid or entry.is_symlink() or not entry.is_dir():
            continue
        owner = int(match.group(3))
        with _ACTIVE_LOCK:
            stale = (entry.name not in _ACTIVE if owner == os.getpid()
                     else not pid_alive(owner))
        if stale:
            log.info("removing %s, left by an interrupted build", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _publish(staging: Path, final: Path, out_dir: Path, pid: str) -> None:
    """Rename ``staging`` to ``final``; an existing package is set aside, then removed."""
    name = _temp_name("replaced", pid)
    try:
        with _locked(out_dir):
            aside = None
            if final.exists() or final.is_symlink():
                aside = out_dir / name
                os.replace(final, aside)
            try:
                os.replace(staging, final)
            except OSError:
                if aside is not None:  # put the previous package back under its name
                    os.replace(aside, final)
                raise
            fsync_path(out_dir)
        if aside is None:
            return
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)
    finally:
        _release(name)


def _target(out_dir: Path, concession_id: str, pid: str) -> Path:
    if not is_slug(concession_id):
        raise EvidenceError(f"concession id {concession_id!r} is not a safe slug: it "
                            "cannot name a package folder")
    final = out_dir / f"{concession_id}-{pid}"
    if final.resolve().parent != out_dir.resolve() and not final.is_symlink():
        raise EvidenceError(f"the package folder {final} would leave {out_dir}")
    return final


def build_package(result: CheckResult, out_dir: Path, *, key: Path | None = None,
                  include_report: bool = True, alert_id: str | None = None,
                  citations: Sequence[LeadCitation] = (),
                  tier: TierRequest | None = None) -> PackageInfo:
    """Build, validate, sign and publish the evidence package of a check.

    Parameters
    ----------
    result
        A check made by :func:`monitor.check` (it carries the cube and the concession).
    out_dir
        Folder that receives ``<concession_id>-<package_id>/`` (created when missing).
    key
        Ed25519 private key file to sign the tag manifest with; None builds an unsigned
        package.
    include_report
        Make the figures (:func:`monitor.evidence.figures.make_figures`) and
        ``report.html`` (:func:`monitor.evidence.report.render_report`); False leaves both
        out (a package without a report does not pass ``monitor verify``).
    alert_id
        Package only this alert of the check (:func:`focus_on_alert`); its id differs
        from the check package's.
    citations
        Community leads the check answers (:mod:`monitor.evidence.citations`); the
        package cites them, showing what ``tier`` allows.
    tier
        Build this disclosure tier's package (:mod:`monitor.evidence.redaction`) into
        ``out_dir/<tier name>/`` instead of the full package.

    Returns
    -------
    PackageInfo

    Raises
    ------
    EvidenceError
        If the result has no cube, a file cannot be written, the bag fails its own
        validation, or the package would leave ``out_dir``.
    SigningKeyError
        If ``key`` is missing, unreadable or not an Ed25519 private key.
    DisclosureKeyError
        If ``tier`` withholds something and carries no secret for the commitments.
    """
    started = time.perf_counter()
    if alert_id is not None:
        result = focus_on_alert(result, alert_id)
    full_id = package_id(result, alert_id, citations)
    redaction: Redaction | None = None
    out_dir = Path(out_dir)
    if tier is None:
        pid = full_id
        crs = None if result.concession is None else result.concession.crs
        edition = Edition(alert_id=alert_id, leads=lead_documents(citations, None, crs))
    else:
        if not is_slug(tier.name):
            raise EvidenceError(f"tier name {tier.name!r} is not a safe slug: it cannot name "
                                "a folder")
        pid = tier_package_id(full_id, tier)
        redaction = prepare(result, tier, citations, full_id)
        result = redaction.result
        edition = Edition(alert_id=alert_id, tier=tier.name, rules_digest=tier.rules.digest(),
                          derived_from=full_id, leads=redaction.leads)
        out_dir = out_dir / tier.name
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvidenceError(f"cannot create the output folder {out_dir}: "
                            f"{exc.strerror or exc}") from exc
    final = _target(out_dir, result.concession_id, pid)
    fingerprint = None if key is None else fingerprint_of_private_key(key)
    staging = out_dir / _temp_name("staging", pid)
    try:
        with _locked(out_dir):
            _clean_stale(out_dir, pid)
            staging.mkdir()
        _write_payload(result, staging, pid, include_report, fingerprint, edition, redaction)
        _bag(staging, result, pid, fingerprint, edition)
        if key is not None:
            sign_bag(staging, key)
        _validate(staging, include_report)
        writers.fsync_tree(staging)
        _publish(staging, final, out_dir, pid)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise EvidenceError(f"cannot build the package {final.name} in {out_dir}: "
                            f"{exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _release(staging.name)
    n_files = sum(1 for p in (final / "data").rglob("*") if p.is_file())
    log.info("package %s: %d data files in %.1f s", final, n_files,
             time.perf_counter() - started)
    return PackageInfo(path=final, package_id=pid, files=n_files, signed=key is not None,
                       fingerprint=fingerprint, tier=edition.tier or "full", alert_id=alert_id)
