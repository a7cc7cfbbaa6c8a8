"""The script part of a DAG run: PRE/POST scripts with their macros, the maxpre/maxpost throttles,
SCRIPT DEFER, PRE_SKIP and the PRE-failure rules (reference §1.2-§1.4).  Mixed into ``DagRun``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import IO, TYPE_CHECKING

from wms2.dagman.eventlog import NOOP_CLUSTER, NOOP_PROC, Event, EventType
from wms2.dagman.model import NodeStatus, Script
from wms2.engines.local.node import RETURN_PRE_FAILED, NodeRun, script_argv, script_macros

JOB_OK_TEXT = "Job failed due to DAGMAN error 0"  # what DAGMan writes before a POST failure after a good job

if TYPE_CHECKING:
    from wms2.engines.local.executor import DagRun

    _Base = DagRun
else:
    _Base = object


class ScriptStage(_Base):
    def _queue_script(self, node: NodeRun, kind: str, front: bool = False) -> None:
        node.pending_script = kind
        if front:
            self._script_queue.insert(0, (node.name, kind))
        else:
            self._script_queue.append((node.name, kind))

    def _pump_scripts(self) -> None:
        if self.held or not self._script_queue:
            return
        keep: list[tuple[str, str]] = []
        for name, kind in self._script_queue:
            node = self.nodes[name]
            if node.pending_script != kind:
                continue
            limit = self.config.max_pre if kind == "PRE" else self.config.max_post
            if limit and self.scripts_running[kind] >= limit:
                keep.append((name, kind))
                continue
            if self.stopping and not node.spec.is_final:
                continue
            self._run_script(node, kind)
        self._script_queue = keep

    def _run_script(self, node: NodeRun, kind: str) -> None:
        script = node.spec.pre if kind == "PRE" else node.spec.post
        assert script is not None
        node.pending_script = None
        macros = script_macros(node, kind, self.cluster, int(self.dag_status), self.dag_counts())
        argv = script_argv(script.command, macros, node.directory)
        if self.jobstate:
            self.jobstate.node(node.name, f"{kind}_SCRIPT_STARTED", None, node.retry + 1)
        try:
            stdout, stderr = self._debug_streams(node, script, kind)
            proc = subprocess.Popen(argv, cwd=node.directory, stdin=subprocess.DEVNULL,
                                    stdout=stdout, stderr=stderr, start_new_session=True, close_fds=True)
            for stream in (stdout, stderr):
                if not isinstance(stream, int):
                    stream.close()
        except OSError as exc:
            self.out.log(f"ERROR: cannot run {kind} script of node {node.name}: {exc}")
            self.host.add_timer(0.0, lambda: self._script_done(node, kind, 1, None))
            return
        self.scripts_running[kind] += 1
        node.script_pid = proc.pid
        self._script_procs[node.name] = proc
        self.out.log(f"Running {kind} script of Node {node.name}...")
        self.host.reaper.watch(proc, lambda code: self._script_exited(node, kind, proc, code))

    @staticmethod
    def _debug_streams(node: NodeRun, script: Script, kind: str) -> tuple[IO[bytes] | int, IO[bytes] | int]:
        """SCRIPT DEBUG: append the chosen stream(s) to the file, after a banner."""
        if script.debug_file is None:
            return subprocess.DEVNULL, subprocess.DEVNULL
        handle = open(node.directory / script.debug_file, "ab")  # noqa: SIM115 - closed after Popen
        stamp = time.strftime("%m/%d/%y %H:%M:%S")
        handle.write(f"*** {stamp} {kind} script of node {node.name} ({script.debug_type}) ***\n".encode())
        handle.flush()
        if script.debug_type == "STDOUT":
            return handle, subprocess.DEVNULL
        if script.debug_type == "STDERR":
            return subprocess.DEVNULL, handle
        return handle, subprocess.STDOUT

    def _script_exited(self, node: NodeRun, kind: str, proc: subprocess.Popen[bytes], code: int | None) -> None:
        self.scripts_running[kind] -= 1
        if self._script_procs.get(node.name) is proc:
            del self._script_procs[node.name]
            node.script_pid = None
        if proc.pid in self._killed:
            self._killed.discard(proc.pid)
            self._check_progress()  # killed by hold/removal; requeued or abandoned
            return
        rc = code if code is not None else 1
        self._script_done(node, kind, rc, -rc if rc < 0 else None)

    def _script_done(self, node: NodeRun, kind: str, rc: int, sig: int | None) -> None:
        script = node.spec.pre if kind == "PRE" else node.spec.post
        if script and script.defer_status is not None and rc == script.defer_status and not self.stopping:
            self.out.log(f"Deferring {kind} script of node {node.name} for {script.defer_time:g} s")
            node.pending_script = kind
            self.host.add_timer(time.time() + script.defer_time, lambda: self._queue_script(node, kind))
            return
        if self.jobstate:
            outcome = "SUCCESS" if rc == 0 else "FAILURE"
            self.jobstate.node(node.name, f"{kind}_SCRIPT_{outcome}", None, node.retry + 1)
        if kind == "PRE":
            self._pre_done(node, rc, sig)
        else:
            self.log.write(Event(EventType.POST_SCRIPT_TERMINATED, node.cluster or 0, node.last_proc,
                                 time.time(), node=node.name, return_value=rc if sig is None else None,
                                 signal=sig))
            details = "" if rc == 0 else (f"POST Script died on signal {sig}" if sig
                                          else f"POST Script failed with status {rc}")
            if rc != 0:
                self.out.log(f"POST Script of node {node.name} failed with status {rc}")
            if rc != 0:  # DAGMan's text, even when the job itself succeeded (fixtures dagman-runs/*)
                first = node.job_details if node.job_failed else JOB_OK_TEXT
                details = f"{first} and {details}"
            self._node_result(node, rc, details)

    def _pre_done(self, node: NodeRun, rc: int, sig: int | None) -> None:
        node.pre_return = rc
        if self.stopping and not node.spec.is_final:
            return
        if rc != 0 and node.spec.pre_skip is not None and rc == node.spec.pre_skip:
            self.log.write(Event(EventType.PRESKIP, NOOP_CLUSTER, NOOP_PROC, time.time(), node=node.name))
            self._node_result(node, 0, "", skipped=True)
            return
        if rc != 0:
            details = f"PRE Script died on signal {sig}" if sig else f"PRE Script failed with status {rc}"
            self.out.log(f"PRE Script of node {node.name} failed with status {rc}")
            if node.spec.post is not None and self.config.always_run_post:
                node.job_return = RETURN_PRE_FAILED
                node.job_failed, node.job_details = True, details
                self._set(node, NodeStatus.POSTRUN, "")
                self._queue_script(node, "POST")
                return
            self._node_result(node, rc, details)
            return
        self._set(node, NodeStatus.READY, "")
        if node.spec.is_final:
            self._submit(node)
            return
        self._push_ready(node, self.config.submit_depth_first)

    def _kill_script(self, node: NodeRun) -> None:
        proc = self._script_procs.get(node.name)
        if proc is not None:
            self._killed.add(proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                self.out.log(f"{node.name}: script already gone")
