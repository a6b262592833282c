"""What a run did: ``run-summary.json``, the human summary, exports and the report.

Silence is never ambiguous: a run that found nothing new says "nothing new", a run where
everything was checked and compliant says so, and every indeterminate finding is counted
with its reason.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from monitor.alerts import AlertStore
from monitor.alerts.export import export_alerts
from monitor.errors import MonitorError
from monitor.findings import SEVERITIES
from monitor.fsio import write_atomic
from pipelines.config import RunConfig
from pipelines.tasks import ConcessionOutcome

__all__ = ["RunSummary", "alert_snapshot", "human_summary", "summarise_run",
           "write_outputs"]

log = logging.getLogger(__name__)
FORMAT = "concession-monitor/run-summary/1"
Snapshot = dict[str, tuple[str, str]]


def alert_snapshot(store: AlertStore) -> Snapshot:
    """``{alert_id: (state, severity)}`` of every alert in the store."""
    return {a.alert_id: (str(a.state), str(a.severity)) for a in store.list()}


@dataclass
class RunSummary:
    """The run's counts (see :func:`summarise_run`); ``to_dict`` is run-summary.json."""

    run_id: str
    resumed: bool
    config: str
    period: tuple[date, date]
    since: str
    status: str = "running"
    units: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    scenes_read: int = 0
    clear_observations: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    indeterminate: list[dict[str, str]] = field(default_factory=list)
    alerts: dict[str, dict[str, int]] = field(default_factory=dict)
    packages: int = 0
    package_errors: list[str] = field(default_factory=list)
    verdict: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"format": FORMAT, "run_id": self.run_id, "resumed": self.resumed,
                "config": self.config, "status": self.status,
                "period": [self.period[0].isoformat(), self.period[1].isoformat()],
                "since": self.since, "verdict": self.verdict, "units": self.units,
                "failed": self.failed, "scenes_read": self.scenes_read,
                "clear_observations": self.clear_observations, "findings": self.findings,
                "indeterminate": self.indeterminate, "alerts": self.alerts,
                "packages": self.packages, "package_errors": self.package_errors,
                "outputs": self.outputs}


def _alert_changes(before: Snapshot, after: Snapshot) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {kind: {str(sev): 0 for sev in SEVERITIES}
                                      for kind in ("new", "confirmed", "resolved")}
    for aid, (state, severity) in after.items():
        old = before.get(aid)
        if old is None:
            out["new"][severity] += 1
        if state == "confirmed" and (old is None or old[0] != "confirmed"):
            out["confirmed"][severity] += 1
        if state == "resolved" and (old is None or old[0] != "resolved"):
            out["resolved"][severity] += 1
    return out


def summarise_run(config: RunConfig, run: Any, units: Sequence[Any],
                  outcomes: Sequence[ConcessionOutcome], before: Snapshot, after: Snapshot,
                  period: tuple[date, date]) -> RunSummary:
    """Count what the run did, from the ledger's units and the tasks' outcomes."""
    s = RunSummary(run_id=run.run_id, resumed=bool(run.resumed), config=str(config.file),
                   period=period, since=str(getattr(run, "since_mode", "all")))
    s.units = dict(Counter(str(u.status) for u in units))
    s.failed = [{"concession_id": u.concession_id, "indicator": u.indicator,
                 "reason": str(u.reason or "")} for u in units if u.status == "failed"]
    findings = [f for o in outcomes for f in o.findings]
    s.scenes_read = sum(len(o.scenes) for o in outcomes)
    s.clear_observations = sum(o.clear_observations for o in outcomes)
    s.findings = dict(Counter(f.outcome for f in findings))
    s.indeterminate = [{"concession_id": f.concession_id, "indicator": f.indicator,
                        "zone": f.zone_id, "reason": f.reason}
                       for f in findings if f.outcome == "indeterminate"]
    s.alerts = _alert_changes(before, after)
    s.packages = sum(len(o.packages) for o in outcomes)
    s.package_errors = [f"{o.concession_id}: {o.package_error}" for o in outcomes
                        if o.package_error]
    leased = sum(1 for u in units if u.status == "skipped"
                 and "another run" in str(u.reason or ""))
    s.verdict = _verdict(s, outcomes, leased)
    if leased and outcomes:
        s.verdict += f"; {leased} unit(s) left to another run checking them at the same time"
    return s


