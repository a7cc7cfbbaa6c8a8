"""The shared process helpers: alive, dead, zombie; a log's tail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wms2.procs import log_tail, process_alive


def test_alive_dead_and_zombie() -> None:
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # it has exited, and is not reaped yet
    assert not process_alive(child.pid), "an exited child not yet reaped (a zombie) is not alive"
    child.wait()
    assert not process_alive(child.pid)


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == "(no log)"
