"""Check one concession: cube -> indicators -> findings under a standard -> alerts.

This is one unit of work, run in one process: the cube is read once and shared by the
indicators. Portfolio runs on Dask (``pipelines/``) call :func:`check` per concession; the
library itself never imports ``pipelines``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import xarray as xr

from monitor.alerts import AlertStore
from monitor.compliance import evaluate
from monitor.concessions import Concession, load_concessions
from monitor.config import StandardSet, default_standard_path, load_standards
from monitor.errors import ConfigError, SceneSkippedWarning
from monitor.findings import SEVERITIES, Finding
from monitor.indicators.base import IndicatorResult
from monitor.indicators.tailings import tailings
from monitor.indicators.vegetation import vegetation_loss, vegetation_loss_two_date
from monitor.indicators.water import turbidity
from monitor.sources import ImagerySource, open_source
from monitor.sources.cube import load_cube

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
INDICATORS = ("vegetation_loss", "turbidity", "tailings")


@dataclass(frozen=True)
class CheckResult:
    """What a check found, ready to print or serialise.

    Attributes
    ----------
    concession_id, period, mode
        What was checked (``mode`` is ``baseline`` or ``two-date``).
    standard
        ``id@version`` of the standard in force at the end of the period.
    findings
        Every finding, compliant and indeterminate ones included.
    alerts
        Alerts raised or updated in the state store (empty without ``state``).
    results
        The indicator results behind the findings.
    skipped_scenes
        Scenes left out of the cube, with reasons.
    notes
        What the data could not see, from every indicator.
    cube
        The computed cube the indicators read (for figures and evidence; not serialised).
    concession
        The concession checked (zones, CRS).
    standard_digest
        sha256 of the standard version applied.
    source
        The imagery source's provenance name.
    request
        The arguments of the check, JSON-ready, so that it can be run again.
    """

    concession_id: str
    period: tuple[date, date]
    mode: str
    standard: str
    findings: tuple[Finding, ...]
    alerts: tuple[dict[str, Any], ...] = ()
    results: tuple[IndicatorResult, ...] = ()
    skipped_scenes: tuple[dict[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=())
    cube: xr.Dataset | None = field(default=None, repr=False, compare=False)
    concession: Concession | None = field(default=None, repr=False, compare=False)
    standard_digest: str = ""
    source: str = ""
    request: Mapping[str, Any] = field(default_factory=dict)

    def worst_severity(self) -> str | None:
        """The highest severity among exceedance findings, None when there is none."""
        ranks = [SEVERITIES.index(f.severity) for f in self.findings if f.severity]
        return SEVERITIES[max(ranks)] if ranks else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (what ``monitor check --json`` prints)."""
        return {
            "concession_id": self.concession_id,
            "period": [self.period[0].isoformat(), self.period[1].isoformat()],
            "mode": self.mode,
            "standard": self.standard,
            "findings": [f.to_dict() for f in self.findings],
            "alerts": list(self.alerts),
            "skipped_scenes": list(self.skipped_scenes),
            "notes": list(self.notes),
        }


def _as_date(value: str | date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"date {value!r} is not ISO 8601 (YYYY-MM-DD)") from None


