"""The ``monitor`` command: thin click wrappers that parse, call the library and format.

Each command group lives in its own module; this module only assembles them.
"""

from __future__ import annotations

import logging
import warnings

import click
from rasterio.errors import NotGeoreferencedWarning

from monitor import __version__
from monitor.cli.alerts import alerts
from monitor.cli.aoi import aoi
from monitor.cli.check import check_command
from monitor.cli.demo import demo
from monitor.cli.evidence import keys, verify_command
from monitor.cli.leads import leads
from monitor.cli.leads_check import lead_check_command
from monitor.cli.report import report_command
from monitor.cli.run import run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="monitor")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Concession Monitor: watch mining concessions from space.

    Checks licensed concession boundaries against a versioned environmental standard with
    Sentinel-2 and Landsat imagery. Start with `monitor demo`.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")

    # odc-loader resamples 20 m bands into in-memory arrays, which rasterio reports as
    # "not georeferenced": noise for a user, so the CLI (never the library) hides it.
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module="rasterio.warp")


main.add_command(aoi)
main.add_command(check_command)
main.add_command(alerts)
main.add_command(demo)
main.add_command(keys)
leads.add_command(lead_check_command)
main.add_command(leads)
main.add_command(verify_command)
main.add_command(report_command)
main.add_command(run_command)
