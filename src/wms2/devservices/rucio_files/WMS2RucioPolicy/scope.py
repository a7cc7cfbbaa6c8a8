"""Scope extraction from a CMS name: ``/store/user/rucio/<user>/...`` -> ``user.<user>``, else ``cms``."""

from __future__ import annotations

from collections.abc import Sequence

CENTRAL_SCOPE = "cms"
USER_PREFIX = "/store/user/rucio/"


def scope_from_name(did: str, scopes: Sequence[str] | None) -> tuple[str, str]:
    if ":" in did and not did.startswith("/"):
        scope, _, name = did.partition(":")
        return scope, name
    if did.startswith(USER_PREFIX):
        user = did[len(USER_PREFIX):].split("/", 1)[0]
        return f"user.{user}", did
    return CENTRAL_SCOPE, did
