"""Rescue DAGs (reference §2): ``<dag>.rescueNNN`` naming, writer, reader, selection of the newest
one for automatic rescue, and ``.old`` renaming on force / explicit rescue numbers."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from wms2.dagman.lexer import logical_lines, tokenize
from wms2.dagman.model import DagSpec

# The version line real DAGMan 23.x/24.x writes (fixtures ``dagman-runs/*/*.rescue001``); a rescue DAG
# is always partial: it is parsed on top of the original DAG file.
RESCUE_VERSION = "2.0.1 (partial)"
SAVE_DIR = "save_files"  # where a SAVE_POINT_FILE without a directory goes
MAX_RESCUE_NUM = 100  # DAGMAN_MAX_RESCUE_NUM default
_HARD_CAP = 999


@dataclass
class RescueDag:
    dag_file: str
    total_nodes: int
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    created: float = 0.0
    save_node: str | None = None  # a save-point file written when this node started


def rescue_path(dag_file: Path, number: int) -> Path:
    return dag_file.with_name(f"{dag_file.name}.rescue{number:03d}")


def existing_rescues(dag_file: Path) -> dict[int, Path]:
    pattern = re.compile(re.escape(dag_file.name) + r"\.rescue(\d{3})$")
    found: dict[int, Path] = {}
    if not dag_file.parent.is_dir():
        return found
    for child in dag_file.parent.iterdir():
        m = pattern.match(child.name)
        if m:
            found[int(m.group(1))] = child
    return found


def newest_rescue(dag_file: Path, max_num: int = MAX_RESCUE_NUM) -> tuple[int, Path] | None:
    found = {n: p for n, p in existing_rescues(dag_file).items() if n <= max_num}
    if not found:
        return None
    number = max(found)
    return number, found[number]


def next_rescue_number(dag_file: Path, max_num: int = MAX_RESCUE_NUM) -> int:
    """The number the next rescue gets; once ``max_num`` is reached the last file is overwritten."""
    found = existing_rescues(dag_file)
    number = (max(found) + 1) if found else 1
    return min(number, max_num, _HARD_CAP)


def rename_rescues_above(dag_file: Path, number: int) -> list[Path]:
    """Rename every rescue numbered above ``number`` to ``*.old`` (``-force`` uses 0)."""
    renamed: list[Path] = []
    for n, path in sorted(existing_rescues(dag_file).items()):
        if n > number:
            target = path.with_name(path.name + ".old")
            path.replace(target)
            renamed.append(target)
    return renamed


def render_rescue(rescue: RescueDag) -> str:
    created = time.gmtime(rescue.created or time.time())
    stamp = f"{created.tm_mon}/{created.tm_mday}/{created.tm_year} {time.strftime('%H:%M:%S', created)} UTC"
    first = (f"# Save file written at Start Node {rescue.save_node}" if rescue.save_node
             else "# Rescue DAG file, created after running")
    lines = [
        first,
        f"#   the {rescue.dag_file} DAG file",
        f"# Created {stamp}",
        f"# Rescue DAG version: {RESCUE_VERSION}",
        "#",
        f"# Total number of Nodes: {rescue.total_nodes}",
        f"# Nodes premarked DONE: {len(rescue.done)}",
        f"# Nodes that failed: {len(rescue.failed)}",
        "#   " + "".join(f"{n}," for n in rescue.failed) + "<ENDLIST>",
        "",
    ]
    lines += [f"DONE {n}" for n in rescue.done]
    return "\n".join(lines) + "\n"


def write_rescue(dag_file: Path, rescue: RescueDag, max_num: int = MAX_RESCUE_NUM) -> Path | None:
    """Write the next ``.rescueNNN``; returns None when rescue DAGs are disabled (max 0)."""
    if max_num <= 0:
        return None
    path = rescue_path(dag_file, next_rescue_number(dag_file, max_num))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_rescue(rescue))
    tmp.replace(path)
    return path


def read_rescue(path: Path) -> RescueDag:
    text = path.read_text()
    header = dict(re.findall(r"^# (Total number of Nodes|Nodes premarked DONE|Nodes that failed): (\d+)",
                             text, re.M))
    dag = re.search(r"^#\s+the (.*) DAG file$", text, re.M)
    failed_line = re.search(r"^#\s+(.*)<ENDLIST>$", text, re.M)
    failed = [n for n in failed_line.group(1).split(",") if n] if failed_line else []
    done: list[str] = []
    for line in logical_lines(text):
        tokens = [t for t, _ in tokenize(line.text)]
        if len(tokens) == 2 and tokens[0].upper() == "DONE":
            done.append(tokens[1])
    return RescueDag(dag_file=dag.group(1) if dag else "",
                     total_nodes=int(header.get("Total number of Nodes", 0)), done=done, failed=failed)


def save_file_path(spec: DagSpec, name: str) -> Path:
    """Where a save-point file lives: a bare name in ``save_files/`` next to the DAG, a path relative
    to the DAG's directory (reference §1.2, SAVE_POINT_FILE)."""
    path = Path(name)
    if path.is_absolute():
        return path
    if len(path.parts) == 1:
        return spec.directory / SAVE_DIR / path
    return spec.directory / path


def write_save_file(path: Path, rescue: RescueDag) -> Path:
    """Write a save-point file; an existing one is first rotated to ``.old``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.replace(path.with_name(path.name + ".old"))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_rescue(rescue))
    tmp.replace(path)
    return path
