"""The task a Dask worker runs: one concession, its pixels read once, all its indicators.

A :class:`ConcessionTask` carries everything the work needs (paths, period, GDAL
settings, package options), so nothing depends on the worker's process-global state: the
GDAL settings are applied around the work with ``rasterio.Env``, the cube is computed with
the threaded scheduler inside the worker (PERFORMANCE.md: pixel work stays in one
process), and only a small :class:`ConcessionOutcome` goes back to the driver.

The task may run more than once (a lost worker's tasks are re-run): everything it writes
is idempotent. Findings and alerts go to the alert store under their natural keys, and
packages have stable ids and are published atomically. The alert store and the output
folder must be reachable by the workers (one machine, or a shared file system).
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import dask
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from monitor.checking import check
from monitor.concessions import load_concessions
from monitor.errors import MonitorError, NoImageryError, SceneSkippedWarning
from monitor.findings import Finding
from monitor.sources import open_source

__all__ = ["ConcessionOutcome", "ConcessionTask", "run_concession"]


@dataclass(frozen=True)
class ConcessionTask:
    """One concession's units of work, as sent to a worker."""

    run_id: str
    concession_id: str
    indicators: tuple[str, ...]
    registry: str
    source: str
    standard: tuple[str, ...]
    standard_id: str | None
    start: date
    end: date
    state: str
    gdal: Mapping[str, str]
    package_dir: str | None = None
    per_alert: bool = False
    tiers: tuple[str, ...] = ("full",)
    disclosure: str | None = None
    key: str | None = None
    secret_text: str | None = field(default=None, repr=False)
    new_after: date | None = None


@dataclass(frozen=True)
class ConcessionOutcome:
    """What came of a :class:`ConcessionTask` (small: no pixels)."""

    concession_id: str
    indicators: tuple[str, ...]
    status: str
    reason: str = ""
    findings: tuple[Finding, ...] = ()
    scenes: tuple[str, ...] = ()
    last_acquisition: date | None = None
    clear_observations: int = 0
    skipped_scenes: tuple[dict[str, str], ...] = ()
    packages: tuple[dict[str, Any], ...] = ()
    package_error: str | None = None
    seconds: float = 0.0
    #: Wall time of the check (read, indicators, evaluation, alert store) and of packaging.
    check_seconds: float = 0.0
    package_seconds: float = 0.0


def _packages(task: ConcessionTask, result: Any) -> tuple[tuple[dict[str, Any], ...],
                                                           str | None]:
    from monitor.disclosure import load_disclosure
    from monitor.evidence.publish import FULL, publish, tier_requests
    from monitor.secret import DisclosureSecret

    if task.package_dir is None:
        return (), None
    try:
        tiers: list[Any] = [None]
        if list(task.tiers) != [FULL]:
            secret = (DisclosureSecret.from_env({"MONITOR_DISCLOSURE_KEY": task.secret_text})
                      if task.secret_text else None)
            tiers = tier_requests(task.tiers, load_disclosure(task.disclosure), secret)
        built = publish(result, Path(task.package_dir),
                        key=Path(task.key) if task.key else None,
                        per_alert=task.per_alert, tiers=tiers)
    except Exception as exc:  # a packaging bug must not hide the recorded findings
        return (), _failure(exc)
    return tuple(p.to_dict() for p in built), None


def _failure(exc: BaseException) -> str:
    """A failure's reason: a MonitorError's message, or any error's type and last frame."""
    if isinstance(exc, MonitorError):
        return f"{type(exc).__name__}: {exc}"
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"


def _acquired_after(task: ConcessionTask, after: date) -> bool:
    """Whether the source holds an acquisition over the concession after ``after``."""
    concession = load_concessions(task.registry)[task.concession_id]
    found = open_source(task.source).search(
        concession.aoi_lonlat(100.0),
        datetime.combine(after + timedelta(days=1), dtime.min, tzinfo=UTC),
        datetime.combine(task.end, dtime.max, tzinfo=UTC))
    return bool(found.scenes)


def run_concession(task: ConcessionTask) -> ConcessionOutcome:
    """Check one concession for the task's period and indicators; never raises.

    A :class:`~monitor.errors.MonitorError` becomes a ``failed`` outcome with its message;
    no acquisition in the period becomes ``nothing-new``; any other exception becomes
    ``failed`` with its type and last frame, so one concession never stops a run.
    """
    started = time.perf_counter()

    def outcome(status: str, **fields: Any) -> ConcessionOutcome:
        return ConcessionOutcome(task.concession_id, task.indicators, status,
                                 seconds=round(time.perf_counter() - started, 3), **fields)

    start = task.start
    if task.new_after is not None:  # --since last
        try:
            if not _acquired_after(task, task.new_after):
                return outcome("nothing-new",
                               reason=f"no acquisition after {task.new_after}")
        except Exception as exc:  # isolate the concession, as below
            return outcome("failed", reason=_failure(exc))
        # a check needs a period of at least two days; findings are idempotent
        start = min(task.new_after + timedelta(days=1), task.end - timedelta(days=1))
    try:
        gdal = {k: int(v) if v.isdigit() else v for k, v in task.gdal.items()}
        with rasterio.Env(**gdal), dask.config.set(scheduler="threads"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", SceneSkippedWarning)  # recorded on the cube
            # odc-loader's in-memory resampling, which rasterio calls "not georeferenced"
            warnings.filterwarnings("ignore", category=NotGeoreferencedWarning,
                                    module="rasterio.warp")
            result = check(task.concession_id, aoi=task.registry, source=task.source,
                           start=start, end=task.end,
                           standard=list(task.standard) or None,
                           standard_id=task.standard_id, state=task.state,
                           indicators=list(task.indicators))
    except NoImageryError as exc:
        return outcome("nothing-new", reason=str(exc))
    except Exception as exc:  # isolate the concession; the driver records the reason
        return outcome("failed", reason=_failure(exc))
    checked = time.perf_counter()
    cube = result.cube
    in_period: list[str] = []
    last: date | None = None
    clear = 0
    if cube is not None and cube.sizes.get("time", 0):
        times = [date.fromisoformat(str(t)[:10]) for t in cube["time"].values]
        ids = [str(s) for s in cube["scene_id"].values]
        keep = [i for i, d in enumerate(times) if start <= d <= task.end]
        in_period = [ids[i] for i in keep]
        last = max((times[i] for i in keep), default=None)
        if "clear" in cube and keep:
            clear = int(cube["clear"].isel(time=keep).any(dim=("y", "x")).sum())
    packaging = time.perf_counter()
    packages, package_error = _packages(task, result)
    return outcome("ok", findings=result.findings, scenes=tuple(in_period),
                   last_acquisition=last, clear_observations=clear,
                   skipped_scenes=tuple(result.skipped_scenes), packages=packages,
                   package_error=package_error,
                   check_seconds=round(checked - started, 3),
                   package_seconds=round(time.perf_counter() - packaging, 3))
