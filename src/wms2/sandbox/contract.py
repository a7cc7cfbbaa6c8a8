"""The base of the sandbox's typed JSON contracts (manifest, job report, POST result, ...).

The models are :mod:`msgspec` Structs, not pydantic models: every DAGMan PRE/POST script and every job
is a new Python process (about 1,900 per end-to-end run), and importing pydantic plus building these
models' schemas was most of each one's start-up CPU (docs/design-notes/test-speed.md).  There is one
definition of each model; the server side uses the same classes.

Validation happens where JSON crosses the boundary (:meth:`Contract.model_validate_json`,
:meth:`Contract.model_validate`): types, constraints (``Annotated[int, Meta(ge=0)]``), ``Literal`` kinds
and, for the strict models, unknown fields.  An error is a :class:`ContractError` (a ``ValueError``)
that names the model and the path of the field at fault, e.g. ``invalid WorkUnitManifest: Expected
`int` >= 0, got -1 - at `$.jobs[0].index```.  Constructing a model in Python does not validate
(msgspec semantics); code that builds one from untrusted values goes through ``model_validate``.

The methods carry the names of their pydantic counterparts so that server code handles both kinds of
model alike (``model_validate_json``, ``model_dump(mode="json")``, ``model_dump_json``, ``model_copy``).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import msgspec

_T = TypeVar("_T", bound="Contract")


def _encode_other(value: Any) -> Any:
    """Values pydantic used to coerce on construction: paths, numpy integers and floats."""
    if hasattr(value, "__fspath__"):
        return value.__fspath__()
    if hasattr(value, "__index__"):
        return value.__index__()
    if hasattr(value, "__float__"):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} in a contract document")


_ENCODER = msgspec.json.Encoder(enc_hook=_encode_other)


class ContractError(ValueError):
    """A document does not match its contract model; the message names the model and the field path."""

    def __init__(self, model: str, detail: str):
        self.model = model
        self.detail = detail
        super().__init__(f"invalid {model}: {detail}")


class Contract(msgspec.Struct, kw_only=True):
    """Lenient contract model: unknown fields are ignored (what these models did as pydantic models)."""

    _decoders: ClassVar[dict[type, msgspec.json.Decoder[Any]]] = {}

    @classmethod
    def model_validate_json(cls: type[_T], data: str | bytes) -> _T:
        """Decode and validate one JSON document.  Raises :class:`ContractError`."""
        decoder = Contract._decoders.get(cls)
        if decoder is None:
            decoder = Contract._decoders[cls] = msgspec.json.Decoder(cls)
        try:
            return decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise ContractError(cls.__name__, str(exc)) from None

    @classmethod
    def model_validate(cls: type[_T], obj: Any, *, strict: bool = True) -> _T:
        """Validate a Python object (a dict, or an instance, which is re-checked).  ``strict=False``
        also accepts numbers and booleans written as strings (as pydantic's lax mode does)."""
        if isinstance(obj, Contract):
            obj = obj.model_dump()
        try:
            return msgspec.convert(obj, cls, strict=strict)
        except msgspec.ValidationError as exc:
            raise ContractError(cls.__name__, str(exc)) from None

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False,
                   exclude: set[str] | None = None) -> dict[str, Any]:
        """The fields as builtin types (nested models as dicts; ``mode="json"`` turns tuples into lists)."""
        out = _builtins(self, exclude_none, mode == "json")
        if exclude:
            for name in exclude:
                out.pop(name, None)
        return out

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        data = _ENCODER.encode(_builtins(self, True, True) if exclude_none else self)
        if indent is not None:
            data = msgspec.json.format(data, indent=indent)
        return data.decode()

    def model_copy(self: _T, *, update: dict[str, Any] | None = None) -> _T:
        """A shallow copy with some fields replaced (not validated, like pydantic's)."""
        return msgspec.structs.replace(self, **(update or {}))


class StrictContract(Contract, kw_only=True, forbid_unknown_fields=True):
    """Contract model that refuses unknown fields (the manifest: a typo must not pass silently)."""


def _builtins(value: Any, exclude_none: bool, json_mode: bool) -> Any:
    if isinstance(value, msgspec.Struct):
        out = {}
        for name in value.__struct_fields__:
            item = getattr(value, name)
            if item is None and exclude_none:
                continue
            out[name] = _builtins(item, exclude_none, json_mode)
        return out
    if isinstance(value, dict):
        return {k: _builtins(v, exclude_none, json_mode) for k, v in value.items()}
    if isinstance(value, list):
        return [_builtins(v, exclude_none, json_mode) for v in value]
    if isinstance(value, tuple):
        items = [_builtins(v, exclude_none, json_mode) for v in value]
        return items if json_mode else tuple(items)
    return value

