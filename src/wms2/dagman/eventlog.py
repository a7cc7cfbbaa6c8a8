"""HTCondor user event log (``*.nodes.log``) in the text format (reference §4.4): writer and reader.

Each event is ``NNN (cluster.proc.subproc) YYYY-MM-DD HH:MM:SS <text>``, optional body lines and a
``...`` line.  Files written here are read by ``htcondor2.JobEventLog``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import IO

NOOP_CLUSTER = 0
NOOP_PROC = 2147483647  # INT_MAX: DAGMan's fake id for NOOP nodes
LOCAL_HOST = "<127.0.0.1:0?alias=wms2-local>"
NOOP_HOST = "<dummy-submit-for-noop-job>"


class EventType(IntEnum):
    SUBMIT = 0
    EXECUTE = 1
    JOB_TERMINATED = 5
    JOB_ABORTED = 9
    JOB_HELD = 12
    JOB_RELEASED = 13
    POST_SCRIPT_TERMINATED = 16
    PRESKIP = 34


@dataclass
class Event:
    type: int
    cluster: int
    proc: int
    timestamp: float
    node: str | None = None
    return_value: int | None = None
    signal: int | None = None
    reason: str | None = None
    host: str | None = None


def _head(code: int, cluster: int, proc: int, ts: float | None) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts if ts is not None else time.time()))
    return f"{code:03d} ({cluster:03d}.{proc:03d}.000) {stamp} "


def _termination(return_value: int | None, signal: int | None) -> list[str]:
    if signal is not None:
        return [f"\t(0) Abnormal termination (signal {signal})", "\t(0) No core file"]
    return [f"\t(1) Normal termination (return value {return_value or 0})"]


def render_event(event: Event) -> str:
    head = _head(event.type, event.cluster, event.proc, event.timestamp)
    lines: list[str]
    if event.type == EventType.SUBMIT:
        lines = [head + f"Job submitted from host: {event.host or LOCAL_HOST}"]
        if event.node is not None:
            lines.append(f"    DAG Node: {event.node}")
    elif event.type == EventType.EXECUTE:
        lines = [head + f"Job executing on host: {event.host or LOCAL_HOST}"]
    elif event.type == EventType.JOB_TERMINATED:
        lines = [head + "Job terminated.", *_termination(event.return_value, event.signal)]
        usage = "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  "
        lines += [usage + w for w in ("Run Remote Usage", "Run Local Usage", "Total Remote Usage",
                                      "Total Local Usage")]
        lines += [f"\t0  -  {w}" for w in ("Run Bytes Sent By Job", "Run Bytes Received By Job",
                                           "Total Bytes Sent By Job", "Total Bytes Received By Job")]
    elif event.type == EventType.JOB_ABORTED:
        lines = [head + "Job was aborted.", f"\t{event.reason or 'removed'}"]
    elif event.type == EventType.JOB_HELD:
        lines = [head + "Job was held.", f"\t{event.reason or 'held'}", "\tCode 0 Subcode 0"]
    elif event.type == EventType.JOB_RELEASED:
        lines = [head + "Job was released.", f"\t{event.reason or 'released'}"]
    elif event.type == EventType.POST_SCRIPT_TERMINATED:
        lines = [head + "POST Script terminated.", *_termination(event.return_value, event.signal),
                 f"    DAG Node: {event.node}"]
    elif event.type == EventType.PRESKIP:
        lines = [head + "PRE script return value is PRE_SKIP value", f"    DAG Node: {event.node}"]
    else:
        raise ValueError(f"event type {event.type} is not written by the local engine")
    return "\n".join(lines) + "\n...\n"


class EventLogWriter:
    """Appends events; each event is one ``write`` + flush so a crash never leaves half an event
    before the next writer appends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self.dropped = 0  # events that could not be written (a full disk)

    def write(self, event: Event) -> None:
        """A write that fails (a full disk) drops the event and never raises: the log records what
        happened, it must not stop it (the job's exit is also in the pool's exit file, which recovery
        reads).  A torn event line that a failed write may leave is skipped by the reader."""
        try:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            self._fh.write(render_event(event))
            self._fh.flush()
        except OSError:
            self.dropped += 1
            self.close()  # reopened at the next event

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:  # the unflushed tail is lost (a full disk)
                self.dropped += 1


_HEAD = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.(\d+)\) (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)\S* (.*)$")
_NODE = re.compile(r"^\s+DAG Node: (.*)$")
_RETURN = re.compile(r"\(1\) Normal termination \(return value (-?\d+)\)")
_SIGNAL = re.compile(r"\(0\) Abnormal termination \(signal (\d+)\)")


def _parse_block(block: list[str]) -> Event | None:
    m = _HEAD.match(block[0])
    if not m:
        return None
    stamp = m.group(5).replace("T", " ")
    try:
        ts = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        ts = 0.0
    event = Event(type=int(m.group(1)), cluster=int(m.group(2)), proc=int(m.group(3)), timestamp=ts)
    for line in block[1:]:
        if (nm := _NODE.match(line)) is not None:
            event.node = nm.group(1).strip()
        elif (rm := _RETURN.search(line)) is not None:
            event.return_value = int(rm.group(1))
        elif (sm := _SIGNAL.search(line)) is not None:
            event.signal = int(sm.group(1))
    if event.type == EventType.JOB_ABORTED and len(block) > 1:
        event.reason = block[1].strip()
    return event


def read_events(path: Path, offset: int = 0) -> list[Event]:
    """Events from ``offset`` (bytes) to the end; an unterminated last event is ignored."""
    if not path.exists():
        return []
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read().decode("utf-8", errors="replace")
    events: list[Event] = []
    block: list[str] = []
    for line in data.split("\n"):
        if line == "...":
            if block and (event := _parse_block(block)) is not None:
                events.append(event)
            block = []
        elif line:
            block.append(line)
    return events


def log_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
