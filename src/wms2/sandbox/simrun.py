"""The simulator step's input (``simulator.json``): written by the wrapper, read by the simulator.

Kept apart from :mod:`wms2.sandbox.simulator` so that the wrapper, which only writes this file and
then runs the simulator as a separate process (as it would run cmsRun), does not import numpy.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from wms2.sandbox.manifest import FaultSpec, OutputModule, SimulatorConfig


class SimInput(BaseModel):
    lfn: str
    pfn: str = ""
    events: int = Field(ge=0, description="events to read from this file")
    first_event: int = Field(0, ge=0)
    lumis: dict[str, list[int]] = Field(default_factory=dict)


class SimulatorRun(BaseModel):
    """Everything one simulator step needs; written by the wrapper next to the step."""

    step: str
    threads: int = Field(1, ge=1)
    config: SimulatorConfig = Field(default_factory=SimulatorConfig)
    outputs: list[OutputModule] = Field(default_factory=list)
    events: int = Field(0, ge=0, description="generation: events to generate")
    first_event: int = Field(1, ge=1)
    run: int = 1
    lumis: dict[str, list[int]] = Field(default_factory=dict)
    inputs: list[SimInput] = Field(default_factory=list)
    fault: FaultSpec | None = None
    memory_limit_mb: float | None = None
    fjr: str = "FrameworkJobReport.xml"
    workdir: str = "."
    data_type: str = "MC"
