"""Rucio's Flask application behind a path normaliser (run by gunicorn in the Rucio venv).

The Rucio client quotes a CMS name ``/Prim/Proc/TIER`` into the URL ``/dids/cms/%2FPrim...``; the
server decodes that to ``/dids/cms//Prim...``.  In production Apache's ``MergeSlashes`` collapses the
double slash, and the CMS policy's scope/name expression expects the collapsed form.  This wrapper does
the same (cms-formats.md §4.3, pitfall 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from rucio.web.rest.flaskapi.v1.main import application as rucio_application

_REPEATED_SLASHES = re.compile(r"/{2,}")


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["PATH_INFO"] = _REPEATED_SLASHES.sub("/", environ.get("PATH_INFO", ""))
    return rucio_application(environ, start_response)
