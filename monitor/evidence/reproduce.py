"""Re-run a package's check from its provenance and compare every number.

``monitor verify PACKAGE --reproduce`` reads ``data/provenance.json`` (the request, the
registry's sha256, the standard's digest) and ``data/summary.json`` (the findings), runs the
same check again on the same inputs, and compares finding by finding.
:func:`reproduce` returns the fresh result and a side-by-side table as well (what the
notebook ``notebooks/01_reproduce_a_finding.py`` shows); :func:`reproduce_package` only the
two checks.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from monitor.checking import CheckResult, check
from monitor.config import default_standard_path, load_standards
from monitor.evidence.verify import Check

__all__ = ["ABS_TOLERANCE", "EXACT_FIELDS", "REL_TOLERANCE", "Reproduction", "reproduce",
           "reproduce_package"]

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


@dataclass(frozen=True)
class Reproduction:
    """A package's check run again: the verdict, and what it rests on.

    Attributes
    ----------
    checks
        ``reproduce-inputs`` and ``reproduce-numbers`` (what ``monitor verify --reproduce``
        prints).
    recorded
        The package's findings as recorded in ``data/summary.json``, by finding id (for a
        per-alert package: the alert's findings).
    fresh
        The re-run's findings in the same scope, by finding id (empty when it did not run).
    result
        The re-run's full result, with its cube (None when it did not run).
    """

    checks: list[Check]
    recorded: dict[str, dict[str, Any]] = field(default_factory=dict)
    fresh: dict[str, dict[str, Any]] = field(default_factory=dict)
    result: CheckResult | None = None

    @property
    def ok(self) -> bool:
        """True when the inputs are the ones used and every finding reproduced."""
        return all(c.ok for c in self.checks)

    def table(self) -> pd.DataFrame:
        """The findings side by side, one row per finding id of either side.

        Zone, outcome, severity and value as recorded and as re-computed, the difference,
        and whether the finding is within the tolerances (``problems`` says what differs).
        """
        rows = []
        for fid in [*self.recorded, *(f for f in self.fresh if f not in self.recorded)]:
            a, b = self.recorded.get(fid), self.fresh.get(fid)
            some = a or b or {}
            va, vb = (None if a is None else a.get("value")), (None if b is None else
                                                                b.get("value"))
            problems = (["missing from the re-run"] if b is None else
                        ["new in the re-run"] if a is None else _compare(a, b))
            rows.append({
                "finding_id": fid, "indicator": some.get("indicator"),
                "zone": some.get("zone"), "zone_id": some.get("zone_id"),
                "unit": some.get("unit"), "limit": some.get("limit"),
                "outcome_recorded": None if a is None else a.get("outcome"),
                "outcome_rerun": None if b is None else b.get("outcome"),
                "severity_recorded": None if a is None else a.get("severity"),
                "severity_rerun": None if b is None else b.get("severity"),
                "value_recorded": va, "value_rerun": vb,
                "difference": (float(vb) - float(va)
                               if va is not None and vb is not None else None),
                "reproduced": not problems, "problems": "; ".join(problems)})
        return pd.DataFrame(rows, columns=[
            "finding_id", "indicator", "zone", "zone_id", "unit", "limit", "outcome_recorded",
            "outcome_rerun", "severity_recorded", "severity_rerun", "value_recorded",
            "value_rerun", "difference", "reproduced", "problems"])


def reproduce(path: Path, *, source: str | None = None, aoi: Path | None = None,
              standard: Path | None = None) -> Reproduction:
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
    Reproduction
        Never raises for a bad package or unreadable inputs: its checks say what failed.
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
        return Reproduction([Check("reproduce-inputs", False, reason),
                             Check("reproduce-numbers", False, "not run: " + reason)])
    alert_id = (summary.get("scope") or {}).get("alert_id")  # a per-alert package
    recorded = {f["finding_id"]: f for f in summary.get("findings", [])}
    problems = _input_problems(provenance, registry_path, standard_path)
    if problems:
        return Reproduction([Check("reproduce-inputs", False, "; ".join(problems)),
                             Check("reproduce-numbers", False, "not run: the inputs differ")],
                            recorded)
    inputs = Check("reproduce-inputs", True, f"registry sha256 and standard "
                   f"{provenance['standard']['ref']} digest match")
    try:
        result = check(request["concession_id"], aoi=registry_path,
                       source=source or request["source"], start=request.get("start"),
                       end=request.get("end"), before=request.get("before"),
                       after=request.get("after"), standard=standard_path,
                       standard_id=request.get("standard_id"),
                       indicators=request.get("indicators"))
    except Exception as exc:  # the re-run failing is a failed check, not a crash
        return Reproduction([inputs, Check(
            "reproduce-numbers", False, f"the check could not be re-run "
            f"({type(exc).__name__}: {exc}); give --source where the imagery is")], recorded)
    fresh = {f["finding_id"]: f for f in (x.to_dict() for x in result.findings
                                          if alert_id is None or x.alert_key == alert_id)}
    mismatches = [f"{fid}: missing from the re-run" for fid in recorded if fid not in fresh]
    mismatches += [f"{fid}: new in the re-run" for fid in fresh if fid not in recorded]
    for fid in recorded.keys() & fresh.keys():
        mismatches += [f"{fid} ({recorded[fid]['zone_id']}): {p}"
                       for p in _compare(recorded[fid], fresh[fid])]
    if mismatches:
        numbers = Check("reproduce-numbers", False,
                        f"{len(mismatches)} difference(s): " + "; ".join(mismatches[:8]))
    else:
        numbers = Check("reproduce-numbers", True,
                        f"{len(recorded)} finding(s) reproduced: outcomes, severities and "
                        f"counts identical, values within {ABS_TOLERANCE} of their unit")
    return Reproduction([inputs, numbers], recorded, fresh, result)


def _input_problems(provenance: Mapping[str, Any], registry_path: Path,
                    standard_path: Path) -> list[str]:
    """Why the registry or the standard here are not the ones the package used."""
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
    return problems


def reproduce_package(path: Path, *, source: str | None = None, aoi: Path | None = None,
                      standard: Path | None = None) -> list[Check]:
    """Re-run the check recorded in a package and compare its findings.

    The checks of :func:`reproduce`: ``reproduce-inputs`` (registry and standard are the
    ones used) and ``reproduce-numbers`` (every finding reproduced within the tolerances).
    """
    return reproduce(path, source=source, aoi=aoi, standard=standard).checks
