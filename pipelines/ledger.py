"""The run ledger: portfolio runs, their units (concession, indicator), leases, timings.

The run driver starts (or resumes) a run for a config digest, claims each unit before
handing it to Dask, renews the lease while it runs, marks it done, failed or skipped, then
finishes the run. Resuming comes from this ledger, never from Dask; every write is one
``BEGIN IMMEDIATE`` transaction, so a process killed at any moment leaves its last commit.

Leases: a unit is leased by an owner (``host:pid:token``) until ``lease_expires``. A claim
fails while *any* run holds a live lease on the same (concession, indicator) for another
owner, so two ``monitor run`` on one state never process a unit at once. An owner on this
host whose process is dead holds no live lease. Complete and fail are accepted from the
unit's lease owner only (even after expiry, as long as nobody took the unit over) and are
no-ops when that owner repeats them. Schema, records and errors:
:mod:`pipelines.ledger_schema`.
"""

from __future__ import annotations

import math
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.alerts.schema import StateFile
from monitor.errors import ConfigError
from pipelines.ledger_schema import (
    UNIT_STATUSES,
    LeaseError,
    RunInfo,
    UnitRecord,
    check_scenes,
    check_seconds,
    check_unit,
    connect_ledger,
    ledger_error,
    make_owner,
    owner_alive,
    parse_utc,
    run_info,
    to_json,
    transaction,
    unit_record,
    utc_text,
)

__all__ = ["DEFAULT_LEASE_S", "Ledger", "RunInfo", "UnitRecord", "make_owner", "owner_alive"]

#: Seconds a claim or renewal keeps a unit leased.
DEFAULT_LEASE_S = 600.0


