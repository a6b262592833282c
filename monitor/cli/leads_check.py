"""``monitor leads check LEAD_ID``: the targeted check a community lead triggers.

Exit codes as ``monitor check``: 0 done, 2 bad input (lead, secret, registry, source,
package options), 4 when a package could not be built. Output names the lead by its id
only; with ``--package``, the packages cite it as their disclosure tier allows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from monitor.cli.check import EXIT_PACKAGE, print_findings
from monitor.cli.packaging import package_options, plan_packages
from monitor.errors import MonitorError
from monitor.evidence.citations import DEFAULT_RADIUS_M, LeadCitation
from monitor.evidence.package import PackageInfo
from monitor.evidence.publish import publish
from monitor.secret import DisclosureSecret
from monitor.targeted import DAYS_AFTER, DAYS_BEFORE, check_lead, mark_checked

__all__ = ["lead_check_command"]


@click.command("check")
@click.argument("lead_id")
@click.option("--state", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="State store holding the lead (receives the findings).")
@click.option("--aoi", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Concession registry.")
@click.option("--source", required=True,
              help="Imagery source: local:PATH, sentinelhub[:cdse|:URL] or stac:URL.")
@click.option("--standard", "standards", multiple=True, type=click.Path(exists=True,
              path_type=Path), help="Standard file or folder (repeatable).")
@click.option("--days-before", type=click.IntRange(1, 730), default=DAYS_BEFORE,
              show_default=True, help="Days before the reported date the check starts.")
@click.option("--days-after", type=click.IntRange(0, 365), default=DAYS_AFTER,
              show_default=True, help="Days after the reported date the check ends.")
@click.option("--radius-m", type=click.FloatRange(10, 20_000), default=DEFAULT_RADIUS_M,
              show_default=True, help="A change over a limit this close corroborates it.")
@package_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON only.")
def lead_check_command(lead_id: str, state: Path, aoi: Path, source: str,
                       standards: tuple[Path, ...], days_before: int, days_after: int,
                       radius_m: float, package_dir: Path | None, per_alert: bool,
                       tiers: tuple[str, ...], disclosure: Path | None, key: Path | None,
                       as_json: bool) -> None:
    """Check the concession and dates of community lead LEAD_ID, and answer it.

    The check covers the lead's concession from --days-before before the reported date
    to --days-after after it; the lead is corroborated when a change over a limit lies
    within --radius-m of the reported place. With --package DIR (and --tier public ...)
    the evidence packages cite the lead; the public tier shows only its id, dates and
    whether it was corroborated.
    """
    err = Console(stderr=True, quiet=as_json)
    try:
        secret = DisclosureSecret.from_env()
        plan = plan_packages(package_dir, per_alert, tiers, disclosure, key)
        with err.status("checking", spinner="dots") as status:
            answer = check_lead(lead_id, state=state, aoi=aoi, source=source, secret=secret,
                                standard=list(standards) or None, days_before=days_before,
                                days_after=days_after, radius_m=radius_m,
                                progress=lambda m: status.update(f"{lead_id}: {m}"))
    except MonitorError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    packages: list[PackageInfo] = []
    package_error: str | None = None
    if plan is not None:
        try:
            with err.status("building evidence packages", spinner="dots"):
                packages = publish(answer.result, plan.out_dir, key=plan.key,
                                   per_alert=plan.per_alert, tiers=plan.tiers,
                                   citations=[answer.citation])
            mark_checked(state, answer.lead_id, packages[0].package_id)
        except MonitorError as exc:
            package_error = str(exc)
    if as_json:
        data = {"lead": _citation_dict(answer.citation), "check": answer.result.to_dict(),
                "packages": [p.to_dict() for p in packages]}
        if package_error is not None:
            data["package_error"] = package_error
        click.echo(json.dumps(data, indent=2))
    else:
        print_findings(answer.result)
        click.echo(_citation_words(answer.citation))
        for p in packages:
            click.echo(f"evidence package ({p.tier}"
                       + (f", alert {p.alert_id}" if p.alert_id else "") + f"): {p.path}")
    if package_error is not None:
        Console(stderr=True).print(f"[bold red]error:[/] evidence package not built: "
                                   f"{package_error}", highlight=False)
        sys.exit(EXIT_PACKAGE)


def _citation_dict(c: LeadCitation) -> dict[str, object]:
    return {"lead_id": c.lead_id, "concession_id": c.concession_id,
            "seen_on": c.seen_on.isoformat(), "corroborated": c.corroborated,
            "radius_m": c.radius_m, "events": list(c.events)}


def _citation_words(c: LeadCitation) -> str:
    events = ", ".join(c.events) or "none"
    verdict = "CORROBORATED" if c.corroborated else "not corroborated"
    return (f"lead {c.lead_id} (seen {c.seen_on}): {verdict}; changes within "
            f"{c.radius_m:.0f} m of the reported place: {events}")
