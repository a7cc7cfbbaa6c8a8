"""NODE_STATUS_FILE writer and reader (reference §3).

The writer prints the ClassAd layout DAGMan prints (fixed attribute order, ``/* "..." */`` comments),
to ``<file>.tmp`` then renames, so readers always see a complete file.  The reader accepts DAGMan's
files and ours (new-syntax ads, C comments, string lists).
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from wms2.dagman.model import NodeStatus

STATUS_NAMES = {s.value: f"STATUS_{s.name}" for s in NodeStatus}


_log = logging.getLogger(__name__)


@dataclass(slots=True)
class NodeStatusEntry:
    node: str
    status: int
    details: str = ""
    retry_count: int = 0
    procs_queued: int = 0
    procs_held: int = 0


@dataclass
class DagStatusFile:
    dag_files: list[str]
    timestamp: int
    dag_status: int
    dag_status_note: str = ""  # "", "held", "removed", "aborted", "success", "failed", ...
    nodes: list[NodeStatusEntry] = field(default_factory=list)
    nodes_total: int = 0
    nodes_done: int = 0
    nodes_pre: int = 0
    nodes_queued: int = 0
    nodes_post: int = 0
    nodes_ready: int = 0
    nodes_unready: int = 0
    nodes_futile: int = 0
    nodes_failed: int = 0
    procs_held: int = 0
    procs_idle: int = 0
    end_time: int = 0
    next_update: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "NodesTotal": self.nodes_total, "NodesDone": self.nodes_done, "NodesPre": self.nodes_pre,
            "NodesQueued": self.nodes_queued, "NodesPost": self.nodes_post, "NodesReady": self.nodes_ready,
            "NodesUnready": self.nodes_unready, "NodesFutile": self.nodes_futile,
            "NodesFailed": self.nodes_failed, "JobProcsHeld": self.procs_held, "JobProcsIdle": self.procs_idle,
        }


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stamp(ts: int) -> str:
    return f'{ts}; /* "{time.ctime(ts)}" */'


def render(status: DagStatusFile) -> str:
    lines = ["[", '  Type = "DagStatus";', "  DagFiles = {"]
    lines.append(",\n".join(f"    {_q(f)}" for f in status.dag_files))
    lines += [
        "  };",
        f"  Timestamp = {_stamp(status.timestamp)}",
        f'  DagStatus = {status.dag_status}; /* "{STATUS_NAMES[status.dag_status]} ({status.dag_status_note})" */',
    ]
    for key, value in status.counts().items():
        suffix = " /* includes held */" if key == "JobProcsIdle" else ""
        lines.append(f"  {key} = {value};{suffix}")
    lines.append("]")
    for n in status.nodes:
        lines += [
            "[",
            '  Type = "NodeStatus";',
            f"  Node = {_q(n.node)};",
            f'  NodeStatus = {n.status}; /* "{STATUS_NAMES[n.status]}" */',
            f"  StatusDetails = {_q(n.details)};",
            f"  RetryCount = {n.retry_count};",
            f"  JobProcsQueued = {n.procs_queued};",
            f"  JobProcsHeld = {n.procs_held};",
            "]",
        ]
    nxt = f'{status.next_update}; /* "none" */' if status.next_update == 0 else _stamp(status.next_update)
    lines += ["[", '  Type = "StatusEnd";', f"  EndTime = {_stamp(status.end_time)}", f"  NextUpdate = {nxt}", "]"]
    return "\n".join(lines) + "\n"


def write_status_file(path: Path, status: DagStatusFile) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(status))
    os.replace(tmp, path)


# -- reader --------------------------------------------------------------------------------------
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
Value = int | float | str | bool | list[str] | None


def _value(text: str) -> Value:
    text = text.strip()
    if text.startswith("{"):
        return [_unescape(m) for m in _STRING.findall(text)]
    if text.startswith('"'):
        m = _STRING.match(text)
        return _unescape(m.group(1)) if m else text
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("undefined", "error"):
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_ads(text: str) -> list[dict[str, Value]]:
    """Parse a sequence of new-syntax ClassAds (enough for status files)."""
    text = _COMMENT.sub("", text)
    ads: list[dict[str, Value]] = []
    for body in _bodies(text):
        ad: dict[str, Value] = {}
        for stmt in _statements(body):
            key, sep, value = stmt.partition("=")
            if sep:
                ad[key.strip()] = _value(value)
        ads.append(ad)
    return ads


def _bodies(text: str) -> list[str]:
    """Ads are delimited by lines holding only ``[`` and ``]`` (how DAGMan prints them)."""
    bodies: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "[" and current is None:
            current = []
        elif stripped == "]" and current is not None:
            bodies.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return bodies


def _statements(body: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    in_string = False
    escape = False
    for ch in body:
        if escape:
            escape = False
        elif ch == "\\" and in_string:
            escape = True
        elif ch == '"':
            in_string = not in_string
        elif ch == ";" and not in_string:
            out.append("".join(current))
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        out.append("".join(current))
    return out


def _int(ad: dict[str, Value], key: str) -> int:
    value = ad.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0


# One NodeStatus ad exactly as DAGMan (``Dag::DumpNodeStatus``) and ``render`` print it: fixed attribute
# order, an optional comment after NodeStatus.  Groups: node, status, details, retries, queued, held.
_NODE_AD = re.compile(
    r'\[\s*Type\s*=\s*"NodeStatus";\s*Node\s*=\s*"((?:[^"\\\n]|\\.)*)";'
    r'\s*NodeStatus\s*=\s*(\d+);[ \t]*(?:/\*[^\n]*?\*/)?\s*'
    r'StatusDetails\s*=\s*"((?:[^"\\\n]|\\.)*)";\s*RetryCount\s*=\s*(\d+);'
    r'\s*JobProcsQueued\s*=\s*(\d+);\s*JobProcsHeld\s*=\s*(\d+);\s*\]'
)
_NODE_TYPE = '"NodeStatus"'
_NOTE = re.compile(r'DagStatus\s*=\s*\d+;\s*/\*\s*"STATUS_\w+ \(([^)]*)\)"')


# The same ad in DAGMan's exact print layout (``[``, two-space indented lines, ``]``): a stricter pattern
# that needs no backtracking over whitespace, about three times faster on a 1,250-node outer file.
_STRICT_NODE_AD = re.compile(
    r'^\[\n  Type = "NodeStatus";\n  Node = "((?:[^"\\\n]|\\.)*)";\n  NodeStatus = (\d+);[^\n]*\n'
    r'  StatusDetails = "((?:[^"\\\n]|\\.)*)";\n  RetryCount = (\d+);\n  JobProcsQueued = (\d+);\n'
    r'  JobProcsHeld = (\d+);\n\]\n', re.M)
_STRICT_FIRST = '[\n  Type = "NodeStatus";\n'
_STRICT_LINES_PER_AD = 9
NodeTuple = tuple[str, str, str, str, str, str]


def _entries(found: list[NodeTuple]) -> list[NodeStatusEntry]:
    nodes: list[NodeStatusEntry] = []
    for name, code, details, retries, queued, held in found:
        if "\\" in name:
            name = _unescape(name)
        if "\\" in details:
            details = _unescape(details)
        nodes.append(NodeStatusEntry(name, int(code), details, int(retries), int(queued), int(held)))
    return nodes


def _node_run(text: str) -> tuple[int, int] | None:
    """Where the run of node ads lies in DAGMan's exact layout (from the first node ad to the end of the
    last one, end exclusive); None when the layout is not DAGMan's."""
    first = text.find(_STRICT_FIRST)
    if first < 0:
        return None
    end = text.find("\n]\n", text.rfind(_STRICT_FIRST))
    return None if end < 0 else (first, end + 3)