class Ledger(StateFile):
    """The run ledger in one SQLite file.

    Parameters
    ----------
    path
        The ledger file (created with its schema when missing, unless ``create=False``).
    lease_s
        How long a claim or renewal keeps a unit leased.
    busy_timeout_s
        How long a write waits for another process's lock (then ``LedgerBusyError``).
    create
        Create a missing file; when False a missing file raises ``LedgerError``.
    clock
        Returns the current time, timezone-aware (tests pass their own).
    owner
        Owner id of this ledger's leases; defaults to :func:`make_owner`.
    """

    def __init__(self, path: str | os.PathLike[str], *, lease_s: float = DEFAULT_LEASE_S,
                 busy_timeout_s: float = 30.0, create: bool = True,
                 clock: Callable[[], datetime] | None = None, owner: str | None = None) -> None:
        if not (math.isfinite(lease_s) and lease_s > 0):
            raise ConfigError(f"lease_s must be a positive number of seconds, not {lease_s!r}")
        self.lease_s = float(lease_s)
        self.owner = owner or make_owner()
        super().__init__(path, busy_timeout_s=busy_timeout_s, create=create, clock=clock)

    def _connect(self, path: Path, busy_timeout_s: float, create: bool) -> sqlite3.Connection:
        return connect_ledger(path, busy_timeout_s, create)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r}, owner={self.owner!r})"

    # ------------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ConfigError("the ledger's clock returned a naive datetime; return UTC times")
        return now.astimezone(UTC)

    def _rows(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ledger_error(self.path, action, exc) from exc

    def _gone(self, owner: str | None) -> bool:
        return owner is not None and owner != self.owner and owner_alive(owner) is False

    def _unit(self, run_id: str, concession_id: str, indicator: str) -> sqlite3.Row:
        rows = self._rows("read a unit", "SELECT * FROM units WHERE run_id = ? AND "
                          "concession_id = ? AND indicator = ?", (run_id, concession_id,
                                                                  indicator))
        if not rows:
            raise ConfigError(f"run {run_id} of ledger {self.path} has no unit "
                              f"({concession_id}, {indicator}); start the run with it")
        return rows[0]

    def _live_holders(self, concession_id: str, indicator: str, now: datetime) -> list[str]:
        """Other owners with a live lease on this (concession, indicator) in any run."""
        rows = self._rows("read leases", "SELECT lease_owner FROM units WHERE concession_id"
                          " = ? AND indicator = ? AND status = 'leased' AND lease_expires > ?"
                          " AND lease_owner != ?", (concession_id, indicator, utc_text(now),
                                                    self.owner))
        return [r[0] for r in rows if not self._gone(r[0])]

    def _abandoned(self, run: sqlite3.Row, now: datetime) -> bool:
        """Whether a run may be resumed: interrupted, or running with its owner gone."""
        if run["status"] == "interrupted":
            return True
        if run["status"] != "running" or run["owner"] == self.owner:
            return False
        if self._gone(run["owner"]):
            return True
        leased = self._rows("read leases", "SELECT lease_owner FROM units WHERE run_id = ? "
                            "AND status = 'leased' AND lease_expires > ?",
                            (run["run_id"], utc_text(now)))
        if any(not self._gone(r[0]) for r in leased):
            return False
        times = self._rows("read a run", "SELECT max(started_at), max(finished_at) FROM "
                           "units WHERE run_id = ?", (run["run_id"],))[0]
        last = max(t for t in (run["started_at"], *times) if t)
        return parse_utc(last) + timedelta(seconds=self.lease_s) < now

    def _lease_error(self, row: sqlite3.Row, action: str) -> LeaseError:
        holder = f" (owner {row['lease_owner']})" if row["lease_owner"] else ""
        return LeaseError(f"cannot {action} unit ({row['concession_id']}, {row['indicator']})"
                          f" of run {row['run_id']}: it is {row['status']}{holder}, not "
                          f"leased by this ledger's owner {self.owner}; claim it first")

    # ------------------------------------------------------------------ runs

    def start_run(self, config_digest: str, units: Iterable[tuple[str, str]], *,
                  since_mode: str = "all") -> RunInfo:
        """Start a run, or resume the last run of this config digest if it was abandoned.

        A run is resumed when it is the most recent one with ``config_digest`` and is
        ``interrupted``, or ``running`` with its owner gone (a dead process on this host,
        or no live lease and no activity for ``lease_s``). It keeps its ``ok`` units, its
        leases of gone owners return to ``pending``, missing ``units`` are added as
        pending, and this ledger becomes its owner (``RunInfo.resumed`` is True).
        Otherwise a new run (sortable id: UTC time and a random suffix) is created with
        every unit pending. ConfigError for an empty digest or an unknown indicator.
        """
        if not config_digest or not since_mode:
            raise ConfigError("start_run needs a non-empty config digest and since mode")
        wanted = list(dict.fromkeys(check_unit(c, i) for c, i in units))
        with transaction(self._conn, self.path, "start a run"):
            now = self._now()
            last = self._rows("read runs", "SELECT * FROM runs WHERE config_digest = ? ORDER "
                              "BY started_at DESC, run_id DESC LIMIT 1", (config_digest,))
            resumed = bool(last) and self._abandoned(last[0], now)
            if resumed:
                run_id = last[0]["run_id"]
                stale = [(r["concession_id"], r["indicator"]) for r in self._rows(
                    "read leases", "SELECT * FROM units WHERE run_id = ? AND status = "
                    "'leased'", (run_id,))
                    if r["lease_expires"] <= utc_text(now) or self._gone(r["lease_owner"])]
                self._conn.executemany(
                    "UPDATE units SET status = 'pending', lease_owner = NULL, lease_expires "
                    "= NULL WHERE run_id = ? AND concession_id = ? AND indicator = ?",
                    [(run_id, c, i) for c, i in stale])
                self._conn.execute("UPDATE runs SET owner = ?, status = 'running', "
                                   "finished_at = NULL, resumes = resumes + 1 WHERE run_id = ?",
                                   (self.owner, run_id))
            else:
                run_id = f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"
                self._conn.execute("INSERT INTO runs (run_id, config_digest, owner, status, "
                                   "started_at, since_mode) VALUES (?, ?, ?, 'running', ?, ?)",
                                   (run_id, config_digest, self.owner, utc_text(now),
                                    since_mode))
            self._conn.executemany(
                "INSERT OR IGNORE INTO units (run_id, concession_id, indicator, status) "
                "VALUES (?, ?, ?, 'pending')", [(run_id, c, i) for c, i in wanted])
            return replace(self.run(run_id), resumed=resumed)

    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> str:
        """Close a run and return its status (idempotent once the run is closed).

        ``ok`` when every unit is ok or skipped (or there is none), ``partial`` when some
        failed and some are ok, ``failed`` when some failed and none is ok, and
        ``interrupted`` when units are still pending or leased (this owner's leases are
        released; the next :meth:`start_run` with the same digest resumes the run).
        LeaseError when another owner has resumed the run meanwhile.
        """
        summary_json = to_json(dict(summary), f"the summary of run {run_id}")
        with transaction(self._conn, self.path, f"finish run {run_id}"):
            run = self.run(run_id)
            if run.status != "running":
                return run.status
            if run.owner != self.owner:
                raise LeaseError(f"cannot finish run {run_id}: it is owned by {run.owner} "
                                 f"(resumed by another process), not {self.owner}")
            n = run.counts
            if n["pending"] or n["leased"]:
                status = "interrupted"
                self._conn.execute("UPDATE units SET status = 'pending', lease_owner = NULL, "
                                   "lease_expires = NULL WHERE run_id = ? AND status = "
                                   "'leased' AND lease_owner = ?", (run_id, self.owner))
            else:
                status = "ok" if not n["failed"] else "partial" if n["ok"] else "failed"
            self._conn.execute("UPDATE runs SET status = ?, finished_at = ?, summary_json = ?"
                               " WHERE run_id = ?", (status, utc_text(self._now()),
                                                     summary_json, run_id))
            return status

    def _run_infos(self, where: str, params: Sequence[Any]) -> list[RunInfo]:
        counts = ", ".join(f"count(CASE WHEN u.status = '{s}' THEN 1 END) AS n_{s}"
                           for s in UNIT_STATUSES)
        rows = self._rows("read runs", f"SELECT r.*, {counts} FROM runs r LEFT JOIN units u "
                          f"ON u.run_id = r.run_id {where}", params)
        return [run_info(r) for r in rows]

    def runs(self, limit: int = 20) -> list[RunInfo]:
        """The most recent runs, newest first, with their unit counts."""
        return self._run_infos("GROUP BY r.run_id ORDER BY r.started_at DESC, r.run_id DESC "
                               "LIMIT ?", (int(limit),))

    def run(self, run_id: str) -> RunInfo:
        """One run, with its unit counts (ConfigError if unknown)."""
        found = self._run_infos("WHERE r.run_id = ? GROUP BY r.run_id", (run_id,))
        if not found:
            raise ConfigError(f"no run {run_id!r} in ledger {self.path}; list the runs to "
                              f"see their ids")
        return found[0]

    def units(self, run_id: str) -> list[UnitRecord]:
        """The units of a run, by concession and indicator."""
        self.run(run_id)
        return [unit_record(r) for r in self._rows(
            "read units", "SELECT * FROM units WHERE run_id = ? ORDER BY concession_id, "
            "indicator", (run_id,))]

    def last_success(self, concession_id: str, indicator: str) -> UnitRecord | None:
        """The most recently finished ``ok`` unit of (concession, indicator), any run.

        Its ``last_acquisition`` is where ``--since last`` starts from.
        """
        check_unit(concession_id, indicator)
        rows = self._rows("read units", "SELECT * FROM units WHERE concession_id = ? AND "
                          "indicator = ? AND status = 'ok' ORDER BY finished_at DESC, run_id "
                          "DESC LIMIT 1", (concession_id, indicator))
        return unit_record(rows[0]) if rows else None

    # ------------------------------------------------------------------ units

    def claim(self, run_id: str, concession_id: str, indicator: str) -> bool:
        """Lease a unit for ``lease_s`` seconds, in one ``BEGIN IMMEDIATE`` transaction.

        Returns False, changing nothing, when the unit is ``ok`` in this run or another
        owner holds a live lease on the same (concession, indicator) in any run. A lease
        of this owner is renewed; expired leases and leases of dead owners are taken over.
        ConfigError for an unknown run or unit, or a run that is not running.
        """
        check_unit(concession_id, indicator)
        with transaction(self._conn, self.path, f"claim a unit of run {run_id}"):
            now = self._now()
            row = self._unit(run_id, concession_id, indicator)
            status = self.run(run_id).status
            if status != "running":
                raise ConfigError(f"run {run_id} is {status}, not running; start a run to "
                                  f"claim units")
            if row["status"] == "ok" or self._live_holders(concession_id, indicator, now):
                return False
            self._conn.execute(
                "UPDATE units SET status = 'leased', lease_owner = ?, lease_expires = ?, "
                "attempts = attempts + 1, started_at = ?, finished_at = NULL, seconds = NULL,"
                " reason = NULL WHERE run_id = ? AND concession_id = ? AND indicator = ?",
                (self.owner, utc_text(now + timedelta(seconds=self.lease_s)), utc_text(now),
                 run_id, concession_id, indicator))
            return True

    def renew(self, run_id: str, concession_id: str, indicator: str) -> datetime:
        """Extend this owner's lease on a unit to now + ``lease_s``; return the expiry.

        LeaseError when this owner does not hold the lease, or another owner has taken
        the (concession, indicator) since it expired.
        """
        check_unit(concession_id, indicator)
        with transaction(self._conn, self.path, f"renew a lease of run {run_id}"):
            now = self._now()
            row = self._unit(run_id, concession_id, indicator)
            if (row["status"] != "leased" or row["lease_owner"] != self.owner
                    or self._live_holders(concession_id, indicator, now)):
                raise self._lease_error(row, "renew the lease of")
            expires = now + timedelta(seconds=self.lease_s)
            self._conn.execute("UPDATE units SET lease_expires = ? WHERE run_id = ? AND "
                               "concession_id = ? AND indicator = ?",
                               (utc_text(expires), run_id, concession_id, indicator))
            return expires

    def _close_unit(self, run_id: str, concession_id: str, indicator: str, status: str,
                    values: Mapping[str, Any]) -> None:
        """Set a leased unit of this owner to ``ok``/``failed`` (no-op when repeated)."""
        check_unit(concession_id, indicator)
        with transaction(self._conn, self.path, f"record a unit of run {run_id}"):
            row = self._unit(run_id, concession_id, indicator)
            if row["status"] == status and row["lease_owner"] == self.owner:
                return
            if row["status"] != "leased" or row["lease_owner"] != self.owner:
                raise self._lease_error(row, f"mark {status}")
            columns = {"status": status, "lease_expires": None,
                       "finished_at": utc_text(self._now()), **values}
            self._conn.execute(
                f"UPDATE units SET {', '.join(f'{k} = ?' for k in columns)} WHERE run_id = ?"
                " AND concession_id = ? AND indicator = ?",
                (*columns.values(), run_id, concession_id, indicator))

    def complete(self, run_id: str, concession_id: str, indicator: str, *,
                 scenes: Sequence[str], last_acquisition: date | None, seconds: float,
                 stats: Mapping[str, Any]) -> None:
        """Mark a unit leased by this owner ``ok``, with what it processed.

        ``scenes``: scene ids; ``last_acquisition``: date of the last acquisition processed
        (``--since last`` starts after it); ``seconds``: wall time; ``stats``: JSON-able.

        LeaseError when this owner does not hold the unit's lease (repeating a completion
        is a no-op); ConfigError for scenes that are not strings, or stats not JSON-able.
        """
        check_scenes(scenes, last_acquisition)
        self._close_unit(run_id, concession_id, indicator, "ok", {
            "seconds": check_seconds(seconds), "reason": None,
            "scenes_json": to_json(list(scenes), "scenes"),
            "last_acquisition": last_acquisition.isoformat() if last_acquisition else None,
            "stats_json": to_json(dict(stats), f"stats of ({concession_id}, {indicator})")})

    def fail(self, run_id: str, concession_id: str, indicator: str, *, reason: str,
             seconds: float | None = None) -> None:
        """Mark a unit leased by this owner ``failed`` with its reason (no-op if repeated).

        LeaseError when this owner does not hold the unit's lease.
        """
        if not reason or not reason.strip():
            raise ConfigError("a failed unit needs a reason")
        self._close_unit(run_id, concession_id, indicator, "failed",
                         {"reason": reason.strip(), "seconds": check_seconds(seconds)})

    def skip(self, run_id: str, concession_id: str, indicator: str, *, reason: str) -> bool:
        """Mark a unit ``skipped`` with its reason; return whether it was.

        An ``ok`` unit and a unit leased by another live owner are left unchanged (False).
        """
        check_unit(concession_id, indicator)
        if not reason or not reason.strip():
            raise ConfigError("a skipped unit needs a reason")
        with transaction(self._conn, self.path, f"skip a unit of run {run_id}"):
            now = self._now()
            row = self._unit(run_id, concession_id, indicator)
            if row["status"] == "ok" or (
                    row["status"] == "leased" and row["lease_owner"] != self.owner
                    and row["lease_expires"] > utc_text(now) and not self._gone(
                        row["lease_owner"])):
                return False
            self._conn.execute(
                "UPDATE units SET status = 'skipped', reason = ?, lease_owner = NULL, "
                "lease_expires = NULL, finished_at = ? WHERE run_id = ? AND concession_id = ? "
                "AND indicator = ?", (reason.strip(), utc_text(now), run_id, concession_id,
                                      indicator))
            return True
