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


def test_stop_process_group_terms_then_kills() -> None:
    from wms2.procs import stop_process_group

    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    stop_process_group(polite.pid, timeout_s=10)
    assert not process_alive(polite.pid)  # SIGTERM was enough (and the child was reaped)
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(60)"], start_new_session=True, stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    stop_process_group(stubborn.pid, timeout_s=0.3, poll_s=0.05)
    assert not process_alive(stubborn.pid)  # it ignored SIGTERM: SIGKILLed, and reaped
    stop_process_group(stubborn.pid, timeout_s=1)  # already gone: nothing to do
