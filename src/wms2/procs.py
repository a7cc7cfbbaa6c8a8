"""Small process helpers shared by the daemons WMS2 starts and watches (pool daemon, lease holders, the
development servers): is a pid alive, stop a process group, and the tail of a log to quote in an error."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

#: How long a SIGKILLed process may take to disappear before we stop waiting for it.
KILL_WAIT_S = 5.0


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


def stop_process_group(pid: int, timeout_s: float, poll_s: float = 0.2) -> None:
    """SIGTERM the process group led by ``pid``, wait up to ``timeout_s`` for its leader to go, then
    SIGKILL the group; the leader is reaped when it is a child of this process (tests start servers so)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(poll_s)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT_S  # SIGKILL is delivered asynchronously
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(poll_s)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
