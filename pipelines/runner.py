"""``monitor run``: a portfolio run on Dask, recorded in the run ledger.

1. The registry is read (a concession with registry errors fails alone, with the reason).
2. Units (concession x indicator) are started in the ledger, or a killed run with the same
   config is resumed; ``since="last"`` starts each concession after the last acquisition
   its units processed successfully.
3. Each concession's pending units are claimed (leases: two runs never work on one unit
   at once) and sent to the cluster as one task (:func:`pipelines.tasks.run_concession`):
   pixels are read once per concession and shared by its indicators.
4. Outcomes are recorded in the ledger as they arrive; leases are renewed meanwhile.
5. Exports (GeoJSON, GeoPackage), the indicator report and ``run-summary.json`` are
   written; the summary counts units, scenes, clear observations, alerts new / confirmed /
   resolved by severity, indeterminate findings and why, and says plainly when nothing
   new was found.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from distributed import Client, LocalCluster, as_completed

from monitor.alerts import AlertStore
from monitor.concessions import Concession
from monitor.errors import ConfigError, MonitorError
from monitor.registry_validation import read_registry
from monitor.secret import SECRET_ENV
from pipelines.config import RunConfig
from pipelines.ledger import Ledger
from pipelines.summary import RunSummary, alert_snapshot, summarise_run, write_outputs
from pipelines.tasks import ConcessionOutcome, ConcessionTask, run_concession

__all__ = ["applicable_indicators", "run_portfolio"]

log = logging.getLogger(__name__)
#: Skip reason of a unit another run is working on (run summaries count these).
LEASED = "leased by another run"
Progress = Callable[[str, int, int], None]


def applicable_indicators(concession: Concession, wanted: Sequence[str]) -> list[str]:
    """The indicators of ``wanted`` the concession's features allow, in ``wanted`` order."""
    kinds = {f.feature_type for f in concession.features}
    allowed = {"vegetation_loss", *(["turbidity"] if "water_reach" in kinds else []),
               *(["tailings"] if "tailings_facility" in kinds else [])}
    return [i for i in wanted if i in allowed]


@contextmanager
def _client(config: RunConfig, scheduler: str | None, n_tasks: int) -> Iterator[Client]:
    """A client of the given scheduler, or of a LocalCluster sized to the machine."""
    address = scheduler or config.dask.scheduler
    if address:
        with Client(address, timeout="30s") as client:  # type: ignore[no-untyped-call]
            yield client
        return
    cores = os.cpu_count() or 1
    workers = config.dask.n_workers or max(1, min(cores, n_tasks))
    threads = config.dask.threads_per_worker or max(1, cores // workers)
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers, threads_per_worker=threads, processes=True,
        host="127.0.0.1", dashboard_address="127.0.0.1:0",
        memory_limit=config.dask.memory_limit or "auto",
        silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


class _Renewer(threading.Thread):
    """Renews the leases of outstanding units every ``every`` seconds."""

    def __init__(self, path: Path, run_id: str, owner: str, every: float) -> None:
        super().__init__(daemon=True, name="lease-renewer")
        self.path, self.run_id, self.owner, self.every = path, run_id, owner, every
        self.units: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self) -> None:
        with Ledger(self.path, owner=self.owner) as ledger:
            while not self.stop.wait(self.every):
                with self.lock:
                    units = sorted(self.units)
                for cid, ind in units:
                    try:
                        ledger.renew(self.run_id, cid, ind)
                    except MonitorError as exc:  # taken over or store trouble: stop renewing
                        log.warning("lease of %s/%s not renewed: %s", cid, ind, exc)
                        with self.lock:
                            self.units.discard((cid, ind))


def _new_after(ledger: Ledger, cid: str, indicators: Sequence[str],
               since: str) -> date | None:
    """With ``since="last"``: the last acquisition every unit processed (None: all)."""
    if since != "last":
        return None
    lasts = [rec.last_acquisition for ind in indicators
             if (rec := ledger.last_success(cid, ind)) is not None]
    if len(lasts) < len(indicators) or any(d is None for d in lasts):
        return None  # a unit never processed starts at the period's start
    return min(d for d in lasts if d is not None)


