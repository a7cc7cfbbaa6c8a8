"""Reading the POST scripts' side files (``<node>.post.json``) of a DAG, on demand.

These are DAGMan-side facts about individual node attempts; WMS2 never stores them (invariant 1):
the Error Handler and the errors summary read them when a DAG has ended or a human asks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from wms2.sandbox.results import POST_SUFFIX, PostResult

log = logging.getLogger(__name__)

WORK_UNIT_GLOB = "mg_*"


def iter_post_results(submit_dir: Path, final_only: bool = True,
                      work_units: set[str] | None = None) -> Iterator[tuple[str, PostResult]]:
    """Yield ``(work unit, result)`` for every readable side file under the round directory."""
    for wu_dir in sorted(submit_dir.glob(WORK_UNIT_GLOB)):
        if work_units is not None and wu_dir.name not in work_units:
            continue
        for path in sorted(wu_dir.glob(f"*{POST_SUFFIX}")):
            try:
                result = PostResult.model_validate_json(path.read_text())
            except (OSError, ValidationError, ValueError) as exc:
                log.warning("unreadable POST side file %s: %s", path, exc)
                continue
            if final_only and not result.final:
                continue
            yield wu_dir.name, result