def _strict_scan(text: str) -> tuple[list[NodeTuple], int, int] | None:
    """DAGMan's exact layout: the node ads form one contiguous run of 9-line ads (checked by counting
    lines and ad types, so an extra attribute or line anywhere in the run makes this decline)."""
    span = _node_run(text)
    if span is None:
        return None
    run = text[span[0]:span[1]]
    found: list[NodeTuple] = _STRICT_NODE_AD.findall(run)
    if (not found or run.count(_NODE_TYPE) != len(found) or text.count(_NODE_TYPE) != len(found)
            or run.count("\n") != _STRICT_LINES_PER_AD * len(found)):
        return None
    return found, span[0], span[1]


def _lenient_scan(text: str) -> tuple[list[NodeTuple], int, int] | None:
    found: list[NodeTuple] = []
    first = last = -1
    for m in _NODE_AD.finditer(text):
        if last >= 0 and not text[last:m.start()].isspace():
            return None  # something other than whitespace between two node ads
        if first < 0:
            first = m.start()
        last = m.end()
        found.append(m.groups())  # type: ignore[arg-type]
    if not found or text.count(_NODE_TYPE) != len(found):
        return None  # a node ad the regex did not take (other layout), or a node literally named NodeStatus
    return found, first, last


def _scan(text: str) -> tuple[list[NodeTuple], int, int] | None:
    """The node ads' raw fields (escapes not yet resolved) and where their run starts and ends; None
    when the file is not in DAGMan's layout (the caller then uses the general parser)."""
    return _strict_scan(text) or _lenient_scan(text)


