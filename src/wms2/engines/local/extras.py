"""The special nodes and side files of a DAG run (reference §1.2): SERVICE nodes (started with the DAG,
removed at its end, never counted for its success), the PROVISIONER gate, SAVE_POINT_FILE and the DOT
file.  Mixed into ``DagRun``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from wms2.dagman.eventlog import Event, EventType
from wms2.dagman.model import NodeStatus
from wms2.dagman.rescue import RescueDag, save_file_path, write_save_file
from wms2.dagman.submit import SubmitError
from wms2.engines.local.jobs import JobExit, PoolJob
from wms2.engines.local.node import NodeRun

if TYPE_CHECKING:
    from wms2.engines.local.executor import DagRun

    _Base = DagRun
else:
    _Base = object

SERVICE_REMOVED = "DAG Removed: service node removed because the DAG finished."
PROVISIONER_NOTE = ("PROVISIONER: the local pool has no ProvisionerState attribute; provisioning counts as "
                    "complete when the provisioner's job starts running")
DOT_STATUS = {NodeStatus.NOT_READY: "Not ready", NodeStatus.READY: "Ready", NodeStatus.PRERUN: "Pre",
              NodeStatus.SUBMITTED: "Submitted", NodeStatus.POSTRUN: "Post", NodeStatus.DONE: "Done",
              NodeStatus.ERROR: "Error", NodeStatus.FUTILE: "Futile"}


class RunExtras(_Base):
    # -- SERVICE nodes ---------------------------------------------------------------------------
    def start_services(self) -> None:
        for spec in self.spec.services.values():
            node = NodeRun(spec=spec, directory=self.spec.node_dir(spec), seq=-1)
            self.services[spec.name] = node
            self.out.log(f"Starting service node {spec.name}...")
            cluster = self.host.new_cluster()
            try:
                jobs = self._build_jobs(node, cluster)
            except SubmitError as exc:  # not a DAG error (reference §1.2, SERVICE)
                self.out.log(f"Warning: service node {spec.name} failed to submit: {exc}")
                node.status = NodeStatus.ERROR
                continue
            node.cluster, node.jobs, node.status = cluster, list(jobs), NodeStatus.SUBMITTED
            self.out.log(f"Submitting HTCondor Node {spec.name} job(s)...")
            self.out.log(f"\tassigned HTCondor ID ({cluster}.0.0)")
            for job in jobs:
                self.log.write(Event(EventType.SUBMIT, cluster, job.proc, time.time(), node=spec.name))
                job.on_execute = lambda j: self.log.write(
                    Event(EventType.EXECUTE, j.cluster, j.proc, time.time(), host=f"<127.0.0.1:0?alias={j.site}>"))
                job.on_exit = lambda j, r, n=node: self._service_exited(n, j, r)
                self.host.pool.submit(job, self.effective_priority(node))

    def _service_exited(self, node: NodeRun, job: PoolJob, result: JobExit) -> None:
        if job in node.jobs:
            node.jobs.remove(job)
        if self.phase == "done":
            return
        now = time.time()
        if result.removed_reason is not None:
            self.log.write(Event(EventType.JOB_ABORTED, job.cluster, job.proc, now, reason=result.removed_reason))
        else:
            self.log.write(Event(EventType.JOB_TERMINATED, job.cluster, job.proc, now,
                                 return_value=result.return_value, signal=result.signal))
        ok = result.removed_reason is None and not result.signal and result.return_value == 0
        if not node.jobs:
            node.status = NodeStatus.DONE if ok else NodeStatus.ERROR
        self.out.log(f"Service node {node.name} job ({job.cluster}.{job.proc}.0) ended "
                     f"({'success' if ok else 'failure'}; not a DAG failure)")

    def stop_services(self) -> None:
        """DAGMan removes service nodes when the DAG ends (reference §1.2)."""
        for node in self.services.values():
            for job in list(node.jobs):
                if job.state.value not in ("idle", "running"):
                    continue
                job.on_exit = lambda j, r: None
                self.log.write(Event(EventType.JOB_ABORTED, job.cluster, job.proc, time.time(), reason=SERVICE_REMOVED))
                self.host.pool.remove(job, SERVICE_REMOVED, by_dagman=True)
                self.out.log(f"Removing service node {node.name} job ({job.cluster}.{job.proc}.0)")
            node.jobs = []
            if node.status == NodeStatus.SUBMITTED:
                node.status = NodeStatus.DONE

    # -- PROVISIONER -----------------------------------------------------------------------------
    def provisioned(self) -> None:
        if not self.provisioning:
            return
        self.provisioning = False
        self.out.log("Provisioning complete: starting the other nodes")
        for node in self.nodes.values():
            if node.status == NodeStatus.NOT_READY and node.waiting == 0 and not node.spec.is_final:
                self._make_ready(node)

    # -- SAVE_POINT_FILE -------------------------------------------------------------------------
    def write_save_point(self, node: NodeRun) -> None:
        """The first time the node starts (not on retries), write a rescue-format save file."""
        if node.spec.save_file is None or node.retry > 0 or node.save_written:
            return
        node.save_written = True
        path = save_file_path(self.spec, node.spec.save_file)
        rescue = RescueDag(
            dag_file=str(self.spec.path), total_nodes=len(self.nodes), save_node=node.name,
            done=[n.name for n in self.nodes.values() if n.status == NodeStatus.DONE and not n.spec.is_final],
            failed=[n.name for n in self.nodes.values() if n.status == NodeStatus.ERROR])
        try:
            write_save_file(path, rescue)
        except OSError as exc:
            self.out.log(f"ERROR: cannot write save file {path}: {exc}")
            return
        self.out.log(f"Writing save file {path} at start of node {node.name}")

    # -- DOT -------------------------------------------------------------------------------------
    def write_dot(self) -> None:
        dot = self.spec.dot
        if dot is None:
            return
        path = self.spec.directory / dot.path
        if not dot.overwrite:
            path = path.with_name(f"{path.name}.{self.dot_count}")
        self.dot_count += 1
        lines = ["digraph DAG {"]
        if dot.include:
            try:
                lines.append((self.spec.directory / dot.include).read_text().rstrip("\n"))
            except OSError as exc:
                self.out.log(f"Warning: cannot read DOT include file {dot.include}: {exc}")
        for node in self.nodes.values():
            shape = "box" if node.spec.is_subdag else "ellipse"
            label = f"{node.name} ({DOT_STATUS[node.status]})" if dot.update else node.name
            lines.append(f'    "{node.name}" [shape={shape} label="{label}"];')
        for node in self.nodes.values():
            for child in node.spec.children:
                style = " [style=dashed]" if node.name in self.nodes[child].spec.weak_parents else ""
                lines.append(f'    "{node.name}" -> "{child}"{style};')
        lines.append("}")
        try:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text("\n".join(lines) + "\n")
            tmp.replace(path)
        except OSError as exc:
            self.out.log(f"Warning: cannot write DOT file {path}: {exc}")

    def maybe_update_dot(self) -> None:
        if self.spec.dot is not None and self.spec.dot.update and self.dot_dirty:
            self.dot_dirty = False
            self.write_dot()

