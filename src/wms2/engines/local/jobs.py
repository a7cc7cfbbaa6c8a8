"""From a submit description to runnable local jobs (one per proc) with their job ads."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from wms2.dagman.submit import SubmitDescription, SubmitError, parse_environment, split_arguments
from wms2.engines.local.classad_expr import ClassAd, ExprError

DEFAULT_REQUEST_MEMORY_MB = 128  # our default for jobs that do not say; HTCondor derives one from ImageSize
DEFAULT_REQUEST_DISK_KB = 1024
KNOWN_KEYS = {
    "universe", "executable", "arguments", "environment", "getenv", "initialdir", "output", "error", "log",
    "input", "transfer_input_files", "transfer_output_files", "should_transfer_files",
    "when_to_transfer_output", "request_cpus", "request_memory", "request_disk", "requirements",
    "periodic_remove", "priority", "notification", "transfer_executable",
}


class JobState(StrEnum):
    idle = "idle"
    running = "running"
    done = "done"
    removed = "removed"


@dataclass
class JobExit:
    return_value: int | None  # None when killed by a signal or removed
    signal: int | None = None
    removed_reason: str | None = None  # set when the job was removed (periodic_remove, DAG removal)
    by_dagman: bool = False


@dataclass
class PoolJob:
    cluster: int
    proc: int
    owner: int  # DAGMan cluster that submitted it
    node: str
    argv: list[str]
    iwd: Path
    env: dict[str, str]
    getenv: bool
    output: Path | None
    error: Path | None
    stdin: Path | None
    transfer: bool
    transfer_inputs: list[str]
    transfer_outputs: list[str] | None
    request_cpus: int
    request_memory: int
    ad: ClassAd
    priority: int = 0
    periodic_remove: str | None = None
    remove_reason: str | None = None
    state: JobState = JobState.idle
    q_date: float = field(default_factory=time.time)
    start_time: float | None = None
    site: str | None = None
    pid: int | None = None
    idle_reason: str | None = None
    on_execute: Callable[[PoolJob], None] | None = None
    on_exit: Callable[[PoolJob, JobExit], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        return f"{self.cluster}.{self.proc}"


def _int_key(desc: SubmitDescription, key: str, default: int) -> int:
    value = desc.get(key)
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        raise SubmitError(f"{desc.path.name}: {key} must be a number, got {value!r}") from None


def _path(base: Path, value: str | None) -> Path | None:
    if not value or value == "/dev/null":
        return None
    return (base / value).absolute()


def _ad_value(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_jobs(desc: SubmitDescription, submit_dir: Path, cluster: int, owner: int, node: str,
               extra_attrs: dict[str, str]) -> list[PoolJob]:
    """One ``PoolJob`` per proc of ``queue N``; raises ``SubmitError`` with the file and key at fault."""
    universe = (desc.get("universe") or "vanilla").lower()
    if universe not in ("vanilla", "local", "scheduler"):
        raise SubmitError(f"{desc.path.name}: universe {universe} is not supported by the local pool")
    jobs: list[PoolJob] = []
    for proc in range(desc.queue_count):
        desc.set("Cluster", str(cluster))
        desc.set("ClusterId", str(cluster))
        desc.set("Process", str(proc))
        desc.set("ProcId", str(proc))
        jobs.append(_build_one(desc, submit_dir, cluster, proc, owner, node, extra_attrs))
    return jobs


def _build_one(desc: SubmitDescription, submit_dir: Path, cluster: int, proc: int, owner: int, node: str,
               extra_attrs: dict[str, str]) -> PoolJob:
    iwd = (submit_dir / (desc.get("initialdir") or ".")).absolute()
    executable = desc.get("executable")
    if not executable:
        raise SubmitError(f"{desc.path.name}: no executable")
    exe_path = iwd / executable if not executable.startswith("/") else Path(executable)
    if not exe_path.exists():
        raise SubmitError(f"{desc.path.name}: executable {exe_path} does not exist")
    args = split_arguments(desc.get("arguments") or "")
    stf = (desc.get("should_transfer_files") or "IF_NEEDED").upper()
    inputs = [s.strip() for s in (desc.get("transfer_input_files") or "").split(",") if s.strip()]
    outputs_raw = desc.get("transfer_output_files")
    outputs = [s.strip() for s in outputs_raw.split(",") if s.strip()] if outputs_raw is not None else None
    cpus = _int_key(desc, "request_cpus", 1)
    memory = _int_key(desc, "request_memory", DEFAULT_REQUEST_MEMORY_MB)
    disk = _int_key(desc, "request_disk", DEFAULT_REQUEST_DISK_KB)
    now = int(time.time())
    ad = ClassAd()
    for key, value in desc.macros.values():
        if key.lower() not in KNOWN_KEYS and key.lower() not in ("cluster", "clusterid", "process", "procid"):
            ad.set_value(key, desc.expand(value).strip())
    try:
        for key, value in {**desc.expanded_attrs(), **extra_attrs}.items():
            ad.set_expr(key, value)
        ad.set_expr("Requirements", desc.get("requirements") or "true")
        periodic = desc.get("periodic_remove")
        if periodic:
            ad.set_expr("PeriodicRemove", periodic)
    except ExprError as exc:
        raise SubmitError(f"{desc.path.name}: {exc}") from None
    output = _path(iwd, desc.get("output"))
    error = _path(iwd, desc.get("error"))
    for key, value in (
        ("ClusterId", cluster), ("ProcId", proc), ("Cmd", str(exe_path)), ("Arguments", " ".join(args)),
        ("Iwd", str(iwd)), ("JobUniverse", 5), ("JobStatus", 1), ("QDate", now),
        ("EnteredCurrentStatus", now), ("RequestCpus", cpus), ("RequestMemory", memory),
        ("RequestDisk", disk), ("DAGNodeName", node), ("DAGManJobId", owner),
        ("JobPrio", _int_key(desc, "priority", 0)), ("Out", str(output or "/dev/null")),
        ("Err", str(error or "/dev/null")), ("ShouldTransferFiles", stf),
        ("DiskUsage", _disk_usage_kb([exe_path, *(iwd / i for i in inputs)])),
    ):
        ad.set_value(key, value)
    getenv = (desc.get("getenv") or "false").lower() in ("true", "yes", "1", "t")
    return PoolJob(
        cluster=cluster, proc=proc, owner=owner, node=node, argv=[str(exe_path), *args], iwd=iwd,
        env=parse_environment(desc.get("environment") or ""), getenv=getenv, output=output, error=error,
        stdin=_path(iwd, desc.get("input")), transfer=stf == "YES", transfer_inputs=inputs,
        transfer_outputs=outputs, request_cpus=cpus, request_memory=memory, ad=ad,
        priority=_int_key(desc, "priority", 0), periodic_remove=periodic,
        remove_reason=desc.attrs.get("PeriodicRemoveReason"),
    )


def _disk_usage_kb(paths: list[Path]) -> int:
    """Initial DiskUsage as condor_submit sets it: executable plus input files, in KB (at least 1)."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return max(1, (total + 1023) // 1024)


def quoted(text: str) -> str:
    """A string as a ClassAd literal."""
    return _ad_value(text)
