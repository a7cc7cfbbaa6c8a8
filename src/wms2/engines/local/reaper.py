"""Event-driven child reaping: one selector over pidfds (Linux >= 5.3) plus a wake-up pipe, so the
engine loop sleeps until a process exits, a command arrives, or its next timer is due."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
from collections.abc import Callable

ExitCallback = Callable[[int | None], None]


class Reaper:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._watched: dict[int, tuple[subprocess.Popen[bytes] | None, ExitCallback]] = {}

    def watch(self, proc: subprocess.Popen[bytes], callback: ExitCallback) -> None:
        """Call ``callback(returncode)`` once ``proc`` exits (negative = killed by that signal)."""
        fd = os.pidfd_open(proc.pid)
        self._watched[fd] = (proc, callback)
        self._selector.register(fd, selectors.EVENT_READ, fd)

    def watch_pid(self, pid: int, callback: ExitCallback) -> bool:
        """Watch a process that is not our child (adopted after a restart); its status is unknown."""
        try:
            fd = os.pidfd_open(pid)
        except (ProcessLookupError, PermissionError):
            return False
        self._watched[fd] = (None, callback)
        self._selector.register(fd, selectors.EVENT_READ, fd)
        return True

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # the pipe is full: a wake-up is already pending
            os.write(self._wake_w, b"x")

    def poll(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds; run the callbacks of exited processes; return how many."""
        done = 0
        for key, _ in self._selector.select(timeout):
            fd = key.data
            if fd is None:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            proc, callback = self._watched.pop(fd)
            self._selector.unregister(fd)
            os.close(fd)
            code = proc.wait() if proc is not None else None
            callback(code)
            done += 1
        return done

    @property
    def watching(self) -> int:
        return len(self._watched)

    def close(self) -> None:
        for fd in list(self._watched):
            self._selector.unregister(fd)
            os.close(fd)
        self._watched.clear()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
