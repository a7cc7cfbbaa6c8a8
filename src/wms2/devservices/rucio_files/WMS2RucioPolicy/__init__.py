"""WMS2's own CMS-like Rucio policy package (loaded by the development Rucio server, never by WMS2).

It does what a CMS deployment's policy package does for the names WMS2 uses: CMS DID names
(``/Prim/Proc/TIER`` containers, ``/Prim/Proc/TIER#uuid`` datasets, ``/store/...`` files) and RSE names
(``T2_XX_SiteA``, ``T1_XX_SiteB_Tape``) pass the schema; the scope of a name is extracted from the LFN;
and a deterministic PFN is the RSE protocol prefix followed by the LFN (CMS's flat "LFN under a prefix"
layout).  Written for this project from the formats in cms-formats.md §4.2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUPPORTED_VERSION = [">=41.0,<42"]
ALGORITHM_NAME = "wms2"


def get_algorithms() -> dict[str, dict[str, Callable[..., Any]]]:
    from WMS2RucioPolicy.lfn2pfn import lfn_under_prefix
    from WMS2RucioPolicy.scope import scope_from_name

    return {"lfn2pfn": {ALGORITHM_NAME: lfn_under_prefix}, "scope": {ALGORITHM_NAME: scope_from_name}}
