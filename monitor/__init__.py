"""Concession Monitor: satellite monitoring of mining concessions.

The notebook-facing API::

    import monitor
    registry = monitor.load_concessions("aoi/demo/concessions.geojson")
    cube = monitor.load_cube("local:demo-output/scenes", registry["demo-clearing"],
                             "2021-06-01", "2022-12-31")
    ndvi = monitor.indices.compute("ndvi", cube)
    result = monitor.check("demo-clearing", aoi="demo-output/concessions.geojson",
                           source="local:demo-output/scenes", start="2022-01-01",
                           end="2022-12-01")
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("concession-monitor")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from monitor import indices
from monitor.checking import CheckResult, check
from monitor.concessions import load_concessions
from monitor.sources.cube import load_cube

__all__ = ["CheckResult", "__version__", "check", "indices", "load_concessions", "load_cube"]