def _fast_nodes(text: str) -> tuple[list[NodeStatusEntry], str] | None:
    """The node ads, and the text left around them (the DagStatus and StatusEnd ads); None when the
    file is not in DAGMan's layout: the caller then uses the general parser."""
    scanned = _scan(text)
    if scanned is None:
        return None
    found, first, end = scanned
    return _entries(found), text[:first] + text[end:]


NodeState = tuple[str, int, int]  # node name, NodeStatus code, JobProcsHeld


def read_node_states(path: Path) -> list[NodeState]:
    """Only ``(node, status, held)`` per node: what the DAG Monitor needs of an outer or inner status
    file.  DAGMan's layout skips the DagStatus ad and builds no objects; any other layout takes the
    general parse."""
    text = path.read_text()
    scanned = _scan(text)
    if scanned is None:
        return [(n.node, n.status, n.procs_held) for n in parse_status_text_general(text, str(path)).nodes]
    return [(_unescape(name) if "\\" in name else name, int(code), int(held))
            for name, code, _details, _retries, _queued, held in scanned[0]]


# The strict node ad with only the fields the DAG Monitor needs captured (node, status, held): a third of
# the strings per node to build, on the 1,250-node outer files the monitor reads every cycle.
_STRICT_STATE_AD = re.compile(
    r'^\[\n  Type = "NodeStatus";\n  Node = "((?:[^"\\\n]|\\.)*)";\n  NodeStatus = (\d+);[^\n]*\n'
    r'  StatusDetails = "(?:[^"\\\n]|\\.)*";\n  RetryCount = \d+;\n  JobProcsQueued = \d+;\n'
    r'  JobProcsHeld = (\d+);\n\]\n', re.M)
# The same for a file without any backslash (no escapes to skip: plain character classes, which the
# regex engine runs ~1.5x faster than the escape-aware alternation).
_STRICT_STATE_AD_PLAIN = re.compile(
    r'^\[\n  Type = "NodeStatus";\n  Node = "([^"\\\n]*)";\n  NodeStatus = (\d+);[^\n]*\n'
    r'  StatusDetails = "[^"\\\n]*";\n  RetryCount = \d+;\n  JobProcsQueued = \d+;\n'
    r'  JobProcsHeld = (\d+);\n\]\n', re.M)
NodeColumns = tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]  # names, NodeStatus codes, JobProcsHeld


def _strict_state_columns(text: str) -> NodeColumns | None:
    """``_strict_scan``'s checks, with the three-field pattern; the columns are built by C-level
    ``zip``/``map`` (no Python loop per node)."""
    span = _node_run(text)
    if span is None:
        return None
    run = text[span[0]:span[1]]
    escaped = "\\" in run
    found: list[tuple[str, str, str]] = (_STRICT_STATE_AD if escaped else _STRICT_STATE_AD_PLAIN).findall(run)
    if (not found or run.count(_NODE_TYPE) != len(found) or text.count(_NODE_TYPE) != len(found)
            or run.count("\n") != _STRICT_LINES_PER_AD * len(found)):
        return None
    names, codes, held = zip(*found, strict=True)
    if escaped:
        names = tuple(_unescape(n) if "\\" in n else n for n in names)
    return names, tuple(map(int, codes)), tuple(map(int, held))


