"""Sandbox contract models (msgspec Structs) as fields of the server's pydantic models.

The request document carries two models of the work-unit manifest, :class:`FaultSpec` (``WMS2Faults``)
and :class:`DistortionSpec` (``WMS2Simulator.distortion``).  They are defined once, in
:mod:`wms2.sandbox.manifest`, as msgspec Structs so that the worker-node scripts start without pydantic
(docs/design-notes/test-speed.md); :func:`pydantic_field` lets pydantic validate, dump and document them.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from pydantic import PlainSerializer, PlainValidator, SerializationInfo, WithJsonSchema

from wms2.sandbox.contract import Contract


def pydantic_field(model: type[Contract]) -> Any:
    """``Annotated[model, ...]`` for a pydantic field of a sandbox contract type.

    Validation is :meth:`Contract.model_validate` in lax mode (numbers written as strings pass, as in
    pydantic); an instance passes as it is.  A failure is a ``ValueError`` that pydantic reports at the
    field's location (``faults.0``), with msgspec's path inside the model (``$.fail_attempts``).  The
    dump is the model's dict (honouring ``exclude_none``), so the document's JSON is what pydantic wrote
    for the former pydantic model.
    """

    def validate(value: Any) -> Contract:
        if isinstance(value, model):
            return value
        return model.model_validate(value, strict=False)

    def serialize(value: Contract, info: SerializationInfo) -> dict[str, Any]:
        return value.model_dump(mode="json", exclude_none=info.exclude_none)

    (ref,), components = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    schema = components.get(model.__name__, ref)
    return Annotated[model, PlainValidator(validate), PlainSerializer(serialize, return_type=dict),
                     WithJsonSchema(schema)]
