"""`monitor demo`: generate the synthetic portfolio and run the whole job on it.

By default the portfolio is generated and then run end to end through ``monitor run``
(:mod:`pipelines.runner`): alerts in the state store, exports, signed evidence packages for
every alert, the indicator report and a run summary that says what to open first. With
``--no-run`` it only generates the portfolio and summarises each concession's cube.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor.cli.run import quiet_dask
from monitor.concessions import load_concessions
from monitor.errors import MonitorError, SceneSkippedWarning
from monitor.evidence.signing import generate_keypair
from monitor.fsio import write_atomic
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
@click.option("--no-run", is_flag=True, help="Only generate the portfolio and summarise the "
              "cubes; do not run the job.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON only.")
def demo(out: Path, size: int, seed: int, start: datetime, end: datetime, no_run: bool,
         as_json: bool) -> None:
    """Generate the synthetic demo portfolio and run the whole monitoring job on it.

    No credentials and no network: a seeded generator writes about 18 months of synthetic
    Sentinel-2 L2A scenes (clouds, a processing-baseline switch, a duplicated scene) for
    four concessions with known events; then OUT/run.yaml is run like any portfolio
    (alerts, exports, signed packages for every alert with a demo key in OUT/keys, the
    indicator report). The same --size, --seed and dates give byte-identical scenes.
    With --no-run, each concession's cube is summarised instead.
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
        if not no_run:
            run_demo(out, spec, console, as_json)
            return
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


def _demo_config(out: Path, spec: PortfolioSpec) -> Path:
    """``OUT/run.yaml``: the whole portfolio over the last 60 % of the series."""
    span = (spec.end - spec.start).days
    start = spec.start + timedelta(days=int(span * 0.4))
    text = (f"# Written by `monitor demo`: the demo portfolio as a run config.\n"
            f"format: concession-monitor/run/1\nname: demo\n"
            f"registry: concessions.geojson\nsource: local:scenes\n"
            f"period: {{start: {start.isoformat()}, end: {spec.end.isoformat()}}}\n"
            f"output: run\nstate: state\nconcessions: all\n"
            f"packages: {{build: true, per_alert: true, tiers: [full]}}\nreport: true\n")
    path = out / "run.yaml"
    write_atomic(path, text.encode("utf-8"))
    return path


def _worst_first(report: Path) -> tuple[int, str]:
    """Sort key: alert packages of the worst severity first, then by path."""
    try:
        summary = json.loads((report.parent / "summary.json").read_text(encoding="utf-8"))
        worst = summary["verdict"]["worst_severity"]
        rank = (0 if summary["scope"]["kind"] == "alert" else 1) + 2 * (
            {"violation": 0, "warning": 1, "notice": 2}.get(worst, 3))
    except (OSError, ValueError, KeyError, TypeError):
        rank = 99
    return rank, str(report)


def run_demo(out: Path, spec: PortfolioSpec, console: Console, as_json: bool) -> None:
    """Run ``OUT/run.yaml`` and print what to open first."""
    from pipelines.config import load_run_config
    from pipelines.runner import run_portfolio
    from pipelines.summary import human_summary

    quiet_dask()
    key_dir = out / "keys"
    if not (key_dir / "demo.key").is_file():
        generate_keypair(key_dir, "demo")
    config = load_run_config(_demo_config(out, spec))
    with _progress(console) as bar:
        task = bar.add_task("running the portfolio", total=None)

        def tick(message: str, done: int, total: int) -> None:
            bar.update(task, description=message, completed=done, total=total)

        summary = run_portfolio(config, key=key_dir / "demo.key", progress=tick)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
        return
    for line in human_summary(summary):
        click.echo(line)
    report = config.output / "report" / "report.html"
    packages = sorted((config.output / "packages").glob("*/data/report.html"), key=_worst_first)
    click.echo("\nOpen first:")
    click.echo(f"  1. {report}  (the indicator report of the whole portfolio)")
    if packages:
        click.echo(f"  2. {packages[0]}  (an evidence package's report; "
                   f"{len(packages)} packages in {config.output / 'packages'})")
        click.echo(f"  3. monitor verify {packages[0].parents[1]} --public-key "
                   f"{key_dir / 'demo.pub'}")
    click.echo(f"  alerts: monitor alerts --state {config.alerts_path} list")
    if summary.failed:
        sys.exit(5)
