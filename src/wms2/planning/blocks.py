"""Processing blocks: one per output dataset per round DAG, holding all the round's WUs (§7.3)."""

from __future__ import annotations

from collections.abc import Sequence

from wms2.domain.request import OutputDataset
from wms2.planning.types import BlockPlan, WorkUnit


def plan_blocks(outputs: Sequence[OutputDataset], work_units: Sequence[WorkUnit]) -> list[BlockPlan]:
    """Blocks never span DAGs: each round opens a fresh block per output dataset."""
    if not work_units:
        return []
    names = tuple(wu.name for wu in work_units)
    return [BlockPlan(i, o.name, o.tier, o.step, names) for i, o in enumerate(outputs)]
