"""Telling live processes from dead and zombie ones (leases, staging folders)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from monitor.procs import pid_alive


def test_running_exited_and_zombie_processes() -> None:
    assert pid_alive(os.getpid())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    quick = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert pid_alive(sleeper.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # exited but not reaped: a zombie
            with open(f"/proc/{quick.pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
            time.sleep(0.05)
        assert not pid_alive(quick.pid), "a zombie is not a live owner"
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
        quick.wait(timeout=10)
    assert not pid_alive(quick.pid) and not pid_alive(sleeper.pid)
    assert not pid_alive(0) and not pid_alive(-1)
