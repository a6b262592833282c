"""Opening a state file while another process holds a lock on it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from monitor.alerts import AlertStore
from monitor.errors import AlertStoreBusyError
from pipelines.ledger import Ledger


def _hold_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection holds a write lock on the (new) file for ``seconds``."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TEMP TABLE hold(x)")

    def release() -> None:
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


@pytest.mark.parametrize("kind", ["alerts", "ledger"])
def test_opening_waits_out_a_lock_sqlite_refuses_to_wait_for(tmp_path: Path, kind: str
                                                            ) -> None:
    # SQLite answers "database is locked" at once here (switching a new file to WAL while
    # another connection writes), without calling the busy handler: a run starting next
    # to another one failed this way in CI. Opening retries for the busy timeout.
    path = tmp_path / "state.sqlite"
    holder = _hold_lock(path, 1.0)
    started = time.monotonic()
    store = AlertStore(path, busy_timeout_s=10) if kind == "alerts" else Ledger(
        path, busy_timeout_s=10)
    with store:
        waited = time.monotonic() - started
    holder.join()
    assert 0.8 < waited < 8


def test_a_lock_held_past_the_busy_timeout_is_a_typed_busy_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    holder = _hold_lock(path, 2.5)
    started = time.monotonic()
    with pytest.raises(AlertStoreBusyError, match="busy timeout"):
        AlertStore(path, busy_timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    holder.join()
