"""``monitor run CONFIG``: a portfolio run on Dask (see :mod:`pipelines.runner`).

Exit codes: 0 every unit done (whatever was found); 2 bad config or usage; 5 some units
failed (each with its reason in the summary; the others completed).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from monitor.cli.packaging import KEY_ENV
from monitor.errors import MonitorError

__all__ = ["EXIT_UNITS_FAILED", "quiet_dask", "run_command"]

EXIT_UNITS_FAILED = 5


def quiet_dask() -> None:
    """Keep Dask's INFO narration out of the output unless -vv asked for debug logs.

    Dask logs every scheduler, nanny and worker start and stop at INFO, and importing
    ``distributed`` sets its own logger levels, so this imports it first.
    """
    import distributed  # noqa: F401 - its import configures the loggers reset here

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in ("distributed", "tornado", "bokeh"):
            logging.getLogger(name).setLevel(logging.WARNING)


@click.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Attach to a running Dask scheduler (default: the config's, else a "
              "LocalCluster sized to this machine).")
@click.option("--since", type=click.Choice(["all", "last"]), default="all", show_default=True,
              help="'last': only acquisitions newer than each unit's last successful run.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar=KEY_ENV, show_envvar=True, help="Ed25519 key to sign packages with.")
@click.option("--json", "as_json", is_flag=True, help="Print run-summary.json only.")
def run_command(config: Path, scheduler: str | None, since: str, key: Path | None,
                as_json: bool) -> None:
    """Run the portfolio of CONFIG: every concession x indicator, on Dask.

    Records runs and units in the ledger (STATE/ledger.sqlite), alerts in
    STATE/alerts.sqlite, and writes packages, exports (GeoJSON, GeoPackage), the indicator
    report and run-summary.json into OUTPUT. A killed run resumes where it stopped when run
    again; two runs at once never work on the same unit.
    """
    from pipelines.config import load_run_config
    from pipelines.runner import run_portfolio
    from pipelines.summary import human_summary

    quiet_dask()
    err = Console(stderr=True, quiet=as_json)
    try:
        cfg = load_run_config(config)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("starting", total=None)

            def tick(message: str, done: int, total: int) -> None:
                bar.update(task, description=message, completed=done, total=total)

            summary = run_portfolio(cfg, scheduler=scheduler, since=since, key=key,
                                    progress=tick)
    except MonitorError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
    else:
        for line in human_summary(summary):
            click.echo(line)
    if summary.failed:
        sys.exit(EXIT_UNITS_FAILED)
