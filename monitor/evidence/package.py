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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import bagit
import pystac
import shapely.geometry
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension

from monitor.checking import CheckResult
from monitor.errors import EvidenceError
from monitor.evidence import writers
from monitor.evidence.figures import make_figures, pick_before_after
from monitor.evidence.provenance import code_version, make_provenance, software_versions
from monitor.evidence.report import render_report
from monitor.evidence.schema import (
    ITEM,
    PROVENANCE,
    REPORT,
    SUMMARY,
    check_documents,
    multihash_sha256,
)
from monitor.evidence.signing import fingerprint_of_private_key, sign_bag
from monitor.findings import OUTCOMES, SEVERITIES, stable_id
from monitor.fsio import fsync_path
from monitor.geometry import is_slug

__all__ = ["PackageInfo", "build_package", "package_id"]

log = logging.getLogger(__name__)

#: Kind and layout version of a check's package, part of its id.
KIND = "check-package/1"
SUMMARY_FORMAT = "concession-monitor/summary/1"
CHECKSUMS = ("sha256", "sha512")
PROCESSING_EXTENSION = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
#: Alert fields kept in summary.json (the store's wall-clock times are left out).
ALERT_FIELDS = ("alert_id", "concession_id", "indicator", "zone", "zone_id", "onset",
                "standard", "state", "review", "severity", "first_seen", "last_seen",
                "finding_id", "n_findings", "value", "limit", "unit")
_MEDIA = {".tif": (pystac.MediaType.COG, "data"), ".geojson": (pystac.MediaType.GEOJSON, "data"),
          ".csv": ("text/csv", "data"), ".json": (pystac.MediaType.JSON, "metadata"),
          ".html": (pystac.MediaType.HTML, "overview"), ".png": (pystac.MediaType.PNG, "overview"),
          ".svg": ("image/svg+xml", "overview"), ".pdf": ("application/pdf", "overview")}
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
    """

    path: Path
    package_id: str
    files: int
    signed: bool
    fingerprint: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``monitor check --json`` prints under ``package``)."""
        return {"path": str(self.path), "package_id": self.package_id, "files": self.files,
                "signed": self.signed, "fingerprint": self.fingerprint}


def _scene_ids(result: CheckResult) -> list[str]:
    cube = result.cube
    if cube is None or "scene_id" not in cube.coords:
        return []
    return sorted(str(s) for s in cube["scene_id"].values.tolist())


def package_id(result: CheckResult) -> str:
    """Stable id of a check's package.

    From the package kind, concession, period, mode, standard ``id@version`` and digest,
    the sorted finding ids and the sorted input scene ids: the same check gives the same id.
    """
    return stable_id(KIND, result.concession_id, result.period[0].isoformat(),
                     result.period[1].isoformat(), result.mode, result.standard,
                     result.standard_digest, ",".join(sorted(f.finding_id
                                                             for f in result.findings)),
                     ",".join(_scene_ids(result)))


# --------------------------------------------------------------------------- documents


def _summary(result: CheckResult, pid: str) -> dict[str, Any]:
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
        "notes": list(result.notes), "n_scenes": n_scenes,
        "skipped_scenes": [{"scene_id": str(s.get("scene_id", "")),
                            "reason": str(s.get("reason", ""))} for s in result.skipped_scenes],
    }


def _payload(root: Path) -> list[Path]:
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.as_posix())


def _item(result: CheckResult, pid: str, root: Path) -> dict[str, Any]:
    """The STAC Item of the package: licence footprint, period, one asset per data file."""
    concession, cube = result.concession, result.cube
    if concession is None or cube is None:
        raise EvidenceError(f"the check of {result.concession_id} carries no cube or "
                            "concession")
    geometry = writers.lonlat_geometry(concession.licence, concession.crs)
    start = datetime.combine(result.period[0], dtime.min, UTC)
    end = datetime.combine(result.period[1], dtime(23, 59, 59), UTC)
    n_scenes = int(cube.sizes.get("time", 0))
    lineage = (f"monitor check {result.concession_id} {result.period[0]}..{result.period[1]} "
               f"({result.mode}) under standard {result.standard} "
               f"(sha256 {result.standard_digest[:12]}) on {n_scenes} acquisitions from "
               f"{result.source}; indicators: "
               f"{', '.join(r.indicator for r in result.results) or 'none'}. "
               "Inputs, parameters and software in provenance.json.")
    item = pystac.Item(
        id=pid, geometry=geometry,
        bbox=list(shapely.geometry.shape(geometry).bounds) if geometry else None,
        datetime=None, start_datetime=start, end_datetime=end,
        properties={"title": f"Evidence package {pid}: {concession.name}",
                    "processing:software": software_versions(),
                    "processing:lineage": lineage,
                    "monitor:concession_id": result.concession_id,
                    "monitor:standard": result.standard,
                    "monitor:standard_digest": result.standard_digest,
                    "monitor:mode": result.mode,
                    "monitor:worst_severity": result.worst_severity()})
    item.stac_extensions.append(PROCESSING_EXTENSION)
    geobox = cube.odc.geobox
    for path in _payload(root):
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


def _write_report(result: CheckResult, root: Path, pid: str,
                  fingerprint: str | None) -> None:
    """Figures into ``figures/`` (their CSVs into ``stats/``), then ``report.html``."""
    findings_csv = root / "stats" / "findings.csv"
    before = findings_csv.read_bytes()
    figures = make_figures(result, root / "figures", root / "stats")
    if findings_csv.read_bytes() != before:
        raise EvidenceError("the figures overwrote stats/findings.csv, which the package "
                            "builder owns")
    code = code_version()
    context = {"package_id": pid, "fingerprint": fingerprint, "report_dir": root,
               "generated_by": f"Concession Monitor {code['monitor']} (code {code['git']})"}
    html = render_report(result, figures, context)
    writers.write_bytes(writers.safe_path(root, REPORT), html.encode("utf-8"))


def _write_payload(result: CheckResult, root: Path, pid: str, include_report: bool,
                   fingerprint: str | None) -> None:
    """Every data file of the package, ``item.json`` last (it lists the others)."""
    writers.write_vectors(result, root)
    writers.write_indicator_rasters(result, root)
    writers.write_ndvi_pair(result, root, pick_before_after(result))
    writers.write_findings_csv(result, root)
    summary = _summary(result, pid)
    provenance = make_provenance(result, pid)
    writers.write_json(writers.safe_path(root, SUMMARY), summary)
    writers.write_json(writers.safe_path(root, PROVENANCE), provenance)
    if include_report:
        _write_report(result, root, pid, fingerprint)
    writers.write_json(writers.safe_path(root, ITEM), _item(result, pid, root))


# ------------------------------------------------------------------------- bag, sign


def _bag(staging: Path, result: CheckResult, pid: str, fingerprint: str | None) -> None:
    info = {"Source-Organization": "Concession Monitor", "External-Identifier": pid,
            "External-Description": f"Evidence package of monitor check "
                                    f"{result.concession_id} ({result.mode})",
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
                     else not _alive(owner))
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
                  include_report: bool = True) -> PackageInfo:
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
    """
    started = time.perf_counter()
    pid = package_id(result)
    out_dir = Path(out_dir)
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
        _write_payload(result, staging, pid, include_report, fingerprint)
        _bag(staging, result, pid, fingerprint)
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
                       fingerprint=fingerprint)
