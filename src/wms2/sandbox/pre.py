"""The PRE script (``wms2-job pre NODE``): (re)writes ``<node>.override.sub`` before every attempt.

It pins the node to the elected site (``+DESIRED_Sites`` and a ``requirements`` clause that keeps the
role's own requirements), applies a ``request_memory`` bump recorded by the POST script in
``<node>.overrides.json``, and numbers the attempt (``+WMS2_Attempt``, 0 on the first).
"""

from __future__ import annotations

import sys
from pathlib import Path

from wms2.sandbox import ads
from wms2.sandbox.filenames import ELECTED_SITE_FILE
from wms2.sandbox.submitfile import (
    ATTEMPT_SUFFIX,
    OVERRIDE_SUB_SUFFIX,
    SITE_NAME,
    read_overrides,
    role_submit,
    write_atomic,
)


def next_attempt(wudir: Path, node: str) -> int:
    path = wudir / f"{node}{ATTEMPT_SUFFIX}"
    attempt = int(path.read_text().strip()) + 1 if path.exists() else 0
    write_atomic(path, f"{attempt}\n")
    return attempt


def override_lines(wudir: Path, node: str, attempt: int) -> list[str]:
    lines = [f"+{ads.ATTEMPT_ATTR} = {attempt}"]
    site_file = wudir / ELECTED_SITE_FILE
    if site_file.exists():
        site = site_file.read_text().strip()
        if not SITE_NAME.match(site):
            raise ValueError(f"{site_file}: {site!r} is not a CMS site name")
        lines.append(f'+DESIRED_Sites = "{site}"')
        pin = f'({ads.SITE_ATTR} =?= "{site}")'
        role_req = role_submit(wudir, node).get("requirements")
        lines.append(f"requirements = ({role_req}) && {pin}" if role_req else f"requirements = {pin}")
    memory = read_overrides(wudir, node).get("request_memory")
    if memory is not None:
        lines.append(f"request_memory = {int(memory)}")
    return lines


def run_pre(node: str, wudir: Path | None = None) -> int:
    directory = wudir or Path.cwd()
    try:
        attempt = next_attempt(directory, node)
        lines = override_lines(directory, node, attempt)
    except (ValueError, OSError) as exc:
        print(f"wms2-job pre {node}: {exc}", file=sys.stderr)
        return 1
    write_atomic(directory / f"{node}{OVERRIDE_SUB_SUFFIX}", "\n".join(lines) + "\n")
    return 0
