"""The files a DAG run writes about itself: node status file (at its period), rescue DAG, metrics."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from wms2.dagman.metrics import DagMetrics, write_metrics
from wms2.dagman.model import DagStatusCode, NodeStatus
from wms2.dagman.rescue import RescueDag, render_rescue, write_rescue
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, write_status_file

if TYPE_CHECKING:
    from wms2.engines.local.executor import DagRun

log = logging.getLogger(__name__)
STOP_NOTES = {"remove": "removed", "abort": "aborted"}
# How often a status file may be rewritten at most, whatever its period: the analogue of DAGMan's
# log-scan cycle (DAGMAN_USER_LOG_SCAN_INTERVAL, 5 s), which bounds its writes the same way.
# The default of ``settings.engine.status_scan_s``.
STATUS_SCAN_S = 0.25


class RunReports:
    def __init__(self, run: DagRun) -> None:
        self.run = run
        self.dirty = True
        self.last_write = 0.0
        self.rescue_path: Path | None = None
        spec = run.spec
        self.status_path = (spec.directory / spec.node_status_file) if spec.node_status_file else None

    def mark_dirty(self) -> None:
        self.dirty = True

    def maybe_write_status(self) -> None:
        if self.status_path is None:
            return
        spec = self.run.spec
        if not (self.dirty or spec.status_always_update):
            return
        if time.time() - self.last_write < max(spec.status_interval, self.run.host.status_scan_s):
            return
        self.write_status()

    def snapshot(self, final: bool = False) -> DagStatusFile:
        run = self.run
        now = int(time.time())
        entries: list[NodeStatusEntry] = []
        counts = dict.fromkeys(NodeStatus, 0)
        procs_idle = 0
        for node in run.nodes.values():
            status, details = node.status, node.details
            if final and status in (NodeStatus.PRERUN, NodeStatus.SUBMITTED, NodeStatus.POSTRUN):
                details = f"Was STATUS_{status.name}"
                status = NodeStatus.ERROR
            counts[status] += 1
            queued = node.procs_left if status == NodeStatus.SUBMITTED else 0
            procs_idle += node.procs_idle if status == NodeStatus.SUBMITTED else 0
            entries.append(NodeStatusEntry(node.name, int(status), details, node.retry, queued, 0))
        done = run.phase == "done"
        if done:  # DAGMan's rule: "success" only when every node (FINAL included) is done
            all_done = counts[NodeStatus.DONE] == len(entries)
            code = NodeStatus.DONE if all_done else NodeStatus.ERROR
            note = "success" if all_done else STOP_NOTES.get(run.stopping or "", "failed")
            if not all_done and run.dag_status == DagStatusCode.CYCLE:
                note = "cycle"
        else:
            code = NodeStatus.SUBMITTED
            note = "held" if run.held else STOP_NOTES.get(run.stopping or "", "")
        accounted = sum(counts[s] for s in NodeStatus if s != NodeStatus.NOT_READY)
        interval = int(run.spec.status_interval)
        return DagStatusFile(
            dag_files=[str(run.spec.path)], timestamp=now, dag_status=int(code), dag_status_note=note,
            nodes=entries, nodes_total=len(entries), nodes_done=counts[NodeStatus.DONE],
            nodes_pre=counts[NodeStatus.PRERUN], nodes_queued=counts[NodeStatus.SUBMITTED],
            nodes_post=counts[NodeStatus.POSTRUN], nodes_ready=counts[NodeStatus.READY],
            nodes_unready=len(entries) - accounted, nodes_futile=counts[NodeStatus.FUTILE],
            nodes_failed=counts[NodeStatus.ERROR], procs_held=0, procs_idle=procs_idle, end_time=now,
            next_update=0 if done else now + interval,
        )

    def write_status(self, force: bool = False) -> None:
        if self.status_path is None:
            return
        write_status_file(self.status_path, self.snapshot(final=self.run.phase == "done"))
        self.last_write = time.time()
        self.dirty = False
        counts = self.run.counts
        self.run.out.table(len(self.run.nodes), (
            counts[NodeStatus.DONE], counts[NodeStatus.PRERUN], counts[NodeStatus.SUBMITTED],
            counts[NodeStatus.POSTRUN], counts[NodeStatus.READY], counts[NodeStatus.NOT_READY],
            counts[NodeStatus.ERROR], counts[NodeStatus.FUTILE]), self.run.dag_status)

    def write_rescue(self) -> None:
        """Write (or rewrite) the rescue DAG.  A failure (a full disk) is logged and the DAG still ends,
        without a rescue file, as DAGMan does: a DAG that never ends would wedge its request."""
        try:
            self._write_rescue()
        except OSError as exc:
            log.error("DAG %s: cannot write the rescue DAG: %s", self.run.spec.path, exc)
            self.run.out.log(f"ERROR: failed to write the Rescue DAG: {exc}")
            for tmp in self.run.spec.path.parent.glob(self.run.spec.path.name + ".rescue*.tmp"):
                tmp.unlink(missing_ok=True)

    def _write_rescue(self) -> None:
        run = self.run
        rescue = RescueDag(
            dag_file=str(run.spec.path), total_nodes=len(run.nodes),
            done=[n.name for n in run.nodes.values() if n.status == NodeStatus.DONE and not n.spec.is_final],
            failed=[n.name for n in run.nodes.values() if n.status == NodeStatus.ERROR],
        )
        if self.rescue_path is not None:
            tmp = self.rescue_path.with_name(self.rescue_path.name + ".tmp")
            tmp.write_text(render_rescue(rescue))
            tmp.replace(self.rescue_path)
            return
        self.rescue_path = write_rescue(run.spec.path, rescue, run.config.max_rescue)
        if self.rescue_path is not None:
            run.out.log(f"Writing Rescue DAG to {self.rescue_path}...")

    def finish(self) -> None:
        run = self.run
        if self.rescue_path is not None and run.spec.final:
            self.write_rescue()  # the FINAL node ran after the rescue was written: rewrite it
        self.write_status(force=True)
        statuses = [n.status for n in run.nodes.values()]
        subdags = [n for n in run.nodes.values() if n.spec.is_subdag]
        metrics = DagMetrics(
            start_time=run.start_time, end_time=run.end_time or time.time(), exitcode=run.exit_code or 0,
            dagman_id=str(run.cluster),
            parent_dagman_id=str(run.parent_cluster) if run.parent_cluster is not None else "",
            rescue_dag_number=run.spec.rescue_number, has_final_node=run.spec.final is not None,
            nodes=len(statuses), nodes_failed=statuses.count(NodeStatus.ERROR),
            nodes_succeeded=statuses.count(NodeStatus.DONE), dag_nodes=len(subdags),
            dag_nodes_failed=sum(1 for n in subdags if n.status == NodeStatus.ERROR),
            dag_nodes_succeeded=sum(1 for n in subdags if n.status == NodeStatus.DONE),
            total_nodes_run=sum(1 for n in run.nodes.values() if n.ran),
            jobs_submitted=run.jobs_submitted, jobs_succeeded=run.jobs_succeeded,
            dag_status=int(run.dag_status if run.dag_status is not None else DagStatusCode.OK),
            provisioner_nodes=int(run.spec.provisioner is not None), service_nodes=len(run.services),
            service_nodes_failed=sum(1 for n in run.services.values() if n.status == NodeStatus.ERROR),
            service_nodes_succeeded=sum(1 for n in run.services.values() if n.status == NodeStatus.DONE),
        )
        write_metrics(Path(str(run.spec.path) + ".metrics"), metrics)
