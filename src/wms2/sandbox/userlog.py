"""Why a node's job was removed: the reason of its last "Job was aborted" event in the sub-DAG's
nodes log (``group.dag.nodes.log``, HTCondor user-log format), and the CMS code it stands for."""

from __future__ import annotations

import re
from pathlib import Path

NODES_LOG = "group.dag.nodes.log"
#: The patterns are compiled on first use (``re``'s cache), not at import: every POST script imports
#: this module, and only those of removed jobs read the log (docs/design-notes/test-speed.md).
_EVENT = r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) "
_DAG_NODE = r"^\s+DAG Node: (\S+)"
_SUBMIT, _ABORTED = "000", "009"

#: periodic_remove reasons (the planner's +PeriodicRemoveReason texts, matched case-insensitively)
#: -> cms-formats §7 codes.
REASON_CODES = (
    (r"wall[ -]?(clock|time)", 50664),  # killed for too much wall-clock time
    (r"memory|rss|pss", 50660),  # killed for too much RAM
    (r"disk", 50662),  # killed for too much disk
    (r"idle", 50665),  # killed for staying idle too long
)


def removal_reason(wudir: Path, node: str, log_name: str = NODES_LOG) -> str | None:
    """The reason text of the last abort event of ``node``'s jobs, None when there is none."""
    path = wudir / log_name
    if not path.exists():
        return None
    clusters: set[str] = set()
    reason = None
    event, dag_node = re.compile(_EVENT), re.compile(_DAG_NODE)
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        match = event.match(line)
        if not match:
            continue
        code, cluster = match.group(1), match.group(2)
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if code == _SUBMIT:
            node_match = dag_node.match(following)
            if node_match and node_match.group(1) == node:
                clusters.add(cluster)
        elif code == _ABORTED and cluster in clusters:
            reason = following.strip() or "removed"
    return reason


def reason_code(reason: str) -> int | None:
    for pattern, code in REASON_CODES:
        if re.search(pattern, reason, re.IGNORECASE):
            return code
    return None
