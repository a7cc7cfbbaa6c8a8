"""LFN -> PFN path: the LFN itself, appended to the protocol prefix (``<prefix>/store/...``)."""

from __future__ import annotations

from typing import Any


def lfn_under_prefix(scope: str, name: str, rse: str, rse_attrs: dict[str, Any], protocol_attrs: dict[str, Any]) -> str:
    del scope, rse, rse_attrs, protocol_attrs  # the path depends on the LFN only
    return name.lstrip("/")
