"""Synthetic Sentinel-2 L2A portfolio with ground truth, for the demo, tests and benchmarks.

>>> from monitor.simulate import PortfolioSpec, generate_portfolio
>>> pf = generate_portfolio(Path("demo-output"), PortfolioSpec(seed=0))  # doctest: +SKIP

See ``aoi/demo/README.md`` for the portfolio's concessions, events and truth dates.
"""

from __future__ import annotations

from monitor.simulate.portfolio import (
    Portfolio,
    PortfolioSpec,
    generate_portfolio,
    write_registry,
)

__all__ = ["Portfolio", "PortfolioSpec", "generate_portfolio", "write_registry"]
