"""``monitor aoi``: concession registry commands (thin: parse, call, format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.concessions import read_registry
from monitor.errors import RegistryError

__all__ = ["aoi"]


@click.group()
def aoi() -> None:
    """Concession registries: check boundary files before monitoring them."""


def _zones_text(zones: dict[str, Any] | None) -> str:
    """One-line zone counts, e.g. ``footprint 2, tailings 1, reaches 2 (1 up, 1 down)``."""
    if zones is None:
        return "-"
    reach = zones["water_reach"]
    return (
        f"footprint {zones['permitted_footprint']['count']}, "
        f"tailings {zones['tailings_facility']['count']}, "
        f"reaches {reach['count']} ({reach['upstream']} up, {reach['downstream']} down), "
        f"exclusion {zones['exclusion_zone']['count']}"
    )


def _print_report(summary: dict[str, Any]) -> None:
    """Render a registry summary as a rich table followed by every problem."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(width=200, highlight=False)
    table = Table(title=f"Concession registry {summary['file']}")
    for column in ("id", "name", "area ha", "CRS", "zones", "problems", "status"):
        table.add_column(column, justify="right" if column in ("area ha", "problems") else "left")
    for item in summary["concessions"]:
        errors = sum(p["severity"] == "error" for p in item["problems"])
        status = "unusable" if not item["usable"] else "warnings" if item["problems"] else "ok"
        table.add_row(
            Text(str(item["id"])),
            Text(str(item["name"] or "-")),
            f"{item['area_ha']:,.2f}" if item["area_ha"] is not None else "-",
            item["crs"] or "-",
            _zones_text(item["zones"]),
            f"{len(item['problems'])}" + (f" ({errors} errors)" if errors else ""),
            Text(status, style={"unusable": "red", "warnings": "yellow"}.get(status, "green")),
        )
    console.print(table)
    problems = summary["problems"]
    n_errors = sum(p["severity"] == "error" for p in problems)
    usable = sum(item["usable"] for item in summary["concessions"])
    console.print(
        f"{usable} usable concession(s); {n_errors} error(s), "
        f"{len(problems) - n_errors} warning(s)."
    )
    for p in problems:
        style = "red" if p["severity"] == "error" else "yellow"
        line = Text(f"{p['severity']} ", style=style)
        line.append(f"[{p['code']}] ", style="bold")
        line.append(p["message"])
        console.print(line)
    verdict = "usable" if summary["ok"] else "NOT usable: fix the errors above"
    console.print(Text(f"Registry {verdict}.", style="green" if summary["ok"] else "red"))


@aoi.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option(
    "--buffer-m",
    type=click.FloatRange(min=0.0),
    default=500.0,
    show_default=True,
    help="Width of the buffer ring outside each licence, metres.",
)
@click.pass_context
def validate(ctx: click.Context, file: Path, as_json: bool, buffer_m: float) -> None:
    """Validate the concession registry FILE and list every problem.

    Exit code 0 when the registry is usable (warnings allowed), 1 when any error.
    """
    try:
        summary = read_registry(file).summary(buffer_m)
    except RegistryError as exc:
        if as_json:
            problem = {
                "severity": "error",
                "code": "unreadable-file",
                "message": str(exc),
                "concession_id": None,
                "feature_index": None,
            }
            click.echo(json.dumps(
                {"file": str(file), "ok": False, "concessions": [], "problems": [problem]}
            ))
        else:
            click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_report(summary)
    ctx.exit(0 if summary["ok"] else 1)