def _load(source: ImagerySource, concession: Concession, start: date, end: date,
          buffer_m: float, progress: Progress) -> xr.Dataset:
    progress(f"loading imagery {start} .. {end}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SceneSkippedWarning)  # recorded on the cube
        cube = load_cube(source, concession, start, end, buffer_m=buffer_m)
    progress(f"reading {cube.sizes['time']} acquisitions")
    return cube.compute()  # pixels are read once and shared by every indicator


def check(
    concession_id: str,
    *,
    aoi: str | Path,
    source: str | Path | ImagerySource,
    start: str | date | None = None,
    end: str | date | None = None,
    before: str | date | None = None,
    after: str | date | None = None,
    standard: str | Path | Sequence[str | Path] | None = None,
    standard_id: str | None = None,
    state: str | Path | None = None,
    indicators: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """Check one concession for a period (or two dates) against a standard.

    Parameters
    ----------
    concession_id
        Id in the registry ``aoi``.
    aoi
        Concession registry file.
    source
        Imagery source (``local:PATH`` or an :class:`ImagerySource`).
    start, end
        Period to check (baseline mode; the baseline is read from before ``start``).
    before, after
        Two-date mode (a regulator's before/after pair): vegetation loss by dNDVI, low
        confidence. Use either ``start``/``end`` or ``before``/``after``.
    standard
        Standard file(s) or folder (default: ``configs/standards/default.yaml``).
    standard_id
        Which standard to apply (default: the concession's ``standard_id`` attribute, else
        ``default``).
    state
        Alert store (SQLite file); when given, alerts are recorded and returned.
    indicators
        Subset of ``vegetation_loss``, ``turbidity``, ``tailings`` (default: all that the
        concession's features allow).
    progress
        Called with a short message at each step.

    Returns
    -------
    CheckResult
    """
    say: Progress = progress or (lambda _msg: None)
    two_date = before is not None or after is not None
    if two_date and (before is None or after is None):
        raise ConfigError("two-date mode needs both --before and --after")
    if two_date and (start is not None or end is not None):
        raise ConfigError("give either --from/--to or --before/--after, not both")
    if not two_date and (start is None or end is None):
        raise ConfigError("give a period with --from and --to (or --before and --after)")
    registry = load_concessions(aoi)
    concession = registry[concession_id]
    standards: StandardSet = load_standards(standard or default_standard_path())
    sid = standard_id or str(concession.attributes.get("standard_id") or "default")
    if two_date:
        t0, t1 = _as_date(before), _as_date(after)  # type: ignore[arg-type]
    else:
        t0, t1 = _as_date(start), _as_date(end)  # type: ignore[arg-type]
    if t1 <= t0:
        raise ConfigError(f"the period end {t1} must be after its start {t0}")
    in_force = standards.in_force(sid, t1)
    wanted = _applicable(concession, indicators)
    src = open_source(source)
    results: list[IndicatorResult] = []
    if two_date:
        cube = _load(src, concession, t0, t1, in_force.buffer_m, say)
        say("vegetation loss (two-date)")
        results.append(vegetation_loss_two_date(cube, concession, t0, t1,
                                                in_force.vegetation_params(),
                                                buffer_m=in_force.buffer_m))
    else:
        params = in_force.vegetation_params()
        history = t0 - timedelta(days=params.baseline_days)
        cube = _load(src, concession, history, t1, in_force.buffer_m, say)
        if "vegetation_loss" in wanted:
            say("vegetation loss")
            results.append(vegetation_loss(cube, concession, (t0, t1), params,
                                           buffer_m=in_force.buffer_m))
        if "turbidity" in wanted:
            say("water turbidity")
            fnu_limit = in_force.turbidity.limits.downstream_minus_upstream_fnu
            results.append(turbidity(cube, concession, (t0, t1), in_force.water_params(),
                                     buffer_m=in_force.buffer_m,
                                     **({} if fnu_limit is None else
                                        {"diff_limit_fnu": float(fnu_limit)})))
        if "tailings" in wanted:
            say("tailings footprint")
            results.append(tailings(cube, concession, (t0, t1), in_force.tailings_params(),
                                    buffer_m=in_force.buffer_m))
    say("evaluating against the standard")
    findings = [f for r in results for f in evaluate(r, standards, sid)]
    alerts: list[dict[str, Any]] = []
    if state is not None:
        alerts = _record(state, findings, concession)
    skipped = tuple(json.loads(cube.attrs.get("skipped_scenes", "[]")))
    notes = tuple(n for r in results for n in r.notes)
    request = {"concession_id": concession_id, "aoi": str(aoi), "source": src.name,
               "start": None if two_date else t0.isoformat(),
               "end": None if two_date else t1.isoformat(),
               "before": t0.isoformat() if two_date else None,
               "after": t1.isoformat() if two_date else None,
               "standard_id": sid, "indicators": wanted}
    return CheckResult(
        concession_id=concession_id, period=(t0, t1), mode="two-date" if two_date else "baseline",
        standard=f"{in_force.id}@{in_force.version}", findings=tuple(findings),
        alerts=tuple(alerts), results=tuple(results), skipped_scenes=skipped, notes=notes,
        cube=cube, concession=concession, standard_digest=in_force.digest, source=src.name,
        request=request,
    )


def _applicable(concession: Concession, indicators: Sequence[str] | None) -> list[str]:
    kinds = {f.feature_type for f in concession.features}
    possible = ["vegetation_loss"]
    if "water_reach" in kinds:
        possible.append("turbidity")
    if "tailings_facility" in kinds:
        possible.append("tailings")
    if indicators is None:
        return possible
    unknown = [i for i in indicators if i not in INDICATORS]
    if unknown:
        raise ConfigError(f"unknown indicator(s) {unknown}; choose from {list(INDICATORS)}")
    return [i for i in indicators if i in possible]


def _record(state: str | Path, findings: Sequence[Finding],
            concession: Concession) -> list[dict[str, Any]]:
    """Record findings in the alert store; return the alerts they raised or updated."""
    keys = sorted({f.alert_key for f in findings if f.alert_key})
    with AlertStore(state) as store:
        store.record(findings, crs=concession.crs)
        return [store.get(key).to_dict() for key in keys]
