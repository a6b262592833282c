"""``monitor alerts``: list, show, review, resolve and export alerts (thin: parse, call, format).

The alert store is the SQLite file given by ``--state FILE``, else the ``MONITOR_STATE``
environment variable, else ``./monitor-state.sqlite``. Reviewers are named by ``--by``
or the ``MONITOR_ACTOR`` environment variable.

Exit codes: 0 done; 1 the store, the alert or the transition is not possible (missing
store, unknown alert, a change the alert's state does not allow; the message says why);
2 bad usage (unknown option value, a dismissal without a listed reason).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.alerts import ALERT_STATES, EXPORT_FORMATS, REVIEW_STATES, Alert, AlertStore
from monitor.alerts.export import export_alerts
from monitor.errors import AlertError, InvalidReviewError
from monitor.findings import DISMISS_REASONS, SEVERITIES

__all__ = ["DEFAULT_STATE", "STATE_ENV", "alerts"]

#: Environment variable naming the alert store file.
STATE_ENV = "MONITOR_STATE"
#: Alert store used when neither ``--state`` nor ``MONITOR_STATE`` is given.
DEFAULT_STATE = Path("monitor-state.sqlite")
_META = "monitor.alerts.state"
_STYLE = {"provisional": "yellow", "confirmed": "red", "resolved": "green",
          "dismissed": "dim", "analyst_confirmed": "red", "field_verified": "bold red",
          "notice": "yellow", "warning": "red", "violation": "bold red"}

_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print one JSON document and nothing else.")


def _console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(width=200, highlight=False)


def _styled(value: str) -> Text:
    return Text(value, style=_STYLE.get(value, ""))


def _fail(message: str, as_json: bool, code: int, kind: str) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, "error_type": kind}))
    else:
        click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


@contextmanager
def _store(ctx: click.Context, as_json: bool) -> Iterator[AlertStore]:
    """Open the store (it must exist); turn library errors into exit codes 1 and 2."""
    try:
        with AlertStore(ctx.meta[_META], create=False) as store:
            yield store
    except InvalidReviewError as exc:
        _fail(str(exc), as_json, 2, type(exc).__name__)
    except AlertError as exc:
        _fail(str(exc), as_json, 1, type(exc).__name__)


@click.group()
@click.option("--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar=STATE_ENV, default=DEFAULT_STATE, show_default=True, show_envvar=True,
              help="Alert store file (SQLite).")
@click.pass_context
def alerts(ctx: click.Context, state_file: Path) -> None:
    """Alerts: list and inspect them, record reviews, export them for partners."""
    ctx.meta[_META] = state_file


def _filters(func: Any) -> Any:
    for option in reversed([
        click.option("--concession", help="Only this concession id."),
        click.option("--state-filter", type=click.Choice(ALERT_STATES),
                     help="Only alerts in this lifecycle state."),
        click.option("--severity", type=click.Choice(SEVERITIES), help="Only this severity."),
        click.option("--review", type=click.Choice(REVIEW_STATES),
                     help="Only alerts in this review state."),
    ]):
        func = option(func)
    return func


@alerts.command("list")
@_filters
@_json_option
@click.pass_context
def list_alerts(ctx: click.Context, concession: str | None, state_filter: str | None,
                severity: str | None, review: str | None, as_json: bool) -> None:
    """List alerts, by concession and onset."""
    with _store(ctx, as_json) as store:
        found = store.list(concession_id=concession, state=state_filter, severity=severity,
                           review=review)
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in found], indent=2))
        return
    table = Table(title=f"Alerts in {ctx.meta[_META]}")
    for column in ("alert", "concession", "indicator", "zone", "onset", "state", "review",
                   "severity", "value", "last seen", "gfw"):
        table.add_column(column, justify="right" if column in ("value", "gfw") else "left")
    for a in found:
        table.add_row(Text(a.alert_id), Text(a.concession_id), Text(a.indicator),
                      Text(f"{a.zone} ({a.zone_id})"), a.onset.isoformat(), _styled(a.state),
                      _styled(a.review), _styled(a.severity), _value(a),
                      a.last_seen.isoformat(), str(a.gfw_conf or "-"))
    console = _console()
    console.print(table)
    console.print(f"{len(found)} alert(s).")


def _value(alert: Alert) -> Text:
    if alert.value is None:
        return Text("-")
    limit = "" if alert.limit is None else f" / {alert.limit:g}"
    return Text(f"{alert.value:g}{limit} {alert.unit}")


@alerts.command()
@click.argument("alert_id")
@_json_option
@click.pass_context
def show(ctx: click.Context, alert_id: str, as_json: bool) -> None:
    """Show one alert (an id or a unique prefix) and its history: who, when, why."""
    with _store(ctx, as_json) as store:
        alert = store.get(store.expand_id(alert_id))
        history = store.history(alert.alert_id)
    if as_json:
        click.echo(json.dumps({"alert": alert.to_dict(geometry=True),
                               "history": [t.to_dict() for t in history]}, indent=2))
        return
    console = _console()
    facts = Table(title=f"Alert {alert.alert_id}", show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value")
    data = alert.to_dict()
    for key in ("concession_id", "indicator", "zone", "zone_id", "onset", "standard", "state",
                "review", "severity", "first_seen", "last_seen", "confirmed_at",
                "resolved_at", "n_findings", "finding_id", "gfw_conf", "glad_conf",
                "gfw_code"):
        value = data[key]
        facts.add_row(key, _styled(str(value)) if value is not None else Text("-"))
    facts.add_row("value", _value(alert))
    facts.add_row("geometry", "yes" if alert.geometry is not None else "none")
    console.print(facts)
    log = Table(title="History")
    for column in ("at", "kind", "change", "by", "reason", "note"):
        log.add_column(column)
    for t in history:
        log.add_row(t.at, t.kind, Text(f"{t.from_state or '(new)'} -> {t.to_state}"),
                    Text(t.actor), Text(t.reason or "-"), Text(t.note or "-"))
    console.print(log)


def _change_report(before: Alert, after: Alert, field: str, as_json: bool,
                   history: list[dict[str, Any]]) -> None:
    old, new = getattr(before, field), getattr(after, field)
    if as_json:
        click.echo(json.dumps({"ok": True, "changed": old != new,
                               "alert": after.to_dict(), "transition": history[-1]
                               if old != new and history else None}, indent=2))
        return
    if old == new:
        click.echo(f"alert {after.alert_id}: {field} already {new}; nothing recorded")
    else:
        last = history[-1]
        why = f" ({last['reason']})" if last["reason"] else ""
        click.echo(f"alert {after.alert_id}: {field} {old} -> {new} by {last['actor']}{why}")


_by_option = click.option("--by", "actor", required=True, envvar="MONITOR_ACTOR",
                          show_envvar=True, help="Who makes the change (recorded).")


@alerts.command()
@click.argument("alert_id")
@click.option("--as", "as_state", required=True, type=click.Choice(REVIEW_STATES[1:]),
              help="The review outcome.")
@click.option("--reason", help=f"Why. Required to dismiss: one of {', '.join(DISMISS_REASONS)}.")
@click.option("--note", help="Free note (required with --reason other).")
@_by_option
@_json_option
@click.pass_context
def review(ctx: click.Context, alert_id: str, as_state: str, reason: str | None,
           note: str | None, actor: str, as_json: bool) -> None:
    """Record an analyst's review of ALERT_ID (confirmed, dismissed or field-verified)."""
    with _store(ctx, as_json) as store:
        full_id = store.expand_id(alert_id)
        before = store.get(full_id)
        after = store.review(full_id, as_state, actor, reason=reason, note=note)
        history = [t.to_dict() for t in store.history(full_id) if t.kind == "review"]
    _change_report(before, after, "review", as_json, history)


