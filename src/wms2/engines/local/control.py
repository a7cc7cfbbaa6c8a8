"""Stopping a DAG run: ABORT-DAG-ON, removal (condor_rm) and hold/release (reference §8.4).
Mixed into ``DagRun``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wms2.dagman.model import DagStatusCode, NodeStatus
from wms2.engines.local.jobs import PoolJob

if TYPE_CHECKING:
    from wms2.engines.local.executor import DagRun

    _Base = DagRun
else:
    _Base = object

ACTIVE = (NodeStatus.PRERUN, NodeStatus.SUBMITTED, NodeStatus.POSTRUN)
REMOVED_REASON = "DAG Removed: User removed scheduler job from queue."
ABORT_REASON = "DAG Abort: DAG is exiting and writing rescue file."


class RunControl(_Base):
    def abort(self, ret: int) -> None:
        if self.stopping:
            return
        self.exit_code = ret
        self.dag_status = DagStatusCode.ABORT if ret != 0 else DagStatusCode.OK
        if ret != 0:
            self.reports.write_rescue()
        self.stopping = "abort"
        self._stop_everything(ABORT_REASON)
        self._check_progress()

    def remove(self, reason: str = REMOVED_REASON) -> None:
        if self.phase == "done":
            return
        self.end_reason = reason
        if self.stopping != "remove":
            self.dag_status = DagStatusCode.RM
            self.reports.write_rescue()
            self.stopping = "remove"
        self._stop_everything(REMOVED_REASON)
        self.held = False
        self._check_progress()

    def _stop_everything(self, reason: str) -> None:
        for node in self.nodes.values():
            if node.spec.is_final:
                continue
            if node.status in ACTIVE:
                node.was = node.status
                for job in list(node.jobs):
                    if isinstance(job, PoolJob):
                        self.host.pool.remove(job, reason, by_dagman=True)
                    elif isinstance(job, RunControl):  # a SUBDAG node: its nested run
                        job.remove()
                self._kill_script(node)
                node.pending_script = None
                self._set(node, NodeStatus.ERROR, f"Was STATUS_{node.was.name}")
                self.removed_count += 1
            elif node.status == NodeStatus.READY:
                self._set(node, NodeStatus.NOT_READY, "")
        for heap in self._ready.values():
            heap.clear()

    def hold(self, reason: str) -> None:
        if self.phase == "done" or self.held:
            return
        self.held = True
        self.out.log(f"DAG held: {reason}")
        for node in self.nodes.values():
            if node.name in self._script_procs:
                kind = "PRE" if node.status == NodeStatus.PRERUN else "POST"
                self._kill_script(node)
                self._queue_script(node, kind, front=True)
        self.reports.write_status(force=True)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        self.out.log("DAG released")
        self.reports.mark_dirty()
