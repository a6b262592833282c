"""`monitor check`: one concession, one period (or two dates), a table of findings.

Exit codes: 0 done (whatever was found); 2 bad input (registry, standard, dates, source,
signing key), with the reason; 3 when ``--fail-on SEVERITY`` is given and a finding of that
severity or higher was made; 4 when ``--package`` is given and the evidence package could
not be built (the findings are printed all the same).

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
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from monitor.checking import CheckResult, check
from monitor.errors import EvidenceError, MonitorError, SigningKeyError
from monitor.evidence.package import PackageInfo, build_package
from monitor.evidence.signing import fingerprint_of_private_key
from monitor.findings import SEVERITIES

EXIT_FAIL_ON = 3
EXIT_PACKAGE = 4
KEY_ENV = "MONITOR_SIGNING_KEY"
_DATE = click.DateTime(["%Y-%m-%d"])
_STYLE = {"compliant": "green", "exceedance": "bold red", "indeterminate": "yellow"}


@click.command("check")
@click.argument("concession_id")
@click.option("--aoi", "aoi", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Concession registry (GeoJSON, GPKG, GeoParquet, SHP).")
@click.option("--source", required=True, help="Imagery source, e.g. local:demo-output/scenes.")
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
@click.option("--package", "package_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Build the evidence package (a BagIt bag) into this folder.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), envvar=KEY_ENV,
              show_envvar=True, help="Ed25519 private key to sign the package with "
              f"(default: ${KEY_ENV}); without one the package is unsigned.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON only.")
def check_command(concession_id: str, aoi: Path, source: str, start: datetime | None,
                  end: datetime | None, before: datetime | None, after: datetime | None,
                  standards: tuple[Path, ...], state: Path | None,
                  indicators: tuple[str, ...], fail_on: str | None,
                  package_dir: Path | None, key: Path | None, as_json: bool) -> None:
    """Check CONCESSION_ID against its standard for a period, and print the findings.

    Baseline mode (--from/--to) compares each new clear observation with the concession's
    own seasonal baseline (read from the two years before --from). Two-date mode
    (--before/--after) compares two dates: vegetation loss only, low confidence.
    With --package DIR, the evidence package is built into DIR (signed with --key).
    """
    err = Console(stderr=True, quiet=as_json)
    source_of_key = click.get_current_context().get_parameter_source("key")
    if package_dir is None and key is not None and source_of_key == ParameterSource.COMMANDLINE:
        raise click.UsageError("--key signs the evidence package: give --package DIR too")
    if package_dir is None:
        key = None  # a key from the environment is only used for packages
    elif key is not None:
        try:
            fingerprint_of_private_key(key)  # a bad key fails now, not after the check
        except (SigningKeyError, EvidenceError) as exc:
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
    except MonitorError as exc:
        err = Console(stderr=True)
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    package: PackageInfo | None = None
    package_error: str | None = None
    if package_dir is not None:
        try:
            with err.status("building the evidence package", spinner="dots"):
                package = build_package(result, package_dir, key=key)
        except MonitorError as exc:
            package_error = str(exc)
    if as_json:
        data = result.to_dict()
        if package_dir is not None:
            data["package"] = (package.to_dict() if package is not None
                               else {"error": package_error})
        click.echo(json.dumps(data, indent=2))
    else:
        _print(result)
        if package is not None:
            _print_package(package)
    if package_error is not None:
        Console(stderr=True).print(f"[bold red]error:[/] evidence package not built: "
                                   f"{package_error}", highlight=False)
        sys.exit(EXIT_PACKAGE)
    worst = result.worst_severity()
    if fail_on and worst and SEVERITIES.index(worst) >= SEVERITIES.index(fail_on):
        sys.exit(EXIT_FAIL_ON)


def _print_package(package: PackageInfo) -> None:
    click.echo(f"evidence package: {package.path}")
    click.echo(f"  id {package.package_id}, {package.files} data files")
    if package.signed:
        click.echo(f"  signed with {package.fingerprint}")
    else:
        click.echo(f"  UNSIGNED: no --key given and ${KEY_ENV} is not set")


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{(' ' + unit) if unit else ''}"


def _print(result: CheckResult) -> None:
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
