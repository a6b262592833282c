"""``monitor report``: indicator reports for a period from an alert store (thin wrapper).

Reads the store read-only (see :mod:`monitor.reporting` for the counting rules), writes
``report.html``, ``concessions.csv``, ``members.csv`` and ``report.json`` into ``--out``
(default ``report-<period>/``) and prints a short summary, or with ``--json`` one JSON
document: ``{"ok", "out", "files", "report"}``.

Exit codes: 0 done (an empty period included: the report says so); 1 the report could
not be written, or the store stayed locked; 2 bad input (period, missing or foreign store
file, unusable registry), with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click

from monitor.errors import AlertStoreBusyError, MonitorError
from monitor.reporting import (
    NO_FINDINGS,
    IndicatorReport,
    ReportWriteError,
    build_report,
    parse_period,
    write_report,
)

__all__ = ["report_command"]

_STATE_ENV = "MONITOR_STATE"


def _fail(message: str, as_json: bool, code: int, kind: str) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, "error_type": kind}))
    else:
        click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


def _summary(report: IndicatorReport, out: Path) -> list[str]:
    p = report.to_dict()["portfolio"]
    lines = [f"Indicator report {report.period.label} from {report.store}: "
             f"{p['n_concessions']} concession(s), {p['n_members']} member(s)"]
    if report.empty:
        lines.append(f"  {NO_FINDINGS}")
    else:
        def ha(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f} ha"

        lines += [
            f"  findings: {p['findings_counted']} counted of {p['findings_recorded']} "
            f"recorded, {p['exceedances']} exceedance(s), {p['indeterminate']} indeterminate",
            f"  vegetation loss: {ha(p['loss_ha_total'])} (outside footprint "
            f"{ha(p['loss_ha_licence_outside_footprint'])}, exclusion zones "
            f"{ha(p['loss_ha_exclusion_zone'])})",
            f"  turbidity exceedance days: {p['turbidity_exceedance_days'] or 0}; tailings "
            f"growth outside footprint: {ha(p['tailings_growth_outside_footprint_ha'])}",
            f"  alerts: {p['alerts_total']} (violation {p['alerts_violation']}, warning "
            f"{p['alerts_warning']}, notice {p['alerts_notice']})"]
        for c in report.concessions:
            ind = c.indicators
            days = ind.turbidity_exceedance_days
            lines.append(f"  {c.concession_id} [{c.member}]: loss {ha(ind.loss_ha_total)}, "
                         f"turbidity days {'n/a' if days is None else days}, alerts "
                         f"{sum(ind.alerts_by_severity.values())}")
    lines.append(f"wrote {out}/ (report.html, concessions.csv, members.csv, report.json)")
    return lines


@click.command("report")
@click.option("--state", "state", required=True, envvar=_STATE_ENV, show_envvar=True,
              type=click.Path(path_type=Path), help="Alert store (SQLite) to read; never "
              "modified.")
@click.option("--period", "period_text", required=True,
              help="A year (2024) or a range YYYY-MM-DD..YYYY-MM-DD (inclusive).")
@click.option("--aoi", type=click.Path(path_type=Path), default=None,
              help="Concession registry: names and coalition members (attribute "
              "coalition_member, else holder).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: report-<period>/).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document and nothing "
              "else.")
def report_command(state: Path, period_text: str, aoi: Path | None, out: Path | None,
                   as_json: bool) -> None:
    """Write an indicator report of the findings observed in --period.

    Per concession and per coalition member: vegetation loss per zone, turbidity
    exceedance days, tailings growth, alerts by severity, state and review, and data
    availability, as report.html, concessions.csv, members.csv and report.json.
    """
    try:
        period = parse_period(period_text)
        report = build_report(state, period, aoi=aoi)
    except AlertStoreBusyError as exc:
        _fail(str(exc), as_json, 1, type(exc).__name__)
    except MonitorError as exc:
        _fail(str(exc), as_json, 2, type(exc).__name__)
    folder = out or Path(f"report-{period.label.replace('..', '_')}")
    try:
        files = write_report(report, folder)
    except ReportWriteError as exc:
        _fail(str(exc), as_json, 1, type(exc).__name__)
    if as_json:
        click.echo(json.dumps({"ok": True, "out": str(folder),
                               "files": {k: str(v) for k, v in files.items()},
                               "report": report.to_dict()}, indent=2, ensure_ascii=False))
        return
    for line in _summary(report, folder):
        click.echo(line)
