"""The PRE script (``wms2-job pre NODE``): (re)writes ``<node>.override.sub`` before every attempt.

It pins the node to the elected site (``+DESIRED_Sites`` and a ``requirements`` clause that keeps the
role's own requirements), applies a ``request_memory`` bump recorded by the POST script in
``<node>.overrides.json``, and numbers the attempt (``+WMS2_Attempt``, 0 on the first).
"""

from __future__ import annotations

import os
import sys

from wms2.sandbox import ads
from wms2.sandbox.filenames import ELECTED_SITE_FILE
from wms2.sandbox.submitfile import (
    ATTEMPT_SUFFIX,
    OVERRIDE_SUB_SUFFIX,
    SITE_NAME,
    StrPath,
    read_overrides,
    read_text,
    role_submit,
    write_atomic,
)


def next_attempt(wudir: StrPath, node: str) -> int:
    path = os.path.join(wudir, f"{node}{ATTEMPT_SUFFIX}")
    attempt = int(read_text(path).strip()) + 1 if os.path.exists(path) else 0
    write_atomic(path, f"{attempt}\n")
    return attempt


def override_lines(wudir: StrPath, node: str, attempt: int) -> list[str]:
    lines = [f"+{ads.ATTEMPT_ATTR} = {attempt}"]
    site_file = os.path.join(wudir, ELECTED_SITE_FILE)
    if os.path.exists(site_file):
        site = read_text(site_file).strip()
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


def run_pre(node: str, wudir: StrPath | None = None) -> int:
    """Paths go through :mod:`os.path`: this process never imports :mod:`pathlib` (test-speed.md)."""
    directory = wudir or os.getcwd()
    try:
        attempt = next_attempt(directory, node)
        lines = override_lines(directory, node, attempt)
    except (ValueError, OSError) as exc:
        print(f"wms2-job pre {node}: {exc}", file=sys.stderr)
        return 1
    write_atomic(os.path.join(directory, f"{node}{OVERRIDE_SUB_SUFFIX}"), "\n".join(lines) + "\n")
    return 0
