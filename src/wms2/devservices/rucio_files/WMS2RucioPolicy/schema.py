"""The schema of WMS2's policy package: Rucio's generic schema with CMS names and CMS RSE names.

Rucio validates requests against ``SCHEMAS``; the generic ones reject CMS block names (``#``) and RSE
names with lower-case letters (``T1_XX_SiteB_Tape``).  The generic module's composite schemas (a DID, a
rule, an attachment...) embed the name and RSE schemas by value, so they are rebuilt here with the CMS
versions substituted wherever the generic ones appear.
"""

from __future__ import annotations

import copy
from typing import Any

from rucio.common.schema import generic

NAME_LENGTH = 500
NAME = {"description": "CMS data identifier: /Prim/Proc/TIER, /Prim/Proc/TIER#uuid or /store/... LFN",
        "type": "string", "maxLength": NAME_LENGTH,
        "pattern": r"^[/A-Za-z0-9][/A-Za-z0-9\.\-_#]*$"}
RSE = {"description": "CMS storage element name (e.g. T2_CH_CERN, T1_US_FNAL_Tape)",
       "type": "string", "pattern": r"^T[0-3]_[A-Z]{2}(_[A-Za-z0-9]+)+$"}
# The REST paths carry ``/<scope>/<name>``; a CMS name starts with "/" itself (after the WSGI wrapper
# merged the doubled slash, as Apache's MergeSlashes does in production).
SCOPE_NAME_REGEXP = r"/([^/]+)(/.*)"


def _substitute(node: Any, replacements: list[tuple[Any, Any]]) -> Any:
    for generic_schema, ours in replacements:
        if node is generic_schema:
            return copy.deepcopy(ours)
    if isinstance(node, dict):
        return {k: _substitute(v, replacements) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, replacements) for v in node]
    return node


SCHEMAS: dict[str, Any] = _substitute(generic.SCHEMAS, [(generic.NAME, NAME), (generic.RSE, RSE)])


def __getattr__(name: str) -> Any:
    """Every other schema value (ACTIVITY, SCOPE_LENGTH, ...) is the generic one."""
    return getattr(generic, name)
