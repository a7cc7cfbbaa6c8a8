"""Validators for values that reach file paths, DAG files or submit descriptions.

Rule: a value is *validated* at import (clear error naming the field) and *quoted* at rendering.  These
patterns are deliberately strict; CMS naming conventions (WMCore Lexicon, DBS, Rucio schema) are all
inside them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

MAX_NAME_LENGTH = 180
MAX_TEXT_LENGTH = 500

NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")
# For pydantic/FastAPI ``pattern=`` (Rust regex: ``$`` is the end of the text there, ``\Z`` is not known).
SITE_PATTERN = r"^T[0-3]_[A-Z]{2}(_[A-Za-z0-9]+)+$"
# Python's ``$`` also matches before a final newline, so every check here anchors with ``\Z``.
SITE_RE = re.compile(SITE_PATTERN.removesuffix("$") + r"\Z")
DATASET_RE = re.compile(r"^/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Z0-9-]+\Z")
LFN_BASE_RE = re.compile(r"^/store(/[A-Za-z0-9_.-]+)*/?\Z")
PROCESSING_STRING_RE = re.compile(r"^[A-Za-z0-9_]{1,100}\Z")
ACQ_ERA_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}\Z")
CMSSW_RE = re.compile(r"^CMSSW(_[A-Za-z0-9]+)+\Z")
SCRAM_ARCH_RE = re.compile(r"^[a-z0-9_]{1,40}\Z")
TIER_RE = re.compile(r"^[A-Z0-9-]{1,40}\Z")
LFN_RE = re.compile(r"^/store(/[A-Za-z0-9_.+-]+)+\Z")
# Characters that would break out of a DAG line, a submit value or a ClassAd string.
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f\"'\\$`]")
# Path segments that would leave a base directory ('..'), alias it ('.') or hide a level (empty).
_BAD_SEGMENTS = {"": "an empty segment ('//')", ".": "a '.' segment", "..": "a '..' segment"}


def check_name(value: str) -> str:
    """A request name (it becomes a directory name)."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}")
    if value.startswith("."):
        raise ValueError("must not start with a dot")
    if not NAME_RE.match(value):
        bad = sorted({c for c in value if not re.match(r"[A-Za-z0-9_.-]", c)})
        raise ValueError(f"may only contain letters, digits, '_', '.', '-' (found {''.join(bad)!r})")
    return value


def check_safe_text(value: str) -> str:
    """Free text that may end up in a DAG/submit file: no control characters, quotes, '$' or '\\'."""
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"is {len(value)} characters long; the limit is {MAX_TEXT_LENGTH}")
    match = _UNSAFE_RE.search(value)
    if match:
        raise ValueError(f"contains a forbidden character {match.group()!r} (newline, quote, '$', '\\' or control)")
    return value


def check_path_segments(value: str) -> str:
    """A '/'-separated path (LFN, LFN base, dataset name): no '.', '..' or empty segment.

    One trailing '/' is tolerated (a directory written as such; the renderer strips it)."""
    body = value.removeprefix("/").removesuffix("/")
    for segment in body.split("/"):
        if segment in _BAD_SEGMENTS:
            raise ValueError(f"{value!r} contains {_BAD_SEGMENTS[segment]}; '.', '..' and empty path segments"
                             " are refused")
    return value


def _pattern(regex: re.Pattern[str], what: str, path: bool = False):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        check_safe_text(value)
        if path:
            check_path_segments(value)
        if not regex.match(value):
            raise ValueError(f"{value!r} is not a valid {what} (expected {regex.pattern})")
        return value

    return check


check_lfn = _pattern(LFN_RE, "LFN", path=True)
check_site = _pattern(SITE_RE, "CMS site name")


RequestName = Annotated[str, AfterValidator(check_name)]
SafeText = Annotated[str, AfterValidator(check_safe_text)]
SiteName = Annotated[str, AfterValidator(check_site)]
DatasetName = Annotated[str, AfterValidator(_pattern(DATASET_RE, "dataset name", path=True))]
LfnBase = Annotated[str, AfterValidator(_pattern(LFN_BASE_RE, "LFN base", path=True))]
Lfn = Annotated[str, AfterValidator(check_lfn)]
ProcessingString = Annotated[str, AfterValidator(_pattern(PROCESSING_STRING_RE, "processing string"))]
AcquisitionEra = Annotated[str, AfterValidator(_pattern(ACQ_ERA_RE, "acquisition era"))]
CmsswVersion = Annotated[str, AfterValidator(_pattern(CMSSW_RE, "CMSSW version"))]
ScramArch = Annotated[str, AfterValidator(_pattern(SCRAM_ARCH_RE, "SCRAM architecture"))]
DataTier = Annotated[str, AfterValidator(_pattern(TIER_RE, "data tier"))]
StepName = Annotated[str, AfterValidator(check_name)]
