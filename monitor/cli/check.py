"""`monitor check`: one concession, one period (or two dates), a table of findings.

Exit codes: 0 done (whatever was found); 2 bad input (registry, standard, dates, source,
signing key), with the reason; 3 when ``--fail-on SEVERITY`` is given and a finding of that
severity or higher was made; 4 when ``--package`` is given and the evidence package could
not be built (the findings are printed all the same); 6 when the imagery service failed,
stalled or refused after bounded retries: no verdict was made, retry later.

``--package DIR`` builds the check's evidence package (a BagIt bag, see
:mod:`monitor.evidence.package`) into ``DIR``; ``--key FILE`` (default: the environment
variable ``MONITOR_SIGNING_KEY``) signs it with an Ed25519 private key. Without a key the
package is built unsigned, and the output says so.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from monitor.checking import CheckResult, check
from monitor.cli.packaging import KEY_ENV, PackagePlan, package_options, plan_packages
from monitor.errors import MonitorError, SourceUnavailableError
from monitor.evidence.package import PackageInfo
from monitor.evidence.publish import publish
from monitor.findings import SEVERITIES

EXIT_FAIL_ON = 3
EXIT_PACKAGE = 4
EXIT_UNAVAILABLE = 6
_DATE = click.DateTime(["%Y-%m-%d"])
_STYLE = {"compliant": "green", "exceedance": "bold red", "indeterminate": "yellow"}


@click.command("check")
@click.argument("concession_id")
@click.option("--aoi", "aoi", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Concession registry (GeoJSON, GPKG, GeoParquet, SHP).")
@click.option("--source", required=True,
              help="Imagery source: local:PATH, sentinelhub[:cdse|:URL], or stac:URL[#options] "
                   "(stac:earth-search, stac:planetary-computer).")
@click.option("--from", "start", type=_DATE, help="Period start (baseline mode).")
@click.option("--to", "end", type=_DATE, help="Period end, inclusive (baseline mode).")
@click.option("--before", type=_DATE, help="Two-date mode: the 'before' date.")
@click.option("--after", type=_DATE, help="Two-date mode: the 'after' date.")
@click.option("--standard", "standards", multiple=True, type=click.Path(exists=True,
              path_type=Path), help="Standard file or folder (repeatable; default: "
              "configs/standards/default.yaml).")
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path),
              help="Alert store (SQLite); alerts are recorded there.")
@click.option("--indicator", "indicators", multiple=True,
              type=click.Choice(["vegetation_loss", "turbidity", "tailings"]),
              help="Only these indicators (repeatable; default: all that apply).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help=f"Exit {EXIT_FAIL_ON} when a finding of this severity or worse is made.")
@package_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON only.")
def check_command(concession_id: str, aoi: Path, source: str, start: datetime | None,
                  end: datetime | None, before: datetime | None, after: datetime | None,
                  standards: tuple[Path, ...], state: Path | None,
                  indicators: tuple[str, ...], fail_on: str | None,
                  package_dir: Path | None, per_alert: bool, tiers: tuple[str, ...],
                  disclosure: Path | None, key: Path | None, as_json: bool) -> None:
    """Check CONCESSION_ID against its standard for a period, and print the findings.

    Baseline mode (--from/--to) compares each new clear observation with the concession's
    own seasonal baseline (read from the two years before --from). Two-date mode
    (--before/--after) compares two dates: vegetation loss only, low confidence.
    With --package DIR, the evidence package is built into DIR (signed with --key);
    --per-alert adds one package per alert, --tier NAME builds disclosure tiers.
    """
    err = Console(stderr=True, quiet=as_json)
    try:
        plan = plan_packages(package_dir, per_alert, tiers, disclosure, key)
    except MonitorError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    try:
        with err.status("checking", spinner="dots") as status:
            result = check(
                concession_id, aoi=aoi, source=source,
                start=start.date() if start else None, end=end.date() if end else None,
                before=before.date() if before else None,
                after=after.date() if after else None,
                standard=list(standards) or None, state=state,
                indicators=list(indicators) or None,
                progress=lambda msg: status.update(f"{concession_id}: {msg}"),
            )
    except SourceUnavailableError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}\nno verdict: the imagery could "
                                   "not be read; retry later", highlight=False)
        sys.exit(EXIT_UNAVAILABLE)
    except MonitorError as exc:
        err = Console(stderr=True)
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    packages, package_error = build_packages(result, plan, err)
    if as_json:
        data = result.to_dict()
        if plan is not None:
            data["package"] = (packages[0].to_dict() if packages else {"error": package_error})
            data["packages"] = [p.to_dict() for p in packages]
            if package_error is not None:
                data["package_error"] = package_error
        click.echo(json.dumps(data, indent=2))
    else:
        print_findings(result)
        for package in packages:
            _print_package(package)
    if package_error is not None:
        Console(stderr=True).print(f"[bold red]error:[/] evidence package not built: "
                                   f"{package_error}", highlight=False)
        sys.exit(EXIT_PACKAGE)
    worst = result.worst_severity()
    if fail_on and worst and SEVERITIES.index(worst) >= SEVERITIES.index(fail_on):
        sys.exit(EXIT_FAIL_ON)


def build_packages(result: CheckResult, plan: PackagePlan | None,
                   err: Console) -> tuple[list[PackageInfo], str | None]:
    """Build the planned packages; (packages built, error message or None)."""
    if plan is None:
        return [], None
    packages: list[PackageInfo] = []
    try:
        with err.status("building evidence packages", spinner="dots") as status:
            packages = publish(result, plan.out_dir, key=plan.key, per_alert=plan.per_alert,
                               tiers=plan.tiers, progress=lambda m: status.update(m))
    except MonitorError as exc:
        return packages, str(exc)
    return packages, None


def _print_package(package: PackageInfo) -> None:
    scope = f"alert {package.alert_id}" if package.alert_id else "check"
    click.echo(f"evidence package ({package.tier}, {scope}): {package.path}")
    click.echo(f"  id {package.package_id}, {package.files} data files")
    if package.signed:
        click.echo(f"  signed with {package.fingerprint}")
    else:
        click.echo(f"  UNSIGNED: no --key given and ${KEY_ENV} is not set")


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{(' ' + unit) if unit else ''}"


def print_findings(result: CheckResult) -> None:
    """The findings as a table, then why, alerts, notes and skipped scenes."""
    out = Console(file=sys.stdout)
    if not out.is_terminal:
        out = Console(file=sys.stdout, width=150)
    out.print(f"[bold]{result.concession_id}[/] {result.period[0]} .. {result.period[1]} "
              f"({result.mode}) under standard {result.standard}")
    table = Table()
    for col in ("#", "indicator", "zone", "value", "limit", "outcome", "severity",
                "confidence", "clear obs", "onset"):
        table.add_column(col, no_wrap=True, justify="right" if col in ("#", "clear obs")
                         else "left")
    reasons: list[str] = []
    for i, f in enumerate(result.findings, start=1):
        zone = f.zone if f.zone_id == f.zone else f"{f.zone}:{f.zone_id}"
        table.add_row(str(i), f.indicator, zone, _num(f.value, f.unit), _num(f.limit, f.unit),
                      f"[{_STYLE[f.outcome]}]{f.outcome}[/]", f.severity or "", f.confidence,
                      str(f.n_clear_obs), "" if f.onset is None else f.onset.isoformat())
        if f.outcome != "compliant" and f.reason:
            reasons.append(f"  {i}. {f.reason}")
    out.print(table)
    if reasons:
        out.print("Why:", highlight=False)
        for line in reasons:
            out.print(line, highlight=False)
    if result.alerts:
        out.print(f"{len(result.alerts)} alert(s) in the state store: "
                  + ", ".join(str(a.get("alert_id")) for a in result.alerts))
    for note in result.notes:
        out.print(f"note: {note}")
    if result.skipped_scenes:
        out.print(f"{len(result.skipped_scenes)} scene(s) skipped (see --json for reasons)")
