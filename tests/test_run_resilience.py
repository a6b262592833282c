"""Resilience of ``monitor run`` (issue 5, section 3; RELIABILITY.md, its figures printed).

1. A real Dask scheduler with two workers (separate processes on 127.0.0.1) gives the
   same alerts, findings and packages as a LocalCluster run.
2. A worker SIGKILLed mid-task: the run completes, nothing is lost or duplicated.
3. ``monitor run`` SIGKILLed (its whole process group) at seeded random moments, then
   resumed: the final state equals a clean run's, no partial package is ever visible and
   both SQLite files pass ``PRAGMA integrity_check``.
4. Two ``monitor run`` at once on one state store: no duplicates, no lease violations.

Every run is a ``monitor run`` subprocess in its own session, so the test can kill the
driver together with its LocalCluster. This machine's PID 1 does not reap orphans, so the
test process makes itself the child subreaper (Linux ``prctl``) and reaps what a killed
group leaves behind, as an init would. Whoever adopts an orphan here does not always reap it
promptly (a killed process was still a zombie 1 s later in one try), and a zombie counts as
alive to the package builder's stale-staging check and to the ledger's owner check
(``os.kill(pid, 0)`` succeeds on a zombie), so without this the results would depend on
the machine's init.

The config is two concessions of the demo portfolio (clearing and plume: vegetation
loss and turbidity, 3 units, 4 alerts, 6 signed packages) over 2022-06-01..2022-10-31:
the baseline (two years before the start) is read whatever the period, so a shorter
period saves little, and each concession costs ~10-35 s of worker time on this machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from monitor.alerts import AlertStore
from monitor.evidence.signing import KeyPair, generate_keypair
from monitor.evidence.verify import verify_package
from monitor.simulate import Portfolio
from tests.test_run import write_config

pytestmark = pytest.mark.skipif(sys.platform != "linux",
                                reason="process groups, /proc and prctl (Linux)")

T = TypeVar("T")
BIN = Path(sys.executable).parent
MONITOR = BIN / "monitor"
CONCESSIONS = ["demo-clearing", "demo-plume"]
N_UNITS = 3  # clearing: vegetation_loss; plume: vegetation_loss, turbidity
PERIOD = {"start": "2022-06-01", "end": "2022-10-31"}
PACKAGES = {"build": True, "per_alert": True, "tiers": ["full"]}
#: Bound of one ``monitor run`` (a clean run: ~25 s on this idle 2-core machine, ~50 s busy).
RUN_TIMEOUT_S = 300.0
PR_SET_CHILD_SUBREAPER = 36
#: Reason the runner gives a unit it could not claim (pipelines/runner.py).
LEASED_ELSEWHERE = "leased by another run"


# ---------------------------------------------------------------- processes


def wait_for(probe: Callable[[], T | None], timeout: float, what: str,
             every: float = 0.1) -> T:
    """Call ``probe`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def group_members(pgid: int) -> dict[int, tuple[str, int]]:
    """``{pid: (state, ppid)}`` of every process (zombies too) in process group ``pgid``."""
    members: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            members[int(entry.name)] = (fields[0], int(fields[1]))
    return members


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a process group; nothing when the group is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def reap_group(pgid: int, timeout: float = 15.0) -> None:
    """Reap the group's processes that were orphaned to this (subreaper) process.

    Returns when none is left, or when those left are another parent's zombies (no
    subreaper: this process cannot reap them); signals nothing.
    """
    deadline = time.monotonic() + timeout
    me = os.getpid()
    while time.monotonic() < deadline:
        members = group_members(pgid)
        if not members or all(state == "Z" and ppid != me
                              for state, ppid in members.values()):
            return
        for pid, (_state, ppid) in members.items():
            if ppid == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def end_group(proc: subprocess.Popen[bytes], grace: float = 0.0) -> None:
    """Stop ``proc`` (a session leader) and its group: SIGTERM, SIGKILL after ``grace``.

    Also kills what the group leaves running after the leader exits, and reaps it.
    """
    if grace > 0 and proc.poll() is None:
        signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    signal_group(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    signal_group(proc.pid, signal.SIGKILL)  # stragglers of a leader that had exited
    reap_group(proc.pid)


@pytest.fixture(scope="module", autouse=True)
def subreaper() -> Iterator[bool]:
    """Make this process the child subreaper for the module (see the module docstring)."""
    libc = ctypes.CDLL(None, use_errno=True)
    active = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield active
    finally:
        if active:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def clean_env() -> dict[str, str]:
    """This environment without the monitor's own settings (keys, state)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MONITOR_", "DASK_"))}


def spawn(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, stdout and stderr to ``log`` (.out, .err)."""
    with log.with_suffix(".out").open("wb") as out, log.with_suffix(".err").open("wb") as err:
        return subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd, env=clean_env(),
                                start_new_session=True)


# ---------------------------------------------------------------- runs and their state


@dataclass(frozen=True)
class Finished:
    """A ``monitor run`` that ran to its end."""

    code: int
    summary: dict[str, Any]
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Outcome:
    """What a run folder holds once runs are over (compared between runs)."""

    alerts: dict[str, tuple[str, str]]  # alert_id -> (state, severity)
    n_alert_rows: int
    findings: dict[str, str]  # finding_id -> outcome
    transitions: Counter[tuple[str, str, str]]  # (alert_id, kind, to_state) -> count
    packages: list[str]  # visible package folders (sorted, repeats kept)
    hidden: list[str]  # staging / set-aside folders left in OUTPUT/packages


def make_config(folder: Path, portfolio: Portfolio) -> Path:
    """The test config, with ``out/`` and ``state/`` beside it in ``folder``."""
    return write_config(folder / "run.yaml", portfolio, period=PERIOD,
                        concessions=CONCESSIONS, packages=PACKAGES,
                        dask={"n_workers": 2, "threads_per_worker": 1})


def launch(config: Path, key: KeyPair, name: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start ``monitor run CONFIG --key KEY --json`` (logs: ``<name>.out/.err``)."""
    return spawn([str(MONITOR), "run", str(config), "--key", str(key.private_path), "--json",
                  *extra], config.parent / name, config.parent)


def finish(proc: subprocess.Popen[bytes], config: Path, name: str, started: float,
           timeout: float = RUN_TIMEOUT_S) -> Finished:
    """Wait (bounded) for a launched run; its exit code, summary and stderr."""
    try:
        code = proc.wait(timeout=timeout)
    finally:
        end_group(proc)
    seconds = time.monotonic() - started
    out = (config.parent / f"{name}.out").read_text(encoding="utf-8", errors="replace")
    err = (config.parent / f"{name}.err").read_text(encoding="utf-8", errors="replace")
    summary = json.loads(out) if code in (0, 5) and out.strip() else {}
    return Finished(code, summary, err[-4000:], seconds)


def run_to_end(config: Path, key: KeyPair, name: str, *extra: str) -> Finished:
    """``monitor run`` from start to end."""
    started = time.monotonic()
    return finish(launch(config, key, name, *extra), config, name, started)


def read_only(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on an SQLite file opened read-only; [] when it cannot be read yet."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error:  # no schema yet
        return []
    finally:
        conn.close()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of an SQLite file (read-only)."""
    rows = read_only(path, "PRAGMA integrity_check")
    return "; ".join(str(r[0]) for r in rows) or "unreadable"


def package_folders(config: Path) -> tuple[list[str], list[str]]:
    """(visible package folders, hidden temporary folders) in OUTPUT/packages."""
    folder = config.parent / "out" / "packages"
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return ([n for n in names if not n.startswith(".")],
            [n for n in names if n.startswith(".")])


def outcome(config: Path) -> Outcome:
    """The alert store's alerts, findings and history, and the package folders."""
    state = config.parent / "state" / "alerts.sqlite"
    with AlertStore(state) as store:
        alerts = store.list()
    findings = read_only(state, "SELECT finding_id, outcome FROM findings")
    transitions = read_only(state, "SELECT alert_id, kind, to_state FROM transitions")
    visible, hidden = package_folders(config)
    return Outcome(alerts={a.alert_id: (str(a.state), str(a.severity)) for a in alerts},
                   n_alert_rows=len(alerts), findings=dict(findings),
                   transitions=Counter((str(a), str(k), str(s)) for a, k, s in transitions),
                   packages=visible, hidden=hidden)


def unverified(config: Path, key: KeyPair) -> dict[str, str]:
    """Visible packages that fail ``verify_package`` (with the trusted key), and why."""
    bad = {}
    for name in package_folders(config)[0]:
        report = verify_package(config.parent / "out" / "packages" / name,
                                public_key=key.public_path)
        if not report.ok:
            bad[name] = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.ok)
    return bad


def units(config: Path) -> list[dict[str, Any]]:
    """Every unit of every run in the ledger, as dicts."""
    rows = read_only(config.parent / "state" / "ledger.sqlite",
                     "SELECT run_id, concession_id, indicator, status, started_at, "
                     "finished_at, reason, attempts FROM units ORDER BY run_id")
    keys = ("run_id", "concession_id", "indicator", "status", "started_at", "finished_at",
            "reason", "attempts")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def runs(config: Path) -> list[dict[str, Any]]:
    """Every run in the ledger, oldest first."""
    rows = read_only(config.parent / "state" / "ledger.sqlite",
                     "SELECT run_id, status, resumes, started_at, finished_at FROM runs "
                     "ORDER BY started_at, run_id")
    return [dict(zip(("run_id", "status", "resumes", "started_at", "finished_at"), r,
                     strict=True)) for r in rows]


def assert_same_results(got: Outcome, want: Outcome) -> None:
    """Same alerts (ids, states, severities), findings, history and packages; no temps."""
    assert got.alerts == want.alerts
    assert got.n_alert_rows == len(got.alerts) == len(want.alerts)
    assert got.findings == want.findings
    assert got.transitions == want.transitions, "alert history differs (duplicated rows?)"
    assert len(set(got.packages)) == len(got.packages)
    assert got.packages == want.packages
    assert got.hidden == [], f"temporary folders left in OUTPUT/packages: {got.hidden}"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The Ed25519 key every run signs with (``verify_package`` fails unsigned packages)."""
    return generate_keypair(tmp_path_factory.mktemp("keys"))


@dataclass(frozen=True)
class Reference:
    """A clean LocalCluster run of the test config: the expected final state."""

    config: Path
    run: Finished
    outcome: Outcome


@pytest.fixture(scope="module")
def reference(demo_portfolio: Portfolio, key: KeyPair,
              tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """One clean run, from scratch, on a LocalCluster of 2 workers."""
    config = make_config(tmp_path_factory.mktemp("reference"), demo_portfolio)
    done = run_to_end(config, key, "clean")
    assert done.code == 0, done.stderr
    assert done.summary["units"] == {"ok": N_UNITS} and done.summary["status"] == "ok"
    result = outcome(config)
    assert len(result.alerts) >= 2 and len(result.packages) >= 4  # enough to compare
    assert unverified(config, key) == {}
    print(f"\nclean LocalCluster run: {done.seconds:.1f} s, {len(result.alerts)} alerts, "
          f"{len(result.findings)} findings, {len(result.packages)} packages")
    return Reference(config, done, result)


@dataclass
class Cluster:
    """A Dask scheduler and two workers, separate processes on 127.0.0.1."""

    address: str
    client: Any  # distributed.Client of the test
    processes: list[subprocess.Popen[bytes]]

    def worker_pids(self) -> dict[str, int]:
        """``{worker address: pid of the worker process}``."""
        pids: dict[str, int] = self.client.run(os.getpid)
        return pids

    def transitions(self, prefix: str) -> list[tuple[str, str, str]]:
        """The scheduler's (key, from, to) transitions of keys starting with ``prefix``."""
        def log(dask_scheduler: Any, prefix: str) -> list[tuple[str, str, str]]:
            return [(str(t[0]), str(t[1]), str(t[2])) for t in dask_scheduler.transition_log
                    if str(t[0]).startswith(prefix)]
        found: list[tuple[str, str, str]] = self.client.run_on_scheduler(log, prefix=prefix)
        return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """``dask scheduler`` and two ``dask worker`` processes (each a nanny and its worker)."""
    from distributed import Client

    root = tmp_path_factory.mktemp("dask")
    scheduler_file = root / "scheduler.json"
    processes = [spawn([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                        "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file),
                        "--no-dashboard"], root / "scheduler", root)]
    client = None
    try:
        def address() -> str | None:
            assert processes[0].poll() is None, "the scheduler exited; see scheduler.err"
            with contextlib.suppress(OSError, ValueError):
                return str(json.loads(scheduler_file.read_text())["address"])
            return None

        started = time.monotonic()
        addr = wait_for(address, 60, "the scheduler file")
        for i in range(2):
            processes.append(spawn(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(scheduler_file), "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"worker-{i}", "--local-directory",
                 str(root / f"worker-{i}")], root / f"worker-{i}", root))
        client = Client(  # type: ignore[no-untyped-call]
            scheduler_file=str(scheduler_file), timeout="30s")
        client.wait_for_workers(2, timeout=max(1.0, 60 - (time.monotonic() - started)))
        assert addr.startswith("tcp://127.0.0.1:")
        print(f"\nDask scheduler {addr} with 2 workers up in "
              f"{time.monotonic() - started:.1f} s")
        yield Cluster(addr, client, processes)
    finally:
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]
        for proc in reversed(processes):  # workers first, then the scheduler
            end_group(proc, grace=15)


# ---------------------------------------------------------------- 1. external scheduler


def test_external_scheduler_gives_the_results_of_a_local_cluster(
        cluster: Cluster, reference: Reference, demo_portfolio: Portfolio, key: KeyPair,
        tmp_path: Path) -> None:
    config = make_config(tmp_path, demo_portfolio)
    done = run_to_end(config, key, "external", "--scheduler", cluster.address)
    assert done.code == 0, done.stderr
    assert done.summary["units"] == {"ok": N_UNITS} and done.summary["status"] == "ok"
    # the concessions went through the external scheduler (not a LocalCluster)
    ran = {t[0] for t in cluster.transitions(f"concession-{done.summary['run_id']}-")
           if t[2] == "processing"}
    assert ran == {f"concession-{done.summary['run_id']}-{c}" for c in CONCESSIONS}
    got = outcome(config)
    assert_same_results(got, reference.outcome)
    assert unverified(config, key) == {}
    print(f"\nexternal scheduler: {done.seconds:.1f} s, {len(got.alerts)} alerts, "
          f"{len(got.findings)} findings, {len(got.packages)} packages: identical to the "
          f"LocalCluster run")


# ---------------------------------------------------------------- 2. worker loss


def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
        cluster: Cluster, reference: Reference, demo_portfolio: Portfolio, key: KeyPair,
        tmp_path: Path) -> None:
    cluster.client.wait_for_workers(2, timeout=60)
    config = make_config(tmp_path, demo_portfolio)
    ledger = config.parent / "state" / "ledger.sqlite"
    started = time.monotonic()
    proc = launch(config, key, "worker-loss", "--scheduler", cluster.address)
    try:
        wait_for(lambda: read_only(ledger, "SELECT 1 FROM units WHERE status = 'leased'"),
                 120, "a unit leased in the ledger")

        def busy() -> tuple[str, str] | None:
            assert proc.poll() is None, "the run ended before a worker could be killed"
            for addr, keys in cluster.client.processing().items():
                for k in keys:
                    if str(k).startswith("concession-"):
                        return addr, str(k)
            return None

        victim, task_key = wait_for(busy, 120, "a worker processing a concession")
        time.sleep(3.0)  # well into the task (reading pixels, checking)
        pids = cluster.worker_pids()
        still = {str(k) for k in cluster.client.processing().get(victim, ())}
        assert task_key in still and proc.poll() is None, "the task ended before the kill"
        os.kill(pids[victim], signal.SIGKILL)
        killed_at = time.monotonic() - started
        done = finish(proc, config, "worker-loss", started)
    finally:
        end_group(proc)
    assert done.code == 0, done.stderr
    assert done.summary["units"] == {"ok": N_UNITS} and done.summary["status"] == "ok"
    run_id = done.summary["run_id"]
    assert {u["status"] for u in units(config) if u["run_id"] == run_id} == {"ok"}
    # Dask ran the killed worker's task again (it reached 'processing' twice)
    again = sum(1 for t in cluster.transitions(task_key) if t[2] == "processing")
    assert again >= 2, cluster.transitions(task_key)
    got = outcome(config)
    duplicates = got.n_alert_rows - len(reference.outcome.alerts)
    dup_packages = len(got.packages) - len(set(got.packages))
    assert_same_results(got, reference.outcome)
    assert unverified(config, key) == {}
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny restarted the worker
    assert pids[victim] not in cluster.worker_pids().values()
    print(f"\nworker loss: 1 worker SIGKILLed {killed_at:.1f} s into the run, mid-task "
          f"({task_key.rsplit('-', 2)[-2:]}), task run {again} times; runs completed 1/1, "
          f"duplicate alerts {duplicates}, duplicate packages {dup_packages}, staging "
          f"folders left {len(got.hidden)}, {done.seconds:.1f} s")


# ---------------------------------------------------------------- 3. SIGKILL and resume


def phase_of(config: Path, before: list[dict[str, Any]]) -> str:
    """Where a kill landed, from the ledger (``before``: its runs at the launch).

    Before the run started (the ledger is as it was), mid-run (the launch's run, new or
    resumed, is running) or after the run finished (the ledger says it ended).
    """
    now = runs(config)
    if now == before:
        return "before the run started"
    return "mid-run" if now[-1]["status"] == "running" else "after the run finished"


def package_entries(config: Path) -> set[tuple[str, int]]:
    """(name, inode) of every entry of OUTPUT/packages: a rebuilt package is a new entry."""
    folder = config.parent / "out" / "packages"
    if not folder.is_dir():
        return set()
    entries = set()
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            entries.add((entry.name, entry.stat().st_ino))
    return entries


@dataclass(frozen=True)
class KillPoint:
    """When to SIGKILL a launch: ``jitter`` seconds (seeded) after ``anchor`` holds."""

    anchor: str  # "launch", "staging" (a package being built) or "published"
    jitter: tuple[float, float]


#: Kill 1 anywhere in start-up and the first checks; kill 2 while this launch has a
#: package in its staging folder; kill 3 soon after this launch has published a package
#: (between packages, or recording units, exports and the report).
KILL_POINTS = (KillPoint("launch", (2.0, 20.0)), KillPoint("staging", (0.0, 1.0)),
               KillPoint("published", (0.0, 4.0)))


def kill_at(proc: subprocess.Popen[bytes], config: Path, point: KillPoint,
            rng: random.Random) -> tuple[bool, float]:
    """SIGKILL ``proc``'s process group at ``point``; (killed, seconds after launch).

    False when the run ended on its own first. Bounded by :data:`RUN_TIMEOUT_S`.
    """
    launched, before = time.monotonic(), package_entries(config)

    def anchored() -> bool:
        if proc.poll() is not None or point.anchor == "launch":
            return True
        new = {name for name, _ in package_entries(config) - before}
        if point.anchor == "staging":
            return any(n.startswith(".staging-") for n in new)
        return any(not n.startswith(".") for n in new)

    wait_for(anchored, RUN_TIMEOUT_S, f"the kill point {point.anchor}", every=0.02)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=rng.uniform(*point.jitter))
    if proc.poll() is not None:
        return False, time.monotonic() - launched
    signal_group(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return True, time.monotonic() - launched


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_a_clean_run(
        reference: Reference, demo_portfolio: Portfolio, key: KeyPair, subreaper: bool,
        tmp_path: Path) -> None:
    assert subreaper, "cannot reap the killed workers (prctl PR_SET_CHILD_SUBREAPER)"
    config = make_config(tmp_path, demo_portfolio)
    state = config.parent / "state"
    rng = random.Random(20240605)
    t0 = time.monotonic()
    phases: list[str] = []
    staged_at_kill = integrity_failures = partial_visible = 0
    for k, point in enumerate(KILL_POINTS):
        known = runs(config)
        proc = launch(config, key, f"killed-{k}")
        try:
            killed, after = kill_at(proc, config, point, rng)
        finally:
            end_group(proc)
        assert proc.returncode in (0, -signal.SIGKILL), proc.returncode
        phases.append(phase_of(config, known) if killed else "ended before the kill")
        # what a reader sees right after the crash: never a partial package
        visible, hidden = package_folders(config)
        staged_at_kill += sum(n.startswith(".staging-") for n in hidden)
        partial_visible += len(unverified(config, key))
        for name in ("alerts.sqlite", "ledger.sqlite"):
            if (state / name).exists():
                integrity_failures += integrity(state / name) != "ok"
        print(f"\nkill {k + 1} ({point.anchor}): {after:.1f} s after launch, {phases[-1]}; "
              f"units {dict(Counter(u['status'] for u in units(config)))}, packages "
              f"visible {len(visible)}, hidden {hidden}")
    left = runs(config)
    done = run_to_end(config, key, "resumed")
    assert done.code == 0, done.stderr
    assert done.summary["status"] == "ok"
    final = runs(config)[-1]
    assert final["run_id"] == done.summary["run_id"] and final["status"] == "ok"
    final_units = [u for u in units(config) if u["run_id"] == final["run_id"]]
    assert len(final_units) == N_UNITS and {u["status"] for u in final_units} == {"ok"}
    if left and left[-1]["status"] == "running":  # a killed run was left: it was resumed
        assert done.summary["resumed"] and final["run_id"] == left[-1]["run_id"]
        assert final["resumes"] == left[-1]["resumes"] + 1
    else:  # nothing to resume: a new run did every unit
        assert not done.summary["resumed"] and final["run_id"] not in {
            r["run_id"] for r in left}
    assert all(r["status"] != "running" for r in runs(config))
    got = outcome(config)
    assert_same_results(got, reference.outcome)  # also: no staging folder left behind
    bad = unverified(config, key)
    assert bad == {}, bad
    for name in ("alerts.sqlite", "ledger.sqlite"):
        integrity_failures += integrity(state / name) != "ok"
    assert integrity_failures == 0 and partial_visible == 0
    n_mid = phases.count("mid-run")
    print(f"\nSIGKILL: {len(phases)} kills, {n_mid} mid-run ({'; '.join(phases)}), "
          f"{staged_at_kill} staging folder(s) left by the kills and cleaned on resume, "
          f"final run resumed {done.summary['resumed']} ({final['resumes']} resumes), "
          f"partial packages visible {partial_visible}, integrity_check failures "
          f"{integrity_failures}, data lost 0, {time.monotonic() - t0:.1f} s")
    assert n_mid >= 1, phases


# ---------------------------------------------------------------- 4. concurrent runs


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two units' [started_at, finished_at] intervals overlap."""
    start_a, end_a = (datetime.fromisoformat(a[k]) for k in ("started_at", "finished_at"))
    start_b, end_b = (datetime.fromisoformat(b[k]) for k in ("started_at", "finished_at"))
    return start_a < end_b and start_b < end_a


def test_two_concurrent_runs_on_one_state_store(
        reference: Reference, demo_portfolio: Portfolio, key: KeyPair,
        tmp_path: Path) -> None:
    config = make_config(tmp_path, demo_portfolio)
    started = time.monotonic()
    procs = [launch(config, key, f"concurrent-{i}") for i in range(2)]
    try:
        done = [finish(p, config, f"concurrent-{i}", started) for i, p in enumerate(procs)]
    finally:
        for p in procs:
            end_group(p)
    # both exit 0: a unit the other run holds is 'skipped' (it counts as done)
    assert [d.code for d in done] == [0, 0], [d.stderr for d in done]
    assert all(d.summary["status"] == "ok" for d in done)
    run_ids = {d.summary["run_id"] for d in done}
    assert len(run_ids) == 2  # the second run did not resume the first (its owner lives)
    everything = units(config)
    assert {u["run_id"] for u in everything} == run_ids
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for u in everything:
        by_unit.setdefault((u["concession_id"], u["indicator"]), []).append(u)
    assert len(by_unit) == N_UNITS
    # The invariant the leases give: for each (concession, indicator), the runs that
    # processed it ('ok') did so at disjoint times, i.e. never two at once. A unit may
    # be 'ok' in both runs when the second claimed it after the first had finished it
    # (a claim only refuses a unit 'ok' in its own run, or leased live elsewhere); a
    # unit the other run held is 'skipped' with that reason. Every unit is 'ok' in one
    # run at least.
    violations = 0
    for unit, rows in sorted(by_unit.items()):
        ok = [u for u in rows if u["status"] == "ok"]
        assert ok, f"{unit} was done by neither run: {rows}"
        violations += sum(overlaps(a, b) for i, a in enumerate(ok) for b in ok[i + 1:])
        for u in rows:
            assert u["status"] in ("ok", "skipped"), u
            if u["status"] == "skipped":
                assert LEASED_ELSEWHERE in u["reason"], u
    for d in done:
        n = d.summary["units"]
        assert sum(n.values()) == N_UNITS and set(n) <= {"ok", "skipped"}
        if not n.get("ok"):  # a run that checked nothing must say why, not "nothing new"
            assert "another run" in d.summary["verdict"], d.summary["verdict"]
    got = outcome(config)
    duplicates = got.n_alert_rows - len(reference.outcome.alerts)
    assert_same_results(got, reference.outcome)
    assert unverified(config, key) == {}
    assert violations == 0
    split = [(d.summary["units"].get("ok", 0), d.summary["units"].get("skipped", 0))
             for d in done]
    print(f"\nconcurrent runs: 2 processes on one state store, (ok, skipped) units per "
          f"run {split}, duplicate alerts {duplicates}, duplicate packages "
          f"{len(got.packages) - len(set(got.packages))}, lease violations {violations}, "
          f"{time.monotonic() - started:.1f} s")