def _verdict(s: RunSummary, outcomes: Sequence[ConcessionOutcome], leased: int) -> str:
    n_new = sum(s.alerts["new"].values())
    if s.failed:
        return (f"{len(s.failed)} unit(s) FAILED (see 'failed'); the others completed: "
                "their verdicts stand, the failed ones have none")
    if not outcomes and leased:
        return (f"nothing checked by this run: {leased} unit(s) were being checked by "
                "another run at the same time (its summary has their results)")
    if not outcomes and s.resumed:
        return "resumed: every unit had been done before the interruption"
    if not outcomes or all(o.status == "nothing-new" for o in outcomes):
        return "nothing new: no acquisition newer than the last successful run"
    if n_new or s.findings.get("exceedance"):
        return (f"{s.findings.get('exceedance', 0)} exceedance finding(s), {n_new} new "
                "alert(s)")
    if s.findings.get("indeterminate"):
        return (f"no exceedance; {s.findings['indeterminate']} finding(s) indeterminate "
                "(not enough clear data: see 'indeterminate')")
    return "all fine: every unit checked, every finding compliant"


def write_outputs(config: RunConfig, summary: RunSummary) -> None:
    """Exports, the indicator report and ``run-summary.json`` into the output folder."""
    out = config.output
    try:
        (out / "exports").mkdir(parents=True, exist_ok=True)
        with AlertStore(config.alerts_path) as store:
            for name in ("alerts.geojson", "alerts.gpkg"):
                export_alerts(store, out / "exports" / name)
        summary.outputs["exports"] = str(out / "exports")
    except MonitorError as exc:
        summary.package_errors.append(f"exports: {exc}")
    if config.report:
        from monitor.reporting import build_report, parse_period, write_report

        period = parse_period(f"{summary.period[0]}..{summary.period[1]}")
        try:
            report = build_report(config.alerts_path, period, aoi=config.registry)
            write_report(report, out / "report")
            summary.outputs["report"] = str(out / "report" / "report.html")
        except MonitorError as exc:
            summary.package_errors.append(f"report: {exc}")
    if config.packages.build:
        summary.outputs["packages"] = str(out / "packages")
    summary.outputs["summary"] = str(out / "run-summary.json")
    data = (json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n").encode()
    (out / "runs").mkdir(exist_ok=True)
    write_atomic(out / "runs" / f"{summary.run_id}.json", data)  # one per run, kept
    write_atomic(out / "run-summary.json", data)  # the latest run


def human_summary(summary: RunSummary) -> list[str]:
    """Lines a person reads at the end of a run."""
    units = ", ".join(f"{n} {k}" for k, n in sorted(summary.units.items())) or "none"
    lines = [f"run {summary.run_id}{' (resumed)' if summary.resumed else ''}: "
             f"{summary.status.upper()} - {summary.verdict}",
             f"  units: {units}",
             f"  scenes read: {summary.scenes_read}, clear observations: "
             f"{summary.clear_observations}",
             "  findings: " + (", ".join(f"{n} {k}" for k, n in
                                         sorted(summary.findings.items())) or "none")]
    for kind in ("new", "confirmed", "resolved"):
        counts: Mapping[str, int] = summary.alerts.get(kind, {})
        lines.append(f"  alerts {kind}: " + ", ".join(f"{counts.get(sev, 0)} {sev}"
                                                      for sev in reversed(SEVERITIES)))
    reasons = Counter(i["reason"] for i in summary.indeterminate)
    for reason, n in reasons.most_common(5):
        lines.append(f"  indeterminate x{n}: {reason}")
    for f in summary.failed:
        lines.append(f"  FAILED {f['concession_id']}/{f['indicator']}: {f['reason']}")
    for e in summary.package_errors:
        lines.append(f"  output problem: {e}")
    lines.append(f"  packages: {summary.packages}; outputs: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(summary.outputs.items())))
    return lines