def read_node_columns(path: Path) -> NodeColumns:
    """:func:`read_node_states` as three parallel tuples (names, codes, held), the form the DAG Monitor
    aggregates with C-level operations; any layout other than DAGMan's exact one goes through
    :func:`read_node_states` (same values)."""
    return node_columns_of_text(path.read_text(), str(path))


def node_columns_of_text(text: str, source: str) -> NodeColumns:
    """:func:`read_node_columns` of a status file's text (``source`` names it in errors).

    DAGMan writes the ``StatusEnd`` ad last (reference §3): a file without it was cut short (a writer that
    died mid-write, a full disk) and is refused, never read as a DAG with fewer nodes."""
    if text.rfind('"StatusEnd"') < 0:  # from the end: found at once in a complete file
        raise ValueError(f"{source}: no StatusEnd ad: the file is incomplete")
    columns = _strict_state_columns(text)
    if columns is not None:
        return columns
    scanned = _scan(text)
    if scanned is None:
        nodes = [(n.node, n.status, n.procs_held) for n in parse_status_text_general(text, source).nodes]
    else:
        nodes = [(_unescape(name) if "\\" in name else name, int(code), int(held))
                 for name, code, _details, _retries, _queued, held in scanned[0]]
    if not nodes:
        return (), (), ()
    names, codes, helds = zip(*nodes, strict=True)
    return names, codes, helds


def read_status_file(path: Path) -> DagStatusFile:
    """Read a node status file; DAGMan's own layout takes a single-regex fast path, anything else the
    general ClassAd parse (both give the same result on DAGMan's layout)."""
    return parse_status_text(path.read_text(), str(path))


def parse_status_text(text: str, source: str = "<status file>") -> DagStatusFile:
    fast = _fast_nodes(text)
    return _build(text, source, fast)


def parse_status_text_general(text: str, source: str = "<status file>") -> DagStatusFile:
    """The general ClassAd parse only (the reference the fast path is checked against)."""
    return _build(text, source, None)


def _build(text: str, source: str, fast: tuple[list[NodeStatusEntry], str] | None) -> DagStatusFile:
    ads = parse_ads(fast[1] if fast is not None else text)
    head = next((a for a in ads if a.get("Type") == "DagStatus"), None)
    if head is None:
        raise ValueError(f"{source}: no DagStatus ad")
    note_match = _NOTE.search(fast[1] if fast is not None else text)
    dag_files = head.get("DagFiles")
    status = DagStatusFile(
        dag_files=list(dag_files) if isinstance(dag_files, list) else [],
        timestamp=_int(head, "Timestamp"),
        dag_status=_int(head, "DagStatus"),
        dag_status_note=note_match.group(1) if note_match else "",
    )
    for attr, key in (
        ("nodes_total", "NodesTotal"), ("nodes_done", "NodesDone"), ("nodes_pre", "NodesPre"),
        ("nodes_queued", "NodesQueued"), ("nodes_post", "NodesPost"), ("nodes_ready", "NodesReady"),
        ("nodes_unready", "NodesUnready"), ("nodes_futile", "NodesFutile"), ("nodes_failed", "NodesFailed"),
        ("procs_held", "JobProcsHeld"), ("procs_idle", "JobProcsIdle"),
    ):
        setattr(status, attr, _int(head, key))
    if fast is not None:
        status.nodes = fast[0]
    for ad in ads:
        if ad.get("Type") == "NodeStatus" and fast is None:
            status.nodes.append(NodeStatusEntry(
                node=str(ad.get("Node", "")), status=_int(ad, "NodeStatus"),
                details=str(ad.get("StatusDetails") or ""), retry_count=_int(ad, "RetryCount"),
                procs_queued=_int(ad, "JobProcsQueued"), procs_held=_int(ad, "JobProcsHeld"),
            ))
        elif ad.get("Type") == "StatusEnd":
            status.end_time = _int(ad, "EndTime")
            status.next_update = _int(ad, "NextUpdate")
    return status


def try_read_status_file(path: Path) -> DagStatusFile | None:
    """The status file, or None when it does not exist yet or cannot be read (logged)."""
    try:
        return read_status_file(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _log.warning("unreadable status file %s: %s", path, exc)
        return None
