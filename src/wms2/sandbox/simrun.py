"""The simulator step's input (``simulator.json``): written by the wrapper, read by the simulator.

Kept apart from :mod:`wms2.sandbox.simulator` so that the wrapper, which only writes this file and
then runs the simulator as a separate process (as it would run cmsRun), does not import numpy.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, field

from wms2.sandbox.contract import Contract
from wms2.sandbox.manifest import FaultSpec, NonNegInt, OutputModule, SimulatorConfig


class SimInput(Contract, kw_only=True):
    lfn: str
    pfn: str = ""
    events: NonNegInt  # events to read from this file
    first_event: NonNegInt = 0
    lumis: dict[str, list[int]] = field(default_factory=dict)


class SimulatorRun(Contract, kw_only=True):
    """Everything one simulator step needs; written by the wrapper next to the step."""

    step: str
    threads: Annotated[int, Meta(ge=1)] = 1
    config: SimulatorConfig = field(default_factory=SimulatorConfig)
    outputs: list[OutputModule] = field(default_factory=list)
    events: NonNegInt = 0  # generation: events to generate
    first_event: Annotated[int, Meta(ge=1)] = 1
    run: int = 1
    lumis: dict[str, list[int]] = field(default_factory=dict)
    inputs: list[SimInput] = field(default_factory=list)
    fault: FaultSpec | None = None
    memory_limit_mb: float | None = None
    fjr: str = "FrameworkJobReport.xml"
    workdir: str = "."
    data_type: str = "MC"
