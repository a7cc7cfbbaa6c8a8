"""The little the PRE and POST scripts need to know about the work unit's submit descriptions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

#: CMS site names (cms-formats.md §8): anything else is refused before it reaches a submit file.
SITE_NAME = re.compile(r"^T[0-3]_[A-Z]{2}(_[A-Za-z0-9]+)+\Z")
OVERRIDES_SUFFIX = ".overrides.json"
OVERRIDE_SUB_SUFFIX = ".override.sub"
ATTEMPT_SUFFIX = ".attempt"


def role_of(node: str) -> str:
    """Node name -> role / submit file stem: proc_NNNNNN -> proc; landing, merge, cleanup."""
    if node.startswith("proc_"):
        return "proc"
    if node in ("landing", "merge", "cleanup"):
        return node
    raise ValueError(f"node {node!r} is not a work-unit node (landing, proc_NNNNNN, merge, cleanup)")


def parse_submit(text: str) -> dict[str, str]:
    """``key = value`` commands of a submit description (keys lower-cased; later lines win)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if " " in key or key.lower().startswith("include"):
            continue
        values[key.lower()] = value.strip()
    return values


def role_submit(wudir: Path, node: str) -> dict[str, str]:
    path = wudir / f"{role_of(node)}.sub"
    return parse_submit(path.read_text()) if path.exists() else {}


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def read_overrides(wudir: Path, node: str) -> dict[str, int]:
    path = wudir / f"{node}{OVERRIDES_SUFFIX}"
    return json.loads(path.read_text()) if path.exists() else {}


def write_overrides(wudir: Path, node: str, overrides: dict[str, int]) -> None:
    write_atomic(wudir / f"{node}{OVERRIDES_SUFFIX}", json.dumps(overrides, indent=1))


def current_request_memory(wudir: Path, node: str) -> float | None:
    overrides = read_overrides(wudir, node)
    if "request_memory" in overrides:
        return float(overrides["request_memory"])
    return _number(role_submit(wudir, node).get("request_memory"))


def request_cpus(wudir: Path, node: str) -> int:
    value = _number(role_submit(wudir, node).get("request_cpus"))
    return int(value) if value and value >= 1 else 1


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
