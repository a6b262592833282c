"""Shared fixtures: the real data folder, temporary workspaces."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.simulate import Portfolio, PortfolioSpec, generate_portfolio

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def require(present: bool, what: str) -> None:
    """Skip the test when ``what`` is absent, but fail it when ``CI`` is set."""
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {what} is missing")
        pytest.skip(f"{what} is absent")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets of ../shared/data; skip when absent, fail when CI is set."""
    require(SHARED_DATA.is_dir(), f"the real data folder {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_portfolio(tmp_path_factory: pytest.TempPathFactory) -> Portfolio:
    """The default synthetic portfolio (18 months, size 320), generated once per session."""
    return generate_portfolio(tmp_path_factory.mktemp("demo") / "portfolio", PortfolioSpec())


@pytest.fixture(scope="session")
def services_portfolio(tmp_path_factory: pytest.TempPathFactory) -> Portfolio:
    """Dec 2021 - Sep 2022 at size 320 without cloud truth: the scenes the fake imagery
    services (Sentinel Hub, STAC API) serve, generated once per session."""
    spec = PortfolioSpec(size=320, start=date(2021, 12, 1), end=date(2022, 10, 1),
                         cloud_truth=False)
    return generate_portfolio(tmp_path_factory.mktemp("services") / "portfolio", spec)


@dataclass
class DemoJob:
    """The demo's whole job on a short series, then a ``--since last`` run that finds nothing."""

    out: Path
    config: Path
    demo_stdout: str
    first: dict
    second: dict


@pytest.fixture(scope="session")
def demo_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoJob]:
    """``monitor demo`` (2022-04-01..10-31), then ``monitor run --since last``, once per
    session: the run tests and the notebooks read it (and must not change it)."""
    from monitor.cli import main

    out = tmp_path_factory.mktemp("run") / "demo"
    runner = CliRunner()
    demo = runner.invoke(main, ["demo", "--out", str(out), "--start", "2022-04-01",
                                "--end", "2022-10-31"])
    assert demo.exit_code == 0, demo.output
    first = json.loads((out / "run" / "run-summary.json").read_text())
    second = runner.invoke(main, ["run", str(out / "run.yaml"), "--since", "last", "--json"])
    assert second.exit_code == 0, second.output
    yield DemoJob(out, out / "run.yaml", demo.stdout, first, json.loads(second.stdout))
