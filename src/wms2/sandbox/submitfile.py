"""The little the PRE and POST scripts need to know about the work unit's submit descriptions.

Paths are handled with :mod:`os.path` (a ``Path`` or a ``str`` is accepted): the PRE script, a new
process before every attempt, then never imports :mod:`pathlib` (docs/design-notes/test-speed.md).
"""

from __future__ import annotations

import os
import re

#: A directory or file path, as a ``pathlib.Path`` or a ``str`` (both work with os.path).
StrPath = str | os.PathLike[str]

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


def read_text(path: StrPath) -> str:
    with open(path) as handle:
        return handle.read()


def role_submit(wudir: StrPath, node: str) -> dict[str, str]:
    path = os.path.join(wudir, f"{role_of(node)}.sub")
    return parse_submit(read_text(path)) if os.path.exists(path) else {}


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def read_overrides(wudir: StrPath, node: str) -> dict[str, int]:
    path = os.path.join(wudir, f"{node}{OVERRIDES_SUFFIX}")
    if not os.path.exists(path):
        return {}
    import json  # deferred: most PRE scripts find no overrides and never load json

    return json.loads(read_text(path))


def write_overrides(wudir: StrPath, node: str, overrides: dict[str, int]) -> None:
    import json

    write_atomic(os.path.join(wudir, f"{node}{OVERRIDES_SUFFIX}"), json.dumps(overrides, indent=1))


def current_request_memory(wudir: StrPath, node: str) -> float | None:
    overrides = read_overrides(wudir, node)
    if "request_memory" in overrides:
        return float(overrides["request_memory"])
    return _number(role_submit(wudir, node).get("request_memory"))


def request_cpus(wudir: StrPath, node: str) -> int:
    value = _number(role_submit(wudir, node).get("request_cpus"))
    return int(value) if value and value >= 1 else 1


def write_atomic(path: StrPath, text: str) -> None:
    tmp = os.fspath(path) + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