@alerts.command()
@click.argument("alert_id")
@click.option("--reason", required=True, help="Why the alert is resolved.")
@click.option("--note", help="Free note.")
@_by_option
@_json_option
@click.pass_context
def resolve(ctx: click.Context, alert_id: str, reason: str, note: str | None, actor: str,
            as_json: bool) -> None:
    """Resolve ALERT_ID by hand (a newer exceedance reopens it)."""
    with _store(ctx, as_json) as store:
        full_id = store.expand_id(alert_id)
        before = store.get(full_id)
        after = store.resolve(full_id, actor, reason, note=note)
        history = [t.to_dict() for t in store.history(full_id) if t.kind == "lifecycle"]
    _change_report(before, after, "state", as_json, history)


@alerts.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list(EXPORT_FORMATS)),
              help="File format (default: from the suffix: .gpkg .parquet .geojson .csv).")
@_filters
@_json_option
@click.pass_context
def export(ctx: click.Context, path: Path, fmt: str | None, concession: str | None,
           state_filter: str | None, severity: str | None, review: str | None,
           as_json: bool) -> None:
    """Export alerts to PATH in EPSG:4326 with partner confidence codes (atomic write)."""
    with _store(ctx, as_json) as store:
        result = export_alerts(store, path, fmt, concession_id=concession, state=state_filter,
                               severity=severity, review=review)
    if as_json:
        click.echo(json.dumps({"ok": True, **result.to_dict()}, indent=2))
    else:
        click.echo(f"wrote {result.n_alerts} alert(s) ({result.n_without_geometry} without "
                   f"polygons) to {result.path} ({result.format})")
