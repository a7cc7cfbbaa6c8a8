"""Reader of ``<dag>.dagman.out`` (reference §4.3): what an operator reads first when a DAG misbehaves.

The file is a debug log with no guaranteed format; this reader looks only for the lines DAGMan has
printed for years (checked against real DAGMan 23.x files in the fixtures and against our own writer):
the start banner, the DAG status and node-count table, node submits, job and script results, the
failed-node report, rescue writes, FINAL/SERVICE starts, parse errors and the exit line.  Only the
last run in the file counts (the file is appended to by every run of the DAG).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_STAMP = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? ?")
_START = re.compile(r"\*\* condor_scheduniv_exec\.(\d+)\.(\d+) \(CONDOR_DAGMAN\) STARTING UP", re.I)
_VERSION = re.compile(r"\*\* \$CondorVersion: (\S+)")
_TOTAL = re.compile(r"^Dag contains (\d+) total (?:jobs|nodes)")
_DAG_STATUS = re.compile(r"^DAG status: (\d+) \((\w+)\)")
_OF_TOTAL = re.compile(r"^Of (\d+) nodes total:")
_SUBMIT = re.compile(r"^Submitting HTCondor Node (\S+) job\(s\)")
_ASSIGNED = re.compile(r"^\s*assigned HTCondor ID \((\d+)\.(\d+)\.\d+\)")
_EVENT = re.compile(r"^Event: ULOG_(\w+) for HTCondor Node (\S+) \((\d+)\.(\d+)\.\d+\)")
_JOB_OK = re.compile(r"^Node (\S+) job proc \((\d+\.\d+)\.\d+\) completed successfully")
_JOB_FAILED = re.compile(r"^Node (\S+) job proc \((\d+\.\d+)\.\d+\) failed with (status|signal) (-?\d+)")
_SCRIPT = re.compile(r"^(PRE|POST) Script of [Nn]ode (\S+) (failed with status|completed successfully)\s*(-?\d+)?")
_RUNNING_SCRIPT = re.compile(r"^Running (PRE|POST) script of Node (\S+)")
_NODE_NAME = re.compile(r"^\s*Node Name: (\S+)")
_NODE_ERROR = re.compile(r"^\s*Error: (.*)$")
_RESCUE = re.compile(r"^Writing Rescue DAG (?:file )?to (.+?)\.\.\.$")
_SERVICE = re.compile(r"^Starting service node (\S+)\.\.\.")
_EXIT = re.compile(r"EXITING WITH STATUS (-?\d+)")
_PARSE_ERROR = re.compile(r"^ERROR: (.+?:\d+.*)$")
COUNT_NAMES = ("Done", "Pre", "Queued", "Post", "Ready", "Un-Ready", "Failed", "Futile")


@dataclass
class NodeOut:
    """What the log says about one node (the last of each)."""

    status: str = "submitted"  # submitted | running | job_done | job_failed | post | done | failed
    job_ids: list[str] = field(default_factory=list)
    last_event: str = ""
    error: str = ""


@dataclass
class DagmanOutSummary:
    cluster: int | None = None
    version: str = ""
    runs: int = 0
    total_nodes: int | None = None
    dag_status: int | None = None  # the DAG_Status enum of the last "DAG status:" line
    dag_status_name: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # the last node-count table
    nodes: dict[str, NodeOut] = field(default_factory=dict)
    failed_nodes: dict[str, str] = field(default_factory=dict)  # node -> error (final failure report)
    rescue_file: str | None = None
    final_started: bool = False
    services: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exit_status: int | None = None

    @property
    def finished(self) -> bool:
        return self.exit_status is not None


class _Reader:
    def __init__(self) -> None:
        self.out = DagmanOutSummary()
        self.table_total: int | None = None
        self.table_rows = 0
        self.in_failed_report = False
        self.failed_name: str | None = None
        self.pending_submit: str | None = None

    def _node(self, name: str) -> NodeOut:
        return self.out.nodes.setdefault(name, NodeOut())

    def feed(self, text: str) -> None:
        out = self.out
        if self.table_total is not None:
            self.table_rows += 1
            if self.table_rows == 3:
                values = [int(v) for v in text.split() if v.lstrip("-").isdigit()]
                if len(values) == len(COUNT_NAMES):
                    out.counts = dict(zip(COUNT_NAMES, values, strict=True))
                self.table_total = None
            return
        match = _START.search(text)
        if match:
            self.out = DagmanOutSummary(cluster=int(match.group(1)), runs=out.runs + 1)
            return
        if self._report(text) or self._node_line(text):
            return
        self._dag_line(text)

    def _report(self, text: str) -> bool:
        if text.startswith("ERROR: the following"):
            self.in_failed_report = True
            return True
        if not self.in_failed_report:
            return False
        if "<END>" in text:
            self.in_failed_report = False
            return True
        name = _NODE_NAME.match(text)
        if name:
            self.failed_name = name.group(1)
            self.out.failed_nodes[self.failed_name] = ""
        error = _NODE_ERROR.match(text)
        if error and self.failed_name is not None:
            self.out.failed_nodes[self.failed_name] = error.group(1).strip()
            self._node(self.failed_name).status = "failed"
            self._node(self.failed_name).error = error.group(1).strip()
        if not name and not error and not text.startswith((" ", "-", "\t")) and ":" not in text[:20]:
            self.in_failed_report = False
            return False
        return True

    def _node_line(self, text: str) -> bool:
        if m := _SUBMIT.match(text):
            self.pending_submit = m.group(1)
            self._node(m.group(1)).status = "submitted"
        elif (m := _ASSIGNED.match(text)) and self.pending_submit:
            self._node(self.pending_submit).job_ids.append(f"{m.group(1)}.{m.group(2)}")
        elif m := _EVENT.match(text):
            node = self._node(m.group(2))
            node.last_event = m.group(1)
            if m.group(1) == "EXECUTE":
                node.status = "running"
        elif m := _JOB_OK.match(text):
            self._node(m.group(1)).status = "job_done"
        elif m := _JOB_FAILED.match(text):
            node = self._node(m.group(1))
            node.status = "job_failed"
            node.error = f"Job proc ({m.group(2)}.0) failed with {m.group(3)} {m.group(4)}"
        elif m := _RUNNING_SCRIPT.match(text):
            if m.group(1) == "POST":
                self._node(m.group(2)).status = "post"
        elif m := _SCRIPT.match(text):
            node = self._node(m.group(2))
            if m.group(3).startswith("failed"):
                node.status, node.error = "failed", f"{m.group(1)} Script failed with status {m.group(4)}"
        else:
            return False
        return True

    def _dag_line(self, text: str) -> None:
        out = self.out
        if m := _VERSION.search(text):
            out.version = m.group(1)
        elif m := _TOTAL.match(text):
            out.total_nodes = int(m.group(1))
        elif m := _DAG_STATUS.match(text):
            out.dag_status, out.dag_status_name = int(m.group(1)), m.group(2)
        elif m := _OF_TOTAL.match(text):
            self.table_total, self.table_rows = int(m.group(1)), 0
        elif m := _RESCUE.match(text):
            out.rescue_file = m.group(1)
        elif text.startswith("Starting final node"):
            out.final_started = True
        elif m := _SERVICE.match(text):
            out.services.append(m.group(1))
        elif m := _EXIT.search(text):
            out.exit_status = int(m.group(1))
        elif m := _PARSE_ERROR.match(text):
            out.errors.append(m.group(1))
        elif text.startswith("ERROR:"):
            out.errors.append(text[len("ERROR:"):].strip())


def parse_dagman_out(text: str) -> DagmanOutSummary:
    reader = _Reader()
    for raw in text.splitlines():
        reader.feed(_STAMP.sub("", raw, count=1))
    return reader.out


def read_dagman_out(path: Path) -> DagmanOutSummary:
    return parse_dagman_out(path.read_text(errors="replace"))
