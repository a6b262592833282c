"""Re-run a package's check from its provenance and compare every number.

``monitor verify PACKAGE --reproduce`` reads ``data/provenance.json`` (the request, the
registry's sha256, the standard's digest) and ``data/summary.json`` (the findings), runs the
same check again on the same inputs, and compares finding by finding.

Tolerances (documented in the README): outcomes, severities, zones, onsets, event ids and
clear-observation counts must be identical; values may differ by at most
``ABS_TOLERANCE`` in their unit (ha or FNU; summary values are written rounded) plus
``REL_TOLERANCE`` of their size (floating-point summation order). A finding present on one
side only is a mismatch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.checking import check
from monitor.config import default_standard_path, load_standards
from monitor.evidence.verify import Check

ABS_TOLERANCE = 0.01
REL_TOLERANCE = 1e-6
#: Finding fields that must reproduce exactly.
EXACT_FIELDS = ("outcome", "severity", "zone", "zone_id", "onset", "event_id", "event_status",
                "n_clear_obs", "standard", "unit", "limit")


def _read(data_dir: Path, name: str) -> dict[str, Any]:
    doc = json.loads((data_dir / name).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{name} is not a JSON object")
    return doc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compare(recorded: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in EXACT_FIELDS:
        if recorded.get(key) != fresh.get(key):
            problems.append(f"{key} {recorded.get(key)!r} -> {fresh.get(key)!r}")
    a, b = recorded.get("value"), fresh.get("value")
    if (a is None) != (b is None):
        problems.append(f"value {a!r} -> {b!r}")
    elif a is not None and b is not None and abs(float(a) - float(b)) > (
            ABS_TOLERANCE + REL_TOLERANCE * abs(float(a))):
        problems.append(f"value {a} -> {b} (tolerance {ABS_TOLERANCE} {recorded.get('unit')})")
    return problems


def reproduce_package(path: Path, *, source: str | None = None, aoi: Path | None = None,
                      standard: Path | None = None) -> list[Check]:
    """Re-run the check recorded in a package and compare its findings.

    Parameters
    ----------
    path
        The package folder.
    source, aoi, standard
        Where the inputs are on this machine, when not where the package says (the
        registry and the standard must still be byte-identical: their digests are checked).

    Returns
    -------
    list of Check
        ``reproduce-inputs`` (registry and standard are the ones used) and
        ``reproduce-numbers`` (every finding reproduced within the tolerances).
    """
    data_dir = Path(path) / "data"
    try:
        provenance = _read(data_dir, "provenance.json")
        summary = _read(data_dir, "summary.json")
        request: dict[str, Any] = dict(provenance["request"])
        registry_path = aoi or Path(request["aoi"])
        standard_path = standard or default_standard_path()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = f"the package's provenance cannot be read ({type(exc).__name__}: {exc})"
        return [Check("reproduce-inputs", False, reason),
                Check("reproduce-numbers", False, "not run: " + reason)]
    problems = []
    if not registry_path.is_file():
        problems.append(f"registry {registry_path} not found: give --aoi FILE")
    elif _sha256(registry_path) != provenance["registry"]["sha256"]:
        problems.append(f"registry {registry_path} is not the one used (sha256 differs)")
    recorded_standard = provenance["standard"]
    try:
        in_force = load_standards(standard_path).get(recorded_standard["id"],
                                                      recorded_standard["version"])
        if in_force.digest != recorded_standard["digest"]:
            problems.append(f"standard {recorded_standard['ref']} in {standard_path} differs "
                            "from the one used (digest)")
    except Exception as exc:  # any standard problem is a failed input check
        problems.append(f"standard {recorded_standard.get('ref')} not loadable from "
                        f"{standard_path}: {exc}; give --standard FILE")
    if problems:
        return [Check("reproduce-inputs", False, "; ".join(problems)),
                Check("reproduce-numbers", False, "not run: the inputs differ")]
    inputs = Check("reproduce-inputs", True, f"registry sha256 and standard "
                   f"{recorded_standard['ref']} digest match")
    try:
        result = check(request["concession_id"], aoi=registry_path,
                       source=source or request["source"], start=request.get("start"),
                       end=request.get("end"), before=request.get("before"),
                       after=request.get("after"), standard=standard_path,
                       standard_id=request.get("standard_id"),
                       indicators=request.get("indicators"))
    except Exception as exc:  # the re-run failing is a failed check, not a crash
        return [inputs, Check("reproduce-numbers", False,
                              f"the check could not be re-run ({type(exc).__name__}: {exc}); "
                              "give --source where the imagery is")]
    recorded = {f["finding_id"]: f for f in summary.get("findings", [])}
    alert_id = (summary.get("scope") or {}).get("alert_id")  # a per-alert package
    fresh = {f["finding_id"]: f for f in (x.to_dict() for x in result.findings
                                          if alert_id is None or x.alert_key == alert_id)}
    mismatches = [f"{fid}: missing from the re-run" for fid in recorded if fid not in fresh]
    mismatches += [f"{fid}: new in the re-run" for fid in fresh if fid not in recorded]
    for fid in recorded.keys() & fresh.keys():
        mismatches += [f"{fid} ({recorded[fid]['zone_id']}): {p}"
                       for p in _compare(recorded[fid], fresh[fid])]
    if mismatches:
        return [inputs, Check("reproduce-numbers", False,
                              f"{len(mismatches)} difference(s): " + "; ".join(mismatches[:8]))]
    return [inputs, Check("reproduce-numbers", True,
                          f"{len(recorded)} finding(s) reproduced: outcomes, severities and "
                          f"counts identical, values within {ABS_TOLERANCE} of their unit")]
