"""Whether a process id on this machine belongs to a running process.

Used to tell a live owner (of a staging folder, of a run's leases) from a dead one.
``os.kill(pid, 0)`` alone is not enough: it succeeds on a zombie (a process that has exited
but was not yet reaped by its parent), which on a machine whose init reaps slowly (a
container without an init) would keep a killed run's leases and staging folders "alive".
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["pid_alive"]


def pid_alive(pid: int) -> bool:
    """True when ``pid`` is a running (not zombie) process on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    try:  # Linux: the state follows the parenthesised command name in /proc/PID/stat
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc (or it just exited): trust the signal test
    state = stat.rpartition(")")[2].split()[:1]
    return state != ["Z"] and state != ["X"]
