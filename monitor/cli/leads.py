"""``monitor leads``: add, import, list and show community grievance leads (thin wrappers).

Leads are kept in the state store (``--state FILE``, else ``MONITOR_STATE``, else
``./monitor-state.sqlite``), their protected details (location, claim, reporter) sealed
with the disclosure secret in ``MONITOR_DISCLOSURE_KEY``. Nothing printed here shows a
protected value, except ``monitor leads show LEAD_ID --reveal``, the explicit choice of
whoever holds the secret.

Exit codes: 0 done; 1 the state store cannot be used (missing, locked, not a store);
2 bad input (an invalid lead or file, an unknown lead, a missing or wrong secret, a bad
registry), with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.cli.alerts import DEFAULT_STATE, STATE_ENV
from monitor.concessions import Registry, load_concessions
from monitor.errors import AlertError, DisclosureError, RegistryError
from monitor.leads import (
    CLI_NAMES,
    PROTECTED_FIELDS,
    LeadStore,
    LeadSummary,
    RawLead,
    check_leads,
    read_leads,
)
from monitor.secret import DisclosureSecret

__all__ = ["leads"]

_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON document on stdout and nothing else there.")
_state_option = click.option(
    "--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
    envvar=STATE_ENV, default=DEFAULT_STATE, show_default=True, show_envvar=True,
    help="State store file (SQLite; the alert store).")
_aoi_option = click.option(
    "--aoi", "registry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Concession registry: when given, each lead's concession must be in it and its "
         "point within 5 km of the licence.")


def _console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(width=160, highlight=False)


def _fail(message: str, as_json: bool, code: int, kind: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, "error_type": kind}))
    raise click.exceptions.Exit(code)


@contextmanager
def _errors(as_json: bool) -> Iterator[None]:
    """Library errors to exit codes: 2 bad input or secret, 1 the store."""
    try:
        yield
    except (DisclosureError, RegistryError) as exc:
        _fail(str(exc), as_json, 2, type(exc).__name__)
    except AlertError as exc:
        _fail(str(exc), as_json, 1, type(exc).__name__)


def _registry(path: Path | None) -> Registry | None:
    return None if path is None else load_concessions(path)


@click.group()
def leads() -> None:
    """Community grievance leads: report, import, list, show.

    A lead's location, claim and reporter are protected: sealed in the state store with
    the disclosure secret (MONITOR_DISCLOSURE_KEY, made by `monitor keys secret`) and
    never printed, except by `monitor leads show LEAD_ID --reveal`.
    """


@leads.command("add")
@_state_option
@_aoi_option
@click.option("--concession", "concession_id", required=True, help="Concession id.")
@click.option("--lon", required=True, help="Longitude, degrees (EPSG:4326).")
@click.option("--lat", required=True, help="Latitude, degrees (EPSG:4326).")
@click.option("--date", "seen_on", required=True, help="When it was seen, YYYY-MM-DD.")
@click.option("--claim", required=True,
              help="What was seen (at most 2000 characters); '-' reads it from standard "
                   "input, which keeps it out of the shell history.")
@click.option("--reporter-name", help="Who reported it (protected).")
@click.option("--reporter-contact", help="How to reach them (protected).")
@click.option("--reporter-org", help="Their organisation (protected).")
@_json_option
def add_command(state_file: Path, registry_file: Path | None, concession_id: str, lon: str,
                lat: str, seen_on: str, claim: str, reporter_name: str | None,
                reporter_contact: str | None, reporter_org: str | None,
                as_json: bool) -> None:
    """Record one lead. Prints its id and whether it is new, never a protected value."""
    if claim == "-":
        claim = sys.stdin.read()
    values = {"concession_id": concession_id, "lon": lon, "lat": lat, "seen_on": seen_on,
              "claim": claim, "reporter_name": reporter_name,
              "reporter_contact": reporter_contact, "reporter_org": reporter_org}
    with _errors(as_json):
        secret = DisclosureSecret.from_env()
        (lead_input,) = check_leads([RawLead("", values, CLI_NAMES)], "the command line",
                                    _registry(registry_file))
        with LeadStore(state_file) as store:
            lead, new = store.add(lead_input, secret, origin="cli")
    if as_json:
        click.echo(json.dumps({"ok": True, "new": new, "lead": lead.public_dict()}, indent=2))
        return
    verb = "added" if new else "already stored, unchanged"
    click.echo(f"{lead.lead_id}  {verb}  (concession {lead.concession_id}, seen "
               f"{lead.seen_on.isoformat()}, status {lead.status})")


@leads.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_state_option
@_aoi_option
@_json_option
def import_command(file: Path, state_file: Path, registry_file: Path | None,
                   as_json: bool) -> None:
    """Import every lead of a CSV or GeoJSON FILE: all of them or, on any problem, none.

    CSV: a header row with concession_id, lon, lat, date, claim and optionally
    reporter_name, reporter_contact, reporter_org. GeoJSON: a FeatureCollection of Point
    features (EPSG:4326) with those properties. Leads already stored are counted, not
    duplicated.
    """
    with _errors(as_json):
        secret = DisclosureSecret.from_env()
        inputs = read_leads(file, _registry(registry_file))
        with LeadStore(state_file) as store:
            added = store.add_many(inputs, secret, origin="import")
    n_new = sum(1 for _, new in added if new)
    if as_json:
        click.echo(json.dumps({"ok": True, "file": str(file), "leads": len(added),
                               "added": n_new, "already_known": len(added) - n_new,
                               "lead_ids": [lead.lead_id for lead, _ in added]}, indent=2))
        return
    click.echo(f"{len(added)} lead(s) in {file}: {n_new} added, {len(added) - n_new} "
               f"already known.")


def _summary_table(found: list[LeadSummary], title: str) -> Table:
    table = Table(title=Text(title))
    for column in ("lead", "concession", "seen on", "received", "origin", "status",
                   "package"):
        table.add_column(column)
    for s in found:
        table.add_row(Text(s.lead_id), Text(s.concession_id), s.seen_on.isoformat(),
                      s.received_at.isoformat(), s.origin, s.status,
                      Text(s.checked_package or "-"))
    return table


@leads.command("list")
@_state_option
@click.option("--concession", "concession_id", help="Only this concession id.")
@_json_option
def list_command(state_file: Path, concession_id: str | None, as_json: bool) -> None:
    """List the leads (public fields only; no secret needed)."""
    with _errors(as_json), LeadStore(state_file, create=False) as store:
        found = store.list(concession_id)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in found], indent=2))
        return
    console = _console()
    console.print(_summary_table(found, f"Leads in {state_file}"))
    console.print(f"{len(found)} lead(s).")


@leads.command("show")
@click.argument("lead_id")
@_state_option
@click.option("--reveal", is_flag=True,
              help="Also unseal and print the protected details (location, claim, reporter). "
                   "Needs MONITOR_DISCLOSURE_KEY; never paste the output into a public "
                   "report.")
@_json_option
def show_command(lead_id: str, state_file: Path, reveal: bool, as_json: bool) -> None:
    """Show one lead: its public fields and commitments; with --reveal, its details."""
    lead_id = lead_id.strip().lower()
    with _errors(as_json), LeadStore(state_file, create=False) as store:
        if reveal:
            lead = store.get(lead_id, DisclosureSecret.from_env())
            data: dict[str, Any] = lead.to_dict(reveal=True)
        else:
            data = store.summary(lead_id).to_dict()
    if reveal:
        click.echo("note: protected details shown (--reveal); do not publish them", err=True)
    if as_json:
        click.echo(json.dumps({"lead": data}, indent=2, ensure_ascii=False))
        return
    console = _console()
    facts = Table(title=Text(f"Lead {data['lead_id']}"), show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    for key in ("concession_id", "seen_on", "received_at", "origin", "status",
                "checked_package", "key_id"):
        facts.add_row(key, Text(str(data[key] if data[key] is not None else "-")))
    for name, commitment in data["commitments"].items():
        facts.add_row(f"commitment {name}", Text(commitment))
    if reveal:
        for name in PROTECTED_FIELDS:
            value = data["protected"][name]
            facts.add_row(Text(f"{name} (protected)", style="bold red"),
                          Text("-" if value is None else str(value)))
    console.print(facts)