def run_portfolio(config: RunConfig, *, scheduler: str | None = None, since: str = "all",
                  key: Path | None = None, progress: Progress | None = None) -> RunSummary:
    """Run the portfolio of ``config``; see the module docstring.

    Parameters
    ----------
    config
        The run config (:func:`pipelines.config.load_run_config`).
    scheduler
        ``tcp://HOST:PORT`` of a running Dask scheduler (default: the config's, else a
        LocalCluster sized to the machine).
    since
        ``all`` (the config's period) or ``last`` (only acquisitions newer than the last
        successful run of each unit).
    key
        Ed25519 private key to sign packages with.
    progress
        Called with (message, done, total).

    Returns
    -------
    RunSummary
    """
    if since not in ("all", "last"):
        raise ConfigError(f"--since is 'all' or 'last', not {since!r}")
    say = progress or (lambda _m, _d, _t: None)
    registry = read_registry(config.registry)
    wanted = (list(registry.concessions) if config.concessions == "all"
              else list(config.concessions))
    bad = {cid: "; ".join(p.message for p in registry.problems_for(cid)
                          if p.severity == "error") or "not in the registry"
           for cid in wanted if cid not in registry.concessions}
    plan = {cid: applicable_indicators(registry.concessions[cid], config.indicators)
            for cid in wanted if cid in registry.concessions}
    units = [(cid, ind) for cid, inds in plan.items() for ind in inds]
    units += [(cid, "registry") for cid in bad]
    config.state.mkdir(parents=True, exist_ok=True)
    config.output.mkdir(parents=True, exist_ok=True)
    start, end = config.period.resolved()
    with AlertStore(config.alerts_path) as store:
        before = alert_snapshot(store)
    with Ledger(config.ledger_path) as ledger:
        run = ledger.start_run(config.digest(), units, since_mode=since)
        for cid, reason in bad.items():
            if ledger.claim(run.run_id, cid, "registry"):
                ledger.fail(run.run_id, cid, "registry", reason=reason, seconds=0.0)
        tasks: list[ConcessionTask] = []
        done = {(u.concession_id, u.indicator) for u in ledger.units(run.run_id)
                if u.status == "ok"}
        for cid, inds in plan.items():
            claimed = [i for i in inds if ledger.claim(run.run_id, cid, i)]
            for ind in sorted(set(inds) - set(claimed) - {i for c, i in done if c == cid}):
                ledger.skip(run.run_id, cid, ind, reason=LEASED)
            if claimed:
                tasks.append(_task(config, run.run_id, cid, claimed, start, end, key,
                                   _new_after(ledger, cid, claimed, since)))
        outcomes: list[ConcessionOutcome] = []
        if tasks:
            outcomes = _execute(config, ledger, run.run_id, tasks, scheduler, say)
        with AlertStore(config.alerts_path) as store:
            summary = summarise_run(config, run, ledger.units(run.run_id), outcomes,
                                    before, alert_snapshot(store), (start, end))
        summary.status = ledger.finish_run(run.run_id, summary.to_dict())
    write_outputs(config, summary)
    return summary


def _task(config: RunConfig, run_id: str, cid: str, indicators: Sequence[str], start: date,
          end: date, key: Path | None, new_after: date | None) -> ConcessionTask:
    pk = config.packages
    return ConcessionTask(
        run_id=run_id, concession_id=cid, indicators=tuple(indicators),
        registry=str(config.registry), source=config.source,
        standard=tuple(str(s) for s in config.standard), standard_id=config.standard_id,
        start=start, end=end, state=str(config.alerts_path), gdal=dict(config.dask.gdal),
        package_dir=str(config.output / "packages") if pk.build else None,
        per_alert=pk.per_alert, tiers=pk.tiers,
        disclosure=None if pk.disclosure is None else str(pk.disclosure),
        key=None if key is None else str(key.resolve()),
        secret_text=os.environ.get(SECRET_ENV) or None,
        new_after=None if new_after is None or new_after < start else new_after)


def _execute(config: RunConfig, ledger: Ledger, run_id: str, tasks: Sequence[ConcessionTask],
             scheduler: str | None, say: Progress) -> list[ConcessionOutcome]:
    renewer = _Renewer(config.ledger_path, run_id, ledger.owner, every=ledger.lease_s / 3)
    renewer.units = {(t.concession_id, i) for t in tasks for i in t.indicators}
    renewer.start()
    outcomes: list[ConcessionOutcome] = []
    try:
        with _client(config, scheduler, len(tasks)) as client:
            futures = {client.submit(run_concession, t, key=f"concession-{run_id}-"
                                     f"{t.concession_id}", pure=False): t for t in tasks}
            say("checking concessions", 0, len(tasks))
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                task = futures[future]
                try:
                    outcome: ConcessionOutcome = future.result()
                except Exception as exc:  # a task lost beyond Dask's retries
                    outcome = ConcessionOutcome(task.concession_id, task.indicators,
                                                "failed", reason=f"{type(exc).__name__}: {exc}")
                _record(ledger, run_id, outcome)
                with renewer.lock:
                    renewer.units -= {(task.concession_id, i) for i in task.indicators}
                outcomes.append(outcome)
                say(f"{task.concession_id}: {outcome.status}", len(outcomes), len(tasks))
    finally:
        renewer.stop.set()
        renewer.join(timeout=10)
    return outcomes


def _record(ledger: Ledger, run_id: str, o: ConcessionOutcome) -> None:
    for ind in o.indicators:
        if o.status == "ok":
            stats = {"findings": sum(f.indicator == ind for f in o.findings),
                     "exceedances": sum(f.indicator == ind and f.outcome == "exceedance"
                                        for f in o.findings),
                     "clear_observations": o.clear_observations,
                     "packages": len(o.packages), "package_error": o.package_error,
                     "check_seconds": o.check_seconds, "package_seconds": o.package_seconds}
            ledger.complete(run_id, o.concession_id, ind, scenes=o.scenes,
                            last_acquisition=o.last_acquisition, seconds=o.seconds,
                            stats=stats)
        elif o.status == "nothing-new":
            ledger.skip(run_id, o.concession_id, ind, reason=o.reason)
        else:
            ledger.fail(run_id, o.concession_id, ind, reason=o.reason, seconds=o.seconds)
        log.info("%s/%s: %s", o.concession_id, ind, o.status)
