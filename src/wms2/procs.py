"""Small process helpers shared by the daemons WMS2 starts and watches (pool daemon, lease holders, the
development servers): is a pid alive, and the tail of a log to quote in an error."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        # it vanished between the two looks, or there is no /proc to ask: then trust kill(0)
        return not Path("/proc/self").exists()
    return stat.rpartition(")")[2].split()[0] != "Z"


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or "(no log)" when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
