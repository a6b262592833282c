"""Run ledger: lifecycle, statuses, --since last, resume after SIGKILL, leases, crash safety."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import AlertStore
from monitor.errors import ConfigError, MonitorError
from pipelines.ledger import Ledger, UnitRecord, make_owner, owner_alive
from pipelines.ledger_schema import (
    APPLICATION_ID,
    INDICATORS,
    RUN_STATUSES,
    SCHEMA_VERSION,
    UNIT_STATUSES,
    LeaseError,
    LedgerBusyError,
    LedgerError,
)

#: 30 units: 10 concessions x 3 indicators.
UNITS = [(f"mine-{k:02d}", ind) for k in range(10) for ind in INDICATORS]
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable UTC clock."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def done(ledger: Ledger, run_id: str, unit: tuple[str, str], last: date | None = None,
         **stats: Any) -> None:
    ledger.complete(run_id, *unit, scenes=[f"S2A_{unit[0]}_1", f"S2B_{unit[0]}_2"],
                    last_acquisition=last or date(2024, 5, 30), seconds=1.5, stats=stats)


def dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                         capture_output=True, text=True, check=True, timeout=60)
    return int(out.stdout)


def statuses(ledger: Ledger, run_id: str) -> dict[tuple[str, str], str]:
    return {(u.concession_id, u.indicator): u.status for u in ledger.units(run_id)}


def unit_of(ledger: Ledger, run_id: str, unit: tuple[str, str]) -> UnitRecord:
    return next(u for u in ledger.units(run_id) if (u.concession_id, u.indicator) == unit)


def np_like(value: int) -> Any:
    """A numpy-like scalar (has .item()) without importing numpy."""
    return type("Scalar", (), {"item": lambda self: value})()


# ---------------------------------------------------------------- lifecycle


def test_lifecycle_start_claim_complete_finish(tmp_path: Path) -> None:
    clock = Clock()
    with Ledger(tmp_path / "ledger.sqlite", clock=clock) as ledger:
        run = ledger.start_run("digest-1", UNITS[:3], since_mode="last")
        assert (run.status, run.resumed, run.since_mode, run.owner) == (
            "running", False, "last", ledger.owner)
        assert run.counts["pending"] == 3 and run.finished_at is None
        assert ledger.owner.split(":")[:2] == [socket.gethostname(), str(os.getpid())]
        unit = UNITS[0]
        assert ledger.claim(run.run_id, *unit)
        leased = unit_of(ledger, run.run_id, unit)
        assert (leased.status, leased.attempts, leased.lease_owner) == ("leased", 1,
                                                                        ledger.owner)
        assert leased.lease_expires == T0 + timedelta(seconds=600)
        clock.advance(100)
        assert ledger.renew(run.run_id, *unit) == T0 + timedelta(seconds=700)
        clock.advance(20)
        done(ledger, run.run_id, unit, n_findings=np_like(4), when=date(2024, 5, 1))
        done(ledger, run.run_id, unit)  # repeated by the same owner: a no-op
        assert not ledger.claim(run.run_id, *unit)  # ok units are not claimed again
        with pytest.raises(LeaseError, match="not leased by"):
            ledger.fail(run.run_id, *unit, reason="late")
        rec = unit_of(ledger, run.run_id, unit)
        assert (rec.status, rec.scenes, rec.last_acquisition, rec.seconds, rec.attempts) == (
            "ok", ("S2A_mine-00_1", "S2B_mine-00_2"), date(2024, 5, 30), 1.5, 1)
        assert dict(rec.stats) == {"n_findings": 4, "when": "2024-05-01"}
        assert rec.started_at == T0 and rec.finished_at == T0 + timedelta(seconds=120)
        assert ledger.claim(run.run_id, *UNITS[1])
        ledger.fail(run.run_id, *UNITS[1], reason="no imagery", seconds=0.2)
        ledger.fail(run.run_id, *UNITS[1], reason="no imagery", seconds=0.2)  # no-op
        assert ledger.skip(run.run_id, *UNITS[2], reason="no new acquisitions")
        assert not ledger.skip(run.run_id, *UNITS[0], reason="done")  # ok stays ok
        assert ledger.finish_run(run.run_id, {"alerts": 2}) == "partial"
        assert ledger.finish_run(run.run_id, {"other": 1}) == "partial"  # idempotent
        with pytest.raises(ConfigError, match="not running"):
            ledger.claim(run.run_id, *UNITS[1])
        info = ledger.runs()[0]
        assert (info.run_id, info.status, dict(info.summary)) == (run.run_id, "partial",
                                                                   {"alerts": 2})
        assert info.counts == {"pending": 0, "leased": 0, "ok": 1, "failed": 1, "skipped": 1}
        assert json.loads(json.dumps(info.to_dict()))["counts"]["ok"] == 1
        as_json = json.loads(json.dumps([u.to_dict() for u in ledger.units(run.run_id)]))
        assert {u["last_acquisition"] for u in as_json} == {"2024-05-30", None}
        failed = unit_of(ledger, run.run_id, UNITS[1])
        assert (failed.status, failed.reason, failed.scenes) == ("failed", "no imagery", ())


@pytest.mark.parametrize(("outcomes", "expected"), [
    (["ok", "ok", "skip"], "ok"), (["skip", "skip", "skip"], "ok"), ([], "ok"),
    (["ok", "fail", "skip"], "partial"), (["fail", "skip", "fail"], "failed"),
    (["ok", "pending", "fail"], "interrupted"), (["ok", "hold", "ok"], "interrupted")])
def test_finish_status(tmp_path: Path, outcomes: list[str], expected: str) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        units = UNITS[:len(outcomes)]
        run = ledger.start_run("d", units)
        for unit, outcome in zip(units, outcomes, strict=True):
            if outcome != "pending":
                assert ledger.claim(run.run_id, *unit)
            if outcome == "ok":
                done(ledger, run.run_id, unit)
            elif outcome == "fail":
                ledger.fail(run.run_id, *unit, reason="boom", seconds=1.0)
            elif outcome == "skip":
                ledger.skip(run.run_id, *unit, reason="no new acquisitions")
        assert ledger.finish_run(run.run_id, {"n": len(units)}) == expected
        assert ledger.run(run.run_id).status == expected
        assert ledger.run(run.run_id).counts["leased"] == 0  # own leases are released


def test_last_success_across_runs(tmp_path: Path) -> None:
    clock = Clock()
    with Ledger(tmp_path / "ledger.sqlite", clock=clock) as ledger:
        unit = ("mine-00", "turbidity")
        assert ledger.last_success(*unit) is None
        for last, outcome in [(date(2024, 3, 1), "ok"), (date(2024, 4, 2), "ok"),
                              (None, "fail")]:
            clock.advance(3600)
            run = ledger.start_run("d", [unit, ("mine-00", "tailings")])
            assert ledger.claim(run.run_id, *unit)
            if outcome == "ok":
                done(ledger, run.run_id, unit, last=last)
            else:
                ledger.fail(run.run_id, *unit, reason="server error")
            ledger.skip(run.run_id, "mine-00", "tailings", reason="no water")
            ledger.finish_run(run.run_id, {})
        best = ledger.last_success(*unit)
        assert best is not None and best.last_acquisition == date(2024, 4, 2)
        assert best.run_id == ledger.runs()[1].run_id  # the run before the failed one
        assert ledger.last_success("mine-00", "tailings") is None  # skipped is not success
        assert [r.status for r in ledger.runs()] == ["failed", "ok", "ok"]
        assert [r.run_id for r in ledger.runs()] == sorted(r.run_id for r in ledger.runs())[
            ::-1]


def test_writes_are_atomic_when_interrupted_mid_transaction(tmp_path: Path) -> None:
    calls = {"n": 0, "fail_at": -1}

    def clock() -> datetime:
        calls["n"] += 1
        if calls["n"] == calls["fail_at"]:
            raise KeyboardInterrupt
        return T0

    with Ledger(tmp_path / "ledger.sqlite", clock=clock) as ledger:
        run = ledger.start_run("d", UNITS[:2])
        assert ledger.claim(run.run_id, *UNITS[0])
        before = ledger.units(run.run_id)
        # finish_run releases this owner's lease, then reads the clock: interrupt there
        calls["fail_at"] = calls["n"] + 1
        with pytest.raises(KeyboardInterrupt):
            ledger.finish_run(run.run_id, {})
        assert ledger.units(run.run_id) == before and ledger.run(run.run_id).status == (
            "running")


# ---------------------------------------------------------------- leases in one process


def test_live_lease_blocks_and_expired_lease_is_taken_over(tmp_path: Path) -> None:
    path, clock = tmp_path / "ledger.sqlite", Clock()
    with Ledger(path, clock=clock, lease_s=60) as a, Ledger(path, clock=clock,
                                                             lease_s=60) as b:
        run = a.start_run("d", UNITS[:2])
        assert a.claim(run.run_id, *UNITS[0])
        assert not b.claim(run.run_id, *UNITS[0])  # live lease of another (live) owner
        assert not b.skip(run.run_id, *UNITS[0], reason="busy")  # leased by a live owner
        with pytest.raises(LeaseError, match="not leased by"):
            done(b, run.run_id, UNITS[0])
        clock.advance(59)
        assert not b.claim(run.run_id, *UNITS[0])
        clock.advance(2)  # a's lease has expired
        assert b.claim(run.run_id, *UNITS[0])
        with pytest.raises(LeaseError):
            a.renew(run.run_id, *UNITS[0])
        with pytest.raises(LeaseError):
            done(a, run.run_id, UNITS[0])
        done(b, run.run_id, UNITS[0])
        rec = unit_of(b, run.run_id, UNITS[0])
        assert (rec.status, rec.lease_owner, rec.attempts) == ("ok", b.owner, 2)


def test_lease_of_a_dead_owner_is_not_live(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ghost = f"{socket.gethostname()}:{dead_pid()}:dead"
    assert owner_alive(ghost) is False and owner_alive(make_owner()) is True
    assert owner_alive("elsewhere:1:x") is None
    with Ledger(path, owner=ghost) as g, Ledger(path) as me:
        run = g.start_run("d", UNITS[:1])
        assert g.claim(run.run_id, *UNITS[0])
        assert me.claim(run.run_id, *UNITS[0])


def test_leases_span_runs_of_live_owners(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as a, Ledger(path) as b:
        run_a = a.start_run("d", UNITS[:2])
        assert a.claim(run_a.run_id, *UNITS[0])
        run_b = b.start_run("d", UNITS[:2])  # a is alive: a second run, not a resume
        assert not run_b.resumed and run_b.run_id != run_a.run_id
        assert not b.claim(run_b.run_id, *UNITS[0])
        assert b.skip(run_b.run_id, *UNITS[0], reason="another run holds the lease")
        assert b.claim(run_b.run_id, *UNITS[1])
        assert not a.claim(run_a.run_id, *UNITS[1])
        done(b, run_b.run_id, UNITS[1])
        assert b.finish_run(run_b.run_id, {}) == "ok"
        done(a, run_a.run_id, UNITS[0])
        assert a.claim(run_a.run_id, *UNITS[1])  # b's unit is ok in b's run, not in a's


def test_a_remote_owner_is_gone_once_no_lease_is_live_and_it_is_idle(tmp_path: Path) -> None:
    path, clock = tmp_path / "ledger.sqlite", Clock()
    with Ledger(path, clock=clock, lease_s=60, owner="otherhost:4242:x") as far, \
            Ledger(path, clock=clock, lease_s=60) as me:
        # a live lease: the run is not resumed, a second run starts
        run = far.start_run("d1", UNITS[:2])
        assert far.claim(run.run_id, *UNITS[0])
        clock.advance(30)
        assert me.start_run("d1", UNITS[:2]).run_id != run.run_id
        # no live lease, but activity within lease_s: not resumed either
        run = far.start_run("d2", UNITS[:2])
        assert far.claim(run.run_id, *UNITS[0])
        clock.advance(50)
        assert far.claim(run.run_id, *UNITS[1])
        done(far, run.run_id, UNITS[1])
        clock.advance(11)
        assert not me.start_run("d2", UNITS[:2]).resumed
        # no live lease and idle for longer than lease_s: resumed
        run = far.start_run("d3", UNITS[:3])
        assert far.claim(run.run_id, *UNITS[0])
        done(far, run.run_id, UNITS[0])
        assert far.claim(run.run_id, *UNITS[1])
        clock.advance(61)
        info = me.start_run("d3", UNITS[:4])
        assert info.resumed and info.run_id == run.run_id and info.owner == me.owner
        assert info.resumes == 1 and info.counts["ok"] == 1
        assert statuses(me, run.run_id) == {UNITS[0]: "ok", UNITS[1]: "pending",
                                             UNITS[2]: "pending", UNITS[3]: "pending"}
        with pytest.raises(LeaseError, match="resumed by another process"):
            far.finish_run(run.run_id, {})
        with pytest.raises(LeaseError):
            far.renew(run.run_id, *UNITS[1])
        with pytest.raises(LeaseError):
            done(far, run.run_id, UNITS[1])


def test_an_interrupted_run_is_resumed_and_a_finished_one_is_not(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as me:
        run = me.start_run("e", UNITS[:3])
        assert me.claim(run.run_id, *UNITS[0])
        done(me, run.run_id, UNITS[0])
        assert me.claim(run.run_id, *UNITS[1])
        assert me.finish_run(run.run_id, {"stopped": "SIGTERM"}) == "interrupted"
        again = me.start_run("e", UNITS[:3])
        assert again.resumed and again.run_id == run.run_id and again.status == "running"
        assert again.counts == {"pending": 2, "leased": 0, "ok": 1, "failed": 0,
                                "skipped": 0} and again.finished_at is None
        for unit in UNITS[1:3]:
            assert me.claim(run.run_id, *unit)
            done(me, run.run_id, unit)
        assert me.finish_run(run.run_id, {}) == "ok"
        assert not me.start_run("e", UNITS[:3]).resumed


# ---------------------------------------------------------------- resume after SIGKILL


def _killed_runner(path: str, digest: str, queue: Any) -> None:
    with Ledger(path) as ledger:
        run = ledger.start_run(digest, UNITS[:6])
        for unit in UNITS[:3]:
            assert ledger.claim(run.run_id, *unit)
            done(ledger, run.run_id, unit)
        assert ledger.claim(run.run_id, *UNITS[3])
        queue.put(run.run_id)
        time.sleep(120)  # killed long before


def test_a_killed_run_is_resumed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_killed_runner, args=(str(path), "digest", queue))
    proc.start()
    try:
        run_id = queue.get(timeout=60)
        with Ledger(path) as me:
            assert not me.claim(run_id, *UNITS[3])  # the child is alive: its lease holds
    finally:
        proc.kill()
        proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    with Ledger(path) as me:
        info = me.start_run("digest", UNITS[:7])
        assert info.resumed and info.run_id == run_id and info.owner == me.owner
        units = {(u.concession_id, u.indicator): u for u in me.units(run_id)}
        assert {k: u.status for k, u in units.items()} == {
            **dict.fromkeys(UNITS[:3], "ok"), **dict.fromkeys(UNITS[3:7], "pending")}
        assert units[UNITS[3]].attempts == 1 and units[UNITS[3]].lease_owner is None
        for unit in UNITS[3:7]:
            assert me.claim(run_id, *unit)
            done(me, run_id, unit)
        assert me.finish_run(run_id, {}) == "ok" and len(me.runs()) == 1


# ---------------------------------------------------------------- leases across processes


def _racer(path: str, run_id: str, barrier: Any, queue: Any) -> None:
    try:
        rng = random.Random(os.getpid())
        with Ledger(path, busy_timeout_s=60) as ledger:
            order = rng.sample(UNITS, len(UNITS))
            barrier.wait(120)
            t_start = time.time()
            won, held = [], []
            for unit in order:
                if ledger.claim(run_id, *unit):
                    won.append(unit)
                    if rng.random() < 0.5:
                        done(ledger, run_id, unit)
                    else:
                        held.append(unit)
                time.sleep(0.003)  # let the other processes interleave
            t_claims = time.time()
            # every other unit is ok or leased by a live owner by now
            again = sum(ledger.claim(run_id, *unit) for unit in order if unit not in won)
            for unit in held:
                done(ledger, run_id, unit)
            queue.put((ledger.owner, won, again, (t_start, t_claims)))
    except Exception as exc:  # reported to the parent
        queue.put((f"{type(exc).__name__}: {exc}", [], -1, (0.0, 0.0)))


def test_concurrent_claims_take_each_unit_once(tmp_path: Path) -> None:
    path, n, owner = tmp_path / "ledger.sqlite", 4, make_owner()
    with Ledger(path, owner=owner) as ledger:
        run_id = ledger.start_run("digest", UNITS).run_id
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(str(path), run_id, barrier, queue))
             for _ in range(n)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    assert all(":" in owner for owner, *_ in results), results
    won = [unit for _, units, _, _ in results for unit in units]
    violations = len(won) - len(set(won)) + sum(again for _, _, again, _ in results)
    overlap = min(t[1] for *_, t in results) - max(t[0] for *_, t in results)
    print(f"\nleases: {n} processes, {len(UNITS)} units, claims won "
          f"{[len(units) for _, units, _, _ in results]}, first passes overlapping "
          f"{overlap * 1000:.0f} ms, lease violations {violations}, "
          f"{time.monotonic() - t0:.1f} s")
    assert violations == 0 and sorted(won) == sorted(UNITS)
    with Ledger(path, owner=owner) as ledger:
        units = ledger.units(run_id)
        assert {u.status for u in units} == {"ok"} and {u.attempts for u in units} == {1}
        by_owner = {owner: set(u) for owner, u, _, _ in results}
        assert all((u.concession_id, u.indicator) in by_owner[str(u.lease_owner)]
                   for u in units)
        assert ledger.finish_run(run_id, {}) == "ok"


# ---------------------------------------------------------------- crash consistency


def _crashing_runner(path: str, digest: str, log: str, go: Any, ready: Any) -> None:
    if not go.wait(120):  # started early so that its imports overlap the previous runner
        return
    rng = random.Random()
    with Ledger(path, lease_s=30, busy_timeout_s=60) as ledger, \
            open(log, "a", encoding="utf-8") as out:
        while True:
            run = ledger.start_run(digest, UNITS)
            ready.set()
            for unit in rng.sample(UNITS, len(UNITS)):
                if not ledger.claim(run.run_id, *unit):
                    continue
                draw = rng.random()
                if draw < 0.7:
                    done(ledger, run.run_id, unit, k=rng.randrange(100))
                    out.write(f"{run.run_id} {unit[0]} {unit[1]}\n")
                    out.flush()
                elif draw < 0.85:
                    ledger.fail(run.run_id, *unit, reason="injected", seconds=0.1)
                else:
                    ledger.skip(run.run_id, *unit, reason="no new acquisitions")
            ledger.finish_run(run.run_id, {"pid": os.getpid()})


def _check_consistent(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.row_factory = sqlite3.Row
        for u in conn.execute("SELECT * FROM units"):
            assert u["status"] in UNIT_STATUSES and u["attempts"] >= 0
            if u["status"] == "leased":
                assert u["lease_owner"] and u["lease_expires"] and u["started_at"]
            if u["status"] == "ok":
                assert isinstance(json.loads(u["scenes_json"]), list)
                assert isinstance(json.loads(u["stats_json"]), dict) and u["lease_owner"]
        for r in conn.execute("SELECT r.*, count(CASE WHEN u.status IN ('pending', 'leased')"
                              " THEN 1 END) AS open, count(u.run_id) AS n FROM runs r "
                              "LEFT JOIN units u USING (run_id) GROUP BY r.run_id"):
            assert r["status"] in RUN_STATUSES and r["n"] == len(UNITS)
            if r["status"] != "running":
                assert r["finished_at"] and isinstance(json.loads(r["summary_json"]), dict)
                assert (r["open"] > 0) == (r["status"] == "interrupted")
    finally:
        conn.close()


def test_sigkill_at_random_moments_leaves_a_consistent_ledger(tmp_path: Path) -> None:
    path, log, digest = tmp_path / "ledger.sqlite", tmp_path / "completed.log", "crash"
    ctx = multiprocessing.get_context("spawn")
    rng, kills, resumed, t0 = random.Random(7), 6, 0, time.monotonic()

    def launch() -> tuple[Any, Any, Any]:
        go, ready = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=_crashing_runner,
                           args=(str(path), digest, str(log), go, ready))
        proc.start()
        return proc, go, ready

    waiting = launch()
    try:
        for k in range(kills):
            proc, go, ready = waiting
            go.set()
            try:
                assert ready.wait(60), "the runner did not start"
                if k + 1 < kills:
                    waiting = launch()
                time.sleep(rng.uniform(0.02, 0.5))
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.join(timeout=30)
            assert proc.exitcode == -signal.SIGKILL
            _check_consistent(path)
            with Ledger(path) as ledger:
                lines = log.read_text(encoding="utf-8").split("\n")[:-1]  # last may be torn
                for line in lines:
                    run_id, cid, ind = line.split()
                    assert statuses(ledger, run_id)[(cid, ind)] == "ok", line  # nothing lost
                newest = ledger.runs(1)[0]
                info = ledger.start_run(digest, UNITS)
                assert info.resumed == (newest.status in ("running", "interrupted"))
                resumed += info.resumed
                assert info.counts["leased"] == 0  # the dead runner's leases are free again
                ledger.finish_run(info.run_id, {"checked": True})
            _check_consistent(path)
    finally:
        if waiting[0].is_alive():
            waiting[0].kill()
            waiting[0].join(timeout=30)
    with Ledger(path) as ledger:
        n_runs, n_ok = len(ledger.runs(1000)), len(log.read_text().splitlines())
    print(f"\ncrash consistency: {kills} SIGKILLs, {n_runs} runs, {resumed} resumed, "
          f"{n_ok} completions logged, integrity_check failures 0, data lost 0, "
          f"{time.monotonic() - t0:.1f} s")
    assert resumed >= 1


# ---------------------------------------------------------------- files and arguments


def test_refuses_files_that_are_not_a_ledger(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(LedgerError, match=f"{garbage}.*not an SQLite database"):
        Ledger(garbage)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(LedgerError, match=f"{other} is an SQLite database but not a run "
                                          f"ledger.*another file"):
        Ledger(other)
    alerts = tmp_path / "alerts.sqlite"
    AlertStore(alerts).close()
    with pytest.raises(LedgerError, match=f"{alerts} is an alert store, not a run ledger"):
        Ledger(alerts)
    newer = tmp_path / "newer.sqlite"
    Ledger(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError, match=f"{newer} has schema version 2.*upgrade"):
        Ledger(newer)
    with pytest.raises(LedgerError, match="no run ledger at"):
        Ledger(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger(tmp_path / "no" / "such" / "ledger.sqlite")
    assert issubclass(LedgerError, MonitorError) and issubclass(LeaseError, MonitorError)
    fresh = tmp_path / "fresh.sqlite"
    Ledger(fresh).close()
    with sqlite3.connect(fresh) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(ConfigError, match="unknown indicator"):
            ledger.start_run("d", [("mine-a", "ndvi")])
        with pytest.raises(ConfigError, match="non-empty"):
            ledger.start_run("", UNITS[:1])
        # a concession failing as a whole (registry) is a unit of its own
        run = ledger.start_run("r", [("mine-bad", "registry")])
        assert ledger.claim(run.run_id, "mine-bad", "registry")
        ledger.fail(run.run_id, "mine-bad", "registry", reason="self-intersecting boundary")
        assert ledger.finish_run(run.run_id, {}) == "failed"
        run = ledger.start_run("d", UNITS[:1])
        with pytest.raises(ConfigError, match="no unit"):
            ledger.claim(run.run_id, "mine-zz", "tailings")
        with pytest.raises(ConfigError, match="no run"):
            ledger.units("nope")
        assert ledger.claim(run.run_id, *UNITS[0])
        with pytest.raises(ConfigError, match="NaN"):
            ledger.complete(run.run_id, *UNITS[0], scenes=[], last_acquisition=None,
                            seconds=1.0, stats={"x": float("nan")})
        with pytest.raises(ConfigError, match="scene id strings"):
            ledger.complete(run.run_id, *UNITS[0], scenes="S2A", last_acquisition=None,
                            seconds=1.0, stats={})
        with pytest.raises(ConfigError, match="seconds"):
            ledger.complete(run.run_id, *UNITS[0], scenes=[], last_acquisition=None,
                            seconds=-1.0, stats={})
        assert ledger.units(run.run_id)[0].status == "leased"  # nothing was written
    with pytest.raises(ConfigError, match="naive"), Ledger(
            tmp_path / "ledger.sqlite", clock=lambda: datetime(2024, 1, 1)) as naive:
        naive.start_run("d", UNITS[:1])
    with pytest.raises(ConfigError, match="lease_s"):
        Ledger(tmp_path / "ledger.sqlite", lease_s=0)


def test_lock_timeout_is_a_typed_retryable_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        run = ledger.start_run("d", UNITS[:1])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Ledger(path, busy_timeout_s=0.2) as ledger:
            t0 = time.monotonic()
            with pytest.raises(LedgerBusyError, match="retry"):
                ledger.claim(run.run_id, *UNITS[0])
            assert time.monotonic() - t0 < 5
            assert ledger.units(run.run_id)[0].status == "pending"  # readers are not blocked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
