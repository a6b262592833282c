"""`monitor demo`: generate the synthetic portfolio and summarise each concession's cube."""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor.concessions import load_concessions
from monitor.errors import MonitorError, SceneSkippedWarning
from monitor.simulate import PortfolioSpec, generate_portfolio
from monitor.sources import open_source
from monitor.sources.cube import load_cube
from monitor.summary import cube_summary


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-output"), show_default=True,
              help="Folder for the generated portfolio (scenes, registry, ground truth).")
@click.option("--size", type=click.IntRange(320, 10980), default=320, show_default=True,
              help="Scene size in 10 m pixels per side (10980 = a full Sentinel-2 tile).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2021-06-01",
              show_default=True, help="First acquisition date.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default="2022-12-01",
              show_default=True, help="Last acquisition date (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON only.")
def demo(out: Path, size: int, seed: int, start: datetime, end: datetime,
         as_json: bool) -> None:
    """Generate the synthetic demo portfolio and summarise each concession.

    No credentials and no network: a seeded generator writes about 18 months of synthetic
    Sentinel-2 L2A scenes (clouds, a processing-baseline switch, a duplicated scene) for
    four concessions with known events, then each concession's cube is loaded and
    summarised. The same --size, --seed and dates give byte-identical files.
    """
    console = Console(stderr=True, quiet=as_json)
    spec = PortfolioSpec(size=size, seed=seed, start=start.date(), end=end.date())
    started = time.perf_counter()
    try:
        with _progress(console) as bar:
            task = bar.add_task("generating scenes", total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            portfolio = generate_portfolio(out, spec, progress=tick)
        registry = load_concessions(portfolio.registry_path)
        source = open_source(f"local:{portfolio.scenes_dir}")
        summaries: list[dict[str, Any]] = []
        with _progress(console) as bar:
            task = bar.add_task("loading cubes", total=len(registry))
            for concession in registry:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SceneSkippedWarning)
                    cube = load_cube(source, concession, spec.start, spec.end)
                summary = cube_summary(cube)
                summary["name"] = concession.name
                summaries.append(summary)
                bar.advance(task)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:  # pragma: no cover - interactive
        raise click.Abort() from None
    elapsed = round(time.perf_counter() - started, 1)
    result = {"portfolio": str(portfolio.root), "registry": str(portfolio.registry_path),
              "scenes": len(portfolio.scene_ids), "seconds": elapsed, "concessions": summaries}
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    stdout = Console(file=sys.stdout)
    if not stdout.is_terminal:  # pipes and logs: wide enough that nothing wraps
        stdout = Console(file=sys.stdout, width=140)
    _print_table(stdout, result)


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_table(console: Console, result: dict[str, Any]) -> None:
    console.print(f"Synthetic portfolio in [bold]{result['portfolio']}[/]: "
                  f"{result['scenes']} scenes, registry {result['registry']}")
    table = Table(title="Concession cubes: index medians over clear acquisitions "
                        "(first clear -> last clear)")
    table.add_column("concession", no_wrap=True)
    for col in ("acquisitions", "clear", "mean clear", "grid"):
        table.add_column(col, justify="right")
    for col in ("NDVI", "BSI", "NDTI"):
        table.add_column(col, no_wrap=True)
    for s in result["concessions"]:
        ix = s["indices"]
        table.add_row(
            s["concession_id"], str(s["acquisitions"]), str(s["clear_acquisitions"]),
            f"{s['clear_fraction']['mean']:.0%}", f"{s['grid'][0]}x{s['grid'][1]}",
            *(f"{_fmt(ix[n]['median'])} ({_fmt(ix[n]['first_clear'])}->"
              f"{_fmt(ix[n]['last_clear'])})" for n in ("ndvi", "bsi", "ndti")),
        )
    console.print(table)
    console.print(f"Done in {result['seconds']} s. Try: monitor aoi validate "
                  f"{result['registry']}")
