"""Why a node's job was removed: the reason of its last "Job was aborted" event in the sub-DAG's
nodes log (``group.dag.nodes.log``, HTCondor user-log format), and the CMS code it stands for."""

from __future__ import annotations

import re
from pathlib import Path

NODES_LOG = "group.dag.nodes.log"
_EVENT = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) ")
_DAG_NODE = re.compile(r"^\s+DAG Node: (\S+)")
_SUBMIT, _ABORTED = "000", "009"

#: periodic_remove reasons (the planner's +PeriodicRemoveReason texts) -> cms-formats §7 codes.
REASON_CODES = (
    (re.compile(r"wall[ -]?(clock|time)", re.IGNORECASE), 50664),  # killed for too much wall-clock time
    (re.compile(r"memory|rss|pss", re.IGNORECASE), 50660),  # killed for too much RAM
    (re.compile(r"disk", re.IGNORECASE), 50662),  # killed for too much disk
    (re.compile(r"idle", re.IGNORECASE), 50665),  # killed for staying idle too long
)


def removal_reason(wudir: Path, node: str, log_name: str = NODES_LOG) -> str | None:
    """The reason text of the last abort event of ``node``'s jobs, None when there is none."""
    path = wudir / log_name
    if not path.exists():
        return None
    clusters: set[str] = set()
    reason = None
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        match = _EVENT.match(line)
        if not match:
            continue
        code, cluster = match.group(1), match.group(2)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if code == _SUBMIT:
            node_match = _DAG_NODE.match(following)
            if node_match and node_match.group(1) == node:
                clusters.add(cluster)
        elif code == _ABORTED and cluster in clusters:
            reason = following.strip() or "removed"
    return reason


def reason_code(reason: str) -> int | None:
    for pattern, code in REASON_CODES:
        if pattern.search(reason):
            return code
    return None
