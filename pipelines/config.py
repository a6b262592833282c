"""Run configuration: what ``monitor run configs/NAME.yaml`` processes, and where to.

A run config names the concession registry, the imagery source, the standard, the
period, the output and state folders, the Dask cluster and the packages to publish.
Relative paths are relative to the config file; ``local:`` sources too. Strict YAML
(duplicate keys and unknown fields are errors naming their line); no secrets: signing
keys and the disclosure secret come from the environment (RELIABILITY.md rule 8)::

    format: concession-monitor/run/1
    name: demo
    registry: ../demo-output/concessions.geojson
    source: local:../demo-output/scenes
    period: {start: 2022-01-01, end: 2022-11-28}     # end: today is allowed
    output: ../demo-output/run                       # packages, exports, report
    state: ../demo-output/state                      # alerts.sqlite, ledger.sqlite
    concessions: all                                 # or a list of ids
    indicators: [vegetation_loss, turbidity, tailings]
    dask: {scheduler: null, n_workers: null, threads_per_worker: null}
    packages: {per_alert: true, tiers: [full], disclosure: null}
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.errors import ConfigError
from monitor.yamlstrict import path_text, problem_report, read_yaml

__all__ = ["DaskSettings", "PackageSettings", "RunConfig", "load_run_config"]

FORMAT = "concession-monitor/run/1"
IndicatorName = Literal["vegetation_loss", "turbidity", "tailings"]
INDICATORS: tuple[IndicatorName, ...] = ("vegetation_loss", "turbidity", "tailings")
#: GDAL settings that did best here (PERFORMANCE.md); they travel with each task.
DEFAULT_GDAL = {"GDAL_NUM_THREADS": "1", "GDAL_CACHEMAX": "64",
                "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Model):
    """The period checked: ``start`` to ``end`` inclusive (``end: today`` is allowed)."""

    start: date
    end: date | Literal["today"] = "today"

    def resolved(self, today: date | None = None) -> tuple[date, date]:
        """(start, end) with ``today`` replaced by the current UTC date."""
        end = (today or datetime.now(UTC).date()) if self.end == "today" else self.end
        return self.start, end


class DaskSettings(_Model):
    """Which Dask cluster runs the units."""

    scheduler: str | None = Field(default=None, description="tcp://HOST:PORT to attach to")
    n_workers: int | None = Field(default=None, ge=1, le=512)
    threads_per_worker: int | None = Field(default=None, ge=1, le=64)
    memory_limit: str | None = None
    gdal: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_GDAL))

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("tcp://", "tls://", "inproc://")):
            raise ValueError("a scheduler address starts with tcp://, tls:// or inproc://")
        return value


class PackageSettings(_Model):
    """Evidence packages to publish for the run's checks."""

    build: bool = True
    per_alert: bool = True
    tiers: tuple[str, ...] = ("full",)
    disclosure: Path | None = None


class RunConfig(_Model):
    """A portfolio run (see the module docstring)."""

    format: Literal["concession-monitor/run/1"]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    registry: Path
    source: str
    standard: tuple[Path, ...] = ()
    standard_id: str | None = None
    period: Period
    output: Path
    state: Path
    concessions: Literal["all"] | tuple[str, ...] = "all"
    indicators: tuple[IndicatorName, ...] = INDICATORS
    dask: DaskSettings = Field(default_factory=DaskSettings)
    packages: PackageSettings = Field(default_factory=PackageSettings)
    report: bool = True
    file: Path | None = None

    @property
    def alerts_path(self) -> Path:
        """The alert store (alerts, findings and leads)."""
        return self.state / "alerts.sqlite"

    @property
    def ledger_path(self) -> Path:
        """The run ledger."""
        return self.state / "ledger.sqlite"

    def digest(self) -> str:
        """sha256 of what decides a run's units and results (not the cluster)."""
        content = self.model_dump(mode="json", exclude={"dask", "file"})
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _resolve(base: Path, data: dict[str, object]) -> dict[str, object]:
    """Paths and ``local:`` sources relative to the config file's folder."""
    out = dict(data)
    for key in ("registry", "output", "state"):
        if isinstance(out.get(key), str):
            out[key] = str((base / str(out[key])).resolve())
    std = out.get("standard")
    if isinstance(std, str):
        std = [std]
    if isinstance(std, list):
        out["standard"] = [str((base / str(s)).resolve()) for s in std]
    src = out.get("source")
    if isinstance(src, str) and src.startswith("local:"):
        out["source"] = "local:" + str((base / src.removeprefix("local:")).resolve())
    packages = out.get("packages")
    if isinstance(packages, dict) and isinstance(packages.get("disclosure"), str):
        out["packages"] = {**packages,
                           "disclosure": str((base / str(packages["disclosure"])).resolve())}
    return out


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a run config.

    Raises
    ------
    ConfigError
        If the file cannot be read or breaks the schema; every problem is listed with its
        field path and line.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the run config {file}: {exc.strerror or exc}; see "
                          "configs/demo-run.yaml for an example") from exc
    data, lines = read_yaml(text, str(file))
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a run config is a mapping (see configs/demo-run.yaml)")
    try:
        return RunConfig.model_validate({**_resolve(file.resolve().parent, data),
                                         "file": str(file.resolve())})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = lines.get(loc) or lines.get(loc[:-1]) or lines.get(loc[:1]) or 1
            problems.append(f"{path_text(loc)} (line {line}): {err['msg']}")
        raise ConfigError(problem_report(str(file), problems)) from None
