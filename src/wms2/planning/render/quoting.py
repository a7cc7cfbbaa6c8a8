"""Injection-proof rendering: every value that reaches a DAG or submit file passes through here.

Values are validated at import, but rendering never trusts that: each is re-checked against the
narrow alphabet its position allows and refused with a :class:`RenderError` naming the field.  A
refused value never reaches a file (we do not try to escape a newline or ``$(`` into safety:
condor_submit expands ``$(...)`` even inside quoted strings).
"""

from __future__ import annotations

import math
import re

from wms2.domain.safety import DATASET_RE, LFN_BASE_RE, NAME_RE, SITE_RE
from wms2.planning.round import PlanningError

# Characters allowed inside a ClassAd string literal we write (no quote, backslash, '$', control).
_CLASSAD_TEXT_RE = re.compile(r"^[A-Za-z0-9_.,:;/#@+=() -]*\Z")
_NODE_RE = re.compile(r"^[A-Za-z0-9_]+\Z")
_LFN_RE = re.compile(r"^/store/[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*\Z")
_FILE_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\Z")
MAX_VALUE_LENGTH = 500


class RenderError(PlanningError):
    """A value cannot be written safely (or a round cannot be written); the message names the field."""


def _refuse(field: str, value: object, why: str) -> RenderError:
    return RenderError(f"{field}: refusing to render {value!r}: {why}")


def name(value: object, field: str) -> str:
    """A request name / workflow id: also a path component."""
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_LENGTH:
        raise _refuse(field, value, "must be a non-empty string")
    if value.startswith(".") or not NAME_RE.match(value):
        raise _refuse(field, value, "only letters, digits, '_', '.', '-' are allowed (not starting with '.')")
    return value


def site(value: object, field: str) -> str:
    if not isinstance(value, str) or not SITE_RE.match(value):
        raise _refuse(field, value, "not a CMS site name")
    return value


def node(value: object, field: str) -> str:
    if not isinstance(value, str) or not _NODE_RE.match(value) or value.upper() in {"PARENT", "CHILD", "ALL_NODES"}:
        raise _refuse(field, value, "node names are letters, digits and '_' (not a reserved word)")
    return value


def filename(value: object, field: str) -> str:
    if not isinstance(value, str) or not _FILE_RE.match(value) or ".." in value.split("/"):
        raise _refuse(field, value, "file names are letters, digits, '_', '.', '-' and '/' (no '..')")
    return value


def integer(value: object, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _refuse(field, value, f"must be an integer >= {minimum}")
    return value


def number(value: object, field: str) -> str:
    """A finite non-negative number, written without exponent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _refuse(field, value, "must be a finite number >= 0")
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}".rstrip("0")


def classad_string(value: object, field: str) -> str:
    """A quoted ClassAd string literal ``"..."`` from a narrow alphabet."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH or not _CLASSAD_TEXT_RE.match(value):
        raise _refuse(field, value, "only letters, digits, spaces and _ . , : ; / # @ + = ( ) - are allowed")
    return f'"{value}"'


def dataset(value: object, field: str) -> str:
    """A dataset name: it becomes LFN directories, so it must match the CMS pattern exactly."""
    if not isinstance(value, str) or not DATASET_RE.match(value):
        raise _refuse(field, value, "not a dataset name /Primary/Processed/TIER")
    return value


def lfn_base(value: object, field: str) -> str:
    if not isinstance(value, str) or not LFN_BASE_RE.match(value) or "/../" in f"{value}/":
        raise _refuse(field, value, "not an LFN base (/store/...)")
    return value


def lfn(value: object, field: str) -> str:
    """An input LFN (the worker turns it into a path): /store/..., no '..' component."""
    if not isinstance(value, str) or not _LFN_RE.match(value) or "/../" in f"{value}/":
        raise _refuse(field, value, "not an LFN (/store/..., letters, digits, '_', '.', '+', '-', no '..')")
    return value
